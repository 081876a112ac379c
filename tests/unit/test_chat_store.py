"""Saved chats (ui/chat_store.py): atomic writes, limits, damaged files set aside, owner isolation, safe ids."""

from __future__ import annotations

import json
import os

import pytest

from ui.chat_store import (ChatLimitError, ChatStore, ChatStoreError, StoredChat, browser_secret, new_chat_id,
                           owner_dir_name)

ANSWER = {"text": "Kim sent it. [1]", "abstained": False, "mode": "extractive", "note": "", "unsupported": [],
          "standalone": "", "seconds": 0.1,
          "citations": [{"doc_id": "a.txt", "start": 4, "end": 16, "text": "Kim sent it.", "score": 0.9,
                         "where": "", "location": None}]}


def _turn(q="Who sent the letter?"):
    return {"question": q, "answer": ANSWER}


def _chat(n_turns=1, title="Letters", chat_id=None):
    return StoredChat(chat_id or new_chat_id(), title, tuple(_turn(f"q{i}") for i in range(n_turns)))


def test_save_load_list_rename_delete_round_trip(tmp_path):
    store = ChatStore(tmp_path)
    a, b = _chat(2, "first"), _chat(1, "second")
    store.save("browser:x", a)
    store.save("browser:x", b)
    loaded = store.load("browser:x", a.chat_id)
    assert loaded.turns == a.turns and loaded.title == "first"
    chats, problems = store.list_chats("browser:x")
    assert [c.chat_id for c in chats] == [b.chat_id, a.chat_id] and problems == []  # most recent first
    assert chats[1].n_turns == 2
    store.rename("browser:x", a.chat_id, "  renamed\n chat ")
    assert store.load("browser:x", a.chat_id).title == "renamed chat"
    assert store.list_chats("browser:x")[0][0].chat_id == a.chat_id  # renaming updates it
    store.delete("browser:x", a.chat_id)
    assert [c.chat_id for c in store.list_chats("browser:x")[0]] == [b.chat_id]
    with pytest.raises(ChatStoreError, match="no longer exists"):
        store.load("browser:x", a.chat_id)


def test_provisional_turns_are_not_saved(tmp_path):
    store = ChatStore(tmp_path)
    chat = StoredChat(new_chat_id(), "t", (_turn(), {**_turn("later"), "provisional": True}))
    store.save("u", chat)
    assert [t["question"] for t in store.load("u", chat.chat_id).turns] == ["Who sent the letter?"]


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch):
    store = ChatStore(tmp_path)
    chat = _chat(1)
    store.save("u", chat)
    path = tmp_path / owner_dir_name("u") / f"{chat.chat_id}.json"
    before = path.read_bytes()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)  # the write fails at the last step
    with pytest.raises(OSError):
        store.save("u", StoredChat(chat.chat_id, "changed", chat.turns + (_turn("more"),)))
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old chat is intact
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # the temporary file is gone
    assert json.loads(before)["title"] == "Letters"


def test_limits_refuse_with_clear_messages(tmp_path):
    store = ChatStore(tmp_path, max_turns=3, max_chats=2, max_bytes=5_000)
    with pytest.raises(ChatLimitError, match="at most 3"):
        store.save("u", _chat(4))
    store.save("u", _chat(1))
    kept = store.save("u", _chat(1))
    with pytest.raises(ChatLimitError, match="2 saved chats"):
        store.save("u", _chat(1))
    store.save("u", StoredChat(kept.chat_id, "still fine", kept.turns + (_turn(),)))  # an existing chat may grow
    with pytest.raises(ChatLimitError, match="bytes"):
        store.save("v", StoredChat(new_chat_id(), "big", ({"question": "x" * 6_000, "answer": ANSWER},)))
    with pytest.raises(ChatStoreError, match="empty"):
        store.save("v", _chat(1, title="  "))
    with pytest.raises(ChatStoreError, match="limit is"):
        store.save("v", _chat(1, title="t" * 500))


@pytest.mark.parametrize("content", [b"{not json", b'{"format": 1}', b"\xff\xfe", b'{"format": 1, "id": "x"}',
                                     b'[1, 2]'])
def test_a_damaged_file_is_set_aside_with_a_message(tmp_path, content):
    store = ChatStore(tmp_path)
    good = store.save("u", _chat(1, "good"))
    bad_id = new_chat_id()
    bad = tmp_path / owner_dir_name("u") / f"{bad_id}.json"
    bad.write_bytes(content)
    chats, problems = store.list_chats("u")
    assert [c.chat_id for c in chats] == [good.chat_id]
    assert len(problems) == 1 and "set aside" in problems[0] and f"{bad_id}.damaged" in problems[0]
    assert not bad.exists() and bad.with_suffix(".damaged").read_bytes() == content
    assert store.list_chats("u") == (chats, [])  # reported once


def test_a_damaged_file_found_on_load_is_set_aside(tmp_path):
    store = ChatStore(tmp_path)
    chat = store.save("u", _chat(1))
    path = tmp_path / owner_dir_name("u") / f"{chat.chat_id}.json"
    data = json.loads(path.read_text())
    data["turns"] = [{"question": 3}]
    path.write_text(json.dumps(data))
    with pytest.raises(ChatStoreError, match="set aside"):
        store.load("u", chat.chat_id)
    assert path.with_suffix(".damaged").exists()


def test_owners_are_isolated(tmp_path):
    store = ChatStore(tmp_path)
    chat = store.save("user:alice", _chat(1, "alice's"))
    assert store.list_chats("user:bob") == ([], [])
    with pytest.raises(ChatStoreError):
        store.load("user:bob", chat.chat_id)
    store.delete("user:bob", chat.chat_id)  # deleting someone else's id does nothing to theirs
    assert store.load("user:alice", chat.chat_id).title == "alice's"
    assert owner_dir_name("user:alice") != owner_dir_name("browser:alice")
    with pytest.raises(ChatStoreError, match="owner"):
        store.save("", _chat(1))


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "..", "", "a" * 32 + "/x", "A" * 32, "0" * 31,
                                    "0" * 32 + ".json", "/tmp/" + "0" * 32, None])
def test_chat_ids_cannot_name_paths(tmp_path, bad_id):
    store = ChatStore(tmp_path)
    for call in (lambda: store.load("u", bad_id), lambda: store.delete("u", bad_id),
                 lambda: store.save("u", StoredChat(bad_id, "t", ())), lambda: store.rename("u", bad_id, "t")):
        with pytest.raises(ChatStoreError, match="not a chat id"):
            call()
    assert not any(tmp_path.parent.glob("passwd*"))


def test_owner_names_never_become_paths(tmp_path):
    store = ChatStore(tmp_path / "chats")
    store.save("user:../../escape", _chat(1))
    (owner,) = (tmp_path / "chats").iterdir()
    assert owner.name == owner_dir_name("user:../../escape") and len(owner.name) == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chats"]


def test_browser_secret_is_kept_between_starts(tmp_path):
    s1 = browser_secret(tmp_path / "chats")
    assert s1 == browser_secret(tmp_path / "chats") and len(s1) == 32
    assert oct((tmp_path / "chats" / ".browser-secret").stat().st_mode & 0o777) == "0o600"


def test_listing_parses_a_chat_again_only_when_its_file_changed(tmp_path, monkeypatch):
    store = ChatStore(tmp_path)
    owner = "browser:" + "a" * 32
    first = store.save(owner, StoredChat(new_chat_id(), "one", ({"question": "Q1?", "answer": {"text": "A"}},)))
    store.save(owner, StoredChat(new_chat_id(), "two", ({"question": "Q2?", "answer": {"text": "B"}},)))
    reads = []
    real = ChatStore._read
    monkeypatch.setattr(ChatStore, "_read", lambda self, p: reads.append(p.stem) or real(self, p))
    assert sorted(c.title for c in store.list_chats(owner)[0]) == ["one", "two"]
    assert len(reads) == 2
    assert sorted(c.title for c in store.list_chats(owner)[0]) == ["one", "two"] and len(reads) == 2
    store.save(owner, StoredChat(first.chat_id, "one renamed", first.turns, first.created))
    assert sorted(c.title for c in store.list_chats(owner)[0]) == ["one renamed", "two"]
    assert reads[2:] == [first.chat_id]
    store.delete(owner, first.chat_id)
    assert [c.title for c in store.list_chats(owner)[0]] == ["two"]
