"""Uploaded files: safe names, a server-owned directory, clear limits.

Uploads are SHARED: the server has one corpus, and a file uploaded (or a document removed) by
anyone is visible to every session. Files are copied into ``<index_dir>/uploads/`` under a
sanitised name (the document id is that name), so a crafted file name (``../../x``, absolute
paths, control characters, hidden ``.files``) can never write outside that directory.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from index.loaders import MAX_PACKED_DOCUMENT_BYTES, SUPPORTED_SUFFIXES, max_bytes_for
from qa import CiteqaError, IngestError

ALLOWED_SUFFIXES = SUPPORTED_SUFFIXES  # text, HTML, PDF, DOCX and scanned images (PNG, JPEG, TIFF)
MAX_UPLOAD_BYTES = MAX_PACKED_DOCUMENT_BYTES  # the largest file the indexer takes (PDF/DOCX/images); the server refuses more
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)

_lock = threading.Lock()  # one upload/removal at a time touches the directory


def safe_name(original: str) -> str:
    """A plain file name from whatever the browser sent, or IngestError saying why not."""
    name = unicodedata.normalize("NFC", str(original)).replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" ._")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in ALLOWED_SUFFIXES:
        shown = Path(str(original).replace("\\", "/")).name or str(original)
        raise IngestError(f"{shown}: unsupported file type {suffix or '(none)'}; upload {', '.join(ALLOWED_SUFFIXES)} files")
    stem = re.sub(r"_+", "_", stem).strip(" ._")[: MAX_NAME_CHARS - len(suffix)] or "document"
    return stem + suffix


def inside(directory: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


@dataclass
class UploadResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sentences: int = 0


def add_uploads(assistant, upload_dir: Path, files: list[str], progress=None) -> UploadResult:
    """Copy each uploaded temp file into ``upload_dir`` and index it. One bad file does not stop the rest."""
    result = UploadResult()
    files = [f for f in files if f]
    most = assistant.settings.ui.max_files_per_upload
    if len(files) > most:
        result.errors.append(f"{len(files)} files at once is too many; upload at most {most} at a time")
        return result
    upload_dir.mkdir(parents=True, exist_ok=True)
    with _lock:
        for i, src in enumerate(files):
            src_path = Path(src)
            shown = src_path.name
            if progress is not None:
                progress(i / max(1, len(files)), desc=f"Indexing {shown} ({i + 1}/{len(files)})")
            try:
                name = safe_name(shown)
                size, limit = src_path.stat().st_size, max_bytes_for(Path(name).suffix)  # the indexer's own limits
                if size > limit:
                    raise IngestError(f"{shown}: {size / 1e6:.1f} MB is over the {limit / 1e6:.0f} MB limit per document")
                if size == 0:
                    raise IngestError(f"{shown}: the file is empty")
                dest = upload_dir / name
                if not inside(upload_dir, dest) or dest.parent.resolve() != upload_dir.resolve():
                    raise IngestError(f"{shown}: invalid file name")
                backup = None
                if dest.exists():
                    backup = dest.with_name(f".{name}.previous")
                    os.replace(dest, backup)
                tmp = dest.with_name(f".{name}.incoming")
                shutil.copyfile(src_path, tmp)
                os.replace(tmp, dest)
                try:
                    report = assistant.add_paths([dest])
                except Exception:
                    dest.unlink(missing_ok=True)
                    if backup is not None:
                        os.replace(backup, dest)
                    raise
                if backup is not None:
                    backup.unlink(missing_ok=True)
                result.added += report.added
                result.updated += report.updated
                result.unchanged += report.unchanged
                result.errors += report.errors
                result.sentences += report.sentences_embedded
            except IngestError as exc:
                result.errors.append(str(exc))  # names the file already
            except CiteqaError as exc:  # e.g. the index is locked by another process
                result.errors.append(f"{shown}: {exc}")
            except OSError as exc:
                result.errors.append(f"{shown}: could not store the file ({exc.strerror or exc})")
    if progress is not None:
        progress(1.0, desc="Done")
    return result


def remove_document(assistant, upload_dir: Path, doc_id: str) -> None:
    """Remove from the corpus; delete the stored copy too when it is one of our uploads."""
    with _lock:
        source = next((d.source for d in assistant.documents() if d.doc_id == doc_id), None)
        assistant.remove(doc_id)
        if source and inside(upload_dir, Path(source)) and Path(source).is_file():
            Path(source).unlink(missing_ok=True)
