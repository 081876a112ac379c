"""Suite ``judge``: the evidence step on the judge's own held-out split of SQuAD 2.0 dev A+B (open corpus).

The questions of the test articles (``training.data.split_articles`` over the titles of both files; never
trained or calibrated on) are asked against the paragraphs of those articles, one document each. Figures:
citation precision, recall-any (a gold answer lies within a cited span), false and true abstention, and the
abstention / false-abstention curve over thresholds of the relevance probability (``training.calibrate_judge``
computes the same on the calibration articles). ``--relevance`` compares the judges on the same questions.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from eval import metrics
from eval.metrics import Span
from eval.suites.base import SuiteResult, headline, make_row, progress, sample

DESCRIPTION = "the judge's held-out SQuAD 2.0 A+B test articles, open corpus: citations, abstention, curve"
HEADLINE = ("n", "citation_precision_micro", "recall_any", "answer_in_citations", "false_abstention_rate",
            "abstention_rate_unanswerable", "units_read_mean", "units_hold_answer", "latency_ms.p50", "latency_ms.p95",
            "relevance_ms.p50")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from training.calibrate_judge import DEFAULT_SQUAD

    p.add_argument("--squad", nargs="+", type=Path, default=list(DEFAULT_SQUAD), help="SQuAD 2.0 dev files (A and B)")
    p.add_argument("--part", choices=("test", "calib"), default="test", help="the articles asked about")
    p.add_argument("--relevance", choices=("judge", "model", "features"), default=None,
                   help="judge.relevance for this run (default: the settings')")


def recall_any(answerable: bool, cited: list[Span], evidence: list[Span]) -> bool | None:
    """A gold answer span lies within one cited span (None for unanswerable questions)."""
    if not answerable:
        return None
    return any(c.doc == e.doc and c.start <= e.start and e.end <= c.end for c in cited for e in evidence)


def run(args: argparse.Namespace) -> SuiteResult:
    from qa import Assistant
    from qa.modes.extractive import ExtractiveMode
    from qa.settings import Settings
    from training.calibrate_judge import asked, curve, load_parts, part_corpus, reachable, simulate

    texts, parts = load_parts(args.squad)
    settings = Settings.from_env()
    if args.relevance:
        settings = settings.with_(judge={"relevance": args.relevance})
    questions = sample(parts[args.part], args.limit, args.seed)
    t0 = time.perf_counter()
    a = Assistant.from_texts(part_corpus(texts, parts[args.part]), settings=settings)
    index_seconds = time.perf_counter() - t0
    relevance = a._finder.relevance
    a.ask("What is this about?", mode="extractive")  # untimed: builds BM25
    quoted = ExtractiveMode()
    rows, ranked = [], []
    for q in progress(questions, total=len(questions), desc="judge"):
        t = time.perf_counter()
        ev = a.evidence(q["question"])
        answer = quoted.answer(ev)
        total = (time.perf_counter() - t) * 1e3
        evidence = [Span(q["doc"], s, e) for s, e in q["spans"]]
        cited = [Span(c.doc_id, c.start, c.end) for c in answer.citations]
        ranked.append(asked(ev, q))
        rows.append(make_row(a, qid=q["id"], kind="HasAns" if q["answerable"] else "NoAns", question=q["question"],
                             answers=q["answers"], answerable=q["answerable"], evidence=evidence, answer=answer,
                             latency_ms=total, first_token_ms=None, doc=q["doc"],
                             recall_any=recall_any(q["answerable"], cited, evidence),
                             best=round(ev.scored[0].probability, 4) if ev.scored else None,
                             units_read=ev.units_read))
    m = metrics.aggregate(rows)
    m["by_kind"] = metrics.by_kind(rows)
    m["recall_any"] = sum(bool(r["recall_any"]) for r in rows if r["answerable"]) / max(1, m["n_answerable"])
    m["units_read_mean"] = sum(r["units_read"] for r in rows) / max(1, len(rows))
    threshold = ev.abstain_below if questions else 0.0
    margin = a._finder.judge_margin if relevance == "judge" else settings.judge.second_sentence_margin
    m["operating_point"] = {"threshold": threshold, "margin": margin, **simulate(ranked, threshold, margin)}
    m["curve"] = curve(ranked, margin)
    m["units_hold_answer"] = reachable(ranked)
    m["index"] = {"documents": len(a.corpus.documents), "sentences": len(a.corpus), "seconds": round(index_seconds, 2)}
    config = {"path": " + ".join(p.name for p in args.squad), "part": args.part, "relevance": relevance,
              "setting": f"{args.part} articles, relevance {relevance}", "mode": "extractive", "limit": args.limit,
              "seed": args.seed, "max_units": settings.judge.max_units}
    notes = ["Open corpus of the asked articles' paragraphs; the split is training.data.split_articles over both files.",
             "recall_any: a gold answer span lies within a cited span; citation precision: cited spans overlapping "
             "a gold answer span. The curve's probability scale is the relevance judge's own (not comparable across "
             "judges); operating_point is the product's threshold and margin."]
    return SuiteResult(config, m, headline(m, HEADLINE), rows, notes)
