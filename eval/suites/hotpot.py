"""Suite ``hotpot``: HotpotQA distractor questions, a direct test of cited sentences.

Each paragraph's text is its sentences joined by single spaces, with every sentence's character
span recorded, so a cited span maps back to gold (title, sentence index) supporting facts. By
default each question gets its own Assistant over its 10 paragraphs (cheap: the embedder is
shared); ``--pooled`` indexes the paragraphs of all questions together (harder retrieval).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval import metrics
from eval.metrics import Span
from eval.suites.base import SuiteResult, headline, make_row, progress, sample, timed_answer, warm_up

DESCRIPTION = "HotpotQA distractor JSON: supporting-fact P/R of cited sentences, EM/F1, retrieval recall@k"
KS = (1, 5, 10)
CURVE_KS = range(1, 21)
HEADLINE = ("n", "success", "sp_precision=supporting_facts.precision", "sp_recall=supporting_facts.recall",
            "sp_f1=supporting_facts.f1", "sp_em=supporting_facts.em", "em", "f1", "answer_in_citations",
            "citation_precision_micro", "citation_recall_micro", "recall@1=retrieval.recall_at_k.1",
            "recall@5=retrieval.recall_at_k.5", "recall@10=retrieval.recall_at_k.10", "false_abstention_rate",
            "invalid_spans", "latency_ms.p50", "latency_ms.p95")


@dataclass(frozen=True, slots=True)
class Paragraph:
    title: str
    text: str
    spans: tuple[tuple[int, int], ...]  # sentence i is text[start:end]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, nargs="?", default=None, help="HotpotQA distractor-format JSON file")
    p.add_argument("--pooled", action="store_true", help="index the paragraphs of all questions together")


def paragraph(title: str, sentences: list[str]) -> Paragraph:
    # HotpotQA sentences carry their leading space; strip so joining with one space is exact.
    parts = [s.strip() for s in sentences]
    spans, pos = [], 0
    for i, s in enumerate(parts):
        if i:
            pos += 1
        spans.append((pos, pos + len(s)))
        pos += len(s)
    return Paragraph(title, " ".join(parts), tuple(spans))


def load_hotpot(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(q, dict) and "context" in q for q in data):
        raise ValueError(f"{path}: not a HotpotQA distractor file (a list of questions with 'context')")
    return data


class DocNames:
    """Doc ids: the paragraph title, suffixed when one title carries different texts (pooled runs)."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.paragraphs: dict[str, Paragraph] = {}

    def add(self, p: Paragraph) -> str:
        doc, n = p.title, 1
        while doc in self.texts and self.texts[doc] != p.text:
            n += 1
            doc = f"{p.title} [{n}]"
        self.texts[doc] = p.text
        self.paragraphs[doc] = p
        return doc


def run(args: argparse.Namespace) -> SuiteResult:
    if args.path is None:
        raise ValueError("give the HotpotQA JSON file: python -m eval hotpot PATH")
    from qa import Assistant

    questions = sample(load_hotpot(args.path), args.limit, args.seed)
    # Gold paragraphs come first in the file: shuffle so insertion order (FAISS tie-breaks) gives nothing away.
    prepared = []
    for q in questions:
        paras = [paragraph(t, s) for t, s in q["context"]]
        random.Random(f"{args.seed}:{q['_id']}").shuffle(paras)
        prepared.append((q, paras))
    pool: Any = None
    pool_names = DocNames()
    if args.pooled:
        docs = {q["_id"]: [pool_names.add(p) for p in paras] for q, paras in prepared}
        t0 = time.perf_counter()
        pool = Assistant.from_texts(pool_names.texts)
        index_seconds = time.perf_counter() - t0
    rows, sp_scores, recall_rows = [], [], []
    for q, paras in progress(prepared, total=len(prepared), desc="hotpot"):
        if pool is not None:
            a, names, doc_ids = pool, pool_names, docs[q["_id"]]
        else:
            names = DocNames()
            doc_ids = [names.add(p) for p in paras]
            a = Assistant.from_texts(names.texts)
        by_title = {p.title: d for p, d in zip(paras, doc_ids)}
        gold = {(by_title[t], i) for t, i in q["supporting_facts"]
                if t in by_title and i < len(names.paragraphs[by_title[t]].spans)}  # a few gold facts point past the end
        evidence = [Span(d, *names.paragraphs[d].spans[i]) for d, i in sorted(gold)]

        if not rows:
            warm_up(a, args.mode)
        hits = a.retriever().search(q["question"])
        hit_spans = [Span(a.corpus.records[h.row].doc_id, a.corpus.records[h.row].start, a.corpus.records[h.row].end)
                     for h in hits]
        ranks = [next((k for k, s in enumerate(hit_spans) if metrics.overlaps(s, e)), None) for e in evidence]
        recall_rows.append(ranks)

        answer, total, first = timed_answer(a, q["question"], None, args.mode)
        cited_facts = {(c.doc_id, i) for c in answer.citations if c.doc_id in names.paragraphs
                       for i, (s, e) in enumerate(names.paragraphs[c.doc_id].spans) if s < c.end and c.start < e}
        sp = metrics.set_prf(cited_facts, gold)
        sp_scores.append(sp)
        kind = "yesno" if q["answer"].strip().lower() in ("yes", "no") else "span"
        rows.append(make_row(a, qid=q["_id"], kind=kind, question=q["question"], answers=[q["answer"]],
                             answerable=True, evidence=evidence, answer=answer, latency_ms=total,
                             first_token_ms=first, supporting_facts=sorted([names.paragraphs[d].title, i] for d, i in gold),
                             cited_facts=sorted([names.paragraphs[d].title, i] for d, i in cited_facts),
                             sp=sp, gold_ranks=ranks))
    m = metrics.aggregate(rows)
    m["by_kind"] = metrics.by_kind(rows)
    m["supporting_facts"] = {k: sum(s[k] for s in sp_scores) / len(sp_scores) if sp_scores else None
                             for k in ("precision", "recall", "f1", "em")}

    def recall(ks: Any) -> dict[str, float]:
        # Per question: share of its supporting sentences in the top k; then the mean over questions.
        per_q = [metrics.recall_at_k(r, list(ks)) for r in recall_rows if r]
        return {str(k): sum(p[str(k)] for p in per_q) / len(per_q) if per_q else 0.0 for k in ks}

    m["retrieval"] = {"recall_at_k": recall(KS), "recall_at_k_curve": recall(CURVE_KS)}
    if pool is not None:
        m["index"] = {"documents": len(pool_names.texts), "sentences": len(pool.corpus), "seconds": round(index_seconds, 2)}
    config = {"path": str(args.path), "mode": args.mode, "limit": args.limit, "seed": args.seed,
              "setting": "pooled" if args.pooled else "per question (10 paragraphs)"}
    notes = ["Supporting-fact figures map each cited span to the gold sentences it overlaps (HotpotQA sp P/R/F1/EM).",
             "Retrieval recall@k: share of a question's supporting sentences among its top-k retrieved sentences."]
    if args.mode == "extractive":
        notes.append("Extractive answers are whole sentences: EM is ~0 and yes/no questions cannot be answered "
                     "with 'yes'/'no'; answer_in_citations is the meaningful answer figure.")
    return SuiteResult(config, m, headline(m, HEADLINE), rows, notes)
