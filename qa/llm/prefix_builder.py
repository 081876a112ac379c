"""Reads a list of prompt prefixes into saved KV states in the background, one short model turn at a time.

Why: a corpus too large for one prompt is read in windows (qa/prompt.py); a question whose evidence lies in a
window whose state is ready reads only its own tokens. Reading every window costs minutes, so it runs in a
daemon thread that uses the model only while no question waits for it (``warm_in_turns`` gives way within
one chunk of tokens) and resumes where it stopped. A newer ``build`` (the corpus changed) replaces an
unfinished one. At interpreter exit the thread is stopped and joined, so llama.cpp is never torn down under it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

# warm_in_turns(prefix, give_way) -> True when the prefix's state is ready, False when it gave the model away
WarmInTurns = Callable[[str, Callable[[], bool]], bool]
_POLL_S = 0.2


class PrefixBuilder:
    def __init__(self, warm_in_turns: WarmInTurns, idle: Callable[[], bool]) -> None:
        self._warm = warm_in_turns
        self._idle = idle  # the model is free and nobody waits for it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._done = threading.Event()
        self._done.set()  # nothing to build yet
        self._registered = False

    def build(self, prefixes: Sequence[str]) -> None:
        """Read ``prefixes`` in order in the background. An unfinished earlier build is told to stop (it
        leaves within one chunk of tokens); this call does not wait for it."""
        with self._lock:
            self._stop.set()
            self._stop, self._done = threading.Event(), threading.Event()
            thread = threading.Thread(target=self._run, args=(list(prefixes), self._stop, self._done),
                                      name="citeqa-prefix-builder", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            if not self._registered:
                atexit.register(self.stop)
                self._registered = True
            thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current build has finished (or stopped); False on timeout."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Stop building and wait for the threads to leave the model."""
        with self._lock:
            self._stop.set()
            threads, self._threads = self._threads, []
        for t in threads:
            if t is not threading.current_thread():
                t.join()

    def _run(self, prefixes: list[str], stop: threading.Event, done: threading.Event) -> None:
        try:
            for prefix in prefixes:
                while not stop.is_set():
                    if not self._idle():
                        time.sleep(_POLL_S)
                        continue
                    try:
                        if self._warm(prefix, stop.is_set):
                            break
                    except ValueError as exc:  # e.g. longer than the model's context: this one stays unread
                        log.warning("cannot keep a corpus window in the LLM: %s", exc)
                        break
                    time.sleep(_POLL_S)  # it gave way: let the question in first
                if stop.is_set():
                    return
        except Exception as exc:  # a background helper: log and leave; questions fall back to shorter prompts
            log.warning("stopped reading the corpus windows into the LLM: %s", exc)
        finally:
            done.set()
