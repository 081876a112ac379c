"""What every suite shares: sampling, timing a streamed answer, and turning an answer into a row."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tqdm import tqdm

from eval import metrics
from eval.metrics import Span

if TYPE_CHECKING:
    from qa import Answer, Assistant

T = TypeVar("T")


@dataclass
class SuiteResult:
    config: dict[str, Any]  # every option that shaped the run (JSON-able), written to the results file
    metrics: dict[str, Any]  # every figure
    headline: dict[str, Any]  # the few figures printed as the last line and shown in REPORT.md
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per question
    notes: list[str] = field(default_factory=list)  # caveats for the reader of the report


def sample(items: Sequence[T], limit: int | None, seed: int) -> list[T]:
    """A deterministic sample (same limit and seed, same questions), kept in file order."""
    if limit is None or limit >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterable[T]:
    # stderr, so the last stdout line stays the headline JSON.
    return tqdm(items, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, mininterval=1.0)


def history_turns(history: Sequence[dict[str, str]] | None) -> list[dict[str, str]]:
    """Gold-file history [{question, answer}] -> the Assistant's [{role, content}] turns."""
    turns: list[dict[str, str]] = []
    for h in history or []:
        turns.append({"role": "user", "content": h["question"]})
        turns.append({"role": "assistant", "content": h.get("answer", "")})
    return turns


def warm_up(a: "Assistant", mode: str) -> None:
    """One untimed question: builds the retriever (BM25) and, in generative mode, loads the LLM, so
    per-question latency measures answering rather than start-up."""
    if mode == "generative":
        # The warm-up question may abstain at the retrieval gate without calling the LLM; before
        # this line the first timed question paid the corpus prefix read (20–25 s on the seed article).
        a.warm(wait=True)  # a large corpus's windows too (qa/prompt.py): timed answers find them ready
    a.ask("What is this about?", mode=mode)


def timed_answer(a: "Assistant", question: str, history: list[dict[str, str]] | None,
                 mode: str) -> tuple["Answer", float, float | None]:
    """(answer, total ms, first-token ms): first token = the first non-empty text delta of the stream."""
    from qa import Answer

    t0 = time.perf_counter()
    first: float | None = None
    answer: Answer | None = None
    for item in a.stream(question, history=history, mode=mode):
        if isinstance(item, Answer):
            answer = item
        elif first is None and item:
            first = (time.perf_counter() - t0) * 1e3
    total = (time.perf_counter() - t0) * 1e3
    if answer is None:
        raise RuntimeError("the answer stream ended without an Answer")
    return answer, total, first


def make_row(a: "Assistant", *, qid: str, kind: str, question: str, answers: Sequence[str], answerable: bool,
             evidence: Sequence[Span], answer: "Answer", latency_ms: float, first_token_ms: float | None,
             **extra: Any) -> dict[str, Any]:
    """One per-question result: identity, the answer, its citations (each marked correct or not), scores."""
    def document_text(doc_id: str) -> str | None:
        return a.corpus.documents[doc_id].text if doc_id in a.corpus.documents else None

    cited = [Span(c.doc_id, c.start, c.end) for c in answer.citations]
    texts = [c.text for c in answer.citations]
    scores = metrics.score_question(answer_text=answer.text, abstained=answer.abstained, answers=answers,
                                    answerable=answerable, cited=cited, cited_texts=texts, evidence=evidence,
                                    document_text=document_text)
    return {
        "id": qid, "kind": kind, "question": question, "answerable": answerable, "abstained": answer.abstained,
        "answer": answer.text, "gold_answers": list(answers), "standalone_question": answer.standalone_question,
        "latency_ms": round(latency_ms, 2), "first_token_ms": None if first_token_ms is None else round(first_token_ms, 2),
        "relevance_ms": None if "relevance" not in answer.timings_ms else round(answer.timings_ms["relevance"], 2),
        "citations": [{"doc": c.doc_id, "start": c.start, "end": c.end, "text": c.text, "score": c.score,
                       "correct": any(metrics.overlaps(s, e) for e in evidence)}
                      for c, s in zip(answer.citations, cited)],
        **extra, **scores,
    }


def headline(m: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """Pick figures by dotted path, rounded: "latency_ms.p50" is shown as "latency_ms_p50",
    "recall@1=retrieval.recall_at_k.1" as "recall@1"."""
    out: dict[str, Any] = {}
    for key in keys:
        name, _, path = key.rpartition("=")
        value: Any = m
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[name or path.replace(".", "_")] = round(value, 4) if isinstance(value, float) else value
    return out
