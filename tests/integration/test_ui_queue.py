"""The chat's handlers follow the LLM queue policy (qa/llm/queue.py): a newer question of a tab settles the
older written answer with the quotes and cancels it in the model's queue; a closed tab cancels its request."""

from __future__ import annotations

from types import SimpleNamespace

from conftest import ScriptedLLM

from qa import Assistant
from ui.handlers import REPLACED_NOTE, ChatHandlers
from ui.session import Session


class CancellableLLM(ScriptedLLM):
    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.cancelled: list[tuple[str, str]] = []

    def cancel(self, chat: str, reason: str = "") -> int:
        self.cancelled.append((chat, reason))
        return 1


def test_a_newer_question_replaces_the_written_answer_and_a_closed_tab_cancels(seed_assistant, tmp_path):
    llm = CancellableLLM("unused")
    a = Assistant(seed_assistant.corpus, seed_assistant.embedder, settings=seed_assistant.settings, llm=llm)
    h = ChatHandlers(a, tmp_path / "uploads")
    tab = SimpleNamespace(session_hash="tab-1", username=None)
    _, _, state, _ = h.start("Who sent the letter?", "generative", Session(), "", tab)
    *_, shown = h.answer_fast(state)
    state = shown[1]
    assert state.pending and state.pending.turn == 0  # quotes shown, the written answer queued
    _, _, state, trigger = h.start("Why was the trip cancelled?", "generative", state, "", tab)
    assert llm.cancelled == [("tab-1", "a newer question from the same chat replaced it")]
    first = state.turns[0]
    assert first["answer"]["note"] == REPLACED_NOTE and first["answer"]["citations"] and "provisional" not in first
    assert state.pending.question == "Why was the trip cancelled?" and trigger == state.pending.token
    h.closed(tab)
    assert llm.cancelled[-1] == ("tab-1", "the tab was closed")
