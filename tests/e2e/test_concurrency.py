"""Concurrency: several processes writing one index directory, and many threads asking while
another adds and removes documents.

- Two ``citeqa index add`` (or an add and a remove) at the same time: both changes are in the
  index at the end. (Each process used to load the index, change its own copy and save it, so
  the second save silently dropped the first one's document.) A writer that cannot get the lock
  in time fails with a clear IndexLockedError / CLI message and changes nothing.
- 8 threads asking while another thread adds and removes documents: no exception, every
  citation an exact span, and at the end what is answered from is what is on disk.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import conftest
from conftest import ROOT, cli_env
from index.embedder import get_embedder
from index.index_dir import IndexDirectory
from qa import Answer, Assistant, IndexLockedError, QuestionError

FACTS = {
    "copper.txt": "Copper conducts electricity well. It turns green when it weathers.",
    "glass.txt": "Glass is made from sand. It does not conduct electricity.",
    "silver.md": "# Silver\n\nSilver is the best electrical conductor. It tarnishes in air.",
}


def dir_digest(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def disk_documents(idx: Path) -> set[str]:
    emb = get_embedder()
    corpus = IndexDirectory(idx).load(emb.name, emb.dim)
    for r in corpus.records:
        text = corpus.documents[r.doc_id].text
        assert 0 <= r.start < r.end <= len(text)
    assert len(corpus.records) == len(corpus.store.vectors) == corpus.store.client.ntotal
    return set(corpus.documents)


def write_docs(folder: Path, docs: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
        out.append(folder / name)
    return out


def start_cli(*args) -> subprocess.Popen:
    return conftest.start_cli(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return proc.returncode, out, err


# --------------------------------------------------------------------------- processes
@pytest.mark.slow
def test_two_processes_adding_at_once_both_documents_are_kept(tmp_path):
    docs = write_docs(tmp_path / "docs", FACTS)
    idx = tmp_path / "idx"
    Assistant.open(paths=[docs[0]], index_dir=idx)

    # Round 1: two adds of different documents, started together.
    p1 = start_cli("index", "add", str(docs[1]), "--index-dir", str(idx))
    p2 = start_cli("index", "add", str(docs[2]), "--index-dir", str(idx))
    results = [finish(p1), finish(p2)]
    expected = {"copper.txt"}
    for (rc, out, err), doc in zip(results, docs[1:]):
        if rc == 0:
            assert f"added {doc.name}" in out
            expected.add(doc.name)
        else:  # allowed: the lock could not be had in time, said clearly, nothing changed
            assert rc == 2 and "another process is writing to the index" in err, err
    assert disk_documents(idx) == expected
    assert any(rc == 0 for rc, _, _ in results)

    # Round 2: an add and a remove at once; then three adds at once.
    more = write_docs(tmp_path / "more", {f"extra{i}.txt": f"Extra fact {i}: the {i}th bell rang at noon." for i in range(3)})
    p_rm = start_cli("index", "remove", "copper.txt", "--index-dir", str(idx))
    p_add = start_cli("index", "add", str(more[0]), "--index-dir", str(idx))
    (rc_rm, _, err_rm), (rc_add, _, err_add) = finish(p_rm), finish(p_add)
    assert rc_rm == 0 and rc_add == 0, (err_rm, err_add)
    expected = (expected - {"copper.txt"}) | {"extra0.txt"}
    assert disk_documents(idx) == expected

    procs = [start_cli("index", "add", str(more[i]), "--index-dir", str(idx)) for i in (1, 2)]
    procs.append(start_cli("index", "add", str(docs[1]), str(docs[2]), "--index-dir", str(idx)))
    codes = [finish(p)[0] for p in procs]
    assert codes == [0, 0, 0]
    assert disk_documents(idx) == expected | {"extra1.txt", "extra2.txt", "glass.txt", "silver.md"}
    gens = [p.name for p in idx.iterdir() if p.name.startswith("gen-")]
    assert len(gens) == 1 and not gens[0].endswith(".tmp")


HOLD_LOCK = """
import sys, time, filelock
lock = filelock.FileLock(sys.argv[1] + "/.lock")
lock.acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_lock(idx: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(idx), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_writer_that_cannot_get_the_lock_fails_clearly_and_changes_nothing(tmp_path, monkeypatch):
    import index.index_dir as index_dir_mod

    docs = write_docs(tmp_path / "docs", FACTS)
    idx = tmp_path / "idx"
    a = Assistant.open(paths=[docs[0]], index_dir=idx)
    before = dir_digest(idx)
    holder = hold_lock(idx, 60)
    try:
        monkeypatch.setattr(index_dir_mod, "LOCK_TIMEOUT_S", 1.0)
        with pytest.raises(IndexLockedError) as err:
            a.add_paths([docs[1]])
        assert "another process is writing to the index" in str(err.value) and str(idx) in str(err.value)
        with pytest.raises(IndexLockedError):
            a.remove("copper.txt")
        with pytest.raises(IndexLockedError):
            Assistant.open(paths=[docs[2]], index_dir=idx)
        assert dir_digest(idx) == before
        assert {d.doc_id for d in a.documents()} == {"copper.txt"}
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing: the kernel dropped its lock, the next writer goes ahead.
    assert a.add_paths([docs[1]]).added == ["glass.txt"]
    assert disk_documents(idx) == {"copper.txt", "glass.txt"}


@pytest.mark.slow
def test_cli_waiting_for_the_lock_in_vain_says_so(tmp_path):
    docs = write_docs(tmp_path / "docs", FACTS)
    idx = tmp_path / "idx"
    Assistant.open(paths=[docs[0]], index_dir=idx)
    before = dir_digest(idx)
    holder = hold_lock(idx, 300)
    try:
        # The real CLI, with the lock timeout shortened from 120 s so the test does not wait that long.
        code = ("import sys, index.index_dir as m; m.LOCK_TIMEOUT_S = 2.0; from qa.cli import main; "
                "raise SystemExit(main(sys.argv[1:]))")
        out = subprocess.run([sys.executable, "-c", code, "index", "add", str(docs[1]), "--index-dir", str(idx)],
                             capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("citeqa: error: another process is writing to the index"), out.stderr
    assert dir_digest(idx) == before


# --------------------------------------------------------------------------- threads
QUESTIONS = [
    "What turns green when it weathers?", "What is glass made from?", "Which metal is the best conductor?",
    "When did the bell ring?", "What does silver do in air?", "Who rang the bell?", "What is the moon made of?",
    "<script>alert(1)</script> What conducts electricity?", "🤔", "   ", "\x00",
]


def test_eight_threads_ask_while_documents_are_added_and_removed(tmp_path):
    docs = write_docs(tmp_path / "docs", FACTS)
    idx = tmp_path / "idx"
    a = Assistant.open(paths=docs, index_dir=idx)
    extra = {f"bell{k}.txt": f"The bell number {k} rang at {k} o'clock. Sexton {k} rang it." for k in range(6)}
    files = write_docs(tmp_path / "files", {f"file{k}.txt": f"File {k} says the moon is made of rock {k}." for k in range(3)})
    texts = {**FACTS, **extra, **{f.name: f.read_text(encoding="utf-8") for f in files}}

    errors: list[str] = []
    answers: list[Answer] = []
    refused = 0
    lock = threading.Lock()
    stop = threading.Event()

    def asker(seed: int) -> None:
        nonlocal refused
        rng = random.Random(seed)
        for _ in range(10):
            q = rng.choice(QUESTIONS)
            history = rng.choice([None, [{"role": "user", "content": rng.choice(QUESTIONS)}]])
            try:
                ans = a.ask(q, history=history, mode="extractive")
            except QuestionError:
                with lock:
                    refused += 1
                continue
            except Exception as exc:  # noqa: BLE001 - any other exception is the failure we look for
                with lock:
                    errors.append(f"ask {q!r}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                answers.append(ans)

    def writer() -> None:
        rng = random.Random(99)
        present: set[str] = set()
        try:
            for step in range(12):
                if stop.is_set():
                    return
                op = step % 4
                if op in (0, 1):
                    k = rng.choice(sorted(set(extra) - present) or sorted(extra))
                    a.add_texts({k: extra[k]})
                    present.add(k)
                elif op == 2 and present:
                    k = rng.choice(sorted(present))
                    a.remove(k)
                    present.discard(k)
                else:
                    a.add_paths([rng.choice(files)])
        except Exception as exc:  # noqa: BLE001
            with lock:
                errors.append(f"writer: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=asker, args=(i,)) for i in range(8)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    stop.set()
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    assert len(answers) + refused == 80 and refused > 0
    for ans in answers:
        assert ans.abstained == (not ans.citations)
        for c in ans.citations:
            assert c.text == texts[c.doc_id][c.start : c.end] and c.text
    # What the assistant answers from is what is on disk, and a fresh open sees the same.
    assert disk_documents(idx) == set(a.corpus.documents)
    assert set(Assistant.open(index_dir=idx).corpus.documents) == set(a.corpus.documents)


def test_two_assistants_on_one_directory_do_not_lose_each_others_documents(tmp_path):
    # Two long-lived assistants (as two server processes would have) writing the same index.
    docs = write_docs(tmp_path / "docs", FACTS)
    idx = tmp_path / "idx"
    a = Assistant.open(paths=[docs[0]], index_dir=idx)
    b = Assistant.open(index_dir=idx)
    errors: list[str] = []

    def add_many(who: Assistant, prefix: str) -> None:
        try:
            for k in range(4):
                who.add_texts({f"{prefix}{k}.txt": f"{prefix.title()} note {k}: the kettle boiled {k} times."})
                time.sleep(0.01)
            who.remove(f"{prefix}0.txt")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{prefix}: {type(exc).__name__}: {exc}")

    ta = threading.Thread(target=add_many, args=(a, "alpha"))
    tb = threading.Thread(target=add_many, args=(b, "beta"))
    ta.start(), tb.start()
    ta.join(timeout=600), tb.join(timeout=600)
    assert not errors, errors
    expected = {"copper.txt"} | {f"{p}{k}.txt" for p in ("alpha", "beta") for k in (1, 2, 3)}
    assert disk_documents(idx) == expected
    a.add_texts({"last.txt": "The last note."})  # a change first catches up with what b saved
    assert set(a.corpus.documents) == expected | {"last.txt"} == disk_documents(idx)
