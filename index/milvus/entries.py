"""Document entries whose text and locations stay in Milvus until an answer reads them.

Why: a server that kept every document's text would hold the whole corpus (more with PDF word
locations) although an answer reads the few documents its candidates come from. A ``StoredEntry``
keeps what listing and syncing need (doc id, checksum, source, metadata, length, skipped rows); its
``text`` and ``locations`` are read from the engine on first use and kept in an ``EntryCache``
bounded in characters (least recently used out first).

An entry names one version of its document (``index/milvus/index.py``). If another process replaced
or removed that version since this process loaded it, the newest version serves only when its text
has the same checksum; otherwise ``IndexChangedError`` says to ask again (the server's periodic
generation check then reloads).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from index.document import DocumentEntry
from index.errors import IndexChangedError


class EntryCache:
    def __init__(self, read, max_chars: int, rebuild_hint: str = "") -> None:
        self._read = read  # (doc_key, seq | None) -> (seq, DocumentEntry) or None; None = the newest version
        self.rebuild_hint = rebuild_hint  # a head whose text is gone looks the same as a concurrent change
        self.max_chars = max_chars
        self._entries: OrderedDict[tuple[str, int], DocumentEntry] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.reads = 0  # engine reads, for tests and benchmarks

    def put(self, key: str, seq: int, entry: DocumentEntry) -> None:
        with self._lock:
            old = self._entries.pop((key, seq), None)
            if old is not None:
                self._chars -= len(old.text)
            self._entries[(key, seq)] = entry
            self._chars += len(entry.text)
            while self._chars > self.max_chars and len(self._entries) > 1:
                _, out = self._entries.popitem(last=False)
                self._chars -= len(out.text)

    def get(self, key: str, seq: int, doc_id: str, sha256: str) -> DocumentEntry:
        with self._lock:
            entry = self._entries.get((key, seq))
            if entry is not None:
                self._entries.move_to_end((key, seq))
                return entry
        self.reads += 1
        got = self._read(key, seq)
        if got is None:
            newest = self._read(key, None)
            if newest is None or newest[1].sha256 != sha256:
                raise IndexChangedError(f"document {doc_id!r} was changed or removed by another process while "
                                        f"this answer was being prepared; ask again (if this repeats, the index is "
                                        f"damaged: {self.rebuild_hint or 'rebuild it'})")
            got = newest
        self.put(key, seq, got[1])
        return got[1]


class StoredEntry(DocumentEntry):
    """A ``DocumentEntry`` whose ``text`` and ``locations`` are read through an ``EntryCache``."""

    def __init__(self, cache: EntryCache, key: str, seq: int, entry: DocumentEntry, n_chars: int | None = None) -> None:
        # Not the dataclass __init__: text and locations are properties here.
        self._cache, self.key, self.seq = cache, key, seq
        self.doc_id, self.sha256, self.source, self.format = entry.doc_id, entry.sha256, entry.source, entry.format
        self.metadata, self.source_size, self.source_mtime_ns = entry.metadata, entry.source_size, entry.source_mtime_ns
        self.skipped = entry.skipped
        self._n_chars = len(entry.text) if n_chars is None else n_chars  # given when ``entry`` comes without its text

    def _full(self) -> DocumentEntry:
        return self._cache.get(self.key, self.seq, self.doc_id, self.sha256)

    @property
    def text(self) -> str:  # type: ignore[override]
        return self._full().text

    @property
    def locations(self) -> dict | None:  # type: ignore[override]
        return self._full().locations

    @property
    def n_chars(self) -> int:
        return self._n_chars

    def __repr__(self) -> str:
        return f"StoredEntry({self.doc_id!r}, version {self.seq}, {self._n_chars} chars)"
