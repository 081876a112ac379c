"""Results files, plots and the Markdown report.

Every run writes ``<results>/<suite>-<timestamp>.json`` (configuration, machine, every figure, the
per-question rows), draws its plots as ``<results>/<suite>-<plot>.png`` (the latest run of a suite
owns them) and regenerates ``<results>/REPORT.md`` from all result files in the folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from eval.suites.base import SuiteResult

DEFAULT_RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("citeqa", "torch", "sentence-transformers", "transformers", "faiss-cpu", "numpy", "llama-index-core",
            "llama-index-retrievers-bm25", "bm25s", "llama-cpp-python")
KIND_FIELDS = ("success", "f1", "answer_in_citations", "citation_precision", "citation_recall")
MAX_RUNS_LISTED = 30


# ---------------------------------------------------------------- machine description
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _git() -> dict[str, Any]:
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        # Untracked files (earlier result files, above all) do not change the code that ran.
        return {"commit": git("rev-parse", "HEAD") or None,
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def machine_info() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]  # other processes competing for the CPU skew latency
    except OSError:
        load = None
    return {"cpu": _cpu_model(), "load_avg_1_5_15m": load, "cores": os.cpu_count(), "ram_gb": _ram_gb(), "torch_threads": threads,
            "os": platform.platform(), "python": platform.python_version(), "packages": versions, "git": _git()}


# ---------------------------------------------------------------- results file
def write_results(suite: str, result: SuiteResult, results_dir: Path, argv: list[str]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"{suite}-{stamp}.json"
    n = 2
    while path.exists():  # two runs of a suite in one second (tests)
        path = results_dir / f"{suite}-{stamp}-{n}.json"
        n += 1
    doc = {"suite": suite, "timestamp": now.isoformat(timespec="seconds"), "argv": argv, "config": result.config,
           "machine": machine_info(), "headline": result.headline, "notes": result.notes,
           "metrics": result.metrics, "rows": result.rows}
    path.write_text(dump_results(doc), encoding="utf-8")
    return path


def dump_results(doc: dict[str, Any]) -> str:
    """The results file's JSON: indented, but one line per question row (the files are committed)."""
    def one(value: Any, indent: int | None) -> str:
        return json.dumps(value, indent=indent, ensure_ascii=False, default=str)

    head = one({k: v for k, v in doc.items() if k != "rows"}, 1)
    rows = ",\n".join("  " + one(r, None) for r in doc.get("rows", []))
    return head[:-2] + ',\n "rows": [\n' + rows + "\n ]\n}\n" if rows else head[:-2] + ',\n "rows": []\n}\n'


# ---------------------------------------------------------------- plots
def make_plots(suite: str, result: SuiteResult, results_dir: Path) -> list[str]:
    """Draw what this run has data for; returns the PNG file names (relative to results_dir)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: CI and servers have no display
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    made: list[str] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(results_dir / name, dpi=90)
        plt.close(fig)
        made.append(name)

    latency = [r["latency_ms"] for r in result.rows if r.get("latency_ms") is not None]
    first = [r["first_token_ms"] for r in result.rows if r.get("first_token_ms") is not None]
    if latency:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.hist(latency, bins=30, alpha=0.7, label="answer")
        if first and first != latency:
            ax.hist(first, bins=30, alpha=0.5, label="first token")
        ax.set_xlabel("ms")
        ax.set_ylabel("questions")
        ax.set_title(f"{suite}: latency per question")
        ax.legend()
        save(fig, f"{suite}-latency.png")

    curves = {k: v for k, v in (result.metrics.get("retrieval") or {}).items() if k.startswith("recall_at_k_curve")}
    if curves:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for name, curve in curves.items():
            ks = sorted(curve, key=int)
            ax.plot([int(k) for k in ks], [curve[k] for k in ks], marker=".", label=name.replace("recall_at_k_curve", "recall@k") or "recall@k")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("k (retrieved sentences)")
        ax.set_ylabel("recall")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.set_title(f"{suite}: retrieval recall@k")
        ax.legend()
        save(fig, f"{suite}-recall.png")

    kinds = result.metrics.get("by_kind") or {}
    if kinds:
        import numpy as np

        names = list(kinds)
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names) + 2), 3.8))
        width = 0.8 / len(KIND_FIELDS)
        for i, field in enumerate(KIND_FIELDS):
            vals = [kinds[k].get(field) for k in names]
            ax.bar(np.arange(len(names)) + i * width, [v if v is not None else 0 for v in vals], width, label=field)
        ax.set_xticks(np.arange(len(names)) + width * (len(KIND_FIELDS) - 1) / 2)
        ax.set_xticklabels([f"{k}\n(n={kinds[k]['n']})" for k in names], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{suite}: quality per question kind")
        ax.legend(fontsize=7, ncol=len(KIND_FIELDS), loc="upper center", bbox_to_anchor=(0.5, -0.2))  # off the bars
        save(fig, f"{suite}-by-kind.png")
    return made


# ---------------------------------------------------------------- REPORT.md
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.0f}"
    return "–" if v is None else str(v)


def _load_runs(results_dir: Path) -> list[dict[str, Any]]:
    runs = []
    for p in results_dir.glob("*.json"):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "suite" in doc and "headline" in doc:
            doc["_file"] = p.name
            runs.append(doc)
    runs.sort(key=lambda d: (d.get("timestamp", ""), d["_file"]), reverse=True)
    return runs


def _data_of(run: dict[str, Any]) -> str:
    cfg = run.get("config", {})
    parts = [Path(str(cfg.get("gold") or cfg.get("path") or "")).name]
    if cfg.get("setting") and "question" not in str(cfg["setting"]) and cfg["setting"] != "open corpus":
        parts.append(str(cfg["setting"]))
    if cfg.get("limit"):
        parts.append(f"limit {cfg['limit']}, seed {cfg.get('seed')}")
    return ", ".join(parts)


def update_report(results_dir: Path) -> Path:
    runs = _load_runs(results_dir)
    lines = ["# citeqa evaluation report", "",
             "Regenerated by every `python -m eval <suite>` run from the result files in this folder "
             "(see eval/README.md for what each figure means).", "", "## Runs (newest first)", "",
             "| time (UTC) | suite | data | mode | n | success | F1 | answer in citations | cit. P | cit. R | p50 ms | file |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs[:MAX_RUNS_LISTED]:
        m, cfg = r.get("metrics", {}), r.get("config", {})  # the common figures every suite computes
        lines.append("| " + " | ".join(_fmt(x) for x in (
            r.get("timestamp", "")[:19], r["suite"], _data_of(r), cfg.get("mode"), m.get("n"), m.get("success"),
            m.get("f1"), m.get("answer_in_citations"), m.get("citation_precision_micro"),
            m.get("citation_recall_micro"), (m.get("latency_ms") or {}).get("p50"), r["_file"])) + " |")
    seen: set[str] = set()
    for r in runs:
        if r["suite"] in seen:
            continue
        seen.add(r["suite"])
        m = r.get("machine", {})
        lines += ["", f"## {r['suite']}: latest run ({r['_file']})", "",
                  f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GB RAM, Python {m.get('python')}, "
                  f"torch {m.get('packages', {}).get('torch')}, load average {m.get('load_avg_1_5_15m')}; commit {str((m.get('git') or {}).get('commit'))[:10]}"
                  f"{' (dirty)' if (m.get('git') or {}).get('dirty') else ''}.", "",
                  "Configuration: " + ", ".join(f"`{k}={v}`" for k, v in r.get("config", {}).items()), "",
                  "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in r["headline"].items()]
        lines += [""] + [f"> {note}" for note in r.get("notes", [])]
        for plot in ("latency", "recall", "by-kind"):
            name = f"{r['suite']}-{plot}.png"
            if (results_dir / name).exists():
                lines += ["", f"![{r['suite']} {plot}]({name})"]
    path = results_dir / "REPORT.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def publish(suite: str, result: SuiteResult, results_dir: Path, argv: list[str]) -> Path:
    """Write the results file, the plots and the report; returns the results file."""
    path = write_results(suite, result, results_dir, argv)
    try:
        make_plots(suite, result, results_dir)
    except Exception as exc:  # a plotting problem must not lose the figures just computed
        print(f"warning: plots not drawn: {exc}", file=sys.stderr)
    update_report(results_dir)
    return path


# ---------------------------------------------------------------- eval/RESULTS.md (published figures)
DEFAULT_RESULTS_MD = REPO / "eval" / "RESULTS.md"
# The figures each suite shows in the overview table (all headline figures follow in its own section).
SUMMARY: dict[str, tuple[str, ...]] = {
    "seed": ("success", "citation_precision_micro", "citation_recall_micro", "abstention_rate_unanswerable",
             "false_abstention_rate", "latency_ms_p50"),
    "squad": ("recall@1", "recall@10", "answer_in_citations", "false_abstention_rate", "latency_ms_p50"),
    "hotpot": ("sp_precision", "sp_recall", "recall@10", "latency_ms_p50"),
    "ingest": ("sentences_cut_or_glued", "sentence_pages_right", "spans_exact", "pages_per_s",
               "seed_pdf_citation_pages_right"),
}
SUMMARY_DEFAULT_COUNT = 5


def _machine_of(run: dict[str, Any]) -> str:
    m = run.get("machine") or {}
    load = m.get("load_avg_1_5_15m")
    return (f"{m.get('cores')} cores, {m.get('ram_gb')} GiB RAM ({m.get('cpu')})"
            + (f", load average {load[0]}" if load else ""))


def _command_of(run: dict[str, Any]) -> str:
    import shlex

    argv = list(run.get("argv") or [run["suite"]])  # as given to ``python -m eval``: the suite first
    if "--results-dir" in argv:  # where the file went is not part of what was measured
        i = argv.index("--results-dir")
        del argv[i: i + 2]
    return "python -m eval " + shlex.join(argv)


def _results_data_of(run: dict[str, Any]) -> str:
    if run["suite"] == "ingest":  # its questions are the seed gold set; its data are the documents
        real = [Path(p).name for p in run.get("config", {}).get("real_pdfs") or []]
        return ", ".join(["generated PDFs and DOCX of the seed article", *real])
    return _data_of(run)


def latest_runs(results_dir: Path) -> list[dict[str, Any]]:
    """The newest result file of each configuration (suite, data, mode), in SUMMARY's suite order."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for run in _load_runs(results_dir):  # newest first
        key = (run["suite"], _results_data_of(run), str(run.get("config", {}).get("mode") or ""))
        latest.setdefault(key, run)
    order = list(SUMMARY)
    return [latest[k] for k in sorted(latest, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k))]


def _figures(run: dict[str, Any]) -> str:
    head = run["headline"]
    keys = SUMMARY.get(run["suite"]) or tuple(head)[:SUMMARY_DEFAULT_COUNT]
    return " · ".join(f"{k} {_fmt(head.get(k))}" for k in keys if k in head)


def write_results_md(results_dir: Path = DEFAULT_RESULTS_DIR, out: Path = DEFAULT_RESULTS_MD) -> Path:
    """Write ``out`` from the newest result file of each configuration in ``results_dir``; returns ``out``.

    Every figure in it is read from a result file, and the output depends on nothing else (no clock),
    so regenerating from the same files gives the same bytes."""
    runs = latest_runs(results_dir)
    if not runs:
        raise ValueError(f"no result files (<suite>-<timestamp>.json) in {results_dir}")
    link = Path(os.path.relpath(results_dir, out.parent)).as_posix()
    lines = ["# citeqa results", "",
             "Generated by `citeqa eval report` (`python -m eval report`) from the newest result file of each "
             f"configuration in `{link}/`; do not edit by hand. To add or refresh a row, run the suite (its "
             "command is in the table) and then `citeqa eval report`. What each figure means: "
             "[eval/README.md](README.md#figures). Latencies "
             "depend on the machine and on what else ran (load average below); quality figures are deterministic.",
             "", "| suite | data | mode | figures | date (UTC) | machine | command |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        cfg, m = r.get("config", {}), r.get("machine") or {}
        lines.append("| " + " | ".join((
            f"[{r['suite']}](#{r['_file'].removesuffix('.json').lower()})", _results_data_of(r) or "–",
            _fmt(cfg.get("mode")), _figures(r), r.get("timestamp", "")[:10],
            f"{m.get('cores')} cores, {m.get('ram_gb')} GiB", f"`{_command_of(r)}`")) + " |")
    for r in runs:
        git = (r.get("machine") or {}).get("git") or {}
        lines += ["", f"## {r['_file'].removesuffix('.json')}", "",
                  f"- command: `{_command_of(r)}`",
                  f"- date: {r.get('timestamp', '')} · machine: {_machine_of(r)}",
                  f"- code: commit {str(git.get('commit'))[:10]}{' (uncommitted changes)' if git.get('dirty') else ''}"
                  f" · result file: [{r['_file']}]({link}/{r['_file']})", "",
                  "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in r["headline"].items()]
        lines += [f"\n> {note}" for note in r.get("notes", [])]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
