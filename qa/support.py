"""How strongly a sentence supports an answer to a question: a calibrated probability.

Features of a (question, sentence) pair: the embedding cosine, the IDF-weighted share of the
question's content words found in the sentence, and how well the sentence can hold the kind of
answer asked for (a quantity for "how many", a date or time for "when", a length for "how long"):
1 for a real expression of that kind, less for a vaguer one or a mere hint, 0 for none.
A logistic model combines them; its weights and the abstention threshold are fitted on SQuAD v2.0
(open corpus) by ``python -m training.calibrate`` and read from ``qa/fitted/support.json``, which holds the
figures behind them (docs/decisions/0020-support-model-and-abstention.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from index.embedder import DEFAULT_MODEL
from index.text import content_stems, words
from qa.fitted import LogisticFit, load, load_by_embedder
from qa.retrieval import Hit, LexicalStats

HAND_FEATURES = ("cosine", "coverage", "type_ok")
_HAND_FIT = load("support", HAND_FEATURES)
WEIGHTS = _HAND_FIT.weights
ABSTAIN_BELOW = _HAND_FIT.threshold

# Settings.relevance = "model": the hand features plus the relevance cross-encoder's logit, fitted per embedder
# (its cosines differ) by ``python -m training.calibrate_relevance`` (qa/fitted/relevance.json). An embedder
# without its own fit (e.g. a retrained adapter, which has a new name) uses the default embedder's.
RELEVANCE_FITS: dict[str, LogisticFit] = load_by_embedder("relevance", (*HAND_FEATURES, "relevance"), DEFAULT_MODEL)
RELEVANCE_WEIGHTS = RELEVANCE_FITS[DEFAULT_MODEL].weights
RELEVANCE_ABSTAIN_BELOW = RELEVANCE_FITS[DEFAULT_MODEL].threshold


def relevance_fit(embedder_name: str) -> tuple[dict[str, float], float]:
    """(weights, abstention threshold) of the relevance combination fitted for this embedder's cosines."""
    fit = RELEVANCE_FITS.get(embedder_name, RELEVANCE_FITS[DEFAULT_MODEL])
    return fit.weights, fit.threshold


_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
          r"Jan\.|Feb\.|Mar\.|Apr\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)")
_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_UNIT = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century|millennia|millennium)"
_ORDINAL = (r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|"
            r"fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty-first|\d+(?:st|nd|rd|th))")
_COUNT = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
          r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|"
          r"millions?|billions?|trillion|dozens?|a couple|half|a few|several)")
# A date or time expression proper. Months and days are case-sensitive ("may", "march" are verbs).
_TIME_EXPR = re.compile(
    rf"\b{_MONTH}(?=\W|$)|\b{_DAY}\b"
    r"|\b(?:1\d{3}|20\d{2})s?\b|\b'?\d0s\b"  # years, decades
    rf"|\b(?i:{_ORDINAL}[ -]centur(?:y|ies)|{_ORDINAL}[ -]millennium)|\b\d+\s*(?:BC|AD|BCE|CE|BP)\b|\b(?:AD|BC)\s*\d+"
    r"|\b\d{1,2}:\d{2}\b|\b\d{1,2}\s*(?i:a\.m\.|p\.m\.|am\b|pm\b)|\b(?i:noon|midnight|o'clock)\b"
    r"|\b(?i:today|yesterday|tomorrow|tonight|nowadays|currently|recently|morning|afternoon|evening|overnight)\b"
    r"|\b(?i:(?:last|next|this|previous|following|same|that|early|late|mid|the)[ -]"
    r"(?:week|month|year|decade|century|weekend|spring|summer|autumn|fall|winter))\b"
    rf"|\b(?i:(?:{_COUNT}|\d+|a|an|many)[ -]{_UNIT}\s+(?:ago|later|earlier|before|after|afterwards?))\b"
    rf"|\b(?i:ago)\b|\b(?i:{_ORDINAL} (?:day|week|month|year))\b")
# Words that only hint at time: connectives ("after", "when", "during") and period nouns. Alone they
# let "coming out of the Singapore summit" pass as an answer to "When was the summit?".
_TIME_CUE = re.compile(r"\b(?:since|until|till|before|after|during|when|while|then|later|earlier|once|era|period|"
                       r"ages?|reign|dynasty|war|times?|season|dated?|years?|days?|weeks?|months?|centur(?:y|ies))\b",
                       re.IGNORECASE)
_QUANTITY = re.compile(rf"\d|\b(?i:{_COUNT}|percent|per cent)\b")
_QUANTITY_CUE = re.compile(r"\b(?:many|few|most|some|all|majority|minority|number|amount|quantity|much|more|less)\b",
                           re.IGNORECASE)
_DURATION = re.compile(rf"\d|\b(?i:{_COUNT}|{_UNIT})\b")
# The dated part of a time expression: a calendar date, year, weekday, clock time or counted offset. It ranks
# "his June 12 Singapore summit" above "after the June summit" for "When was the Singapore summit?".
_PRECISE_TIME = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{_MONTH}|\b{_DAY}\b|\b(?:1\d{{3}}|20\d{{2}})s?\b|\b'?\d0s\b"
    r"|\b\d+\s*(?:BC|AD|BCE|CE|BP)\b|\b(?:AD|BC)\s*\d+|\b\d{1,2}:\d{2}\b|\b\d{1,2}\s*(?i:a\.m\.|p\.m\.|am\b|pm\b)"
    rf"|\b(?i:\d+(?:st|nd|rd|th)|[a-z]+th|first|second|third)[ -](?i:centur(?:y|ies)|millennium)"
    rf"|\b(?i:(?:{_COUNT}|\d+|a|an|many)[ -]{_UNIT}\s+(?:ago|later|earlier|before|after|afterwards?))\b"
    r"|\b(?i:today|yesterday|tomorrow|tonight)\b")
_AUX = r"(?:did|does|do|was|were|is|are|will|would|can|could|has|have|had|should|might|may|must)"


def answer_type(question: str) -> str | None:
    w = words(question)
    text = " ".join(w)
    if re.search(r"\bhow long\b", text) and not re.search(r"\bhow long ago\b", text):
        return "duration"
    if (re.search(r"\bhow (?:many|much|old|far|wide|high|tall|big|large|deep|heavy|fast)\b", text)
            or re.search(r"\b(?:what|which) (?:percentage|percent|proportion|fraction|number|amount)\b", text)):
        return "number"
    # "when" asks for a time only as the question word, not as a conjunction ("adopted when there is a choice").
    if ((w and (w[0] == "when" or w[-1] == "when")) or re.search(rf"\bwhen {_AUX}\b", text)
            or re.search(r"\b(?:what|which) (?:years?|time|day|date|month|century|decade|era|period|season)\b", text)
            or re.search(r"\bhow long ago\b", text)):
        return "time"
    return None


def type_ok(kind: str | None, sentence: str) -> float:
    """1 when the sentence holds an answer of the asked kind (0.75 for a vague time such as "last week"),
    0.5 when it only hints at one (a temporal connective, a vague quantity), 0 when it has none; 1 when the
    question asks for no particular kind. Graded so that a hint no longer counts as much as an answer."""
    if kind is None:
        return 1.0
    if kind == "number":
        return 1.0 if _QUANTITY.search(sentence) else 0.5 if _QUANTITY_CUE.search(sentence) else 0.0
    if kind == "time":
        if _TIME_EXPR.search(sentence):
            return 1.0 if _PRECISE_TIME.search(sentence) else 0.75
        return 0.5 if _TIME_CUE.search(sentence) else 0.0
    return 1.0 if _DURATION.search(sentence) else 0.0  # duration


@dataclass(frozen=True, slots=True)
class Scored:
    hit: Hit  # the candidate's (first) sentence
    cosine: float
    coverage: float | None  # hand features: None where the judge scored the candidate
    type_ok: float | None
    probability: float
    relevance: float | None = None  # the cross-encoder's logit, for the candidates it read
    last: int | None = None  # a judge unit's last sentence when it spans two (cited as one span)


def coverage(query_stems: list[str], sentence_stems: frozenset[str], lexical: LexicalStats) -> float:
    if not query_stems:
        return 0.5  # nothing to match lexically: neither evidence for nor against
    weights = [lexical.idf(s) for s in query_stems]
    total = sum(weights)
    return sum(w for s, w in zip(query_stems, weights) if s in sentence_stems) / total if total > 0 else 0.5


def probability(cos: float, cov: float, tok: float, weights: dict[str, float] = WEIGHTS,
                relevance: float | None = None) -> float:
    z = weights["bias"] + weights["cosine"] * cos + weights["coverage"] * cov + weights["type_ok"] * tok
    if relevance is not None:
        z += weights["relevance"] * relevance
    return 1.0 / (1.0 + math.exp(-z))


def score_hits(question: str, query: str, hits: list[Hit], lexical: LexicalStats,
               sentence_text, weights: dict[str, float] = WEIGHTS) -> list[Scored]:
    """Score candidates; ``query`` is the standalone question (after follow-up resolution),
    ``question`` the user's own words, which decide the answer type."""
    kind = answer_type(question)
    q_stems = content_stems(query)
    out = []
    for h in hits:
        cov = coverage(q_stems, lexical.row_stems(h.row), lexical)
        tok = type_ok(kind, sentence_text(h.row))
        out.append(Scored(h, h.cosine, cov, tok, probability(h.cosine, cov, tok, weights)))
    out.sort(key=lambda s: -s.probability)
    return out


def rerank(question: str, scored: list[Scored], scorer, sentence_text, top: int,
           weights: dict[str, float] = None) -> list[Scored]:
    """The best ``top`` candidates (by hand features) re-scored with the relevance model's logit as a
    fourth feature, re-sorted; the rest follow in their order, never above the reranked ones."""
    weights = weights or RELEVANCE_WEIGHTS
    head, tail = scored[:top], scored[top:]
    if not head:
        return scored
    logits = scorer.logits(question, [sentence_text(s.hit.row) for s in head])
    out = []
    for s, z in zip(head, logits):
        p = probability(s.cosine, s.coverage, s.type_ok, weights, relevance=float(z))
        out.append(Scored(s.hit, s.cosine, s.coverage, s.type_ok, p, float(z)))
    out.sort(key=lambda s: -s.probability)
    floor = out[-1].probability
    out += [Scored(s.hit, s.cosine, s.coverage, s.type_ok, min(s.probability, floor)) for s in tail]
    return out
