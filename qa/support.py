"""How strongly a sentence supports an answer to a question: a calibrated probability.

Features of a (question, sentence) pair: the embedding cosine, the IDF-weighted share of the
question's content words found in the sentence, and whether the sentence can hold the kind of
answer asked for (a number for "how many", a date or day for "when", a name for "who").
A logistic model combines them; the weights and the abstention threshold below were fitted on
SQuAD v2.0 dev half A in an open-corpus setting by ``python -m eval.calibrate`` (numbers below).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from qa.retrieval import Hit, LexicalStats
from qa.text import content_stems, words

# --- fitted by `python -m eval.calibrate ../shared/eval/squad2_dev_A.json` (2026-11-28) ---------
# Open corpus: 636 paragraphs / 3,448 sentences in one index, 6,307 questions. Logistic regression
# on the retrieved candidates of the answerable questions of the even-numbered articles; the
# threshold is the highest that keeps false abstention <= 10% on those articles. On the held-out
# articles (3,514 questions) it abstains on 24.5% of unanswerable questions (true abstention) and
# on 11.2% of answerable ones (false abstention); the top-scored sentence is the gold one for
# 72.7%. SQuAD v2's unanswerable questions are written to look answerable from their paragraph,
# so sentence similarity separates them poorly: the abstention catches off-topic questions, not
# adversarial ones.
WEIGHTS = {"bias": -12.1466, "cosine": 7.5888, "coverage": 6.4443, "type_ok": 2.4251}
ABSTAIN_BELOW = 0.06
# -------------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                     r"forty|fifty|hundred|thousand|million|billion|dozen|several|many|few)\b", re.IGNORECASE)
_TIME = re.compile(r"\d|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
                   r"morning|afternoon|evening|night|week|month|year|decade|century|january|february|march|april|"
                   r"may|june|july|august|september|october|november|december|spring|summer|autumn|fall|winter|"
                   r"ago|later|earlier|since|until|before|after|during|when)\b", re.IGNORECASE)
_NAME = re.compile(r"(?:^|[\s,;(\u201c\"])[A-Z][a-z'\u2019A-Z.-]+")


def answer_type(question: str) -> str | None:
    w = words(question)
    text = " ".join(w)
    if re.search(r"\bhow (?:many|much)\b", text):
        return "number"
    if "when" in w or re.search(r"\bwhat (?:year|time|day|date|month)\b", text):
        return "time"
    if w and w[0] in ("who", "whom", "whose"):
        return "name"
    return None


def type_ok(kind: str | None, sentence: str) -> float:
    if kind is None:
        return 1.0
    if kind == "number":
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if kind == "time":
        return 1.0 if _TIME.search(sentence) else 0.0
    return 1.0 if _NAME.search(sentence[1:]) or _NAME.match(sentence) else 0.0


@dataclass(frozen=True, slots=True)
class Scored:
    hit: Hit
    cosine: float
    coverage: float
    type_ok: float
    probability: float


def coverage(query_stems: list[str], sentence_stems: frozenset[str], lexical: LexicalStats) -> float:
    if not query_stems:
        return 0.5  # nothing to match lexically: neither evidence for nor against
    weights = [lexical.idf(s) for s in query_stems]
    total = sum(weights)
    return sum(w for s, w in zip(query_stems, weights) if s in sentence_stems) / total if total > 0 else 0.5


def probability(cos: float, cov: float, tok: float, weights: dict[str, float] = WEIGHTS) -> float:
    z = weights["bias"] + weights["cosine"] * cos + weights["coverage"] * cov + weights["type_ok"] * tok
    return 1.0 / (1.0 + math.exp(-z))


def score_hits(question: str, query: str, hits: list[Hit], lexical: LexicalStats,
               sentence_text, weights: dict[str, float] = WEIGHTS) -> list[Scored]:
    """Score candidates; ``query`` is the standalone question (after follow-up resolution),
    ``question`` the user's own words, which decide the answer type."""
    kind = answer_type(question)
    q_stems = content_stems(query)
    out = []
    for h in hits:
        cov = coverage(q_stems, lexical.stems[h.row], lexical)
        tok = type_ok(kind, sentence_text(h.row))
        out.append(Scored(h, h.cosine, cov, tok, probability(h.cosine, cov, tok, weights)))
    out.sort(key=lambda s: -s.probability)
    return out
