"""Crash safety of the index directory.

- ``citeqa index add`` killed with SIGKILL at random moments (model loading, embedding, while the
  new generation is written, right after it is committed): re-opening always gives the previous
  or the new complete index, never a broken one.
- A truncated, deleted or altered index file is detected (manifest checksums) with a message that
  says how to rebuild, and ``citeqa index rebuild`` rebuilds it from the documents.
- A full disk during a save (a failing write at each step, and a real full tmpfs) leaves the
  previous index byte-identical and is reported clearly (CLI: a message, exit 2, no traceback).

Length: each crash scenario needs its own set-up (killed processes, full disks, torn files).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import run_cli, start_cli
from index.embedder import get_embedder
from index.errors import IndexCorruptError, IndexMismatchError, IndexWriteError
from index.index_dir import IndexDirectory
from qa import Assistant
from qa.rebuild import rebuild_index
from qa.settings import Settings

INDEX_FILES = ("documents.json", "records.json", "vectors.npy", "faiss.index", "manifest.json")
BASE_TEXT = "Copper conducts electricity well. Glass does not conduct it.\n\nSilver is the best conductor of all."


def dir_digest(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def loaded_documents(idx: Path) -> set[str]:
    """Open the index read-only (no lock, no refresh of sources) and check every record; its doc ids."""
    emb = get_embedder()
    corpus = IndexDirectory(idx).load(emb.name, emb.dim)
    assert corpus is not None
    for r in corpus.records:
        text = corpus.documents[r.doc_id].text
        assert 0 <= r.start < r.end <= len(text) and text[r.start : r.end].strip(), r
    assert len(corpus.records) == len(corpus.store.vectors) == corpus.store.client.ntotal
    return set(corpus.documents)


cli = run_cli


def assert_clear_failure(out, *needles) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.startswith("citeqa: error: "), out.stderr
    for n in needles:
        assert n in out.stderr, out.stderr
    return out.stderr


def story(i: int, n: int = 120) -> str:
    """A document of ``n`` distinct sentences (so adding it embeds for a while and writes real files)."""
    rng = random.Random(i)
    animals = ["otter", "heron", "badger", "lynx", "marten", "ibis", "gecko", "walrus"]
    places = ["river", "marsh", "forest", "cliff", "harbour", "meadow", "canyon", "glacier"]
    return " ".join(f"Report {i}.{k}: the {rng.choice(animals)} near the {rng.choice(places)} counted "
                    f"{rng.randint(2, 999)} stones on day {k}." for k in range(n))


# --------------------------------------------------------------------------- SIGKILL at random points
def _snapshot_names(idx: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(idx)}
    except FileNotFoundError:
        return set()


def _run_and_kill(args, idx: Path, strategy: str, delay: float, rng: random.Random) -> tuple[str, int | None]:
    """Start ``citeqa index add``; kill it according to ``strategy``; return (phase reached, exit code)."""
    before = _snapshot_names(idx)
    stderr = tempfile.TemporaryFile()  # not a pipe: a child blocked on a full pipe would never finish
    proc = start_cli(*args, stdout=subprocess.DEVNULL, stderr=stderr)
    t0 = time.monotonic()
    saw_tmp = saw_commit = False
    deadline = None if strategy != "delay" else t0 + delay
    while proc.poll() is None:
        names = _snapshot_names(idx) - before
        saw_tmp |= any(n.endswith(".tmp") for n in names)
        committed = any(n.startswith("gen-") and not n.endswith(".tmp") for n in names)
        saw_commit |= committed
        if strategy == "delay" and time.monotonic() >= deadline:
            break
        if strategy == "while-writing" and saw_tmp:
            time.sleep(rng.uniform(0, 0.03))  # somewhere among the file writes and fsyncs
            break
        if strategy == "at-commit" and (committed or "CURRENT.tmp" in names):
            break
        time.sleep(0.001)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        phase = "killed while writing" if saw_tmp and not saw_commit else (
            "killed at commit" if saw_commit else "killed before writing")
        return phase, None
    stderr.seek(0)
    err = stderr.read().decode("utf-8", "replace")
    assert proc.returncode == 0 and "Traceback" not in err, err
    return "completed", 0


@pytest.mark.slow
def test_sigkill_during_index_add_leaves_the_previous_or_the_new_index(tmp_path):
    docs, idx = tmp_path / "docs", tmp_path / "idx"
    docs.mkdir()
    (docs / "base.txt").write_text(BASE_TEXT, encoding="utf-8")
    Assistant.open(paths=[docs / "base.txt"], index_dir=idx)
    expected = {"base.txt"}
    rng = random.Random(20240607)

    # One complete run first, to know how long a whole `index add` takes on this machine now.
    (docs / "doc0.txt").write_text(story(0), encoding="utf-8")
    t0 = time.monotonic()
    phase, _ = _run_and_kill(["index", "add", str(docs / "doc0.txt"), "--index-dir", str(idx)], idx, "none", 0, rng)
    full = time.monotonic() - t0
    assert phase == "completed"
    expected |= {"doc0.txt"}
    assert loaded_documents(idx) == expected

    phases: Counter[str] = Counter()
    strategies = ["delay", "while-writing", "at-commit"] * 5  # 15 kills
    for i, strategy in enumerate(strategies, start=1):
        f = docs / f"doc{i}.txt"
        f.write_text(story(i, n=rng.choice([40, 120, 300])), encoding="utf-8")
        # Random delays cover the whole run but lean to its end, where the index is touched.
        delay = rng.uniform(0.05, 1.0) * full if i % 2 else rng.uniform(0.6, 1.1) * full
        phase, _ = _run_and_kill(["index", "add", str(f), "--index-dir", str(idx)], idx, strategy, delay, rng)
        phases[phase] += 1
        now = loaded_documents(idx)  # raises IndexCorruptError if a kill broke the index
        assert now in (expected, expected | {f.name}), (phase, sorted(now), sorted(expected))
        if phase == "completed":
            assert now == expected | {f.name}
        expected = now
    print(f"\nSIGKILL phases: {dict(phases)}")
    assert sum(v for k, v in phases.items() if k.startswith("killed")) >= 10, phases

    # After all that, a normal run still works (stale lock and temporaries do not get in the way),
    # and leaves nothing behind but the live generation.
    out = cli("index", "add", str(docs), "--index-dir", str(idx))
    assert out.returncode == 0, out.stderr
    assert loaded_documents(idx) == {p.name for p in docs.iterdir()}
    gens = [p.name for p in idx.iterdir() if p.name.startswith("gen-")]
    assert len(gens) == 1 and not gens[0].endswith(".tmp") and not (idx / "CURRENT.tmp").exists()
    ans = Assistant.open(index_dir=idx).ask("How many stones did they count in Report 3.7?", mode="extractive")
    for c in ans.citations:
        assert c.text == (docs / c.doc_id).read_text(encoding="utf-8")[c.start : c.end]


# --------------------------------------------------------------------------- damaged files
@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine")
    docs = root / "docs"
    docs.mkdir()
    (docs / "base.txt").write_text(BASE_TEXT, encoding="utf-8")
    (docs / "notes.md").write_text("# Notes\n\nLead is heavy and soft.", encoding="utf-8")
    Assistant.open(paths=[docs], index_dir=root / "idx")
    return root


def _damage(idx: Path, target: str, how: str) -> None:
    gen = idx / (idx / "CURRENT").read_text().strip()
    p = gen / target
    data = p.read_bytes()
    if how == "truncate":
        p.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        p.write_bytes(b"")
    elif how == "delete":
        p.unlink()
    elif how == "flip" and target == "manifest.json":  # a changed checksum: it no longer matches its file
        manifest = json.loads(data)
        digest = manifest["checksums"]["records.json"]
        manifest["checksums"]["records.json"] = ("0" if digest[0] != "0" else "1") + digest[1:]
        p.write_text(json.dumps(manifest))
    elif how == "flip":
        i = len(data) * 2 // 3
        p.write_bytes(data[:i] + bytes([data[i] ^ 0x55]) + data[i + 1 :])


def _fresh_copy(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine / "idx", tmp_path / "idx")
    return tmp_path / "idx"


@pytest.mark.parametrize("how", ["truncate", "empty", "delete", "flip"])
@pytest.mark.parametrize("target", INDEX_FILES)
def test_a_damaged_index_file_is_detected_and_rebuilt(pristine, tmp_path, target, how):
    idx = _fresh_copy(pristine, tmp_path)
    _damage(idx, target, how)
    with pytest.raises(IndexCorruptError) as err:
        Assistant.open(index_dir=idx)
    msg = str(err.value)
    assert f"citeqa index rebuild --index-dir {idx}" in msg, msg
    if target != "manifest.json":
        assert target in msg and "checksum" in msg, msg
    elif how == "flip":
        assert "records.json" in msg and "checksum" in msg, msg
    n_docs, n_sentences, missing = rebuild_index(Settings(index={"dir": idx}))
    assert (n_docs, missing) == (2, []) and n_sentences > 0
    assert loaded_documents(idx) == {"base.txt", "notes.md"}
    a = Assistant.open(index_dir=idx)
    assert "Silver" in " ".join(c.text for c in a.ask("Which is the best conductor?", mode="extractive").citations)


@pytest.mark.parametrize("damage", [
    "current-garbage-bytes", "current-empty", "current-points-nowhere", "current-path-escape", "current-deleted",
    "manifest-list", "manifest-null", "manifest-embedder-list", "manifest-checksums-list", "gen-dir-deleted",
    "records-wrong-shape",
    "records-offset-overflow",
])
def test_damaged_pointers_and_manifests_are_index_errors_not_tracebacks(pristine, tmp_path, damage):
    idx = _fresh_copy(pristine, tmp_path)
    gen = idx / (idx / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    if damage == "current-garbage-bytes":
        (idx / "CURRENT").write_bytes(b"\xff\xfe\x00\x9c garbage")
    elif damage == "current-empty":
        (idx / "CURRENT").write_text("")
    elif damage == "current-points-nowhere":
        (idx / "CURRENT").write_text("gen-0-0")
    elif damage == "current-path-escape":
        (idx / "CURRENT").write_text("gen-x/../../../etc")
    elif damage == "current-deleted":
        (idx / "CURRENT").unlink()
    elif damage.startswith("manifest-"):
        value = {"manifest-list": [], "manifest-null": None,
                 "manifest-embedder-list": {**manifest, "embedder": ["x"]},
                 "manifest-checksums-list": {**manifest, "checksums": ["x"]}}[damage]
        (gen / "manifest.json").write_text(json.dumps(value))
    elif damage == "gen-dir-deleted":
        shutil.rmtree(gen)
        (idx / "gen-999-1.tmp").mkdir()  # a leftover of a killed save must not be taken for an index
    elif damage in ("records-wrong-shape", "records-offset-overflow"):
        # Well-formed JSON of the wrong shape (or an offset no int64 holds), with its checksum updated to match.
        bad = [{"not": "a record"}] if damage == "records-wrong-shape" else [["base.txt", 2**70, 2**70 + 5, "body", None]]
        (gen / "records.json").write_text(json.dumps(bad))
        manifest["checksums"]["records.json"] = hashlib.sha256((gen / "records.json").read_bytes()).hexdigest()
        (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises((IndexCorruptError, IndexMismatchError)) as err:
        Assistant.open(index_dir=idx)
    assert "citeqa index rebuild" in str(err.value)
    n_docs, _, missing = rebuild_index(Settings(index={"dir": idx}))
    got = loaded_documents(idx)
    if damage == "gen-dir-deleted":
        # Nothing left says which documents the index held: the rebuild gives a valid, empty index.
        assert got == set() and n_docs == 0
    else:
        # The documents come back from their source files.
        assert got == {"base.txt", "notes.md"} and missing == []


@pytest.mark.slow
def test_cli_reports_corruption_and_rebuilds(pristine, tmp_path):
    idx = _fresh_copy(pristine, tmp_path)
    _damage(idx, "vectors.npy", "truncate")
    for args in (["index", "list"], ["ask", "Which is the best conductor?"], ["index", "add", str(pristine / "docs")]):
        assert_clear_failure(cli(*args, "--index-dir", str(idx)), "checksum", f"citeqa index rebuild --index-dir {idx}")
    out = cli("index", "rebuild", "--index-dir", str(idx))
    assert out.returncode == 0 and "rebuilt the index: 2 documents" in out.stdout, out.stderr
    listed = cli("index", "list", "--index-dir", str(idx))
    assert listed.returncode == 0 and "base.txt" in listed.stdout and "notes.md" in listed.stdout

    # The source file gone as well: the rebuild uses the intact stored copy of the document.
    docs = tmp_path / "docs"
    shutil.copytree(pristine / "docs", docs)
    idx2 = tmp_path / "idx2"
    Assistant.open(paths=[docs], index_dir=idx2)
    (docs / "notes.md").unlink()
    _damage(idx2, "faiss.index", "flip")
    out = cli("index", "rebuild", "--index-dir", str(idx2))
    assert out.returncode == 0 and "2 documents" in out.stdout, out.stderr
    assert loaded_documents(idx2) == {"base.txt", "notes.md"}


# --------------------------------------------------------------------------- full disk
def _failing_nth(real, n: int, exc: BaseException):
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise exc
        return real(*args, **kwargs)

    return wrapper


ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
# (function of index.index_dir to make fail, on which call, what it raises): every step of a save.
WRITE_FAILURES = [
    ("_sync", 1, ENOSPC),  # documents.json
    ("_sync", 2, ENOSPC),  # records.json
    ("_sync", 3, ENOSPC),  # vectors.npy
    ("_sync", 4, ENOSPC),  # faiss.index
    ("_sync_tree", 1, ENOSPC),  # lexical/ (BM25 and stem statistics)
    ("_sync", 5, ENOSPC),  # manifest.json
    ("_sync", 6, ENOSPC),  # CURRENT.tmp, after the new generation was renamed into place
    ("_fsync_dir", 1, OSError(errno.EIO, "Input/output error")),  # after that rename
    ("_write_json", 1, ENOSPC),
    ("_file_sha256", 2, OSError(errno.EIO, "Input/output error")),
]


@pytest.mark.parametrize("func,nth,exc", WRITE_FAILURES, ids=[f"{f}-{n}" for f, n, _ in WRITE_FAILURES])
def test_a_failing_write_leaves_the_previous_index_byte_identical(pristine, tmp_path, monkeypatch, func, nth, exc):
    import index.index_dir as index_dir_mod

    idx = _fresh_copy(pristine, tmp_path)
    a = Assistant.open(index_dir=idx)
    before = dir_digest(idx)
    new = tmp_path / "zinc.txt"
    new.write_text("Zinc protects steel from rust.", encoding="utf-8")
    monkeypatch.setattr(index_dir_mod, func, _failing_nth(getattr(index_dir_mod, func), nth, exc))
    with pytest.raises(IndexWriteError) as err:
        a.add_paths([new])
    monkeypatch.undo()
    assert isinstance(err.value, OSError)  # callers that handled the raw OSError still do
    assert "previous index is unchanged" in str(err.value) and str(idx) in str(err.value)
    if exc.errno == errno.ENOSPC:
        assert "no space left on device" in str(err.value)
    assert dir_digest(idx) == before
    assert loaded_documents(idx) == {"base.txt", "notes.md"}
    assert {d.doc_id for d in a.documents()} == {"base.txt", "notes.md"}  # memory matches disk
    assert a.add_paths([new]).added == ["zinc.txt"]  # and the next try, with space again, works
    assert loaded_documents(idx) == {"base.txt", "notes.md", "zinc.txt"}


def test_a_failure_after_the_switch_keeps_memory_and_disk_on_the_new_index(pristine, tmp_path, monkeypatch):
    import index.index_dir as index_dir_mod

    idx = _fresh_copy(pristine, tmp_path)
    a = Assistant.open(index_dir=idx)
    new = tmp_path / "zinc.txt"
    new.write_text("Zinc protects steel from rust.", encoding="utf-8")
    monkeypatch.setattr(index_dir_mod, "_fsync_dir",
                        _failing_nth(index_dir_mod._fsync_dir, 2, OSError(errno.EIO, "Input/output error")))
    with pytest.raises(IndexWriteError) as err:
        a.add_paths([new])
    monkeypatch.undo()
    assert "in place" in str(err.value)
    assert loaded_documents(idx) == {d.doc_id for d in a.documents()} == {"base.txt", "notes.md", "zinc.txt"}


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 4 MB tmpfs (needs root); skipped where it cannot be mounted."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    try:
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs: {exc}")
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {out.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill_leaving(mnt: Path, free: int) -> None:
    st = os.statvfs(mnt)
    available = st.f_bavail * st.f_frsize
    assert available >= free
    with open(mnt / "filler", "wb") as fh:
        fh.write(b"\0" * (available - free))


def _new_generation_sizes(tmp_path: Path, docs: Path, new: Path) -> list[tuple[str, int]]:
    """Sizes of the files the failing save would write, in the order it writes them (from a dry run)."""
    ref = tmp_path / "ref-idx"
    Assistant.open(paths=[docs / "base.txt"], index_dir=ref).add_paths([new])
    gen = ref / (ref / "CURRENT").read_text().strip()
    return [(name, (gen / name).stat().st_size) for name in INDEX_FILES] + [("CURRENT.tmp", 1)]


def _pages(n: int) -> int:
    return -(-n // 4096) * 4096


@pytest.mark.slow
def test_a_full_tmpfs_during_a_save_keeps_the_previous_index(tmp_path, small_tmpfs):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "base.txt").write_text(BASE_TEXT, encoding="utf-8")
    new = docs / "big.txt"
    new.write_text(story(99, n=250), encoding="utf-8")
    sizes = _new_generation_sizes(tmp_path, docs, new)
    idx = small_tmpfs / "idx"
    for stop, (target, size) in enumerate(sizes):
        shutil.rmtree(idx, ignore_errors=True)
        (small_tmpfs / "filler").unlink(missing_ok=True)
        a = Assistant.open(paths=[docs / "base.txt"], index_dir=idx)
        before = dir_digest(idx)
        # Room for the files written before ``target`` and half of it: the disk fills while writing it.
        _fill_leaving(small_tmpfs, sum(_pages(s) for _, s in sizes[:stop]) + (size // 2 if size > 4096 else 0))
        with pytest.raises(IndexWriteError) as err:
            a.add_paths([new])
        assert "no space left on device" in str(err.value) and "previous index is unchanged" in str(err.value), target
        assert dir_digest(idx) == before, target
        assert loaded_documents(idx) == {"base.txt"}
        assert [d.doc_id for d in a.documents()] == ["base.txt"]

    # The CLI says so in one line, exits 2, and the index stays as it was.
    shutil.rmtree(idx)
    (small_tmpfs / "filler").unlink()
    Assistant.open(paths=[docs / "base.txt"], index_dir=idx)
    before = dir_digest(idx)
    _fill_leaving(small_tmpfs, sum(_pages(s) for _, s in sizes[:2]) + sizes[2][1] // 2)  # fails in vectors.npy
    out = cli("index", "add", str(new), "--index-dir", str(idx))
    assert_clear_failure(out, "no space left on device", "previous index is unchanged")
    assert dir_digest(idx) == before and loaded_documents(idx) == {"base.txt"}
    (small_tmpfs / "filler").unlink()
    assert Assistant.open(index_dir=idx).add_paths([new]).added == ["big.txt"]  # space again: it works
