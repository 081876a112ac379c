"""The in-memory corpus: documents, sentence records and their vectors, row-aligned."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from index.document import ParsedDocument, SentenceRecord
from index.errors import UnknownDocumentError
from index.vector_store import SentenceVectorStore

PROGRESS_MIN_SENTENCES = 300  # show a progress bar when embedding more than this


@dataclass
class DocumentEntry:
    doc_id: str
    text: str
    sha256: str
    source: str = ""
    format: str = "text"
    metadata: dict[str, str] = field(default_factory=dict)
    source_size: int = -1  # fingerprint of the file it came from, to notice changes cheaply
    source_mtime_ns: int = -1
    # Where each span is in the original file (index.locations); None for plain text and for
    # documents saved before PDF/DOCX support (documents.json without the field).
    locations: dict | None = None


class Corpus:
    def __init__(self, embedder_name: str, dim: int, documents: dict[str, DocumentEntry] | None = None,
                 records: list[SentenceRecord] | None = None, store: SentenceVectorStore | None = None) -> None:
        self.embedder_name = embedder_name
        self.dim = dim
        self.documents: dict[str, DocumentEntry] = documents or {}
        self.records: list[SentenceRecord] = records or []
        self.store = store or SentenceVectorStore(np.zeros((0, dim), np.float32), dim)
        self.version = 0  # bumped on every change so derived structures (BM25) know to rebuild
        if len(self.records) != len(self.store.vectors):
            raise ValueError("records and vectors are not aligned")

    def __len__(self) -> int:
        return len(self.records)

    def document(self, doc_id: str) -> DocumentEntry:
        try:
            return self.documents[doc_id]
        except KeyError:
            raise UnknownDocumentError(f"no document {doc_id!r} in the corpus") from None

    def add(self, docs: list[ParsedDocument], embedder, sizes: dict[str, tuple[int, int]] | None = None,
            show_progress: bool | None = None) -> int:
        """Add or replace documents; embeds only their sentences in one batched call. Returns #sentences."""
        if not docs:
            return 0
        replaced = [d.doc_id for d in docs if d.doc_id in self.documents]
        if replaced:
            self._drop(set(replaced))
        new_records = [r for d in docs for r in d.sentences]
        texts = [r.index_text or d.text[r.start : r.end] for d in docs for r in d.sentences]
        if show_progress is None:
            show_progress = len(texts) > PROGRESS_MIN_SENTENCES
        vectors = embedder.encode(texts, show_progress=show_progress)
        self.store.add_vectors(vectors)
        self.records.extend(new_records)
        for d in docs:
            size, mtime = (sizes or {}).get(d.doc_id, (-1, -1))
            self.documents[d.doc_id] = DocumentEntry(d.doc_id, d.text, d.sha256, d.source, d.format, d.metadata, size, mtime,
                                                     d.locations)
        self.version += 1
        return len(new_records)

    def remove(self, doc_id: str) -> None:
        self.document(doc_id)
        self._drop({doc_id})
        self.version += 1

    def _drop(self, doc_ids: set[str]) -> None:
        mask = np.array([r.doc_id not in doc_ids for r in self.records], dtype=bool)
        self.records = [r for r, keep in zip(self.records, mask) if keep]
        self.store.keep_rows(mask)
        for d in doc_ids:
            self.documents.pop(d, None)

    def record_text(self, row: int) -> str:
        r = self.records[row]
        return self.documents[r.doc_id].text[r.start : r.end]

    def neighbours(self, row: int) -> tuple[int | None, int | None]:
        """Previous/next sentence rows of the same document (sentence-window context)."""
        r = self.records[row]
        prev = row - 1 if row > 0 and self.records[row - 1].doc_id == r.doc_id else None
        nxt = row + 1 if row + 1 < len(self.records) and self.records[row + 1].doc_id == r.doc_id else None
        return prev, nxt
