"""Is an answer sentence supported by the sentence it cites?

Support of a claim by a source sentence combines the embedding cosine with the share of the
claim's content words found in the source (stemmed): a logistic model whose weights and threshold are
fitted on SQuAD v2.0 by ``python -m training.calibrate_support`` and read from ``qa/fitted/verify.json``
(docs/decisions/0021-claim-support-check.md).
"""

from __future__ import annotations

import math
import re
import numpy as np

from index.corpus import CorpusView
from index.layout import META_KINDS
from index.text import content_stems, words
from qa.fitted import load

_SUPPORT_FIT = load("verify", ("cosine", "lexical"))
SUPPORT_WEIGHTS = _SUPPORT_FIT.weights
SUPPORT_MIN = _SUPPORT_FIT.threshold


def support_probability(cos: float, lex: float) -> float:
    z = SUPPORT_WEIGHTS["bias"] + SUPPORT_WEIGHTS["cosine"] * cos + SUPPORT_WEIGHTS["lexical"] * lex
    return 1.0 / (1.0 + math.exp(-z))


def lexical_support(claim: str, source: str) -> float:
    claim_stems = content_stems(claim)
    if not claim_stems:
        return 0.0
    source_stems = set(content_stems(source))
    return sum(s in source_stems for s in claim_stems) / len(claim_stems)


# Metadata records (byline, dateline, ...) are short values like "WASHINGTON" that the support model,
# fitted on SQuAD sentences, scores low against a claim quoting them: a sentence that quotes the whole
# value is backed by it.
QUOTED_VALUE_MAX_WORDS = 8


# A capitalised word right after the value means it is part of a longer name: the dateline
# "WASHINGTON" is not quoted by "The Washington Post published it" (a wrong answer to "Which
# newspaper published the article?" was backed that way).
_NAME_CONTINUES = re.compile(r"[ \t]+[A-Z]")


def quotes_value(answer_sentence: str, value: str) -> bool:
    v = words(value)
    if not 0 < len(v) <= QUOTED_VALUE_MAX_WORDS:
        return False
    pattern = re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, v)) + r"(?!\w)", re.IGNORECASE)
    return any(not _NAME_CONTINUES.match(answer_sentence, m.end()) for m in pattern.finditer(answer_sentence))


class SupportChecker:
    def __init__(self, embedder) -> None:
        self.embedder = embedder

    def scores(self, claim_vec: np.ndarray, claim: str, answer_sentence: str, rows: list[int],
               corpus: CorpusView) -> list[float]:
        cosines = corpus.vectors[rows] @ claim_vec if rows else []
        return [1.0 if corpus.records[r].kind in META_KINDS and quotes_value(answer_sentence, corpus.record_text(r))
                else support_probability(float(c), lexical_support(claim, corpus.record_text(r)))
                for c, r in zip(cosines, rows)]

    def check(self, claim: str, cited_rows: list[int], candidate_rows: list[int], corpus: CorpusView,
              answer_sentence: str = "") -> list[tuple[int, float]]:
        """The (row, support) pairs that support ``claim``, best first: the cited rows that do, else the
        best supporting candidate row, else none. ``claim`` is what the support model judges (question +
        answer sentence); ``answer_sentence`` alone decides whether a metadata value is quoted (a
        question quoting it proves nothing)."""
        cited = list(dict.fromkeys(cited_rows))
        claim_vec = self.embedder.encode_query(claim)  # once for the cited and the fallback rows
        cited_scores = self.scores(claim_vec, claim, answer_sentence, cited, corpus)
        supported = sorted(((r, s) for r, s in zip(cited, cited_scores) if s >= SUPPORT_MIN), key=lambda x: -x[1])
        if supported:
            return supported
        # The cited sentence does not support the claim (or nothing was cited): take the best
        # retrieved sentence if that one does, else leave the claim unsupported.
        others = [r for r in candidate_rows if r not in cited]
        other_scores = self.scores(claim_vec, claim, answer_sentence, others, corpus)
        if other_scores:
            best = int(np.argmax(other_scores))
            if other_scores[best] >= SUPPORT_MIN:
                return [(others[best], other_scores[best])]
        return []
