"""Which hand rules of the evidence path earn their place next to the judge: each measured with and without.

    python -m eval.judge_rules [--path judge|model] [--squad A.json B.json] [--seed-dev PATH] [--limit N]

Data: the judge's held-out SQuAD 2.0 A+B test articles (open corpus of their paragraphs, as ``eval.suites.judge``),
the seed article's gold set (eval/gold_seed.jsonl: follow-ups) and the shared seed dev set. One rule is switched off
(or on) at a time, on one of two paths:

- ``--path judge``: next to the judge; today's relevance ("model") and the hand features alone are the reference.
  Writes eval/results/judge_rules.json and eval/judge_rules.md.
- ``--path model``: in today's default path (hand-feature logistic, gate, cross-encoder rerank), so a rule that does
  not earn its place there can leave the product now. Writes eval/results/rules_model.json and eval/rules_model.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
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


def with_answer_types(ev):
    """Units that cannot hold the asked kind of answer (qa/support.py answer types and patterns) are not cited."""
    from qa.evidence import select, to_cite
    from qa.support import answer_type, type_ok
    from qa.units import Unit, unit_text

    kind = answer_type(ev.question)
    view = ev.corpus
    kept = [x for x in ev.scored
            if type_ok(kind, unit_text(view, Unit(x.hit.row, x.last or x.hit.row, x.hit))) > 0]
    s = ev_settings(ev)
    best = select(kept, ev.abstain_below, s["margin"], s["max"])
    chosen, last_rows = to_cite(best)
    return replace(ev, chosen=chosen, last_rows=last_rows)


POST = {"judge": as_is, "judge with answer types": with_answer_types}
_SETTINGS: dict[str, Any] = {}


def ev_settings(ev) -> dict[str, Any]:
    return _SETTINGS


def _type_levels(vague: float | None = None, hint: float | None = None, none: float | None = None):
    """qa.support.type_ok with some of its grades replaced (0.75 vague time, 0.5 hint, 0 no answer of the kind)."""
    import qa.support

    original = qa.support.type_ok

    def graded(kind, sentence):
        g = original(kind, sentence)
        if g == 0.75 and vague is not None:
            return vague
        if g == 0.5 and hint is not None:
            return hint
        if g == 0.0 and none is not None:
            return none
        return g
    return graded


def _kinds(drop: str | None = None, when_anywhere: bool = False):
    """qa.support.answer_type without one kind of answer (the question then asks for none), or with "when" read as
    the question word wherever it stands (not only first, last or before an auxiliary)."""
    import qa.support
    from index.text import words

    original = qa.support.answer_type

    def kind(question):
        k = original(question)
        if k is not None and k == drop:
            return None
        if k is None and when_anywhere and "when" in words(question):
            return "time"
        return k
    return kind


# Variants of the default path that change how candidates are scored: (patches of module attributes, settings).
MODEL_VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "without answer types (every sentence fits the asked kind)":
        ({"qa.support.type_ok": lambda: _type_levels(1.0, 1.0, 1.0)}, {}),
    "answer types without the time kind (when)": ({"qa.support.answer_type": lambda: _kinds("time")}, {}),
    "answer types without the number kind (how many)": ({"qa.support.answer_type": lambda: _kinds("number")}, {}),
    "answer types without the duration kind (how long)": ({"qa.support.answer_type": lambda: _kinds("duration")}, {}),
    "answer types: any \"when\" asks for a time":
        ({"qa.support.answer_type": lambda: _kinds(when_anywhere=True)}, {}),
    "answer types without the vague-time grade (0.75 -> 1)":
        ({"qa.support.type_ok": lambda: _type_levels(vague=1.0)}, {}),
    "answer types without hints (0.5 -> 0)": ({"qa.support.type_ok": lambda: _type_levels(hint=0.0)}, {}),
    "answer types with hints as answers (0.5 -> 1)": ({"qa.support.type_ok": lambda: _type_levels(hint=1.0)}, {}),
    "without the gate (the relevance model reads every question)": ({}, {"relevance_gate": 1.01}),
    "without the relevance model (hand features alone)": ({}, {"relevance": "features"}),
    "without follow-up resolution (previous question prepended)": ({"qa.evidence.condense": lambda: _prepend}, {}),
    "follow-ups without a short answer as referent": ({"qa.followup._PHRASE_WORDS": lambda: 0}, {}),
    "follow-ups without the excluded lead words (that, yes, it, ...)":
        ({"qa.followup._NOT_A_LEAD": lambda: frozenset()}, {}),
    "follow-ups without \"who is X?\" as the person": ({"qa.followup._WHO_IS": lambda: re.compile(r"(?!)")}, {}),
    "follow-ups without \"which N ...?\" as the thing": ({"qa.followup._WHICH_NOUN": lambda: re.compile(r"(?!)")}, {}),
    "follow-ups without trimming the verb after \"did <subject>\"": ({"qa.followup._DO_AUX": lambda: frozenset()}, {}),
    "follow-ups without the existential \"there\" rule": ({"qa.followup._BE": lambda: frozenset()}, {}),
}


def _prepend(question, history):
    users = [t["content"] for t in history if t.get("role") == "user" and t.get("content")]
    return f"{users[-1]} {question}" if users else question


@contextlib.contextmanager
def attributes(patches: dict[str, Any]):
    """Set ``module.attr`` to each patch's value for the block (the product reads them at call time)."""
    import importlib

    saved = []
    try:
        for dotted, make in patches.items():
            module, _, attr = dotted.rpartition(".")
            mod = importlib.import_module(module)
            saved.append((mod, attr, getattr(mod, attr)))
            setattr(mod, attr, make())
        yield
    finally:
        for mod, attr, value in reversed(saved):
            setattr(mod, attr, value)


def measure_model(settings, make_assistant, items) -> dict[str, dict]:
    """Every rule of the default path switched off (or changed) alone: post-hoc ones from one run, the others
    from a run each."""
    a = make_assistant(settings)
    if a._finder.relevance != "model":
        raise SystemExit("the relevance model did not load; nothing to measure")
    _SETTINGS.update(margin=settings.judge.second_sentence_margin, max=settings.judge.max_sentences)
    out = run_set(a, items, {"today (model)": as_is})
    with_history = any(history for _, _, history in items)
    for name, (patches, judge) in MODEL_VARIANTS.items():
        if "follow-up" in name and not with_history:
            continue
        b = make_assistant(settings.with_(judge=judge)) if judge else a
        with attributes(patches):
            out[name] = run_set(b, items, {name: as_is})[name]
    return out


# Variants that change what the judge reads: patches of module attributes, one run each.
READ_VARIANTS: dict[str, dict[str, Any]] = {
    "without follow-up resolution (previous question prepended)": {"qa.evidence.condense": lambda: _prepend},
    "without follow-up resolution (question alone)":
        {"qa.evidence.condense": lambda: lambda question, history: question},
    "without lead-in pairs": {"qa.units.introduces": lambda: lambda view, row: None},
}


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
    for name, patches in READ_VARIANTS.items():
        if "follow-up" in name and not with_history:
            continue  # no question has a history: the same figures as the judge's by construction
        with attributes(patches):
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


def write_markdown(result: dict, path: str, out: Path) -> Path:
    """The tables of a result file ``out`` (also after merging sets measured apart): eval/judge_rules.md or
    eval/rules_model.md for the committed results, else beside ``out``."""
    stem = "judge_rules" if path == "judge" else "rules_model"
    committed = out.resolve() == (EVAL_DIR / "results" / f"{stem}.json").resolve()
    md = EVAL_DIR / f"{stem}.md" if committed else out.with_suffix(".md")
    title = "next to the judge" if path == "judge" else "in the default path (relevance model)"
    code = f"Code measured: {result['code']}.\n\n" if result.get("code") else ""
    md.write_text(f"# The evidence path's hand rules {title}\n\nFigures per data set, one rule switched off or on at "
                  "a time; generated by\n" + "".join(f"- {n}: `{c}`\n" for n, c in result["commands"].items()) + "\n"
                  + code + markdown(result) + "\n", encoding="utf-8")
    return md


def main(argv: list[str] | None = None) -> int:
    from training.calibrate_judge import DEFAULT_SQUAD

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", nargs="+", type=Path, default=list(DEFAULT_SQUAD))
    ap.add_argument("--seed-dev", type=Path, default=EVAL_DIR.parent.parent / "shared" / "eval" / "seed_dev.jsonl")
    ap.add_argument("--gold", type=Path, default=EVAL_DIR / "gold_seed.jsonl")
    ap.add_argument("--limit", type=int, default=None, help="SQuAD test questions at most (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sets", default="seed_dev,gold_seed,squad_test")
    ap.add_argument("--path", choices=("judge", "model"), default="judge",
                    help="the rules next to the judge, or in today's default path")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    stem = "judge_rules" if args.path == "judge" else "rules_model"
    out = args.out or EVAL_DIR / "results" / f"{stem}.json"

    from qa import Assistant
    from qa.settings import Settings

    settings = Settings.from_env()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    command = "python -m eval.judge_rules " + " ".join(argv or sys.argv[1:])
    # Sets measured by an earlier run stay (each with its command): the SQuAD split takes far longer than the seed's.
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"sets": {}}
    commands = result.setdefault("commands", {})
    if "command" in result:
        commands.update({name: result.pop("command") for name in result["sets"] if name not in commands})
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
            result["sets"][name] = (measure if args.path == "judge" else measure_model)(settings, make, items)
            commands[name] = command
            print(json.dumps({name: result["sets"][name]}, indent=1), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    md = write_markdown(result, args.path, out)
    print(f"wrote {out} and {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

