"""The QA service: one object that owns the corpus, the index directory and the answer modes.

The CLI, the Gradio UI and the benchmarks all go through this class and nothing else.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from index.corpus import Corpus
from index.embedder import get_embedder
from index.errors import CiteqaError, QuestionError
from index.index_dir import IndexDirectory
from index.ingest import SyncReport, add_texts, sync_paths
from qa import extractive
from qa.followup import condense
from qa.question import clean_history, clean_question
from qa.retrieval import HybridRetriever
from qa.support import score_hits
from qa.types import Answer, DocumentInfo

MODES = ("extractive", "generative")
SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"


def default_home() -> Path:
    return Path(os.environ.get("CITEQA_HOME", Path.home() / ".cache" / "citeqa"))


def default_index_dir() -> Path:
    return Path(os.environ.get("CITEQA_INDEX_DIR", default_home() / "index"))


class _ReadWriteLock:
    """Many concurrent questions, one writer (add/remove) at a time, writers not starved."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Assistant:
    def __init__(self, corpus: Corpus, embedder, index_dir: IndexDirectory | None = None) -> None:
        self.corpus = corpus
        self.embedder = embedder
        self.index_dir = index_dir
        # The generation on disk that ``corpus`` is: a change first reloads when another process saved since.
        self._generation = index_dir.current_name() if index_dir is not None else None
        self.last_sync: SyncReport | None = None
        self._lock = _ReadWriteLock()
        self._retriever: HybridRetriever | None = None
        self._generative = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def open(cls, paths: list[str | os.PathLike] | None = None, index_dir: str | os.PathLike | None = None,
             embed_model: str | None = None) -> "Assistant":
        """Open (or create) a persistent index and bring it up to date with ``paths``.

        Without ``paths`` a new index starts from the seed article; an existing one is opened as
        it is, refreshing documents whose source files changed since they were indexed.
        """
        embedder = get_embedder(embed_model)
        directory = IndexDirectory(index_dir or default_index_dir())
        if isinstance(paths, (str, os.PathLike)):  # one path, not an iterable of its characters
            paths = [paths]
        with directory.write_lock():
            corpus = directory.load(embedder.name, embedder.dim)
            if corpus is None:
                corpus = Corpus(embedder.name, embedder.dim)
                if paths is None:
                    if not SEED_DIR.is_dir():
                        raise CiteqaError(f"the seed corpus {SEED_DIR} is missing; pass paths=[...] to index your own files")
                    paths = [SEED_DIR]
            sources = [(d.doc_id, Path(d.source)) for d in corpus.documents.values() if d.source]
            report = sync_paths(corpus, list(paths or []), embedder, strict=True, known_sources=sources)
            if report.changed or not directory.exists():
                directory.save(corpus)
            generation = directory.current_name()
        assistant = cls(corpus, embedder, directory)
        assistant._generation = generation
        assistant.last_sync = report
        return assistant

    @classmethod
    def from_texts(cls, texts: dict[str, str], embed_model: str | None = None) -> "Assistant":
        """An in-memory assistant over the given {doc_id: text}; nothing is written to disk."""
        embedder = get_embedder(embed_model)
        corpus = Corpus(embedder.name, embedder.dim)
        add_texts(corpus, texts, embedder)
        return cls(corpus, embedder)

    # ------------------------------------------------------------------ corpus management
    def documents(self) -> list[DocumentInfo]:
        with self._lock.read():
            counts: dict[str, int] = {}
            for r in self.corpus.records:
                counts[r.doc_id] = counts.get(r.doc_id, 0) + 1
            return [DocumentInfo(d.doc_id, counts.get(d.doc_id, 0), len(d.text), d.source, dict(d.metadata))
                    for d in self.corpus.documents.values()]

    def document_text(self, doc_id: str) -> str:
        return self.corpus.document(doc_id).text

    def add_paths(self, paths: list[str | os.PathLike]) -> SyncReport:
        if isinstance(paths, (str, os.PathLike)):  # one path, not an iterable of its characters
            paths = [paths]
        return self._change(lambda: sync_paths(self.corpus, list(paths), self.embedder, strict=True),
                            persist=lambda report: report.changed)

    def add_texts(self, texts: dict[str, str]) -> int:
        return self._change(lambda: add_texts(self.corpus, texts, self.embedder))

    def remove(self, doc_id: str) -> None:
        self._change(lambda: self.corpus.remove(doc_id))

    def _change(self, change: Callable, persist: Callable = lambda result: True):
        """Apply one change to the corpus and save it.

        With an index directory the whole read-modify-write holds its cross-process lock and starts
        from the newest saved index, so two processes adding documents never lose each other's
        (each used to save its own stale copy). If the change or the save fails, the corpus is
        reloaded from disk: what is answered from never differs from what is saved.
        """
        with self._lock.write():
            if self.index_dir is None:
                return change()
            with self.index_dir.write_lock():
                if self.index_dir.current_name() != self._generation:
                    self._reload()
                version = self.corpus.version
                try:
                    result = change()
                    if persist(result):
                        self.index_dir.save(self.corpus)
                        self._generation = self.index_dir.current_name()
                except BaseException:
                    if self.corpus.version != version:
                        try:
                            self._reload()
                        except CiteqaError:
                            pass  # keep what we have; the original error says what went wrong
                    raise
                return result

    def _reload(self) -> None:
        """Replace the corpus by the index on disk (call holding both locks)."""
        corpus = self.index_dir.load(self.embedder.name, self.embedder.dim)
        corpus = corpus if corpus is not None else Corpus(self.embedder.name, self.embedder.dim)
        corpus.version = self.corpus.version + 1  # never mistaken for the old one by a cache keyed on it
        self.corpus = corpus
        self._generation = self.index_dir.current_name()

    def retriever(self) -> HybridRetriever:
        r = self._retriever
        if r is None or r.version != self.corpus.version or r.corpus is not self.corpus:
            r = self._retriever = HybridRetriever(self.corpus, self.embedder)
        return r

    # ------------------------------------------------------------------ answering
    @property
    def default_mode(self) -> str:
        return "generative" if self._generative_available() else "extractive"

    def _generative_available(self) -> bool:
        try:
            from qa.generative import generative_available
        except ImportError:
            return False
        return generative_available()

    def ask(self, question: str, history: list[dict[str, str]] | None = None, mode: str | None = None) -> Answer:
        answer = None
        for item in self.stream(question, history=history, mode=mode):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(self, question: str, history: list[dict[str, str]] | None = None,
               mode: str | None = None) -> Iterator[str | Answer]:
        """Yield text deltas as they are produced, then the complete Answer (always last)."""
        q = clean_question(question)
        turns = clean_history(history)
        mode = mode or self.default_mode
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode == "generative":
            yield from self._generative_answerer().stream(self, q, turns)
            return
        answer = self._extractive(q, turns)
        yield answer.text
        yield answer

    def _extractive(self, question: str, turns: list[dict[str, str]]) -> Answer:
        t0 = time.perf_counter()
        standalone = condense(question, turns)
        with self._lock.read():
            retriever = self.retriever()
            hits = retriever.search(standalone)
            t1 = time.perf_counter()
            scored = score_hits(question, standalone, hits, retriever.lexical, self.corpus.record_text)
            chosen = extractive.with_antecedents(self.corpus, question, extractive.select(scored))
            if chosen:
                text, citations = extractive.compose(self.corpus, chosen)
            else:
                text, citations = extractive.ABSTAIN_TEXT, []
        t2 = time.perf_counter()
        return Answer(text, not citations, citations, "extractive", question, standalone,
                      timings_ms={"retrieve": (t1 - t0) * 1e3, "total": (t2 - t0) * 1e3})

    def warm(self) -> None:
        """Load the LLM and read the corpus prompt prefix now (a server calls this at start-up in
        a background thread) so the first question does not pay for it. No-op without an LLM."""
        if self._generative_available():
            self._generative_answerer().warm(self)

    def _generative_answerer(self):
        if self._generative is None:
            from qa.generative import GenerativeAnswerer

            self._generative = GenerativeAnswerer()
        return self._generative
