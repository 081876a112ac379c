"""The evidence step shared by every answer mode: question + history -> standalone question,
scored candidate sentences, the sentences chosen to cite.

``EvidenceFinder.find`` runs under the Assistant's read lock; the ``Evidence`` it returns holds a
``CorpusView`` (a consistent snapshot), so answer modes use it without any lock.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from index.corpus import Corpus, CorpusView
from index.locations import location_of
from qa.fitted import load_judge, path_of
from qa.followup import condense
from qa.retrieval import HybridRetriever
from qa.settings import Settings
from qa.support import ABSTAIN_BELOW, Scored, relevance_fit, rerank, score_hits
from qa.types import Citation
from qa.units import candidate_units, introduces, unit_text

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Evidence:
    question: str  # the user's own words (they decide the answer type)
    standalone: str  # the question after resolving references to the chat history
    history: tuple[dict[str, str], ...]
    corpus: CorpusView  # the snapshot every row below refers to
    scored: tuple[Scored, ...]  # retrieved candidates, best supported first
    chosen: tuple[tuple[int, float], ...]  # (row, support) to cite; empty = abstain
    started: float = field(default_factory=time.perf_counter)  # perf_counter() when the question arrived
    retrieve_ms: float = 0.0
    abstain_below: float = ABSTAIN_BELOW
    relevance_ms: float | None = None  # time the relevance model or judge took; None when it did not read this question
    units_read: int = 0  # candidate units the judge read (0 when no judge ran)
    last_rows: tuple[tuple[int, int], ...] = ()  # (first row, last row) of each chosen unit spanning two sentences

    @property
    def abstains(self) -> bool:
        return not self.chosen

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1e3

    def chosen_rows(self) -> list[int]:
        """Every row the chosen citations quote, best citation first: a unit's rows through its last."""
        last = dict(self.last_rows)
        return [r for row, _ in self.chosen for r in range(row, last.get(row, row) + 1)]

    def cite(self, row: int, score: float) -> Citation:
        """The Citation of a chosen (row, score): one exact span, through the unit's last sentence."""
        return citation(self.corpus, row, score, dict(self.last_rows).get(row))

    def timings_ms(self) -> dict[str, float]:
        """Retrieval, the relevance model (when it read the question) and the total so far."""
        extra = {} if self.relevance_ms is None else {"relevance": self.relevance_ms}
        return {"retrieve": self.retrieve_ms, **extra, "total": self.elapsed_ms()}


def citation(view: CorpusView, row: int, score: float, last: int | None = None) -> Citation:
    """The one place a Citation is made: the record's exact span of its document, or, with ``last``,
    the one span from the start of ``row`` to the end of ``last`` (a later row of the same document)."""
    rec = view.records[row]
    end = rec.end if last is None else view.records[last].end
    doc = view.documents[rec.doc_id]
    return Citation(rec.doc_id, rec.start, end, doc.text[rec.start:end], round(score, 4),
                    location_of(doc, rec.start, end))


def select(scored: list[Scored] | tuple[Scored, ...], threshold: float, margin: float,
           max_sentences: int) -> list[Scored]:
    """The sentences (or units) to cite: the best one when it clears ``threshold``, plus near ties (within
    ``margin`` of it) that share no sentence with one already chosen, at most ``max_sentences``; empty
    means abstain."""
    if not scored or scored[0].probability < threshold:
        return []
    top = scored[0].probability
    chosen = [scored[0]]
    for s in scored[1:]:
        if len(chosen) == max_sentences or s.probability < max(threshold, top - margin):
            break
        if not any(_overlap(s, c) for c in chosen):
            chosen.append(s)
    return chosen


def as_units(view: CorpusView, best: list[Scored]) -> list[Scored]:
    """The selected sentences as citation units: a heading, list-item head or lead-in is cited through what it
    introduces (``qa.units.introduces``), since alone it names the answer without giving it; a unit overlapping
    a better one already kept is dropped (``_overlap``, as ``select`` does), so nothing is quoted twice."""
    out: list[Scored] = []
    for x in best:
        last = x.last if x.last is not None else introduces(view, x.hit.row)
        unit = replace(x, last=last) if last != x.last else x
        if not any(_overlap(unit, c) for c in out):
            out.append(unit)
    return out


def to_cite(best: list[Scored]) -> tuple[tuple[tuple[int, float], ...], tuple[tuple[int, int], ...]]:
    """(row, support) of each unit to cite, and (first row, last row) of those spanning more than one sentence."""
    return (tuple((x.hit.row, x.probability) for x in best),
            tuple((x.hit.row, x.last) for x in best if x.last is not None))


def _overlap(a: Scored, b: Scored) -> bool:
    a_last = a.hit.row if a.last is None else a.last
    b_last = b.hit.row if b.last is None else b.last
    return a.hit.row <= b_last and b.hit.row <= a_last


def _load_model(what: str, load, error: type[Exception], settings: Settings):
    """A relevance model, or None: answers still work on the hand features alone; say so once instead of
    failing every question."""
    try:
        return load(settings)
    except (error, OSError, KeyError, ValueError) as exc:
        log.warning("%s unavailable, judging relevance by hand features only: %s", what, exc)
        return None


class EvidenceFinder:
    """Retrieval (rebuilt when the corpus changes) + relevance judging + selection."""

    def __init__(self, settings: Settings, embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        s = settings.judge
        self.judge = self._load_judge(settings) if s.relevance == "judge" else None
        self.judge_threshold = self.judge_margin = 0.0
        if self.judge is not None:
            # An explicit abstain_below needs no fit (training.calibrate_judge runs before judge.json exists).
            fit = load_judge() if s.abstain_below is None or path_of("judge").exists() else None
            self.judge_threshold = fit.threshold if s.abstain_below is None else s.abstain_below
            self.judge_margin = fit.margin if fit else s.second_sentence_margin
        self.scorer = self._load_scorer(settings) if s.relevance == "model" else None
        # One threshold per probability scale: the hand features' own, and the one fitted with the model's logit.
        self.threshold = ABSTAIN_BELOW if s.abstain_below is None else s.abstain_below
        self.model_weights, model_threshold = relevance_fit(getattr(embedder, "name", ""))
        self.model_threshold = model_threshold if s.abstain_below is None else s.abstain_below
        self._retriever: HybridRetriever | None = None

    @property
    def relevance(self) -> str:
        """What judges relevance now: "judge", "model" or "features" (the latter also when a model failed to load)."""
        return "judge" if self.judge is not None else "model" if self.scorer is not None else "features"

    @staticmethod
    def _load_judge(settings: Settings):
        from qa.judge.scorer import JudgeError, scorer_for

        return _load_model("judge", scorer_for, JudgeError, settings)

    @staticmethod
    def _load_scorer(settings: Settings):
        from qa.relevance.scorer import RelevanceError, scorer_for

        return _load_model("relevance model", scorer_for, RelevanceError, settings)

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
        if self.judge is not None:
            return self._judged(view, question, standalone, history, hits, t0, retrieve_ms)
        scored = score_hits(question, standalone, hits, retriever.lexical, view.record_text)
        s = self.settings.judge
        threshold, relevance_ms = self.threshold, None
        if self.scorer is not None and scored and scored[0].probability < s.relevance_gate:
            t1 = time.perf_counter()
            scored = rerank(standalone, scored, self.scorer, view.record_text, s.rerank_top, self.model_weights)
            threshold, relevance_ms = self.model_threshold, (time.perf_counter() - t1) * 1e3
        best = select(scored, threshold, s.second_sentence_margin, s.max_sentences)
        chosen, last_rows = to_cite(as_units(view, best))
        return Evidence(question, standalone, tuple(history), view, tuple(scored), chosen, t0, retrieve_ms,
                        threshold, relevance_ms, last_rows=last_rows)

    def _judged(self, view: CorpusView, question: str, standalone: str, history: list[dict[str, str]], hits,
                t0: float, retrieve_ms: float) -> Evidence:
        """The judge reads the first ``max_units`` candidate units, ranks them and alone decides what is cited."""
        s = self.settings.judge
        t1 = time.perf_counter()
        units = candidate_units(view, hits, s.max_units)
        probs = self.judge.probabilities(standalone, [unit_text(view, u) for u in units]) if units else []
        scored = sorted((Scored(replace(u.hit, row=u.first), u.hit.cosine, None, None, float(p),
                                last=u.last if u.last != u.first else None) for u, p in zip(units, probs)),
                        key=lambda x: -x.probability)
        judge_ms = (time.perf_counter() - t1) * 1e3
        best = select(scored, self.judge_threshold, self.judge_margin, s.max_sentences)
        chosen, last_rows = to_cite(best)
        return Evidence(question, standalone, tuple(history), view, tuple(scored), chosen, t0, retrieve_ms,
                        self.judge_threshold, judge_ms, len(units), last_rows)
