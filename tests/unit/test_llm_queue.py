"""The LLM's queue policy without the model (qa/llm/queue.py): FIFO across chats, a newer request of a chat
cancels its older one, a closed chat's requests leave the queue. The real model: tests/integration/test_llm_queue_real_model.py."""

import threading
import time

import pytest

from qa.llm.queue import Cancelled, ModelQueue


def _waiter(q: ModelQueue, chat: str, order: list[str], hold: float = 0.05) -> threading.Thread:
    def run() -> None:
        try:
            with q.turn(chat):
                order.append(chat)
                time.sleep(hold)
        except Cancelled:
            order.append(f"cancelled {chat}")

    t = threading.Thread(target=run)
    t.start()
    return t


def _until(predicate, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_requests_get_the_model_in_arrival_order_across_chats() -> None:
    q, order = ModelQueue(), []
    first = q.submit("a")
    q.wait(first)  # "a" holds the model; b, c, d queue behind it in this order
    threads = []
    for chat in ("b", "c", "d"):
        threads.append(_waiter(q, chat, order))
        _until(lambda n=len(threads): q.waiting() == n)
    assert q.busy() and q.position("c") == 2 and q.position("a") == 0 and q.position("x") is None
    q.release(first)
    for t in threads:
        t.join(5)
    assert order == ["b", "c", "d"] and not q.busy() and q.waiting() == 0


def test_a_newer_request_of_the_same_chat_cancels_the_older_one() -> None:
    q, order = ModelQueue(), []
    running = q.submit("a")
    q.wait(running)
    waiting = _waiter(q, "b", order)
    _until(lambda: q.waiting() == 1)
    newer = _waiter(q, "b", order)  # the waiting "b" is dropped from the queue at once
    waiting.join(5)
    assert order == ["cancelled b"] and q.waiting() == 1
    replaced = q.submit("a")  # the running "a" is told to stop at its next token
    assert running.cancelled and "newer question" in running.reason
    with pytest.raises(Cancelled):
        running.check()
    q.release(running)
    newer.join(5)
    q.wait(replaced)
    q.release(replaced)
    assert order == ["cancelled b", "b"]


def test_a_closed_chat_leaves_the_queue_and_others_keep_their_turn() -> None:
    q, order = ModelQueue(), []
    holder = q.submit(None)  # a request without a chat (the CLI) is never cancelled by others
    q.wait(holder)
    gone, stays = _waiter(q, "tab-1", order), None
    _until(lambda: q.waiting() == 1)
    stays = _waiter(q, "tab-2", order)
    _until(lambda: q.waiting() == 2)
    assert q.cancel("tab-1") == 1 and q.cancel("nobody") == 0
    gone.join(5)
    assert not holder.cancelled
    q.release(holder)
    stays.join(5)
    assert order == ["cancelled tab-1", "tab-2"]
