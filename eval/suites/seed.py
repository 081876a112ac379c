"""Suite ``seed``: gold questions about the seed article (eval/gold_seed.jsonl or the shared dev set).

The article is indexed through the same persistent path users take (``Assistant.open``), in a
temporary index directory unless ``--index-dir`` is given.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from eval import metrics
from eval.metrics import Span
from eval.suites.base import SuiteResult, headline, history_turns, make_row, progress, sample, timed_answer, warm_up

DESCRIPTION = "gold questions about the seed article (answers, citations, abstention, latency)"
EVAL_DIR = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = EVAL_DIR / "gold_seed.jsonl"
DEFAULT_DOCS = EVAL_DIR.parent / "seeds"
HEADLINE = ("n", "success", "em", "f1", "answer_in_citations", "citation_precision_micro", "citation_recall_micro",
            "citation_precision_macro", "citation_recall_macro", "citation_char_precision", "cited_answer_rate",
            "wrong_verdict_rate", "abstention_rate_unanswerable", "false_abstention_rate", "invalid_spans",
            "latency_ms.p50", "latency_ms.p95", "first_token_ms.p50", "first_token_ms.p95",
            "relevance_model_share", "relevance_ms.p50",
            "followup_refs_n=by_tag.followup-refs.n", "followup_refs_success=by_tag.followup-refs.success",
            "followup_refs_citation_precision=by_tag.followup-refs.citation_precision_micro",
            "followup_refs_citation_recall=by_tag.followup-refs.citation_recall_micro")
REQUIRED = ("id", "question", "answers", "answerable", "evidence", "kind")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="gold JSONL (format of seed_dev.jsonl)")
    p.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="file or folder the gold evidence refers to")
    p.add_argument("--index-dir", type=Path, default=None, help="persistent index to use (default: a temp dir)")


def load_gold(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise ValueError(f"{path}:{n}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> SuiteResult:
    from qa import Assistant

    gold = load_gold(args.gold)
    chosen = sample(gold, args.limit, args.seed)
    with tempfile.TemporaryDirectory(prefix="citeqa-eval-") as tmp:
        a = Assistant.open(paths=[args.docs], index_dir=args.index_dir or tmp)
        wanted = {e["doc"] for g in chosen for e in g["evidence"]}
        missing = sorted(wanted - set(a.corpus.documents))
        if missing:
            raise ValueError(f"gold evidence refers to document(s) not in {args.docs}: {', '.join(missing)}")
        warm_up(a, args.mode)
        rows = []
        for g in progress(chosen, total=len(chosen), desc="seed"):
            answer, total, first = timed_answer(a, g["question"], history_turns(g.get("history")), args.mode)
            evidence = [Span(e["doc"], e["start"], e["end"]) for e in g["evidence"]]
            rows.append(make_row(a, qid=g["id"], kind=g["kind"], question=g["question"], answers=g["answers"],
                                 answerable=bool(g["answerable"]), evidence=evidence, answer=answer,
                                 latency_ms=total, first_token_ms=first, history=g.get("history", []),
                                 tag=g.get("tag")))
    m = metrics.aggregate(rows)
    m["by_kind"] = metrics.by_kind(rows)
    # Optional "tag" of a gold item (e.g. "followup-refs"): its group also gets the run-level figures.
    tags = sorted({r["tag"] for r in rows if r.get("tag")})
    m["by_tag"] = {t: metrics.aggregate([r for r in rows if r.get("tag") == t]) for t in tags}
    config = {"gold": str(args.gold), "docs": str(args.docs), "index_dir": str(args.index_dir or "(temporary)"),
              "mode": args.mode, "limit": args.limit, "seed": args.seed, "n_gold": len(gold)}
    notes = []
    if args.mode == "extractive":
        notes.append("Extractive answers quote whole sentences, so EM is ~0 and F1 is low by construction; "
                     "read success, answer_in_citations and the citation figures instead.")
    return SuiteResult(config, m, headline(m, HEADLINE), rows, notes)
