"""``python -m eval <suite> [options]`` (and ``citeqa eval ...``, which calls ``main(argv)``).

``python -m eval report`` writes eval/RESULTS.md from the newest result file of each configuration.

Options can also come from a JSON config (``--config eval/configs/x.json``: keys are option names
with dashes as underscores); options given on the command line win. The effective configuration is
recorded in the results file. The last line printed on stdout is one JSON object of headline figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval import suites
from qa.modes import MODES

PROG = "python -m eval"


def _add_common(p: argparse.ArgumentParser) -> None:
    from eval.report import DEFAULT_RESULTS_DIR

    p.add_argument("--config", type=Path, default=None, help="JSON file of option defaults")
    p.add_argument("--mode", choices=MODES, default="extractive", help="answer mode")
    p.add_argument("--limit", type=int, default=None, help="evaluate a deterministic sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sample (and of any shuffling)")
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="where results, plots and REPORT.md go")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(prog=PROG, description="Evaluate citeqa on a suite of questions.")
    sub = parser.add_subparsers(dest="suite", required=True, metavar="suite")
    subparsers = {}
    for name in suites.SUITES:
        module = suites.load(name)
        sp = sub.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        module.add_arguments(sp)
        _add_common(sp)
        subparsers[name] = sp
    rp = sub.add_parser("report", help="write eval/RESULTS.md from the result files",
                        description="Write RESULTS.md from the newest result file of each configuration.")
    _add_report_arguments(rp)
    return parser, subparsers


def _add_report_arguments(p: argparse.ArgumentParser) -> None:
    from eval.report import DEFAULT_RESULTS_DIR, DEFAULT_RESULTS_MD

    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="where the result files are")
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS_MD, help="the Markdown file to write")


def _report(args: argparse.Namespace) -> int:
    from eval.report import write_results_md

    try:
        path = write_results_md(args.results_dir, args.out)
    except (OSError, ValueError) as exc:
        print(f"{PROG} report: {exc}", file=sys.stderr)
        return 1
    print(f"report: {path}")
    return 0


def _apply_config(parser: argparse.ArgumentParser, sp: argparse.ArgumentParser, argv: list[str],
                  config: Path) -> argparse.Namespace:
    try:
        values = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # missing, unreadable or not JSON
        parser.error(f"cannot read config {config}: {exc}")
    known = {a.dest for a in sp._actions}
    unknown = sorted(set(values) - known)
    if not isinstance(values, dict) or unknown:
        parser.error(f"config {config}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known - {'help'}))}")
    sp.set_defaults(**values)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    args = parser.parse_args(argv)
    if args.suite == "report":
        return _report(args)
    if args.config is not None:
        args = _apply_config(parser, subparsers[args.suite], argv, args.config)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")

    from eval.report import publish
    from index.errors import CiteqaError

    try:
        result = suites.load(args.suite).run(args)
    except (OSError, ValueError, ImportError, CiteqaError) as exc:  # bad input or an unavailable mode
        print(f"{PROG} {args.suite}: {exc}", file=sys.stderr)
        return 1
    result.config.setdefault("config_file", str(args.config) if args.config else None)
    path = publish(args.suite, result, args.results_dir, argv)
    for note in result.notes:
        print(f"note: {note}")
    print(f"results: {path}")
    print(f"report:  {args.results_dir / 'REPORT.md'}")
    print(json.dumps({"suite": args.suite, **result.headline, "results": str(path)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
