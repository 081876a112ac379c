"""A persistent index directory, saved atomically.

Layout::

    INDEX_DIR/CURRENT            name of the live generation (replaced atomically)
    INDEX_DIR/.lock              writers hold it (one writer at a time, across processes)
    INDEX_DIR/gen-<id>/manifest.json   format version, embedder, index type, documents, checksums
                      documents.json   document texts and sources
                      records.json     sentence records (row-aligned with the vectors)
                      vectors.npy      normalised float32 vectors
                      faiss.index      the FAISS index over them
                      lexical/         BM25 and stem statistics (index/lexical.py; older generations
                                       lack it and build it when first asked)

A save writes a complete new generation beside the old one and then swaps CURRENT with
``os.replace``, so a crash at any point leaves either the old or the new index, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import faiss
import filelock
import numpy as np

from index.corpus import Corpus
from index.document import DocumentEntry, text_sha256
from index.fsutil import fsync_dir as _fsync_dir  # module-level name: the crash tests fail it on purpose
from index.records import RecordTable
from index.lexical import LexicalIndex
from index.errors import CiteqaError, IndexCorruptError, IndexLockedError, IndexMismatchError, IndexWriteError
from index.vector_store import SentenceVectorStore, VectorFile

FORMAT_VERSION = 1
LOCK_TIMEOUT_S = 120.0
_FILES = ("documents.json", "records.json", "vectors.npy", "faiss.index")
_LEXICAL = "lexical"
FILE_VECTORS_MIN_BYTES = 64 << 20  # about 44k MiniLM vectors


def rebuild_hint(path: Path) -> str:
    return f"rebuild it with: citeqa index rebuild --index-dir {path}"


class IndexDirectory:
    shared = False  # other processes' changes are picked up at this process's next write (see Assistant._change)

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def new_corpus(self, embedder_name: str, dim: int) -> Corpus:
        return Corpus(embedder_name, dim)

    # ---------------------------------------------------------------- locking
    @contextlib.contextmanager
    def write_lock(self, timeout: float | None = None) -> Iterator[None]:
        timeout = LOCK_TIMEOUT_S if timeout is None else timeout  # read now, so it can be configured
        lock = filelock.FileLock(str(self.path / ".lock"))
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise IndexLockedError(
                f"another process is writing to the index {self.path}; gave up after waiting {timeout:.0f} s"
            ) from None
        except OSError as exc:  # not a directory, read-only, no permission
            raise IndexWriteError(f"cannot write to the index directory {self.path} ({exc.strerror or exc})") from None
        try:
            yield
        finally:
            lock.release()

    # ---------------------------------------------------------------- reading
    def exists(self) -> bool:
        return (self.path / "CURRENT").is_file()

    def current_name(self) -> str | None:
        """The name of the live generation as CURRENT says, None without one (never raises)."""
        try:
            return (self.path / "CURRENT").read_bytes().decode("utf-8", "replace").strip()
        except OSError:
            return None

    def load(self, embedder_name: str, dim: int) -> Corpus | None:
        """The saved corpus, None if the directory holds no index yet."""
        for attempt in range(3):
            if not self.exists():
                if self.path.is_dir() and any(self.path.glob("gen-*")):
                    raise IndexCorruptError(f"the index {self.path} has no CURRENT pointer; {rebuild_hint(self.path)}")
                return None
            gen = self._current()
            try:
                return self._load_generation(gen, embedder_name, dim)
            except (FileNotFoundError, IndexCorruptError):
                # A writer may have replaced the generation while we read it: then read the new one.
                if attempt == 2 or self._current() == gen:
                    if gen.is_dir():
                        raise
                    raise IndexCorruptError(f"files of the index {self.path} are missing; {rebuild_hint(self.path)}") from None
                time.sleep(0.05)
        return None

    def _current(self) -> Path:
        try:
            name = (self.path / "CURRENT").read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            name = ""
        if not name.startswith("gen-") or "/" in name or "\\" in name:
            raise IndexCorruptError(f"the index {self.path} has a damaged CURRENT file; {rebuild_hint(self.path)}")
        return self.path / name

    def read_manifest(self, gen: Path | None = None) -> dict:
        gen = gen or self._current()
        try:
            manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexCorruptError(f"the manifest of {self.path} is missing; {rebuild_hint(self.path)}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"the manifest of {self.path} is unreadable ({exc}); {rebuild_hint(self.path)}") from None
        if not isinstance(manifest, dict) or not all(isinstance(manifest.get(k, {}), dict) for k in ("embedder", "checksums")):
            raise IndexCorruptError(f"the manifest of {self.path} is damaged; {rebuild_hint(self.path)}")
        return manifest

    def _load_generation(self, gen: Path, embedder_name: str, dim: int) -> Corpus:
        manifest = self.read_manifest(gen)
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"the index {self.path} has format version {manifest.get('format_version')!r}, this citeqa reads "
                f"version {FORMAT_VERSION}; {rebuild_hint(self.path)}"
            )
        emb = manifest.get("embedder", {})
        if emb.get("name") != embedder_name or emb.get("dim") != dim:
            raise IndexMismatchError(
                f"the index {self.path} was built with the embedder {emb.get('name')!r} ({emb.get('dim')}-dim), "
                f"but {embedder_name!r} ({dim}-dim) is configured; {rebuild_hint(self.path)} "
                f"or configure the same embedder"
            )
        checksums = manifest.get("checksums", {})
        lexical_files = [name for name in checksums if name.startswith(_LEXICAL + "/")]
        for name in (*_FILES, *lexical_files):
            expected = checksums.get(name)
            if expected is None or _file_sha256(gen / name) != expected:
                raise IndexCorruptError(
                    f"the index file {gen.name}/{name} in {self.path} is missing, truncated or altered "
                    f"(checksum mismatch); {rebuild_hint(self.path)}"
                )
        try:
            docs_raw = json.loads((gen / "documents.json").read_text(encoding="utf-8"))
            recs_raw = json.loads((gen / "records.json").read_text(encoding="utf-8"))
            vectors = _read_vectors(gen / "vectors.npy")
            findex = faiss.read_index(str(gen / "faiss.index"))
            lexical = LexicalIndex.load(gen / _LEXICAL) if lexical_files else None
        except (ValueError, OSError, RuntimeError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"the index {self.path} cannot be read ({exc}); {rebuild_hint(self.path)}") from None
        try:
            documents = {d["doc_id"]: DocumentEntry(**d) for d in docs_raw}
            for d in documents.values():
                if text_sha256(d.text) != d.sha256:
                    raise IndexCorruptError(f"document {d.doc_id!r} in {self.path} fails its checksum; {rebuild_hint(self.path)}")
            records = RecordTable.from_records(recs_raw)
        except (TypeError, KeyError, AttributeError, ValueError, OverflowError) as exc:  # well-formed JSON of the wrong shape
            raise IndexCorruptError(f"the index {self.path} cannot be read ({exc!r}); {rebuild_hint(self.path)}") from None
        if (vectors.shape != (len(records), dim) or findex.ntotal != len(records)
                or (lexical is not None and lexical.n != len(records))):
            raise IndexCorruptError(f"the index {self.path} has {len(records)} records but "
                                    f"{vectors.shape[0]} vectors; {rebuild_hint(self.path)}")
        return Corpus(embedder_name, dim, documents, records, SentenceVectorStore(vectors, dim, findex), lexical)

    # ---------------------------------------------------------------- writing
    def save(self, corpus: Corpus) -> None:
        """Write a new generation and switch to it atomically. Call inside ``write_lock()``."""
        gen_name = f"gen-{time.time_ns()}-{os.getpid()}"
        tmp = self.path / (gen_name + ".tmp")
        pointer = self.path / "CURRENT.tmp"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            tmp.mkdir()
            _write_json(tmp / "documents.json", [vars(d) for d in corpus.documents.values()])
            _write_json(tmp / "records.json", corpus.records.rows())
            with open(tmp / "vectors.npy", "wb") as fh:
                np.save(fh, corpus.store.vectors, allow_pickle=False)
                _sync(fh)
            faiss.write_index(corpus.store.client, str(tmp / "faiss.index"))
            with open(tmp / "faiss.index", "rb+") as fh:
                _sync(fh)
            written = corpus.lexical_index().save(tmp / _LEXICAL)
            _sync_tree(tmp / _LEXICAL, written)
            lexical_files = [p.relative_to(tmp).as_posix() for p in written]
            manifest = {
                "format_version": FORMAT_VERSION,
                "embedder": {"name": corpus.embedder_name, "dim": corpus.dim},
                "index_type": corpus.store.kind,
                "n_sentences": len(corpus.records),
                "documents": {d.doc_id: {"sha256": d.sha256, "source": d.source} for d in corpus.documents.values()},
                "checksums": {name: _file_sha256(tmp / name) for name in (*_FILES, *lexical_files)},
            }
            _write_json(tmp / "manifest.json", manifest)
            os.rename(tmp, self.path / gen_name)
            _fsync_dir(self.path)
            with open(pointer, "w", encoding="utf-8") as fh:
                fh.write(gen_name)
                _sync(fh)
            os.replace(pointer, self.path / "CURRENT")
            _fsync_dir(self.path)
        except BaseException as exc:
            # Leave the directory as it was: no temporary generation, and no complete one that
            # CURRENT does not point to (a failure writing CURRENT.tmp left both behind).
            shutil.rmtree(tmp, ignore_errors=True)
            switched = self.current_name() == gen_name
            if not switched:
                shutil.rmtree(self.path / gen_name, ignore_errors=True)
                with contextlib.suppress(OSError):
                    pointer.unlink()
            if isinstance(exc, (OSError, RuntimeError)) and not isinstance(exc, CiteqaError):
                # RuntimeError: faiss reports a failed write that way.
                raise IndexWriteError(self._write_failure(exc, switched)) from exc
            raise
        self._remove_old(keep=gen_name)

    def _write_failure(self, exc: BaseException, switched: bool) -> str:
        full = getattr(exc, "errno", None) == errno.ENOSPC
        if not full:
            with contextlib.suppress(OSError):
                full = shutil.disk_usage(self.path).free < (1 << 20)  # np.save and faiss lose the errno
        reason = "no space left on device" if full else (getattr(exc, "strerror", None) or str(exc))
        outcome = ("the new index is in place but may not be on disk yet" if switched
                   else "the previous index is unchanged")
        return f"cannot save the index {self.path}: {reason}; {outcome}" + ("; free some disk space and try again" if full else "")

    def _remove_old(self, keep: str) -> None:
        for p in self.path.glob("gen-*"):
            if p.name != keep:
                shutil.rmtree(p, ignore_errors=True)


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False)
        _sync(fh)


def _sync(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _read_vectors(path: Path):
    """Small vector files are read into memory; large ones are read row by row when needed
    (``VectorFile``), which is safe because a generation never changes once written."""
    if path.stat().st_size >= FILE_VECTORS_MIN_BYTES:
        return VectorFile.open(path)
    return np.load(path, allow_pickle=False)


def _sync_tree(root: Path, files: list[Path]) -> None:
    """fsync files written below ``root`` and the folders that name them (one call: the crash tests fail it)."""
    for path in files:
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())
    for folder in sorted({p.parent for p in files} | {root}, key=lambda p: -len(p.parts)):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        return ""
    return h.hexdigest()


def recover_documents(directory: IndexDirectory) -> list[tuple[str, str, str | None, dict | None]]:
    """Best effort, for a rebuild: (doc_id, source path, stored text or None, stored location map
    or None) from any generation.

    Works on a damaged index: it reads only documents.json files and keeps a stored text (and its
    location map) only when the text matches its own checksum.
    """
    found: dict[str, tuple[str, str, str | None, dict | None]] = {}
    gens = sorted(directory.path.glob("gen-*"), key=lambda p: p.name, reverse=True)
    for gen in gens:
        try:
            docs = json.loads((gen / "documents.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            docs = []
        for d in docs if isinstance(docs, list) else []:
            try:
                doc_id, source, text, sha = d["doc_id"], d.get("source", ""), d.get("text"), d.get("sha256")
                locations = d.get("locations")
            except (TypeError, KeyError, AttributeError):
                continue
            if not isinstance(doc_id, str):
                continue
            ok = isinstance(text, str) and text_sha256(text) == sha
            if doc_id not in found or (found[doc_id][2] is None and ok):
                found[doc_id] = (doc_id, found.get(doc_id, ("", ""))[1] or (source if isinstance(source, str) else ""),
                                 text if ok else None, locations if ok and isinstance(locations, dict) else None)
        # documents.json damaged or gone: the manifest still names each document and its source file.
        try:
            listed = json.loads((gen / "manifest.json").read_text(encoding="utf-8")).get("documents", {})
        except (OSError, ValueError, AttributeError):
            listed = {}
        for doc_id, info in listed.items() if isinstance(listed, dict) else []:
            source = info.get("source", "") if isinstance(info, dict) else ""
            if doc_id not in found:
                found[doc_id] = (doc_id, source if isinstance(source, str) else "", None, None)
            elif not found[doc_id][1] and isinstance(source, str):
                found[doc_id] = (doc_id, source, found[doc_id][2], found[doc_id][3])
    return list(found.values())
