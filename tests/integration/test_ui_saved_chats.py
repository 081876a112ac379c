"""The chat handlers with saved chats, on the real seed index: with --auth a user's chats follow the user
to any browser; a chat is saved once answered; limits and damaged files give messages, not crashes."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from ui.chat_store import ChatStore, owner_dir_name
from ui.export import ExportDir
from ui.handlers import ChatHandlers
from ui.session import Session


def _ask(h: ChatHandlers, question: str, state: Session, owner: str) -> Session:
    _, _, state, _ = h.start(question, "extractive", state, owner)
    *_, last = h.answer_fast(state)
    return last[1]


def test_a_signed_in_user_finds_their_chats_from_any_browser(seed_assistant, tmp_path):
    store = ChatStore(tmp_path / "chats")
    h = ChatHandlers(seed_assistant, tmp_path / "uploads", chat_store=store, exports=ExportDir(tmp_path / "exports"))
    alice = SimpleNamespace(username="alice")
    browser_a, owner, state, _ = h.restore(None, None, alice)
    assert owner == "user:alice" and len(browser_a) == 32
    state = _ask(h, "Who sent the letter?", Session(), owner)
    assert state.owner == "user:alice" and state.title == "Who sent the letter?"
    assert (tmp_path / "chats" / owner_dir_name("user:alice") / f"{state.chat_id}.json").is_file()

    _, owner_b, restored, chat = h.restore("f" * 32, Session(), alice)  # another browser, same user
    assert owner_b == "user:alice" and restored.chat_id == state.chat_id and restored.turns == state.turns
    assert "Who sent the letter?" in chat[0]["content"]
    _, owner_c, restored_c, _ = h.restore("f" * 32, Session(), None)  # that browser without a sign-in
    assert owner_c == "browser:" + "f" * 32 and restored_c == gr.skip()  # nothing saved there

    chats, note, _, choice, md, js = h.side(state, owner, "0")
    assert [c[0] for c in chats["choices"]] == ["Who sent the letter?"] and "for you" in note
    assert choice["value"] == "0" and md["interactive"] and md["value"].endswith("-answer-1.md")
    text = open(md["value"], encoding="utf-8").read()
    cite = state.turns[0]["answer"]["citations"][0]
    assert f"characters {cite['start']}–{cite['end']}" in text


def test_limits_and_damaged_files_are_messages(seed_assistant, tmp_path):
    store = ChatStore(tmp_path / "chats", max_turns=1)
    h = ChatHandlers(seed_assistant, tmp_path / "uploads", chat_store=store, exports=ExportDir(tmp_path / "exports"))
    owner = "browser:" + "a" * 32
    state = _ask(h, "Who sent the letter?", Session(), owner)
    with pytest.warns(UserWarning, match="reached 1 question, the most a saved chat holds: start a new chat"):
        assert h.start("When did he send it?", "extractive", state, owner)[2] == gr.skip()
    bad = tmp_path / "chats" / owner_dir_name(owner) / ("b" * 32 + ".json")
    bad.write_text("{broken", encoding="utf-8")
    with pytest.warns(UserWarning, match="could not be read .* set aside as b{32}.damaged"):
        _, _, restored, _ = h.restore("a" * 32, Session(), None)
    assert restored.chat_id == state.chat_id  # the good chat, the damaged one set aside
    assert bad.with_suffix(".damaged").exists()
