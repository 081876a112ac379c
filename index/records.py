"""The corpus's sentence records as columns (NumPy arrays), read as a sequence of ``SentenceRecord``.

Why: a ``SentenceRecord`` object per sentence is several times the size of its column entries, and a
large index would create millions of objects at every open (docs/decisions/0052-record-columns.md).
``table[row]`` builds the one record asked for; the answer path reads a few dozen per question.

Immutable like the rest of a corpus view: ``concat`` and ``filtered`` return new tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from index import layout
from index.document import SentenceRecord


class RecordTable(Sequence):
    __slots__ = ("_doc_ids", "_doc", "_start", "_end", "_kinds", "_kind", "_index_text")

    def __init__(self, doc_ids: tuple[str, ...], doc: np.ndarray, start: np.ndarray, end: np.ndarray,
                 kinds: tuple[str, ...], kind: np.ndarray, index_text: np.ndarray) -> None:
        self._doc_ids, self._doc, self._start, self._end = doc_ids, doc, start, end
        self._kinds, self._kind, self._index_text = kinds, kind, index_text

    @classmethod
    def from_records(cls, records: Iterable[SentenceRecord | Sequence]) -> "RecordTable":
        """From records, or from ``[doc_id, start, end, kind, index_text]`` rows (records.json)."""
        doc_no: dict[str, int] = {}
        kind_no: dict[str, int] = {layout.BODY: 0}
        doc, start, end, kind, index_text = [], [], [], [], []
        for r in records:
            d, s, e, k, t = ((r.doc_id, r.start, r.end, r.kind, r.index_text) if isinstance(r, SentenceRecord)
                             else (list(r) + [layout.BODY, None][len(r) - 3:])[:5])
            doc.append(doc_no.setdefault(d, len(doc_no)))
            start.append(s)
            end.append(e)
            kind.append(kind_no.setdefault(k, len(kind_no)))
            index_text.append(t)
        if len(kind_no) > 127:
            raise ValueError("more than 127 sentence kinds")
        texts = np.empty(len(index_text), dtype=object)
        texts[:] = index_text
        return cls(tuple(doc_no), np.asarray(doc, np.int32), np.asarray(start, np.int64), np.asarray(end, np.int64),
                   tuple(kind_no), np.asarray(kind, np.int8), texts)

    @classmethod
    def empty(cls) -> "RecordTable":
        return cls.from_records([])

    def __len__(self) -> int:
        return len(self._start)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        i = int(row)
        return SentenceRecord(self._doc_ids[self._doc[i]], int(self._start[i]), int(self._end[i]),
                              self._kinds[self._kind[i]], self._index_text[i])

    def __iter__(self) -> Iterator[SentenceRecord]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other) -> bool:
        if not isinstance(other, (RecordTable, list, tuple)) or len(self) != len(other):
            return False
        return all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RecordTable({len(self)} records, {len(self._doc_ids)} documents)"

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._doc, self._start, self._end, self._kind, self._index_text))

    def doc_id_of(self, row: int) -> str:
        return self._doc_ids[self._doc[row]]

    def span_chars(self) -> int:
        """Characters the rows' spans cover, summed."""
        return int((self._end - self._start).sum())

    def counts(self) -> dict[str, int]:
        """Rows per document id."""
        n = np.bincount(self._doc, minlength=len(self._doc_ids)) if len(self._doc) else np.zeros(len(self._doc_ids), int)
        return {d: int(c) for d, c in zip(self._doc_ids, n) if c}

    def rows_of(self, doc_ids: set[str]) -> np.ndarray:
        """Boolean mask of the rows whose document is one of ``doc_ids``."""
        hit = np.array([d in doc_ids for d in self._doc_ids], dtype=bool)
        return hit[self._doc] if len(hit) else np.zeros(len(self), dtype=bool)

    def concat(self, records: "RecordTable | Iterable[SentenceRecord]") -> "RecordTable":
        other = records if isinstance(records, RecordTable) else RecordTable.from_records(records)
        if not len(other):
            return self
        if not len(self):
            return other
        doc_no = {d: i for i, d in enumerate(self._doc_ids)}
        kind_no = {k: i for i, k in enumerate(self._kinds)}
        doc_map = np.array([doc_no.setdefault(d, len(doc_no)) for d in other._doc_ids], dtype=np.int32)
        kind_map = np.array([kind_no.setdefault(k, len(kind_no)) for k in other._kinds], dtype=np.int8)
        return RecordTable(tuple(doc_no), np.concatenate([self._doc, doc_map[other._doc]]),
                           np.concatenate([self._start, other._start]), np.concatenate([self._end, other._end]),
                           tuple(kind_no), np.concatenate([self._kind, kind_map[other._kind]]),
                           np.concatenate([self._index_text, other._index_text]))

    def filtered(self, keep: np.ndarray) -> "RecordTable":
        """The rows where ``keep`` is True; documents left without a row are forgotten."""
        doc = self._doc[keep]
        used = np.unique(doc)
        renumber = np.full(len(self._doc_ids), -1, dtype=np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        return RecordTable(tuple(self._doc_ids[i] for i in used), renumber[doc], self._start[keep], self._end[keep],
                           self._kinds, self._kind[keep], self._index_text[keep])

    def rows(self) -> list[list]:
        """``[doc_id, start, end, kind, index_text]`` per row, as records.json stores them."""
        docs, kinds = self._doc_ids, self._kinds
        return [[docs[d], s, e, kinds[k], t] for d, s, e, k, t in
                zip(self._doc.tolist(), self._start.tolist(), self._end.tolist(), self._kind.tolist(), self._index_text)]
