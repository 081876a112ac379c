"""The QA service: one object that owns the corpus, the index directory and the answer modes.

The CLI, the Gradio UI and the benchmarks all go through this class and nothing else.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from index.backend import open_index
from index.corpus import Corpus
from index.embedder import embedder_for
from index.errors import CiteqaError, QuestionError
from index.index_dir import IndexDirectory
from index.ingest import SyncReport, add_texts, sync_paths
from qa.evidence import Evidence, EvidenceFinder
from qa.llm.local import LLMUnavailableError, LocalLLM, PromptLLM, availability
from qa.modes import MODES, AnswerMode
from qa.modes.extractive import ExtractiveMode
from qa.question import clean_history, clean_question
from qa.rwlock import ReadWriteLock
from qa.settings import Settings
from qa.types import Answer, DocumentInfo

if TYPE_CHECKING:
    from index.milvus.index import MilvusIndex

SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"


class Assistant:
    """Owns the corpus, its index directory and the answer modes; every way in goes through it."""

    def __init__(self, corpus: Corpus, embedder, index_dir: "IndexDirectory | MilvusIndex | None" = None,
                 settings: Settings | None = None, llm: PromptLLM | None = None) -> None:
        self.settings = settings or Settings()
        self.corpus = corpus
        self.embedder = embedder
        self.index_dir = index_dir
        # The generation on disk that ``corpus`` is: a change first reloads when another process saved since.
        self._generation = index_dir.current_name() if index_dir is not None else None
        self._checked_at = time.monotonic()
        self.last_sync: SyncReport | None = None
        self._lock = ReadWriteLock()
        self._finder = EvidenceFinder(self.settings, embedder)
        self._llm = llm  # None: the local llama.cpp model, if installed
        self._modes: dict[str, AnswerMode] = {}
        self._modes_lock = threading.Lock()
        self._llm_availability: tuple[bool, str] | None = None  # checked once: installed packages do not change

    # ------------------------------------------------------------------ construction
    @classmethod
    def open(cls, paths: list[str | os.PathLike] | None = None, index_dir: str | os.PathLike | None = None,
             embed_model: str | None = None, settings: Settings | None = None, llm: PromptLLM | None = None,
             backend: str | None = None, uri: str | None = None, token: str | None = None) -> "Assistant":
        """Open (or create) a persistent index and bring it up to date with ``paths``.

        Without ``paths`` a new index starts from the seed article; an existing one is opened as
        it is, refreshing documents whose source files changed since they were indexed.
        ``settings`` default to ``Settings.from_env()``; ``index_dir``, ``embed_model``, ``backend``
        ("faiss" or "milvus"), ``uri`` (Milvus: a local ``.db`` file for Milvus Lite or
        ``http://host:19530``) and ``token`` override them.
        """
        index = {k: v for k, v in {"dir": index_dir, "embed_model": embed_model, "backend": backend}.items() if v is not None}
        milvus = {k: v for k, v in {"uri": uri, "token": token}.items() if v is not None}
        settings = (settings or Settings.from_env()).with_(index=index, milvus=milvus)
        directory = open_index(settings)  # first: an unreachable Milvus is reported before the model loads
        embedder = embedder_for(settings)
        if isinstance(paths, (str, os.PathLike)):  # one path, not an iterable of its characters
            paths = [paths]
        with directory.write_lock():
            # The generation before the read: a change another process makes while we read then shows up
            # as a newer generation at the next check (read after, it would be taken for what we loaded).
            generation = directory.current_name()
            corpus = directory.load(embedder.name, embedder.dim)
            if corpus is None:
                corpus = directory.new_corpus(embedder.name, embedder.dim)
                if paths is None:
                    if not SEED_DIR.is_dir():
                        raise CiteqaError(f"the seed corpus {SEED_DIR} is missing; pass paths=[...] to index your own files")
                    paths = [SEED_DIR]
            sources = [(d.doc_id, Path(d.source)) for d in corpus.documents.values() if d.source]
            report = sync_paths(corpus, list(paths or []), embedder, strict=True, known_sources=sources,
                                checkpoint=lambda: directory.save(corpus))
            if report.changed or not directory.exists():
                directory.save(corpus)
                generation = directory.current_name()
        assistant = cls(corpus, embedder, directory, settings, llm)
        assistant._generation = generation
        assistant.last_sync = report
        return assistant

    @classmethod
    def from_texts(cls, texts: dict[str, str], embed_model: str | None = None, settings: Settings | None = None,
                   llm: PromptLLM | None = None) -> "Assistant":
        """An in-memory assistant over the given {doc_id: text}; nothing is written to disk."""
        settings = (settings or Settings.from_env()).with_(index={"embed_model": embed_model} if embed_model else {})
        embedder = embedder_for(settings)
        corpus = Corpus(embedder.name, embedder.dim)
        add_texts(corpus, texts, embedder)
        return cls(corpus, embedder, settings=settings, llm=llm)

    # ------------------------------------------------------------------ corpus management
    def documents(self) -> list[DocumentInfo]:
        with self._lock.read():
            counts = self.corpus.records.counts()
            return [DocumentInfo(d.doc_id, counts.get(d.doc_id, 0), d.n_chars, d.source, dict(d.metadata),
                                 getattr(d, "skipped", None))
                    for d in self.corpus.documents.values()]

    def document_text(self, doc_id: str) -> str:
        return self.corpus.document(doc_id).text

    def add_paths(self, paths: list[str | os.PathLike]) -> SyncReport:
        if isinstance(paths, (str, os.PathLike)):  # one path, not an iterable of its characters
            paths = [paths]
        checkpoint = (lambda: self.index_dir.save(self.corpus)) if self.index_dir is not None else None
        return self._change(lambda: sync_paths(self.corpus, list(paths), self.embedder, strict=True, checkpoint=checkpoint),
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

    def _refresh_shared(self) -> None:
        """With a shared index (Milvus), pick up other servers' changes before answering."""
        if self.index_dir is None or not self.index_dir.shared:
            return
        # A shared index (Milvus) may be changed by another server at any time: check its generation (one
        # small read) when index.shared_check_s has passed since the last check.
        if time.monotonic() - self._checked_at < self.settings.index.shared_check_s:
            return
        self._checked_at = time.monotonic()
        if self.index_dir.current_name() != self._generation:
            with self._lock.write():
                if self.index_dir.current_name() != self._generation:
                    self._reload()

    def _reload(self) -> None:
        """Replace the corpus by the index on disk (call holding both locks)."""
        generation = self.index_dir.current_name()  # before the read, as in open()
        corpus = self.index_dir.load(self.embedder.name, self.embedder.dim)
        corpus = corpus if corpus is not None else self.index_dir.new_corpus(self.embedder.name, self.embedder.dim)
        corpus.version = self.corpus.version + 1  # never mistaken for the old one by a cache keyed on it
        self.corpus = corpus
        self._generation = generation

    # ------------------------------------------------------------------ answering
    @property
    def default_mode(self) -> str:
        return "generative" if self.llm_available()[0] else "extractive"

    def llm_available(self) -> tuple[bool, str]:
        """(True, "") when the LLM mode can run; else (False, what is missing and how to fix it)."""
        if self._llm_availability is None:
            self._llm_availability = (True, "") if self._llm is not None else availability(self.settings)
        return self._llm_availability

    def llm_status(self) -> dict[str, bool]:
        """For a UI: is the local model loaded yet, and is it busy with another answer?"""
        if self._llm is not None and not isinstance(self._llm, LocalLLM):
            return {"loaded": True, "busy": False}
        return {"loaded": LocalLLM.loaded(), "busy": LocalLLM.busy()}

    def evidence(self, question: str, history: list[dict[str, str]] | None = None) -> Evidence:
        """The evidence step alone (what every mode answers from): checked question, standalone
        question, scored candidates, chosen sentences."""
        return self._evidence(clean_question(question), clean_history(history))

    def _evidence(self, question: str, turns: list[dict[str, str]]) -> Evidence:
        self._refresh_shared()
        with self._lock.read():
            return self._finder.find(self.corpus, question, turns)

    def retriever(self):
        """The current retriever (benchmarks read its raw hits)."""
        with self._lock.read():
            return self._finder.retriever(self.corpus)

    def ask(self, question: str, history: list[dict[str, str]] | None = None, mode: str | None = None) -> Answer:
        answer = None
        for item in self.stream(question, history=history, mode=mode):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(self, question: str, history: list[dict[str, str]] | None = None,
               mode: str | None = None, chat: str | None = None) -> Iterator[str | Answer]:
        """Yield text deltas as they are produced, then the complete Answer (always last).
        ``mode="combined"`` first yields the quoted (extractive) Answer, then the LLM's deltas, then the
        final Answer. ``chat``: who asks; the LLM serves questions in arrival order, and a newer question
        of the same chat cancels this one's written answer (qa/llm/queue.py; ``Cancelled`` is raised)."""
        q, turns = clean_question(question), clean_history(history)  # bad input is reported before anything else
        mode = mode or self.default_mode
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        answer_mode = self._mode(mode)  # an unavailable LLM is reported before any work
        ev = self._evidence(q, turns)
        yield from (answer_mode.stream(ev, chat=chat) if chat is not None and mode != "extractive"
                    else answer_mode.stream(ev))

    def cancel(self, chat: str, reason: str = "the chat was closed") -> int:
        """Stop ``chat``'s written answer: dropped from the LLM's queue, or stopped at its next token."""
        if self._llm is not None and not isinstance(self._llm, LocalLLM):
            cancel = getattr(self._llm, "cancel", None)
            return cancel(chat, reason) if cancel else 0
        return LocalLLM.cancel(chat, reason)

    def _mode(self, name: str) -> AnswerMode:
        with self._modes_lock:
            if name not in self._modes:
                self._modes[name] = self._make_mode(name)
            return self._modes[name]

    def _make_mode(self, name: str) -> AnswerMode:
        if name == "extractive":
            return ExtractiveMode()
        ok, why = self.llm_available()
        if name == "generative" and not ok:
            raise LLMUnavailableError(why)
        from qa.modes.combined import CombinedMode
        from qa.modes.generative import GenerativeMode

        if ok and "generative" not in self._modes:  # one LLM mode (and its prompt cache) serves both
            from qa.llm.prefix_store import state_dir

            llm = self._llm or LocalLLM(self.settings, state_dir(self.index_dir))  # the corpus prefix survives restarts
            self._modes["generative"] = GenerativeMode(self.settings, self.embedder, llm)
        if name == "generative":
            return self._modes["generative"]
        return CombinedMode(ExtractiveMode(), self._modes.get("generative"), why)

    # ------------------------------------------------------------------ llama-index interop
    def as_retriever(self, top_k: int = 5, chosen_only: bool = False):
        """A llama-index ``BaseRetriever`` whose nodes are exact sentence spans (qa/interop.py)."""
        from qa.interop import CitedSpanRetriever

        return CitedSpanRetriever(self, top_k, chosen_only)

    def as_query_engine(self, mode: str | None = None):
        """A llama-index query engine whose responses' source nodes are the cited spans (qa/interop.py)."""
        from qa.interop import CiteqaQueryEngine

        return CiteqaQueryEngine(assistant=self, mode=mode)

    def warm(self, wait: bool = False) -> None:
        """Load the LLM and read the corpus prompt prefix now (a server calls this at start-up in
        a background thread) so the first question does not pay for it. No-op without an LLM. A corpus too
        large for one prompt has its windows read in the background after that (``wait``: block until then)."""
        if self.llm_available()[0]:
            with self._lock.read():
                view = self.corpus.view()
            self._mode("generative").warm(view, wait=wait)
