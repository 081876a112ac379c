"""Every metric of every suite, in one place (like ALCE's single eval script), so suites compare.

Conventions follow /work/shared/eval/README.md ("Scoring conventions"):
- answers: SQuAD v2 normalisation, EM and token F1 as the max over gold answers; an unanswerable
  question scores 1 only when the system abstains (and an answerable one 0 when it does);
- citations: a cited span is correct when it overlaps a gold evidence span of the same document;
  precision = correct cited spans / cited spans, recall = evidence spans overlapped / evidence spans.

Per-question scoring returns plain dicts (they go verbatim into the results JSON); ``aggregate``
turns a list of them into the run's figures. ``None`` means "not defined for this question" (e.g.
citation precision with no citations) and is left out of the macro averages, never counted as 0.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)
# The assistant's answer text carries citation markers ("... [1]") and labels for layout lines;
# they are presentation, not answer content, so they are dropped before answer scoring.
_MARKERS = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


@dataclass(frozen=True, slots=True)
class Span:
    doc: str
    start: int
    end: int


# ---------------------------------------------------------------- answers (official SQuAD v2.0)
def normalize_answer(s: str) -> str:
    """Lower-case, strip punctuation and articles, collapse whitespace (evaluate-v2.0.py)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def get_tokens(s: str) -> list[str]:
    return normalize_answer(s).split() if s else []


def compute_exact(gold: str, pred: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    g, p = get_tokens(gold), get_tokens(pred)
    if not g or not p:
        return float(g == p)  # both empty scores 1, one empty 0 (official behaviour)
    common = collections.Counter(g) & collections.Counter(p)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def strip_markers(answer_text: str) -> str:
    return " ".join(_MARKERS.sub(" ", answer_text).split())


def answer_scores(pred: str, abstained: bool, answers: Sequence[str], answerable: bool) -> tuple[float, float]:
    """(EM, F1) of one answer. Abstaining is right exactly when the question is unanswerable."""
    if not answerable:
        return (1.0, 1.0) if abstained else (0.0, 0.0)
    if abstained or not answers:
        return 0.0, 0.0
    pred = strip_markers(pred)
    return max(compute_exact(a, pred) for a in answers), max(compute_f1(a, pred) for a in answers)


def answer_in_text(answers: Sequence[str], text: str) -> bool | None:
    """Does some gold answer (normalised, on token boundaries) occur in ``text``?

    Bare "yes"/"no" answers are skipped: they are verdicts, not quotable facts, and "no" would
    match any "no" in a sentence. ``None`` when no quotable answer remains.
    """
    quotable = [n for n in (normalize_answer(a) for a in answers) if n and n not in ("yes", "no")]
    if not quotable:
        return None
    hay = f" {normalize_answer(text)} "
    return any(f" {a} " in hay for a in quotable)


def wrong_verdict(answers: Sequence[str], text: str, abstained: bool) -> bool | None:
    """For a yes/no gold question: does the answer open with the opposite verdict? ``None`` when
    the gold is not a yes/no verdict or nothing was answered. An answer with no verdict is not wrong."""
    gold = {normalize_answer(a) for a in answers} & {"yes", "no"}
    if len(gold) != 1 or abstained:
        return None
    first = (normalize_answer(strip_markers(text)).split() or [""])[0]
    return first in ("yes", "no") and first not in gold


# ---------------------------------------------------------------- citations
def overlaps(a: Span, b: Span) -> bool:
    return a.doc == b.doc and a.start < b.end and b.start < a.end


def evidence_chars(c: Span, evidence: Sequence[Span]) -> int:
    """How many characters of the cited span lie inside some gold evidence span."""
    covered: set[int] = set()
    for e in evidence:
        if e.doc == c.doc:
            covered.update(range(max(c.start, e.start), min(c.end, e.end)))
    return len(covered)


def citation_scores(cited: Sequence[Span], evidence: Sequence[Span]) -> dict[str, int]:
    """Counts for micro averages: correct cited spans and evidence spans covered.

    The shared convention counts a cited span as correct when it merely overlaps gold evidence,
    so a citation of half the article is "correct" too; the character counts say how much of
    what was cited is evidence (``citation_char_precision``), which tells such citations apart.
    """
    return {
        "n_cited": len(cited),
        "n_cited_correct": sum(any(overlaps(c, e) for e in evidence) for c in cited),
        "n_evidence": len(evidence),
        "n_evidence_covered": sum(any(overlaps(c, e) for c in cited) for e in evidence),
        "n_cited_chars": sum(c.end - c.start for c in cited),
        "n_cited_chars_in_evidence": sum(evidence_chars(c, evidence) for c in cited),
    }


def invalid_spans(citations: Iterable[tuple[Span, str]], document_text: Callable[[str], str | None]) -> int:
    """Citations whose text is not exactly the source at [start, end), or that point outside it."""
    bad = 0
    for span, text in citations:
        doc = document_text(span.doc)
        if doc is None or not (0 <= span.start < span.end <= len(doc)) or doc[span.start : span.end] != text:
            bad += 1
    return bad


def score_question(*, answer_text: str, abstained: bool, answers: Sequence[str], answerable: bool,
                   cited: Sequence[Span], cited_texts: Sequence[str], evidence: Sequence[Span],
                   document_text: Callable[[str], str | None]) -> dict:
    """All per-question figures shared by the suites (suites add their own on top)."""
    em, f1 = answer_scores(answer_text, abstained, answers, answerable)
    counts = citation_scores(cited, evidence)
    row: dict = {"em": em, "f1": f1, **counts,
                 "citation_precision": counts["n_cited_correct"] / counts["n_cited"] if cited else None,
                 "citation_recall": counts["n_evidence_covered"] / counts["n_evidence"] if evidence else None,
                 "answer_in_citations": None,  # unanswerable, or yes/no only: nothing quotable to look for
                 "invalid_spans": invalid_spans(zip(cited, cited_texts), document_text)}
    row["wrong_verdict"] = wrong_verdict(answers, answer_text, abstained)
    if answerable and answer_in_text(answers, "") is not None:
        row["answer_in_citations"] = False if abstained else answer_in_text(answers, " ".join(cited_texts))
    # "Success": the behaviour a user needs: abstain on unanswerable, else cite some gold evidence.
    row["success"] = abstained if not answerable else (not abstained and counts["n_cited_correct"] > 0)
    return row


# ---------------------------------------------------------------- retrieval
def recall_at_k(ranks: Sequence[int | None], ks: Sequence[int]) -> dict[str, float]:
    """Share of items whose 0-based rank is < k; ``None`` = not retrieved at all."""
    n = len(ranks)
    return {str(k): (sum(r is not None and r < k for r in ranks) / n if n else 0.0) for k in ks}


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    return float(np.mean([1.0 / (r + 1) if r is not None else 0.0 for r in ranks])) if ranks else 0.0


def set_prf(pred: set, gold: set) -> dict[str, float]:
    """Precision/recall/F1/EM of a predicted set (HotpotQA supporting-fact metrics)."""
    tp = len(pred & gold)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(gold) if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "em": float(pred == gold)}


# ---------------------------------------------------------------- aggregation
def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "mean": None}
    v = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "mean": float(v.mean())}


def _mean(values: Iterable) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def aggregate(rows: Sequence[dict]) -> dict:
    """Run-level figures from rows made by ``score_question`` plus ``answerable``, ``abstained``,
    ``latency_ms`` and ``first_token_ms``."""
    ans = [r for r in rows if r["answerable"]]
    unans = [r for r in rows if not r["answerable"]]
    abstained = [r for r in rows if r["abstained"]]
    correct_abstentions = sum(1 for r in unans if r["abstained"])
    return {
        "n": len(rows), "n_answerable": len(ans), "n_unanswerable": len(unans),
        "em": _mean(r["em"] for r in rows), "f1": _mean(r["f1"] for r in rows),
        "success": _mean(r["success"] for r in rows),
        "answer_in_citations": _mean(r["answer_in_citations"] for r in ans),
        "citation_precision_micro": _ratio(sum(r["n_cited_correct"] for r in rows), sum(r["n_cited"] for r in rows)),
        "citation_recall_micro": _ratio(sum(r["n_evidence_covered"] for r in rows), sum(r["n_evidence"] for r in rows)),
        "citation_precision_macro": _mean(r["citation_precision"] for r in rows),
        "citation_recall_macro": _mean(r["citation_recall"] for r in rows),
        "citations_per_answer": _mean(r["n_cited"] for r in rows if not r["abstained"]),
        # Yes/no questions answered with the opposite "Yes"/"No" (the support check cannot see that).
        "wrong_verdict_rate": _mean(r.get("wrong_verdict") for r in rows),
        # Share of the answers given (not abstentions) that cite anything at all.
        "cited_answer_rate": _mean(r["n_cited"] > 0 for r in rows if not r["abstained"]),
        "citation_char_precision": _ratio(sum(r.get("n_cited_chars_in_evidence", 0) for r in rows),
                                          sum(r.get("n_cited_chars", 0) for r in rows)),
        "abstention_rate_unanswerable": _ratio(correct_abstentions, len(unans)),
        "false_abstention_rate": _ratio(sum(1 for r in ans if r["abstained"]), len(ans)),
        # Abstention seen as a "no answer" classifier (the SQuAD v2 NoAns decision).
        "abstention_precision": _ratio(correct_abstentions, len(abstained)),
        "abstention_recall": _ratio(correct_abstentions, len(unans)),
        "invalid_spans": sum(r["invalid_spans"] for r in rows),
        "latency_ms": percentiles([r["latency_ms"] for r in rows if r.get("latency_ms") is not None]),
        "first_token_ms": percentiles([r["first_token_ms"] for r in rows if r.get("first_token_ms") is not None]),
        # The relevance model (Settings.judge.relevance_gate): share of questions it read, and its time on those.
        "relevance_model_share": _mean(r.get("relevance_ms") is not None for r in rows),
        "relevance_ms": percentiles([r["relevance_ms"] for r in rows if r.get("relevance_ms") is not None]),
    }


BY_KIND_FIELDS = ("em", "f1", "success", "answer_in_citations", "citation_precision", "citation_recall")


def by_kind(rows: Sequence[dict], key: str = "kind") -> dict[str, dict]:
    """Quality per question kind (who/what/..., or HasAns/NoAns): macro means of the row figures."""
    groups: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows:
        groups[str(r.get(key))].append(r)
    return {k: {"n": len(g), **{f: _mean(r[f] for r in g) for f in BY_KIND_FIELDS}} for k, g in sorted(groups.items())}
