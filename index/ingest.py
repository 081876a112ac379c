"""From paths on disk to an up-to-date corpus: collect files, skip unchanged ones, parse, embed."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from index.corpus import Corpus
from index.document import ParsedDocument, parse_document, text_sha256
from index.errors import IngestError
from index.loaders import SUPPORTED_SUFFIXES, load_file

BATCH_SENTENCES = 20_000  # parsed and embedded at a time (a few MB of text, 30 MB of vectors)
CHECKPOINT_S = 300.0  # a long ingestion saves what it has this often (at most this much work is lost) ...
CHECKPOINT_SHARE = 0.1  # ... but spends at most this share of its time saving (a save at 1M sentences: ~90 s)
PROGRESS_MIN_FILES = 50


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one clear message per file that was skipped
    sentences_embedded: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)


def collect_files(paths: list[str | os.PathLike]) -> tuple[list[tuple[str, Path]], list[str]]:
    """(doc_id, path) pairs: a file is named by its file name, a file found in a folder by its path
    relative to that folder. Hidden files and unsupported types inside folders are skipped."""
    found: list[tuple[str, Path]] = []
    errors: list[str] = []
    for raw in paths:
        try:
            p = Path(raw)
            p.is_file()
        except (TypeError, ValueError, OSError) as exc:  # not a path, a NUL byte in it, a name too long
            raise IngestError(f"{raw!r}: not a usable file name ({exc})") from None
        if p.is_file():
            if not _utf8_name(p):
                raise IngestError(f"{_shown(p)}: the file name is not valid UTF-8; rename the file")
            found.append((p.name, p))
        elif p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    fp = Path(root) / f
                    if not f.startswith(".") and fp.suffix.lower() in SUPPORTED_SUFFIXES and fp.is_file():
                        if _utf8_name(fp):
                            found.append((fp.relative_to(p).as_posix(), fp))
                        else:
                            errors.append(f"{_shown(fp)}: the file name is not valid UTF-8; rename the file")
        else:
            raise IngestError(f"{raw}: no such file or folder")
    seen: dict[str, Path] = {}
    for doc_id, fp in found:
        if doc_id in seen and seen[doc_id].resolve() != fp.resolve():
            raise IngestError(f"two documents would be named {doc_id!r} ({seen[doc_id]} and {fp}); rename one")
        seen[doc_id] = fp
    return list(seen.items()), errors


def _utf8_name(p: Path) -> bool:
    """Names that are not valid UTF-8 arrive with lone surrogates, which no index file can store."""
    try:
        str(p.absolute()).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(p: Path) -> str:
    return p.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def sync_paths(corpus: Corpus, paths: list[str | os.PathLike], embedder, strict: bool = True,
               known_sources: list[tuple[str, Path]] = (), checkpoint: Callable[[], None] | None = None,
               checkpoint_s: float = CHECKPOINT_S, checkpoint_share: float | None = CHECKPOINT_SHARE) -> SyncReport:
    """Bring ``corpus`` up to date with the files: unchanged ones re-embed nothing.

    Files are read, split and embedded in batches of about ``BATCH_SENTENCES`` sentences, so memory
    holds one batch of parsed files, not the whole corpus; ``checkpoint`` (the caller's save) runs
    every ``checkpoint_s`` seconds, or less often when saving would take more than ``checkpoint_share``
    of the time (a save rewrites the whole index), so a killed ingestion resumes from its last
    checkpoint: the files saved by then are unchanged the next time and are skipped.
    With ``strict`` a file that cannot be read raises IngestError (one named file); otherwise
    (folders) it is skipped and reported, so one bad file does not lose the rest.
    """
    report = SyncReport()
    files, report.errors = collect_files(paths)
    named = {doc_id for doc_id, _ in files}
    files += [(doc_id, p) for doc_id, p in known_sources if doc_id not in named and p.is_file()]
    to_add: list[ParsedDocument] = []
    fingerprints: dict[str, tuple[int, int]] = {}
    pending = 0
    last_checkpoint = time.monotonic()
    interval = checkpoint_s
    bar = tqdm(total=len(files), desc="indexing files", unit="file", file=sys.stderr, dynamic_ncols=True,
               mininterval=1.0, disable=len(files) < PROGRESS_MIN_FILES)

    def flush() -> None:
        nonlocal to_add, fingerprints, pending, last_checkpoint, interval
        report.sentences_embedded += corpus.add(to_add, embedder, fingerprints, show_progress=None if bar.disable else False)
        to_add, fingerprints, pending = [], {}, 0
        if checkpoint is not None and time.monotonic() - last_checkpoint >= interval:
            t = time.monotonic()
            checkpoint()
            last_checkpoint = time.monotonic()
            if checkpoint_share:
                interval = max(checkpoint_s, (last_checkpoint - t) / checkpoint_share)

    for doc_id, fp in files:
        bar.update(1)
        try:
            st = fp.stat()
        except OSError as exc:  # deleted or replaced while we were reading the others
            raise IngestError(f"{fp.name}: cannot read the file ({exc.strerror or exc})") from None
        fingerprint = (st.st_size, st.st_mtime_ns)
        known = corpus.documents.get(doc_id)
        if known and (known.source_size, known.source_mtime_ns) == fingerprint:
            report.unchanged.append(doc_id)
            continue
        try:
            loaded = load_file(fp)
        except IngestError as exc:
            if strict and Path(fp) in [Path(p) for p in paths]:
                raise
            report.errors.append(str(exc))
            continue
        fingerprints[doc_id] = fingerprint
        if known and known.sha256 == text_sha256(loaded.text):
            known.source_size, known.source_mtime_ns = fingerprint  # touched, not changed
            report.unchanged.append(doc_id)
            continue
        (report.updated if known else report.added).append(doc_id)
        to_add.append(parse_document(doc_id, loaded.text, str(fp.resolve()), loaded.format, loaded.locations))
        pending += len(to_add[-1].sentences)
        if pending >= BATCH_SENTENCES:
            flush()
    if to_add:
        flush()
    bar.close()
    return report


def add_texts(corpus: Corpus, texts: dict[str, str], embedder) -> int:
    if not isinstance(texts, dict):
        raise IngestError(f"texts must be a dict of {{doc_id: text}}, got {type(texts).__name__}")
    docs = []
    for doc_id, text in texts.items():
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise IngestError(f"document ids must be non-empty strings, got {doc_id!r}")
        if not isinstance(text, str):
            raise IngestError(f"{doc_id}: the document text must be a str, got {type(text).__name__}")
        for what, value in (("document id", doc_id), ("text", text)):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # the tokenizer and the index files cannot hold them
                raise IngestError(f"{doc_id.encode('utf-8', 'replace').decode()}: the {what} contains an invalid "
                                  f"character (a lone surrogate) at offset {exc.start}; it is not valid Unicode text") from None
        docs.append(parse_document(doc_id, text))
    return corpus.add(docs, embedder)
