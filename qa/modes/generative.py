"""The LLM answer mode: a local model writes a short answer with [n] markers over numbered
sentences (qa/prompt.py); markers become exact spans and every answer sentence is checked against
what it cites (qa/grounding.py).

Follow-ups: the standalone question used for retrieval comes from the evidence step (no LLM call),
and the model sees the last turns in its user message. We do not use llama-index's
condense-question chat engine here: its extra LLM round trip would cost most of the answer's time
budget (docs/decisions/0026-generative-mode-llm-calls.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from index.corpus import CorpusView
from qa.evidence import Evidence
from qa.grounding import QUOTED_NOTE, ground, grounded_answer, quote_instead
from qa.llm.local import PromptLLM
from qa.modes.extractive import ABSTAIN_TEXT, ExtractiveMode
from qa.prompt import MODEL_REFUSES, Context, Windows, build_context, fits_whole, user_turn, windows
from qa.settings import Settings
from qa.types import Answer
from qa.verify import SupportChecker


class GenerativeMode:
    name = "generative"

    def __init__(self, settings: Settings, embedder, llm: PromptLLM) -> None:
        self.settings = settings
        self.llm = llm
        self.checker = SupportChecker(embedder)
        self.quoted = ExtractiveMode()
        # The whole-corpus context (or the windows) of the last corpus snapshot: building it reads every sentence.
        self._whole: tuple[CorpusView, Context] | None = None
        self._windows: tuple[CorpusView, Windows | None] | None = None
        self._whole_lock = threading.Lock()
        self._building = False  # warm() started reading the windows of large corpora

    def context(self, ev_or_view: Evidence | CorpusView) -> Context:
        view = ev_or_view.corpus if isinstance(ev_or_view, Evidence) else ev_or_view
        if fits_whole(view, self.settings):
            with self._whole_lock:
                if self._whole is None or self._whole[0] is not view:
                    self._whole = (view, build_context(view, self.settings, []))
                return self._whole[1]
        rows, chosen = [], []
        if isinstance(ev_or_view, Evidence):  # the chosen units' sentences first, then the best-scored others
            chosen = ev_or_view.chosen_rows()
            rows = chosen + [s.hit.row for s in ev_or_view.scored]
        # The best sentence's window when its state is ready (only the question is read), else the evidence
        # alone after the instructions: a window is never read while a user waits (qa/llm/prefix_builder.py).
        win = self.windows(view)
        ready = getattr(self.llm, "prefix_ready", None)
        if win is not None and ready is not None and rows:
            ctx = win.context(view, self.settings, rows, chosen)
            if ctx is not None and ready(ctx.prefix):
                return ctx
        return build_context(view, self.settings, rows)

    def windows(self, view: CorpusView) -> Windows | None:
        with self._whole_lock:
            if self._windows is None or self._windows[0] is not view:
                self._windows = (view, windows(view, self.settings))
                if self._building and self._windows[1] is not None:  # the corpus changed since warm()
                    self.llm.build_prefixes(self._windows[1].prefixes)
            return self._windows[1]

    def warm(self, view: CorpusView, wait: bool = False) -> None:
        """Read the prompt's fixed prefix (the whole corpus, or the instructions alone) into the LLM's KV cache
        now (e.g. at server start); it is kept on disk too. A larger corpus's windows are then read in the
        background (``wait``: block until they are)."""
        self.llm.warm(self.context(view).prefix, persist_prefix=True)
        win = self.windows(view)
        if win is not None and hasattr(self.llm, "build_prefixes"):
            with self._whole_lock:
                self._building = True  # from now on a new corpus snapshot's windows are read too
            self.llm.build_prefixes(win.prefixes)
            if wait:
                self.llm.wait_prefixes()

    def stream(self, ev: Evidence, chat: str | None = None) -> Iterator[str | Answer]:
        """``chat``: who asks (qa/llm/queue.py): a newer question from the same chat cancels this one's turn."""
        if ev.abstains:
            # Nothing relevant was retrieved: say so without spending seconds in the LLM (asking it anyway
            # answered unanswerable questions: docs/decisions/0026-generative-mode-llm-calls.md).
            yield ABSTAIN_TEXT
            yield Answer(ABSTAIN_TEXT, True, [], self.name, ev.question, ev.standalone, timings_ms=ev.timings_ms())
            return
        s = self.settings.llm
        ctx = self.context(ev)
        messages = ctx.messages(user_turn(ev.question, ev.history, s.history_turns))
        parts: list[str] = []
        first_token = None
        # The prefix (whole corpus or instructions) is the same for every question: kept across restarts.
        extra = {"chat": chat} if chat is not None else {}
        for delta in self.llm.stream(messages, max_tokens=s.answer_max_tokens, persist_prefix=True, **extra):
            if first_token is None:
                first_token = time.perf_counter() - ev.started
            parts.append(delta)
            yield delta
        raw = "".join(parts).strip()
        t_gen = time.perf_counter() - ev.started
        first_ms = (first_token or t_gen) * 1e3
        if not raw or MODEL_REFUSES.search(raw):
            final = Answer(ABSTAIN_TEXT, True, [], self.name, ev.question, ev.standalone,
                           timings_ms={**ev.timings_ms(), "first_token": first_ms, "total": t_gen * 1e3})
            cited_rows: list[int] = []
        else:
            retrieved = [x.hit.row for x in ev.scored[: s.retrieved_sentences]]
            g = ground(self.checker, ev.corpus, ev.question, raw, ctx, retrieved)
            final = grounded_answer(ev, g, {**ev.timings_ms(), "first_token": first_ms, "generate": t_gen * 1e3,
                                               "total": ev.elapsed_ms()})
            cited_rows = g.rows
        if quote_instead(ev, cited_rows, s.quote_best_from):
            quoted = self.quoted.answer(ev, note=QUOTED_NOTE)
            quoted.timings_ms = final.timings_ms
            final = quoted
        yield final
