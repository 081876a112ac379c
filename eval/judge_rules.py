"""Which hand rules of the evidence path earn their place next to the judge: each measured with and without.

    python -m eval.judge_rules [--squad A.json B.json] [--seed-dev PATH] [--limit N]

Data: the judge's held-out SQuAD 2.0 A+B test articles (open corpus of their paragraphs, as ``eval.suites.judge``),
the seed article's gold set (eval/gold_seed.jsonl: follow-ups) and the shared seed dev set. One rule is switched off
at a time in the judge mode; today's relevance ("model": hand-feature logistic, gate, cross-encoder rerank) and the
hand features alone are the reference. Writes eval/results/judge_rules.json and eval/judge_rules.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from eval import metrics
from eval.metrics import Span
from eval.suites.base import history_turns, make_row, progress, sample

EVAL_DIR = Path(__file__).resolve().parent
FIGURES = ("success", "citation_precision_micro", "recall_any", "answer_in_citations", "false_abstention_rate",
           "abstention_rate_unanswerable")


# ---------------------------------------------------------------- variants of one Evidence (no second judge run)
def as_is(ev):
    return ev


def without_antecedents(ev):
    """The judge's choice alone: no who-question antecedent added before a pronoun-subject sentence."""
    from qa.evidence import select

    s = ev_settings(ev)
    best = select(list(ev.scored), ev.abstain_below, s["margin"], s["max"])
    return replace(ev, chosen=tuple((x.hit.row, x.probability) for x in best),
                   last_rows=tuple((x.hit.row, x.last) for x in best if x.last is not None))


def with_answer_types(ev):
    """Units that cannot hold the asked kind of answer (qa/support.py answer types and patterns) are not cited."""
    from qa.evidence import select, with_antecedents
    from qa.support import answer_type, type_ok
    from qa.units import Unit, unit_text

    kind = answer_type(ev.question)
    view = ev.corpus
    kept = [x for x in ev.scored
            if type_ok(kind, unit_text(view, Unit(x.hit.row, x.last or x.hit.row, x.hit))) > 0]
    s = ev_settings(ev)
    best = select(kept, ev.abstain_below, s["margin"], s["max"])
    chosen = with_antecedents(view, ev.question, [(x.hit.row, x.probability) for x in best])
    return replace(ev, chosen=tuple(chosen), last_rows=tuple((x.hit.row, x.last) for x in best if x.last is not None))


POST = {"judge": as_is, "judge without who-question antecedents": without_antecedents,
        "judge with answer types": with_answer_types}
_SETTINGS: dict[str, Any] = {}


def ev_settings(ev) -> dict[str, Any]:
    return _SETTINGS


# ---------------------------------------------------------------- variants that change what the judge reads
@contextlib.contextmanager
def patched(name: str):
    """Switch one rule off for the block: the follow-up word lists, or the lead-in pairs."""
    import qa.evidence
    import qa.units

    saved = (qa.evidence.condense, qa.units.introduces)
    if name == "without follow-up resolution (previous question prepended)":
        def prepend(question, history):
            users = [t["content"] for t in history if t.get("role") == "user" and t.get("content")]
            return f"{users[-1]} {question}" if users else question
        qa.evidence.condense = prepend
    elif name == "without follow-up resolution (question alone)":
        qa.evidence.condense = lambda question, history: question
    elif name == "without lead-in pairs":
        qa.units.introduces = lambda view, row: None
    try:
        yield
    finally:
        qa.evidence.condense, qa.units.introduces = saved


READ_VARIANTS = ("without follow-up resolution (previous question prepended)",
                 "without follow-up resolution (question alone)", "without lead-in pairs")


def score(a, ev, q: dict, evidence: list[Span]) -> dict:
    from eval.suites.judge import recall_any
    from qa.modes.extractive import ExtractiveMode

    answer = ExtractiveMode().answer(ev)
    cited = [Span(c.doc_id, c.start, c.end) for c in answer.citations]
    row = make_row(a, qid=q["id"], kind=q.get("kind", ""), question=q["question"], answers=q["answers"],
                   answerable=bool(q["answerable"]), evidence=evidence, answer=answer, latency_ms=ev.elapsed_ms(),
                   first_token_ms=None)
    row["recall_any"] = recall_any(bool(q["answerable"]), cited, evidence)
    return row


def figures(rows: list[dict]) -> dict:
    m = metrics.aggregate(rows)
    ans = [r for r in rows if r["answerable"]]
    m["recall_any"] = sum(bool(r["recall_any"]) for r in ans) / max(1, len(ans))
    return {k: (round(m[k], 4) if isinstance(m[k], float) else m[k]) for k in ("n", *FIGURES)}


def run_set(a, items: list[tuple[dict, list[Span], list[dict]]], posts: dict) -> dict[str, dict]:
    rows: dict[str, list[dict]] = {name: [] for name in posts}
    for q, evidence, history in progress(items, total=len(items), desc="rules"):
        ev = a.evidence(q["question"], history)
        for name, post in posts.items():
            rows[name].append(score(a, post(ev), q, evidence))
    return {name: figures(r) for name, r in rows.items()}


def seed_items(path: Path) -> list[tuple[dict, list[Span], list[dict]]]:
    from eval.suites.seed import load_gold

    return [(g, [Span(e["doc"], e["start"], e["end"]) for e in g["evidence"]], history_turns(g.get("history")))
            for g in load_gold(path)]


def squad_items(paths, limit: int | None, seed: int) -> tuple[dict[str, str], list]:
    from training.calibrate_judge import load_parts, part_corpus

    texts, parts = load_parts(paths)
    qs = sample(parts["test"], limit, seed)
    items = [(q, [Span(q["doc"], s, e) for s, e in q["spans"]], []) for q in qs]
    return part_corpus(texts, parts["test"]), items


def measure(settings, make_assistant, items) -> dict[str, dict]:
    """Every variant on one data set: the judge's post-hoc ones from one run, those that change what it reads
    from a run each, and today's relevance for reference."""
    a = make_assistant(settings.with_(judge={"relevance": "judge"}))
    if a._finder.relevance != "judge":
        raise SystemExit("the judge did not load; nothing to measure")
    _SETTINGS.update(margin=a._finder.judge_margin, max=settings.judge.max_sentences)
    out = run_set(a, items, POST)
    with_history = any(history for _, _, history in items)
    for name in READ_VARIANTS:
        if "follow-up" in name and not with_history:
            continue  # no question has a history: the same figures as the judge's by construction
        with patched(name):
            out[name] = run_set(a, items, {name: as_is})[name]
    for relevance in ("model", "features"):
        b = make_assistant(settings.with_(judge={"relevance": relevance}))
        out[f"today: {relevance}"] = run_set(b, items, {"x": as_is})["x"]
    return out


def markdown(result: dict) -> str:
    """One table per data set: every variant's figures (what the rules table in the model card is read from)."""
    lines = []
    for name, variants in result["sets"].items():
        lines += [f"### {name}", "", "| variant | n | " + " | ".join(FIGURES) + " |",
                  "|---|---|" + "---|" * len(FIGURES)]
        for variant, f in variants.items():
            lines.append(f"| {variant} | {f['n']} | " + " | ".join(
                "–" if f[k] is None else f"{f[k]:.3f}" for k in FIGURES) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from training.calibrate_judge import DEFAULT_SQUAD

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", nargs="+", type=Path, default=list(DEFAULT_SQUAD))
    ap.add_argument("--seed-dev", type=Path, default=EVAL_DIR.parent.parent / "shared" / "eval" / "seed_dev.jsonl")
    ap.add_argument("--gold", type=Path, default=EVAL_DIR / "gold_seed.jsonl")
    ap.add_argument("--limit", type=int, default=None, help="SQuAD test questions at most (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sets", default="seed_dev,gold_seed,squad_test")
    ap.add_argument("--out", type=Path, default=EVAL_DIR / "results" / "judge_rules.json")
    args = ap.parse_args(argv)

    from qa import Assistant
    from qa.settings import Settings

    settings = Settings.from_env()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    result: dict[str, Any] = {"command": "python -m eval.judge_rules " + " ".join(argv or sys.argv[1:]), "sets": {}}
    with tempfile.TemporaryDirectory(prefix="citeqa-rules-") as tmp:
        seed_index = Assistant.open(index_dir=tmp)  # the seed article, as the seed suite indexes it
        for name in sets:
            if name in ("seed_dev", "gold_seed"):
                items = seed_items(args.seed_dev if name == "seed_dev" else args.gold)
                make = lambda s: Assistant(seed_index.corpus, seed_index.embedder, settings=s)  # noqa: E731
            elif name == "squad_test":
                corpus, items = squad_items(args.squad, args.limit, args.seed)
                base = Assistant.from_texts(corpus, settings=settings)
                make = lambda s, base=base: Assistant(base.corpus, base.embedder, settings=s)  # noqa: E731
            else:
                raise SystemExit(f"unknown set {name!r}")
            result["sets"][name] = measure(settings, make, items)
            print(json.dumps({name: result["sets"][name]}, indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    md = EVAL_DIR / "judge_rules.md"
    md.write_text("# The evidence path's hand rules next to the judge\n\nGenerated by `" + result["command"] +
                  "` (figures per data set; one rule switched off or on at a time).\n\n" + markdown(result) + "\n",
                  encoding="utf-8")
    print(f"wrote {args.out} and {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

