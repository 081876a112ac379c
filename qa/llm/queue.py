"""Who uses the one local model next: the queue policy of the LLM (docs/decisions/0222-llm-queue-policy.md).

- Fair order: requests get the model in the order they arrived (FIFO across chats), one at a time.
- One live request per chat: a newer request from the same chat cancels the older one. Still waiting, it is
  dropped from the queue; already writing, it stops at its next token (``Cancelled`` is raised in its stream).
- ``cancel(chat)`` does the same for a chat that went away (a closed browser tab).
Requests without a chat (the CLI, benchmarks, warm-up) queue the same way and are never cancelled by others.

Not an RLock: a Gradio streaming generator may be advanced by different worker threads, so a turn may end
on another thread than the one it began on; the queue keeps its own state under a short internal lock.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from index.errors import CiteqaError


class Cancelled(CiteqaError):
    """This request was cancelled: a newer question from its chat, or its chat went away."""


@dataclass(eq=False)
class Ticket:
    chat: str | None
    number: int
    cancelled: bool = False
    reason: str = ""
    running: bool = field(default=False, repr=False)

    def check(self) -> None:
        """Raise Cancelled if this request was cancelled (called between tokens)."""
        if self.cancelled:
            raise Cancelled(self.reason or "the request was cancelled")


class ModelQueue:
    """A FIFO turn lock over one model, with per-chat cancellation."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._waiting: deque[Ticket] = deque()
        self._running: Ticket | None = None
        self._numbers = itertools.count(1)

    def submit(self, chat: str | None = None) -> Ticket:
        """A place at the end of the queue; an older request of ``chat`` is cancelled now."""
        with self._cond:
            if chat is not None:
                self._cancel_locked(chat, "a newer question from the same chat replaced it")
            ticket = Ticket(chat, next(self._numbers))
            self._waiting.append(ticket)
            return ticket

    def wait(self, ticket: Ticket, timeout: float | None = None) -> None:
        """Block until ``ticket`` has the model (it is first and the model is free). Raises Cancelled."""
        with self._cond:
            ok = self._cond.wait_for(lambda: ticket.cancelled or (
                self._running is None and bool(self._waiting) and self._waiting[0] is ticket), timeout)
            if ticket.cancelled:
                self._drop(ticket)
                ticket.check()
            if not ok:
                self._drop(ticket)
                raise TimeoutError("the model stayed busy")
            self._waiting.popleft()
            self._running, ticket.running = ticket, True

    def release(self, ticket: Ticket) -> None:
        """The end of ``ticket``'s turn (or of its wait); safe to call twice and from any thread."""
        with self._cond:
            if self._running is ticket:
                self._running, ticket.running = None, False
            else:
                self._drop(ticket)
            self._cond.notify_all()

    @contextmanager
    def turn(self, chat: str | None = None) -> Iterator[Ticket]:
        """``with queue.turn(chat) as ticket:`` the model is this request's until the block ends."""
        ticket = self.submit(chat)
        try:
            self.wait(ticket)
            yield ticket
        finally:
            self.release(ticket)

    def cancel(self, chat: str, reason: str = "the chat was closed") -> int:
        """Cancel every request of ``chat``; returns how many there were."""
        with self._cond:
            return self._cancel_locked(chat, reason)

    def _cancel_locked(self, chat: str, reason: str) -> int:
        hit = [t for t in (*self._waiting, self._running) if t is not None and t.chat == chat and not t.cancelled]
        for t in hit:
            t.cancelled, t.reason = True, reason
            if t is not self._running:
                self._waiting.remove(t)  # dropped now: it never holds up the requests behind it
        if hit:
            self._cond.notify_all()  # waiting ones leave the queue at once
        return len(hit)

    def _drop(self, ticket: Ticket) -> None:
        try:
            self._waiting.remove(ticket)
        except ValueError:
            pass
        self._cond.notify_all()

    def busy(self) -> bool:
        """The model is in use (a new request would wait)."""
        with self._cond:
            return self._running is not None

    def waiting(self) -> int:
        """Requests waiting for the model, not counting the one using it."""
        with self._cond:
            return sum(not t.cancelled for t in self._waiting)

    def position(self, chat: str) -> int | None:
        """0 while ``chat``'s request has the model, n when n requests are ahead of it; None: it has none."""
        with self._cond:
            if self._running is not None and self._running.chat == chat:
                return 0
            live = [t for t in self._waiting if not t.cancelled]
            for i, t in enumerate(live):
                if t.chat == chat:
                    return i + (self._running is not None)
            return None
