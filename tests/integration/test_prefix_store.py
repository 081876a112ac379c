"""The on-disk prefix KV snapshots (qa/llm/prefix_store.py): file format checks without the model,
then save -> fresh model -> load against the real model and llama.cpp build (slow)."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest

from qa.llm import prefix_store as ps

FACTS = {"model": "a" * 64, "llama_cpp_python": "0.3.36", "n_ctx": 4096, "type_k": 1, "type_v": 1}
KEY = hashlib.sha256(b"some prefix").hexdigest()
TOKENS = np.arange(100, 140, dtype=np.int32)
from conftest import SEED  # noqa: E402


def _blob(n: int = 5000) -> ctypes.Array:
    buf = (ctypes.c_uint8 * n)()
    buf[:] = bytes(i * 7 % 251 for i in range(n))
    return buf


def _saved(tmp_path: Path, key: str = KEY, facts: dict | None = None, tokens: np.ndarray = TOKENS) -> Path:
    path = ps.save(tmp_path, key, facts or FACTS, tokens, _blob())
    assert path == tmp_path / f"{key}.kv" and path.is_file()
    return path


# --- file format (no model) ---------------------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    _saved(tmp_path)
    tokens, blob = ps.load(tmp_path, KEY, FACTS, TOKENS.tolist())
    assert tokens.dtype == np.int32 and np.array_equal(tokens, TOKENS)
    assert bytes(blob) == bytes(_blob()) and isinstance(blob, ctypes.Array)
    assert [p.name for p in tmp_path.iterdir()] == [f"{KEY}.kv"]  # no temp file left


def test_no_state_file_is_a_plain_miss(tmp_path: Path) -> None:
    assert ps.load(tmp_path / "absent", KEY, FACTS, TOKENS) is None
    assert ps.state_dir(None) is None


@pytest.mark.parametrize("why, change", [
    ("other model", lambda p: None),
    ("truncated", lambda p: os.truncate(p, p.stat().st_size - 100)),
    ("padded", lambda p: p.write_bytes(p.read_bytes() + b"\0")),
    ("one byte flipped in the blob", lambda p: _flip(p, -200)),
    ("one byte flipped in the header", lambda p: _flip(p, 20)),
    ("empty", lambda p: p.write_bytes(b"")),
    ("not ours", lambda p: p.write_bytes(b"GGUF" + b"\0" * 64)),
    ("header length huge", lambda p: p.write_bytes(ps.MAGIC + b"\xff\xff\xff\x7f" + b"{}")),
    ("header not JSON", lambda p: p.write_bytes(ps.MAGIC + b"\x04\0\0\0" + b"\xff\xfe{[")),
])
def test_bad_files_are_ignored_and_removed(tmp_path: Path, caplog: pytest.LogCaptureFixture, why, change) -> None:
    path = _saved(tmp_path, facts={**FACTS, "model": "b" * 64} if why == "other model" else FACTS)
    change(path)
    with caplog.at_level(logging.INFO, logger=ps.__name__):
        assert ps.load(tmp_path, KEY, FACTS, TOKENS) is None, why
    assert not path.exists(), why
    assert "ignoring the LLM prefix state" in caplog.text


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_other_facts_prefix_or_tokens_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    other = hashlib.sha256(b"another prefix").hexdigest()
    cases = [
        ({**FACTS, "n_ctx": 2048}, KEY, TOKENS, "n_ctx"),
        ({**FACTS, "llama_cpp_python": "0.3.37"}, KEY, TOKENS, "llama_cpp_python"),
        (FACTS, KEY, TOKENS[:-1], "other prefix tokens"),  # same text, other tokenizer
        (FACTS, KEY, TOKENS + 1, "other prefix tokens"),
    ]
    for facts, key, expected, reason in cases:
        path = _saved(tmp_path)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=ps.__name__):
            assert ps.load(tmp_path, key, facts, expected) is None, reason
        assert reason in caplog.text and not path.exists()
    # A file under the name of one prefix holding another prefix's state (e.g. copied by hand).
    _saved(tmp_path, key=other).rename(tmp_path / f"{KEY}.kv")
    with caplog.at_level(logging.INFO, logger=ps.__name__):
        assert ps.load(tmp_path, KEY, FACTS, TOKENS) is None
    assert "another prompt prefix" in caplog.text and not (tmp_path / f"{KEY}.kv").exists()


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    old = _saved(tmp_path)
    before = old.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ps.os, "fsync", disk_full)
    with caplog.at_level(logging.WARNING, logger=ps.__name__):
        assert ps.save(tmp_path, KEY, FACTS, TOKENS + 1, _blob()) is None  # never raises
    assert "No space left" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == [old.name]  # no temp file, old file intact
    assert old.read_bytes() == before
    (tmp_path / "notadir").write_text("x")
    assert ps.save(tmp_path / "notadir", KEY, FACTS, TOKENS, _blob()) is None


def test_keeps_the_newest_files_and_drops_stale_temp_files(tmp_path: Path) -> None:
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4)]
    stale = tmp_path / ".crashed-writer.tmp"
    stale.write_bytes(b"partial")
    os.utime(stale, (1, 1))
    fresh = tmp_path / ".being-written.tmp"  # another process's write in progress: left alone
    fresh.write_bytes(b"partial")
    for i, key in enumerate(keys):
        path = _saved(tmp_path, key=key)
        os.utime(path, (1000 + i, 1000 + i))
    assert ps.load(tmp_path, keys[2], FACTS, TOKENS) is not None  # a load makes it the newest
    _saved(tmp_path, key=keys[0])
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"{keys[0]}.kv", f"{keys[2]}.kv", fresh.name}, names


def test_model_identity_of_an_unpinned_file(tmp_path: Path) -> None:
    from qa.llm.model_file import model_identity

    model = tmp_path / "other.gguf"
    model.write_bytes(b"GGUF" + bytes(range(256)) * (3 << 12))  # 3 MiB: head, middle, tail
    first = model_identity(model)
    assert first.startswith("quick:") and model_identity(model) == first
    st = model.stat()
    data = bytearray(model.read_bytes())
    data[-10] ^= 1  # other weights at the end, same size, and even the old mtime put back
    model.write_bytes(bytes(data))
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert model_identity(model) != first


# --- with the real model (slow) -----------------------------------------------------------


@pytest.fixture(scope="module")
def rt():
    from qa.llm import runtime
    from qa.settings import Settings

    runtime.configure(Settings.from_env())
    runtime.get_llm()
    return runtime


def _short_prefix(n_sentences: int = 10) -> tuple[str, str]:
    """A document prefix of a few hundred tokens (quick to read on 2 cores) and a prompt that starts with it."""
    from qa.llm import runtime

    text = SEED.read_text(encoding="utf-8")
    sents = [s.strip() for s in re.split(r"(?<=[.!?”])\s+|\n+", text) if s.strip()][:n_sentences]
    system = "Answer only from the numbered sentences; cite like [3].\n" + "\n".join(
        f"[{i}] {s}" for i, s in enumerate(sents, 1))
    chat = runtime.chat_template()
    question = {"role": "user", "content": "Who cancelled the trip?"}
    prompt = chat.prompt([{"role": "system", "content": system}, question])
    return prompt.prefix, prompt.text


@pytest.mark.slow
def test_saved_state_gives_the_same_answer_without_rereading(rt, tmp_path: Path) -> None:
    prefix, prompt = _short_prefix()
    rt.clear_prefix_cache()  # as after a restart: no snapshot in RAM, an empty KV cache
    cold = rt.complete(prompt, max_tokens=16, prefix=prefix, state_dir=tmp_path)
    n = rt.last_stats().prompt_tokens
    assert rt.last_stats().reused_tokens == 0
    (saved,) = tmp_path.glob("*.kv")
    assert saved.stat().st_size > 1_000_000 and not list(tmp_path.glob(".*.tmp"))

    # A restart: a new Llama instance, nothing in its RAM, reads the file instead of the prefix.
    restarted = rt.build_llm(rt._settings)
    try:
        warm = "".join(rt._stream(restarted, prompt, 16, None, prefix, tmp_path))
    finally:
        restarted.close()
    assert warm == cold and warm.strip()
    assert rt.last_stats().reused_tokens >= n - 20  # only the question was read

    rt.clear_prefix_cache()  # warm_prefix reads the same file
    assert rt.warm_prefix(prefix, tmp_path) > 200
    assert rt.complete(prompt, max_tokens=16) == cold and rt.last_stats().reused_tokens >= n - 20


@pytest.mark.slow
def test_bad_state_files_fall_back_to_reading_the_prefix(rt, tmp_path: Path, monkeypatch, caplog) -> None:
    prefix, prompt = _short_prefix(4)
    rt.clear_prefix_cache()
    cold = rt.complete(prompt, max_tokens=8, prefix=prefix, state_dir=tmp_path)
    (saved,) = tmp_path.glob("*.kv")
    good = saved.read_bytes()
    llama = rt._llama()
    facts = ps.facts(llama)
    if not os.environ.get("CITEQA_LLM_PATH"):
        from qa.llm.model_file import PINNED_SHA256

        assert facts["model"] == PINNED_SHA256  # from the verified sidecar, not a 1 GB hash

    def answer_after(damage) -> None:
        saved.write_bytes(good)
        damage()
        rt.clear_prefix_cache()
        with caplog.at_level(logging.INFO, logger=ps.__name__):
            assert rt.complete(prompt, max_tokens=8, prefix=prefix, state_dir=tmp_path) == cold
        assert rt.last_stats().reused_tokens == 0  # the prefix was read from scratch
        assert saved.is_file() and saved.read_bytes() != b""  # and saved again

    answer_after(lambda: os.truncate(saved, len(good) // 2))
    assert "truncated" in caplog.text
    # Another model: refused although llama.cpp would restore it (same architecture and sizes).
    monkeypatch.setitem(llama.__dict__, "_citeqa_state_facts", {**facts, "model": "0" * 64})
    answer_after(lambda: None)
    assert "saved under other model" in caplog.text
    monkeypatch.undo()
    assert ps.load(tmp_path, saved.stem, facts, rt._tokenize(llama, prefix)) is None  # the fake model's file
    # A blob llama.cpp itself refuses (right checksum, wrong contents): discarded, no crash.
    tokens = rt._tokenize(llama, prefix)
    answer_after(lambda: ps.save(tmp_path, saved.stem, facts, np.asarray(tokens), (ctypes.c_uint8 * 4096)()))
    assert "discarding the LLM prefix state" in caplog.text
    assert saved.read_bytes() == good  # recomputed and saved again: the very state of the first time


@pytest.mark.slow
def test_assistant_keeps_the_corpus_prefix_beside_its_index(rt, tmp_path: Path, monkeypatch) -> None:
    from qa import Assistant

    doc = tmp_path / "tides.txt"
    doc.write_text("The tide rises twice a day in Brest. The harbour master is Anne Le Gall. "
                   "Ferries leave for Ouessant at nine.", encoding="utf-8")
    a = Assistant.open(paths=[doc], index_dir=tmp_path / "idx")
    rt.clear_prefix_cache()
    a.warm()
    (saved,) = (tmp_path / "idx" / ps.SUBDIR).glob("*.kv")
    rt.clear_prefix_cache()  # as in a new process
    again = Assistant.open(index_dir=tmp_path / "idx")
    ans = again.ask("Who is the harbour master?", mode="generative")
    assert "Anne Le Gall" in ans.text, ans.text
    st = rt.last_stats()
    assert st.prompt_tokens - st.reused_tokens < 40  # the corpus prefix came from the file
    # An in-memory assistant has no directory to keep state in.
    monkeypatch.setattr(ps, "save", lambda *a, **k: pytest.fail("in-memory assistant saved LLM state"))
    rt.clear_prefix_cache()
    Assistant.from_texts({"tides.txt": doc.read_text(encoding="utf-8")}).warm()


def test_a_corpus_in_windows_keeps_one_file_per_window(tmp_path: Path) -> None:
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(6)]
    for key in keys:
        ps.save(tmp_path, key, FACTS, TOKENS, _blob(), keep=5)
    assert sorted(p.stem for p in tmp_path.glob("*.kv")) == sorted(keys[1:])
    assert ps.exists(tmp_path, keys[5]) and not ps.exists(tmp_path, keys[0])


@pytest.mark.slow
def test_a_large_corpus_is_read_in_windows_in_the_background_and_questions_go_first(rt, tmp_path: Path) -> None:
    from qa import Assistant
    from qa.prompt import windows
    from qa.settings import Settings

    settings = Settings.from_env().with_(llm={"full_corpus_max_chars": 1500, "window_chars": 1500})
    a = Assistant.open(paths=[SEED], index_dir=tmp_path / "idx", settings=settings)
    win = windows(a.corpus.view(), settings)
    assert win is not None and len(win.rows) >= 3
    states = tmp_path / "idx" / ps.SUBDIR
    rt.clear_prefix_cache()
    a.warm()  # the instructions now; the windows in the background
    question = "Why was the trip cancelled?"
    first = a.ask(question, mode="generative")
    # The question was answered (from the evidence prompt) before the windows were all read.
    assert len(list(states.glob("*.kv"))) < len(win.rows) + 1
    assert not first.abstained and first.citations, first.text
    for c in first.citations:
        assert c.text == a.document_text(c.doc_id)[c.start:c.end]
    a.warm(wait=True)
    assert len(list(states.glob("*.kv"))) == len(win.rows) + 1  # each window and the instructions
    rt.clear_prefix_cache()  # as in a new process: the windows come from their files
    again = Assistant.open(index_dir=tmp_path / "idx", settings=settings)
    ans = again.ask(question, mode="generative")
    st = rt.last_stats()
    assert st.prompt_tokens - st.reused_tokens < 40, st  # only the question was read
    assert st.prompt_tokens > max(len(p) for p in win.prefixes) // 8  # ... after a whole window
    assert not ans.abstained and ans.citations, ans.text
    cited = " ".join(c.text for c in ans.citations)
    assert "secret letter" in cited or "denuclearization" in cited or "belligerent" in cited, cited
    for c in ans.citations:
        assert c.text == again.document_text(c.doc_id)[c.start:c.end]
