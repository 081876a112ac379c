"""How strongly a sentence supports an answer to a question: a calibrated probability.

Features of a (question, sentence) pair: the embedding cosine, the IDF-weighted share of the
question's content words found in the sentence, and how well the sentence can hold the kind of
answer asked for (a quantity for "how many", a date or time for "when", a name for "who"):
1 for a real expression of that kind, less for a vaguer one or a mere hint, 0 for none.
A logistic model combines them; the weights and the abstention threshold below were fitted on
SQuAD v2.0 dev half A in an open-corpus setting by ``python -m eval.calibrate`` (numbers below).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from qa.retrieval import Hit, LexicalStats
from index.text import content_stems, words

# --- fitted by `python -m eval.calibrate ../shared/eval/squad2_dev_A.json` (2026-11-28) ---------
# Open corpus: 636 paragraphs / 3,448 sentences in one index, 6,307 questions. Logistic regression
# on the retrieved candidates of the answerable questions of the even-numbered articles; the
# threshold is the highest that keeps false abstention <= 10% on those articles. On the held-out
# articles (3,514 questions) it abstains on 25.5% of unanswerable questions (true abstention) and
# on 11.0% of answerable ones (false abstention); the top-scored sentence is the gold one for
# 73.1% (with the former all-or-nothing answer-type check, which took any digit or temporal
# connective for a time: 24.5%, 11.2%, 72.7%). SQuAD v2's unanswerable questions are written to
# look answerable from their paragraph, so sentence similarity separates them poorly: the
# abstention catches off-topic questions, not adversarial ones.
# Tried and dropped (2026-11-28): a "place" type for where-questions (a capitalised word after a
# locative preposition): held-out top-1 73.3%, true/false abstention 24.7%/11.3%, i.e. no gain.
WEIGHTS = {"bias": -12.3815, "cosine": 7.6206, "coverage": 6.3472, "type_ok": 2.7118}
ABSTAIN_BELOW = 0.06
# -------------------------------------------------------------------------------------------------

# --- Settings.judge.relevance = "model": fitted by `python -m eval.calibrate_relevance
# ../shared/eval/squad2_dev_A.json --limit 700 --top 6` (2026-12-01) with the committed cross-encoder --
# Logistic regression over (cosine, coverage, type_ok, cross-encoder logit) on the 6 best candidates of
# the answerable questions of the 2 calibration articles (698 questions, open corpus of all 3,448
# sentences); threshold: false abstention <= 8% there. Test articles (700 questions, held out from
# both models): top-1 75.2% vs 73.0% for the hand features alone, top-2 83.7% vs 82.0%, false abstention
# 5.5% vs 4.6%, true abstention 15.9% vs 15.3%; on the calibration articles top-1 71.9% vs 72.6%.
# Within noise (+/- 2.3 points on 367 answerable questions) at ~6x the time of a question.
# Rerun 2026-12-01 on ALL questions (`--limit 0 --top 6`: 698 calibration, 1,948 test), same constants. At
# the same false-abstention budget the hand features alone (their threshold would be 0.037) and the combination are close on the test articles: top-1
# 74.1% vs 75.4%, false abstention 5.3% vs 5.1%, true abstention 15.5% vs 16.1%. Gated
# (Settings.judge.relevance_gate: the model reads a question only when the hand features' best probability is below
# the gate; the others keep the hand features' choice and ABSTAIN_BELOW):
#   gate            0.2    0.3    0.4    0.5    always
#   calib top-1    74.1%  74.8%  76.3%  75.9%  71.9%    (false abstention 7.7-8.0% for all)
#   test top-1     75.4%  75.4%  75.6%  75.5%  75.4%    (false / true abstention 5.0-5.1% / 16.0%)
#   model runs     37%    47%    57%    64%    100%     (share of test questions)
# 0.4 has the best calibration top-1: the default. On the test articles no gate costs quality, and the model's
# time goes only to the questions the hand features are unsure of.
# Tried and not kept (2026-12-02, same 698 calibration / 1,948 test questions; figures: test top-1, gated at 0.4):
#  - the model reading more candidates: top 4 / 6 / 8 / 10 / 15 / 20 -> 75.4 / 75.7 / 75.8 / 75.6 / 75.6 / 75.7%.
#    The gold sentence is among the hand features' best 6 for 90.0% (best 20: 94.7%), but beyond the first few
#    the model does not tell it apart: the ranking, not the candidate list, is the limit.
#  - context features (the question's IDF-weighted coverage and the best cosine over the sentence and its
#    paragraph neighbours, as a fifth and sixth feature): 76.2-76.6% ungated vs 75.5%, within the standard error
#    (1.4 points on 995 answerable questions), and no better on the calibration articles (70.8 / 71.9% vs 71.9%);
#    with the hand features alone, refitted on the training + calibration articles: 74.1-74.4% vs 73.7%.
#    Not added. The depth figures are `python -m eval.calibrate_relevance ../shared/eval/squad2_dev_A.json --limit 0
#    --top N`; the context features came from a throwaway script (that collect() plus the two features).
RELEVANCE_WEIGHTS = {"bias": -6.2224, "cosine": 2.6985, "coverage": 3.1521, "type_ok": 2.3371, "relevance": 0.3669}
RELEVANCE_ABSTAIN_BELOW = 0.0804
# The same fit for the question-tuned embedder (CITEQA_EMBED_MODEL=squad-tuned, index/tuned_embedder.py): its
# cosines are lower and mean more (calibration articles: weight 5.8 vs 2.7 above), so the combination is refitted
# on its cosines, by the same command with that embedder. Keyed by the embedder's name, which names the adapter's
# SHA-256: a retrained adapter falls back to the base fit until it is refitted.
# `CITEQA_EMBED_MODEL=squad-tuned python -m eval.calibrate_relevance ../shared/eval/squad2_dev_A.json --limit 0
# --top 6` (2026-12-02), test articles (1,948 questions), gated at 0.4: top-1 75.8%, false / true abstention
# 5.5% / 15.1%, against 75.6%, 5.1% / 16.0% for the base embedder above. The tuned embedder finds the answer
# sentence more often by itself (dense recall@1 67.8% vs 57.1%), but BM25, coverage and the relevance model
# already recover most of that: in the product it is level with the base, hence not the default.
# Tried and not kept (2026-12-02, a throwaway script over the same 698 calibration / 1,948 test questions): the
# hand weights above refitted on the calibration articles for each embedder, and the combination refitted on top.
# Test top-1 gated at 0.4: base 75.6% (as now), tuned 75.5% (75.8% with the base's hand weights); with the model on
# every question 75.5% / 76.1%; the tuned embedder's hand features alone 76.3% but at 8.9% false abstention (over
# the 8% budget). Every variant lands at 75-76%: these features and this model, not their weights, are the limit.
TUNED_RELEVANCE_FIT = ("all-MiniLM-L6-v2+citeqa-squad-478be51ad7b2",
                       {"bias": -8.3286, "cosine": 7.3554, "coverage": 2.9721, "type_ok": 2.1757, "relevance": 0.2307},
                       0.0791)


def relevance_fit(embedder_name: str) -> tuple[dict[str, float], float]:
    """(weights, abstention threshold) of the relevance combination fitted for this embedder's cosines."""
    name, weights, threshold = TUNED_RELEVANCE_FIT
    return (weights, threshold) if embedder_name == name else (RELEVANCE_WEIGHTS, RELEVANCE_ABSTAIN_BELOW)
# -------------------------------------------------------------------------------------------------

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
_NAME = re.compile(r"(?:^|[\s,;(\u201c\"])[A-Z][a-z'\u2019A-Z.-]+")
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
    if w and w[0] in ("who", "whom", "whose"):
        return "name"
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
    if kind == "duration":
        return 1.0 if _DURATION.search(sentence) else 0.0
    return 1.0 if names_someone(sentence) or _NAME.match(sentence) else 0.0


def names_someone(sentence: str) -> bool:
    """A capitalised word after the first letter: a name, since the sentence's own first word does not count."""
    return bool(_NAME.search(sentence[1:]))


@dataclass(frozen=True, slots=True)
class Scored:
    hit: Hit
    cosine: float
    coverage: float
    type_ok: float
    probability: float
    relevance: float | None = None  # the cross-encoder's logit, for the candidates it read


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
