"""Suite ``squad``: SQuAD v2.0 in an open-corpus setting.

Every paragraph of the file is one document (id ``<title>#<paragraph index>``) of a single in-memory
Assistant, and questions are asked without saying which paragraph they are about: the retriever
must find it among all of them, and the abstention decision must reject the unanswerable half.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from eval import metrics
from eval.metrics import Span
from eval.suites.base import SuiteResult, headline, make_row, progress, sample, timed_answer, warm_up

DESCRIPTION = "SQuAD v2.0 JSON, open corpus: retrieval recall@k/MRR, EM/F1, abstention"
KS = (1, 5, 10)
CURVE_KS = range(1, 21)
HEADLINE = ("n", "recall@1=retrieval.recall_at_k.1", "recall@5=retrieval.recall_at_k.5",
            "recall@10=retrieval.recall_at_k.10", "mrr=retrieval.mrr", "em", "f1", "has_ans_em=by_kind.HasAns.em",
            "has_ans_f1=by_kind.HasAns.f1", "no_ans_em=by_kind.NoAns.em", "success", "answer_in_citations",
            "citation_precision_micro", "citation_recall_micro",
            "abstention_precision", "abstention_recall", "false_abstention_rate", "invalid_spans",
            "latency_ms.p50", "latency_ms.p95", "relevance_model_share", "relevance_ms.p50")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, nargs="?", default=None, help="SQuAD v2.0 JSON file")
    p.add_argument("--split", choices=("all", "test"), default="all",
                   help="ask only the questions of the test articles, which no fitted part of citeqa has seen "
                        "(the split of training/data.py); the corpus is always every paragraph")


def load_squad(path: Path) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """({doc_id: paragraph}, questions with doc, answer texts and offsets, answerable)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path}: not a SQuAD JSON file (no top-level 'data' list)")
    texts: dict[str, str] = {}
    questions: list[dict[str, Any]] = []
    for ai, article in enumerate(data["data"]):
        title = article.get("title", f"article-{ai}")
        for pi, para in enumerate(article["paragraphs"]):
            doc = f"{title}#{pi}"
            if doc in texts:  # two articles with one title: keep ids unique
                doc = f"{title}~{ai}#{pi}"
            texts[doc] = para["context"]
            for qa in para["qas"]:
                answers = [a for a in qa.get("answers", []) if a.get("text")]
                questions.append({"id": qa["id"], "question": qa["question"], "doc": doc,
                                  "answers": [a["text"] for a in answers],
                                  "starts": [int(a["answer_start"]) for a in answers],
                                  "answerable": not qa.get("is_impossible", not answers) and bool(answers)})
    return texts, questions


def gold_rank(a: Any, hits: list[Any], doc: str, starts: list[int]) -> int | None:
    """0-based rank of the first retrieved sentence that contains a gold answer_start."""
    for i, h in enumerate(hits):
        rec = a.corpus.records[h.row]
        if rec.doc_id == doc and any(rec.start <= s < rec.end for s in starts):
            return i
    return None


def run(args: argparse.Namespace) -> SuiteResult:
    if args.path is None:
        raise ValueError("give the SQuAD v2.0 JSON file: python -m eval squad PATH")
    from qa import Assistant

    texts, questions = load_squad(args.path)
    if getattr(args, "split", "all") == "test":
        from training.data import split_articles

        article = lambda q: q["doc"].rpartition("#")[0]  # noqa: E731
        part = split_articles([article(q) for q in questions])
        questions = [q for q in questions if part[article(q)] == "test"]
    chosen = sample(questions, args.limit, args.seed)
    t0 = time.perf_counter()
    a = Assistant.from_texts(texts)  # all paragraphs, even with --limit: the corpus is the point
    index_seconds = time.perf_counter() - t0
    retriever = a.retriever()
    warm_up(a, args.mode)
    rows, ranks = [], []
    for q in progress(chosen, total=len(chosen), desc="squad"):
        rank = gold_rank(a, retriever.search(q["question"]), q["doc"], q["starts"]) if q["answerable"] else None
        if q["answerable"]:
            ranks.append(rank)
        answer, total, first = timed_answer(a, q["question"], None, args.mode)
        evidence = [Span(q["doc"], s, s + len(t)) for s, t in zip(q["starts"], q["answers"])]
        rows.append(make_row(a, qid=q["id"], kind="HasAns" if q["answerable"] else "NoAns", question=q["question"],
                             answers=q["answers"], answerable=q["answerable"], evidence=evidence, answer=answer,
                             latency_ms=total, first_token_ms=first, doc=q["doc"], gold_rank=rank))
    m = metrics.aggregate(rows)
    m["by_kind"] = metrics.by_kind(rows)
    m["retrieval"] = {"n": len(ranks), "recall_at_k": metrics.recall_at_k(ranks, KS),
                      "mrr": metrics.mean_reciprocal_rank(ranks),
                      "recall_at_k_curve": metrics.recall_at_k(ranks, list(CURVE_KS))}
    m["index"] = {"documents": len(texts), "sentences": len(a.corpus), "seconds": round(index_seconds, 2)}
    config = {"path": str(args.path), "mode": args.mode, "limit": args.limit, "seed": args.seed,
              "n_questions_in_file": len(questions), "documents": len(texts), "setting": "open corpus"}
    notes = ["Open corpus: every paragraph of the file is indexed and questions do not say which one they are about.",
             "Retrieval rank = rank of the first retrieved sentence containing the gold answer_start (answerable only).",
             "Answer citations count as correct when they overlap a gold answer span."]
    if args.mode == "extractive":
        notes.append("Extractive answers are whole sentences, so EM is ~0 on HasAns and F1 is low by construction; "
                     "answer_in_citations (gold answer text inside the cited sentences) is the meaningful answer figure. "
                     "NoAns EM equals the abstention recall.")
    return SuiteResult(config, m, headline(m, HEADLINE), rows, notes)
