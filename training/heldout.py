"""Held-out report of a relevance scorer in the paragraph setting (the training command's and the bench's).

Candidates are the sentences of the question's own paragraph; the abstention threshold is chosen on the
calibration articles as the highest with false abstention <= 8% there, and applied to the test articles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAX_FALSE_ABSTENTION = 0.08
Scorer = Callable[[str, list[str]], np.ndarray]


def choose_threshold(best_answerable: list[float], max_false: float = MAX_FALSE_ABSTENTION) -> float:
    """Highest threshold t such that at most ``max_false`` of answerable questions have best < t."""
    s = np.sort(np.asarray(best_answerable, dtype=np.float64))
    if not len(s):
        return 0.0
    k = int(np.floor(max_false * len(s)))  # this many may fall below
    return float(s[k]) if k < len(s) else float(s[-1])  # best < s[k] holds for at most k questions


def abstention(best: list[float], answerable: list[bool], thr: float) -> dict:
    ans = [b < thr for b, a in zip(best, answerable) if a]
    una = [b < thr for b, a in zip(best, answerable) if not a]
    return {"threshold": round(thr, 4), "false_abstention": round(float(np.mean(ans)) if ans else 0.0, 3),
            "true_abstention": round(float(np.mean(una)) if una else 0.0, 3),
            "answerable": len(ans), "unanswerable": len(una)}


def paragraph_eval(calib: list, test: list, scorer: Scorer) -> dict:
    """Questions are training.data.Question; candidates = the sentences of the gold paragraph."""
    def run(qs):
        best, ok = [], []
        for q in qs:
            p = scorer(q.question, q.sentences)
            best.append(float(p.max()) if len(p) else 0.0)
            if q.answerable:
                ok.append(int(np.argmax(p)) in q.gold)
        return best, ok

    cb, _ = run(calib)
    tb, tok = run(test)
    thr = choose_threshold([b for b, q in zip(cb, calib) if q.answerable])
    return {"top1": round(float(np.mean(tok)), 3), "answerable": len(tok),
            "abstention": abstention(tb, [q.answerable for q in test], thr),
            "calib_abstention": abstention(cb, [q.answerable for q in calib], thr)}


class BaselineScorer:
    """qa/support.py's probability on (question, sentence): cosine + IDF coverage + answer type.
    IDF comes from all sentences of the file, as in the open-corpus index."""

    def __init__(self, all_sentences: list[str], embedder) -> None:
        from qa.retrieval import LexicalStats

        self.lexical = LexicalStats.from_texts(all_sentences)
        self.embedder = embedder
        self._vec: dict[str, np.ndarray] = {}

    def vectors(self, sentences: list[str]) -> np.ndarray:
        missing = [s for s in dict.fromkeys(sentences) if s not in self._vec]
        if missing:
            self._vec.update(zip(missing, self.embedder.encode(missing)))
        return np.stack([self._vec[s] for s in sentences])

    def __call__(self, question: str, sentences: list[str]) -> np.ndarray:
        from qa.support import answer_type, coverage, probability, type_ok
        from index.text import content_stems

        qv = self.embedder.encode_query(question)
        cos = self.vectors(sentences) @ qv
        kind, q_stems = answer_type(question), content_stems(question)
        return np.array([probability(float(c), coverage(q_stems, frozenset(content_stems(s)), self.lexical),
                                     type_ok(kind, s)) for c, s in zip(cos, sentences)])
