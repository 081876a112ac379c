"""Prefix KV snapshots on disk, so a restarted process does not re-read the corpus prompt.

Why: on a small CPU, reading the corpus prompt prefix takes tens of seconds while reading its saved
llama.cpp state back takes a fraction of one (docs/decisions/0032-llm-prefix-state-on-disk.md). The runtime
keeps these snapshots in RAM (qa/llm/runtime.py); this module writes them beside the index
(``<index_dir>/llm-state/``) and reads them back after a restart.

A file is named ``<key>.kv``, key = sha256 of the prefix text. The text already holds the prompt
version (the system prompt) and every corpus sentence, so a new corpus generation with other
sentences gets another key, and one with the same sentences reuses the state. Layout::

    MAGIC | u32 header length | header (JSON) | tokens (int32 LE) | state blob | sha256 of all before

The header records the key and the ``facts`` the blob is only valid under (model identity,
llama-cpp-python version, context size and KV layout; see ``facts``). Loading refuses (and
deletes) a file whose key, facts, tokens, length or checksum differ: a KV state of another model
or layout would restore "successfully" and make the model write garbage. Nothing here raises on a
bad or unwritable file; the caller then computes the prefix as before.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import struct
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.fsutil import fsync_dir

log = logging.getLogger(__name__)

MAGIC = b"CITEQAKV"
FORMAT_VERSION = 1
SUBDIR = "llm-state"
SUFFIX = ".kv"
KEEP = 2  # each file is ~32 MB for the seed article; a corpus that fits the prompt needs one (its current corpus)
_STALE_TMP_S = 3600.0  # a temp file this old is a crashed writer's, not one being written
_LEN = struct.Struct("<I")
_MAX_HEADER = 64 * 1024
_DIGEST = 32

# Context parameters a saved blob depends on (KV layout and types, RoPE, since K is stored rotated, and batch
# sizes, which change float summation order): llama_state_set_data checks only the architecture and KV
# shapes, so a blob saved under other values would restore a state this process would not compute.
_CONTEXT_FIELDS = ("n_ctx", "n_seq_max", "type_k", "type_v", "flash_attn_type", "swa_full", "kv_unified",
                   "attention_type", "rope_scaling_type", "rope_freq_base", "rope_freq_scale", "yarn_ext_factor",
                   "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow", "yarn_orig_ctx", "n_batch", "n_ubatch")


def state_dir(index_dir: Any) -> Path | None:
    """Where an index directory (``IndexDirectory`` or None for an in-memory corpus) keeps states."""
    return None if index_dir is None else Path(index_dir.path) / SUBDIR


def facts(llama: Any) -> dict[str, Any]:
    """What must be equal for a saved state blob to be valid in this ``llama_cpp.Llama``."""
    cached = llama.__dict__.get("_citeqa_state_facts")
    if cached is None:
        import llama_cpp

        from qa.llm.model_file import model_identity

        params = llama.context_params
        cached = {
            "model": model_identity(Path(llama.model_path)),
            "llama_cpp_python": llama_cpp.__version__,
            # floats as text: a NaN setting would otherwise never equal itself after a JSON round trip
            **{f: _plain(getattr(params, f)) for f in _CONTEXT_FIELDS if hasattr(params, f)},
        }
        cached["n_ctx"] = llama.n_ctx()  # the real size (the param may be 0 = "the model's")
        llama.__dict__["_citeqa_state_facts"] = cached
    return cached


def _plain(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def _path(directory: Path, key: str) -> Path:
    return directory / f"{key}{SUFFIX}"


def _header(key: str, facts_: dict[str, Any], n_tokens: int, blob_size: int) -> bytes:
    head = {"format": FORMAT_VERSION, "key": key, "facts": facts_, "n_tokens": n_tokens, "blob_size": blob_size}
    return json.dumps(head, sort_keys=True).encode("utf-8")


def save(directory: Path, key: str, facts_: dict[str, Any], tokens: np.ndarray, blob: Any,
         keep: int = KEEP) -> Path | None:
    """Write ``<directory>/<key>.kv`` atomically (temp file, fsync, rename); None if it failed. Then only the
    ``keep`` most recently used files stay (a corpus read in windows needs one per window)."""
    toks = np.ascontiguousarray(tokens, dtype="<i4")
    data = memoryview(blob).cast("B")
    head = _header(key, facts_, len(toks), len(data))
    tmp = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{key[:16]}-", suffix=".tmp")
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as f:
            for part in (MAGIC, _LEN.pack(len(head)), head, toks.tobytes(), data):
                digest.update(part)
                f.write(part)
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o644)  # mkstemp creates 0600; index files are readable like the rest
        target = _path(directory, key)
        os.replace(tmp, target)  # readers see the old file or the whole new one, never a part
        tmp = None
        fsync_dir(directory)
    except OSError as exc:
        log.warning("could not save the LLM prefix state in %s: %s", directory, exc)
        return None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    _prune(directory, target, max(1, keep))
    return target


def exists(directory: Path, key: str) -> bool:
    """A file is saved for ``key`` (not yet checked: ``load`` does that)."""
    return _path(directory, key).is_file()


def load(directory: Path, key: str, facts_: dict[str, Any],
         expected_tokens: Sequence[int]) -> tuple[np.ndarray, ctypes.Array] | None:
    """(tokens, blob) saved for ``key`` under these facts, or None (a bad file is deleted).

    ``expected_tokens`` is the prefix as this process tokenises it; a file with other tokens (a
    changed tokenizer) is refused like one of another model.
    """
    path = _path(directory, key)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the LLM prefix state %s: %s", path, exc)
        return None
    with f:
        st = os.fstat(f.fileno())
        try:
            state, why = _read(f, st.st_size, key, facts_, expected_tokens)
        except OSError as exc:
            state, why = None, f"read error ({exc})"
    if state is None:
        log.info("ignoring the LLM prefix state %s: %s", path, why)
        _remove_if_same(path, st)
        return None
    try:
        os.utime(path)  # "newest" = last used, for _prune
    except OSError:
        pass
    return state


def _read(f: Any, size: int, key: str, facts_: dict[str, Any],
          expected: Sequence[int]) -> tuple[tuple[np.ndarray, ctypes.Array] | None, str]:
    fixed = len(MAGIC) + _LEN.size
    start = f.read(fixed)
    if len(start) < fixed or start[: len(MAGIC)] != MAGIC:
        return None, "not a citeqa state file"
    (head_len,) = _LEN.unpack(start[len(MAGIC):])
    if head_len > _MAX_HEADER or fixed + head_len > size:
        return None, "damaged header"
    raw = f.read(head_len)
    try:
        head = json.loads(raw.decode("utf-8"))
        n_tokens, blob_size = int(head["n_tokens"]), int(head["blob_size"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        return None, "damaged header"
    if head.get("format") != FORMAT_VERSION:
        return None, f"format {head.get('format')}, expected {FORMAT_VERSION}"
    if head.get("key") != key:
        return None, "saved for another prompt prefix"
    if head.get("facts") != facts_:
        diff = sorted(k for k in {**facts_, **(head.get("facts") or {})}
                      if (head.get("facts") or {}).get(k) != facts_.get(k))
        return None, f"saved under other {', '.join(diff)}"
    if n_tokens != len(expected):
        return None, "other prefix tokens"
    body = 4 * n_tokens + blob_size
    if size != fixed + head_len + body + _DIGEST:
        return None, f"{size} bytes, expected {fixed + head_len + body + _DIGEST} (truncated or padded)"
    buf = bytearray(body + _DIGEST)
    if f.readinto(buf) != len(buf):
        return None, "truncated while reading"
    digest = hashlib.sha256(start)
    digest.update(raw)
    view = memoryview(buf)
    digest.update(view[:body])
    if digest.digest() != bytes(view[body:]):
        return None, "checksum mismatch"
    tokens = np.frombuffer(buf, dtype="<i4", count=n_tokens).astype(np.int32)
    if not np.array_equal(tokens, np.asarray(expected, dtype=np.int32)):
        return None, "other prefix tokens"
    # Zero-copy: the ctypes array shares buf (and keeps it alive); llama_state_set_data reads it.
    blob = (ctypes.c_uint8 * blob_size).from_buffer(buf, 4 * n_tokens)
    return (tokens, blob), ""


def discard(directory: Path, key: str, why: str) -> None:
    """Delete ``key``'s file after llama.cpp refused its blob."""
    log.warning("discarding the LLM prefix state %s: %s", _path(directory, key), why)
    _path(directory, key).unlink(missing_ok=True)


def _remove_if_same(path: Path, st: os.stat_result) -> None:
    # Another process may have just replaced the bad file with a good one: delete only what we read.
    try:
        now = path.stat()
        if (now.st_ino, now.st_dev) == (st.st_ino, st.st_dev):
            path.unlink()
    except OSError:
        pass


def _prune(directory: Path, keep: Path, count: int = KEEP) -> None:
    """Keep the ``count`` most recently used state files; drop crashed writers' temp files."""
    now = time.time()
    others = sorted(((_mtime(p), p) for p in directory.glob(f"*{SUFFIX}") if p != keep), reverse=True)
    old = [p for _, p in others[count - 1:]]
    old += [p for p in directory.glob(".*.tmp") if now - _mtime(p) > _STALE_TMP_S]
    for p in old:
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            log.info("could not remove the old LLM prefix state %s: %s", p, exc)


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:  # removed meanwhile (a concurrent prune): now
        return time.time()


