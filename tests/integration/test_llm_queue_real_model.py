"""The LLM queue policy with the real model (qa/llm/queue.py): a newer question of the same chat stops the
older one's generation at its next token; chats get the model in arrival order."""

from __future__ import annotations

import threading
import time

import pytest

from qa.llm.queue import Cancelled
from qa.settings import Settings

pytestmark = pytest.mark.slow

COUNT = [{"role": "user", "content": "Count from 1 to 40, separated by commas."}]
YES = [{"role": "user", "content": "Say yes."}]


@pytest.fixture(scope="module")
def rt():
    from qa.llm import runtime

    runtime.configure(Settings.from_env())
    runtime.get_llm()
    return runtime


def _until(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_newer_question_of_the_same_chat_stops_the_older_generation(rt) -> None:
    deltas: list[str] = []
    outcome: list[BaseException | None] = []

    def older() -> None:
        try:
            for d in rt.stream_chat(COUNT, max_tokens=40, chat="chat-1"):
                deltas.append(d)
                time.sleep(0.05)  # a reader slower than the model: the newer question arrives mid-answer
            outcome.append(None)
        except Cancelled as exc:
            outcome.append(exc)

    t = threading.Thread(target=older)
    t.start()
    _until(lambda: len(deltas) >= 2)
    newer = rt.chat(YES, max_tokens=4, chat="chat-1")  # waits for the older one to stop, then runs
    t.join(60)
    assert outcome and isinstance(outcome[0], Cancelled), outcome
    assert newer.strip() and len(deltas) < 40
    assert not rt.llm_busy() and rt.queue().waiting() == 0


def test_two_chats_get_the_model_in_arrival_order(rt) -> None:
    order: list[str] = []
    holder = rt.stream_chat(COUNT, max_tokens=40, chat="holder")
    next(holder)  # the model is busy: the next requests queue

    def ask(chat: str) -> None:
        for _ in rt.stream_chat(YES, max_tokens=2, chat=chat):
            order.append(chat)
            break

    threads = []
    for chat in ("chat-b", "chat-a"):  # b asks first
        threads.append(threading.Thread(target=ask, args=(chat,)))
        threads[-1].start()
        _until(lambda n=len(threads): rt.queue().waiting() == n)
    assert rt.queue().position("chat-a") == 2
    holder.close()  # the holder's turn ends; b, then a
    for t in threads:
        t.join(60)
    assert order == ["chat-b", "chat-a"]
