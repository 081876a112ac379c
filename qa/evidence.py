"""The evidence step shared by every answer mode: question + history -> standalone question,
scored candidate sentences, the sentences chosen to cite.

``EvidenceFinder.find`` runs under the Assistant's read lock; the ``Evidence`` it returns holds a
``CorpusView`` (a consistent snapshot), so answer modes use it without any lock.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

from index.corpus import Corpus, CorpusView
from index.locations import location_of
from qa.followup import condense
from qa.retrieval import HybridRetriever
from qa.settings import Settings
from qa.support import ABSTAIN_BELOW, Scored, answer_type, names_someone, relevance_fit, rerank, score_hits
from qa.types import Citation

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Evidence:
    question: str  # the user's own words (they decide the answer type)
    standalone: str  # the question after resolving references to the chat history
    history: tuple[dict[str, str], ...]
    corpus: CorpusView  # the snapshot every row below refers to
    scored: tuple[Scored, ...]  # retrieved candidates, best supported first
    chosen: tuple[tuple[int, float], ...]  # (row, support) to cite, with who-question antecedents; empty = abstain
    started: float = field(default_factory=time.perf_counter)  # perf_counter() when the question arrived
    retrieve_ms: float = 0.0
    abstain_below: float = ABSTAIN_BELOW
    relevance_ms: float | None = None  # time the relevance model took; None when it did not read this question

    @property
    def abstains(self) -> bool:
        return not self.chosen

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1e3

    def timings_ms(self) -> dict[str, float]:
        """Retrieval, the relevance model (when it read the question) and the total so far."""
        extra = {} if self.relevance_ms is None else {"relevance": self.relevance_ms}
        return {"retrieve": self.retrieve_ms, **extra, "total": self.elapsed_ms()}


def citation(view: CorpusView, row: int, score: float) -> Citation:
    """The one place a Citation is made: the record's exact span of its document."""
    rec = view.records[row]
    return Citation(rec.doc_id, rec.start, rec.end, view.record_text(row), round(score, 4),
                    location_of(view.documents[rec.doc_id], rec.start, rec.end))


def select(scored: list[Scored] | tuple[Scored, ...], threshold: float, margin: float,
           max_sentences: int) -> list[Scored]:
    """The sentences to cite: the best one when it clears ``threshold``, plus near ties (within
    ``margin`` of it), at most ``max_sentences``; empty means abstain."""
    if not scored or scored[0].probability < threshold:
        return []
    top = scored[0].probability
    chosen = [scored[0]]
    for s in scored[1:]:
        if len(chosen) == max_sentences:
            break
        if s.probability >= max(threshold, top - margin):
            chosen.append(s)
    return chosen


# A sentence whose subject is a pronoun ("They both believe that North Korea should go first.")
# does not name anyone: for a who-question the names are in the sentence before it.
_PRONOUN_SUBJECT = re.compile(r"^[\s\"'\u201c\u2018]*(?:They|He|She|Both|The two|The pair)\b")


def antecedent(view: CorpusView, question: str, row: int) -> int | None:
    """For a who-question, the sentence before ``row`` when ``row`` names nobody itself (its subject
    is a pronoun) and that sentence is in the same paragraph and holds a name; else None.
    Who-questions only: docs/decisions/0028-who-question-antecedents.md."""
    if answer_type(question) != "name" or not _PRONOUN_SUBJECT.match(view.record_text(row)):
        return None
    prev, _ = view.neighbours(row)
    if prev is None:
        return None
    same_kind = view.records[prev].kind == view.records[row].kind
    if same_kind and view.same_paragraph(prev, row) and names_someone(view.record_text(prev)):
        return prev
    return None


def with_antecedents(view: CorpusView, question: str, rows: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """``rows`` (row, score) with each row's antecedent placed before it and cited with the score of the
    sentence it completes (it is quoted for the same answer); a row already in ``rows`` keeps its own
    place and score, and no row is listed twice."""
    listed = {r for r, _ in rows}
    out: list[tuple[int, float]] = []
    seen: set[int] = set()
    for row, score in rows:
        prev = antecedent(view, question, row)
        for r in (prev, row):
            if r is not None and r not in seen and (r == row or r not in listed):
                seen.add(r)
                out.append((r, score))
    return out


class EvidenceFinder:
    """Retrieval (rebuilt when the corpus changes) + relevance scoring + selection."""

    def __init__(self, settings: Settings, embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.scorer = self._load_scorer(settings) if settings.judge.relevance == "model" else None
        # One threshold per probability scale: the hand features' own, and the one fitted with the model's logit.
        self.threshold = ABSTAIN_BELOW if settings.judge.abstain_below is None else settings.judge.abstain_below
        self.model_weights, model_threshold = relevance_fit(getattr(embedder, "name", ""))
        self.model_threshold = model_threshold if settings.judge.abstain_below is None else settings.judge.abstain_below
        self._retriever: HybridRetriever | None = None

    @property
    def relevance(self) -> str:
        """What judges relevance now: "model" or "features" (the latter also when the model failed to load)."""
        return "model" if self.scorer is not None else "features"

    @staticmethod
    def _load_scorer(settings: Settings):
        from qa.relevance.scorer import RelevanceError, scorer_for

        try:
            return scorer_for(settings)
        except (RelevanceError, OSError, KeyError, ValueError) as exc:
            # Answers still work on the hand features alone; say so once instead of failing every question.
            log.warning("relevance model unavailable, judging relevance by hand features only: %s", exc)
            return None

    def retriever(self, corpus: Corpus) -> HybridRetriever:
        r = self._retriever
        if r is None or r.version != corpus.version or r.corpus is not corpus:
            r = self._retriever = HybridRetriever(corpus, self.embedder, self.settings)
        return r

    def find(self, corpus: Corpus, question: str, history: list[dict[str, str]]) -> Evidence:
        """Call with the corpus read-locked; the Evidence is safe to use after the lock is released."""
        t0 = time.perf_counter()
        standalone = condense(question, history)
        retriever = self.retriever(corpus)
        hits = retriever.search(standalone)
        retrieve_ms = (time.perf_counter() - t0) * 1e3
        view = corpus.view()
        scored = score_hits(question, standalone, hits, retriever.lexical, view.record_text)
        s = self.settings.judge
        threshold, relevance_ms = self.threshold, None
        if self.scorer is not None and scored and scored[0].probability < s.relevance_gate:
            t1 = time.perf_counter()
            scored = rerank(standalone, scored, self.scorer, view.record_text, s.rerank_top, self.model_weights)
            threshold, relevance_ms = self.model_threshold, (time.perf_counter() - t1) * 1e3
        best = select(scored, threshold, s.second_sentence_margin, s.max_sentences)
        chosen = with_antecedents(view, question, [(x.hit.row, x.probability) for x in best])
        return Evidence(question, standalone, tuple(history), view, tuple(scored), tuple(chosen), t0, retrieve_ms,
                        threshold, relevance_ms)
