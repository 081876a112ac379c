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


_DEFAULTS = (layout.BODY, None, None, None, 0, -1)  # kind, index_text, block, section, level, block_start


class RecordTable(Sequence):
    __slots__ = ("_doc_ids", "_doc", "_start", "_end", "_kinds", "_kind", "_index_text",
                 "_blocks", "_block", "_sections", "_section", "_level", "_block_start")

    def __init__(self, doc_ids: tuple[str, ...], doc: np.ndarray, start: np.ndarray, end: np.ndarray,
                 kinds: tuple[str, ...], kind: np.ndarray, index_text: np.ndarray,
                 blocks: tuple[str | None, ...] = (None,), block: np.ndarray | None = None,
                 sections: tuple[str | None, ...] = (None,), section: np.ndarray | None = None,
                 level: np.ndarray | None = None, block_start: np.ndarray | None = None) -> None:
        self._doc_ids, self._doc, self._start, self._end = doc_ids, doc, start, end
        self._kinds, self._kind, self._index_text = kinds, kind, index_text
        n = len(start)
        # Structure columns (index/structure.py); tables of indexes saved before them are all "unknown".
        self._blocks, self._sections = blocks, sections
        self._block = np.zeros(n, np.int8) if block is None else block
        self._section = np.zeros(n, np.int32) if section is None else section
        self._level = np.zeros(n, np.int8) if level is None else level
        self._block_start = np.full(n, -1, np.int32) if block_start is None else block_start

    @classmethod
    def from_records(cls, records: Iterable[SentenceRecord | Sequence]) -> "RecordTable":
        """From records, or from ``[doc_id, start, end, kind, index_text, block, section, level,
        block_start]`` rows (records.json; trailing default values may be left out)."""
        doc_no: dict[str, int] = {}
        kind_no: dict[str, int] = {layout.BODY: 0}
        block_no: dict[str | None, int] = {None: 0}
        section_no: dict[str | None, int] = {None: 0}
        doc, start, end, kind, index_text, block, section, level, block_start = ([] for _ in range(9))
        for r in records:
            if isinstance(r, SentenceRecord):
                d, s, e, k, t, b, sec, lv, bs = (r.doc_id, r.start, r.end, r.kind, r.index_text, r.block, r.section,
                                                 r.level, r.block_start)
            else:
                r = list(r)
                d, s, e, k, t, b, sec, lv, bs = r[:9] + list(_DEFAULTS[max(0, len(r) - 3):])
            doc.append(doc_no.setdefault(d, len(doc_no)))
            start.append(s)
            end.append(e)
            kind.append(kind_no.setdefault(k, len(kind_no)))
            index_text.append(t)
            block.append(block_no.setdefault(b, len(block_no)))
            section.append(section_no.setdefault(sec, len(section_no)))
            level.append(lv)
            block_start.append(bs)
        if len(kind_no) > 127 or len(block_no) > 127:
            raise ValueError("more than 127 sentence or block kinds")
        texts = np.empty(len(index_text), dtype=object)
        texts[:] = index_text
        return cls(tuple(doc_no), np.asarray(doc, np.int32), np.asarray(start, np.int64), np.asarray(end, np.int64),
                   tuple(kind_no), np.asarray(kind, np.int8), texts, tuple(block_no), np.asarray(block, np.int8),
                   tuple(section_no), np.asarray(section, np.int32), np.asarray(level, np.int8),
                   np.asarray(block_start, np.int32))

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
                              self._kinds[self._kind[i]], self._index_text[i], self._blocks[self._block[i]],
                              self._sections[self._section[i]], int(self._level[i]), int(self._block_start[i]))

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
        return sum(a.nbytes for a in (self._doc, self._start, self._end, self._kind, self._index_text,
                                      self._block, self._section, self._level, self._block_start))

    def doc_id_of(self, row: int) -> str:
        return self._doc_ids[self._doc[row]]

    def block_of(self, row: int) -> str | None:
        """The kind of block (index/structure.py) the row is in, None when the structure is unknown."""
        return self._blocks[self._block[row]]

    def span_of(self, row: int) -> tuple[int, int]:
        return int(self._start[row]), int(self._end[row])

    def level_of(self, row: int) -> int:
        """The heading level or list depth of the row's block (0 when none)."""
        return int(self._level[row])

    def same_document(self, a: int, b: int) -> bool:
        return bool(self._doc[a] == self._doc[b])

    def same_block(self, a: int, b: int) -> bool:
        """Rows of one block (of one document): False when the structure is unknown."""
        return bool(self._block_start[a] >= 0 and self._block_start[a] == self._block_start[b]
                    and self._block[a] == self._block[b] and self._doc[a] == self._doc[b])

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
        block_no = {b: i for i, b in enumerate(self._blocks)}
        section_no = {s: i for i, s in enumerate(self._sections)}
        doc_map = np.array([doc_no.setdefault(d, len(doc_no)) for d in other._doc_ids], dtype=np.int32)
        kind_map = np.array([kind_no.setdefault(k, len(kind_no)) for k in other._kinds], dtype=np.int8)
        block_map = np.array([block_no.setdefault(b, len(block_no)) for b in other._blocks], dtype=np.int8)
        section_map = np.array([section_no.setdefault(s, len(section_no)) for s in other._sections], dtype=np.int32)
        if len(kind_no) > 127 or len(block_no) > 127:
            raise ValueError("more than 127 sentence or block kinds")
        return RecordTable(tuple(doc_no), np.concatenate([self._doc, doc_map[other._doc]]),
                           np.concatenate([self._start, other._start]), np.concatenate([self._end, other._end]),
                           tuple(kind_no), np.concatenate([self._kind, kind_map[other._kind]]),
                           np.concatenate([self._index_text, other._index_text]),
                           tuple(block_no), np.concatenate([self._block, block_map[other._block]]),
                           tuple(section_no), np.concatenate([self._section, section_map[other._section]]),
                           np.concatenate([self._level, other._level]),
                           np.concatenate([self._block_start, other._block_start]))

    def filtered(self, keep: np.ndarray) -> "RecordTable":
        """The rows where ``keep`` is True; documents left without a row are forgotten."""
        doc = self._doc[keep]
        used = np.unique(doc)
        renumber = np.full(len(self._doc_ids), -1, dtype=np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        return RecordTable(tuple(self._doc_ids[i] for i in used), renumber[doc], self._start[keep], self._end[keep],
                           self._kinds, self._kind[keep], self._index_text[keep], self._blocks, self._block[keep],
                           self._sections, self._section[keep], self._level[keep], self._block_start[keep])

    def rows(self) -> list[list]:
        """``[doc_id, start, end, kind, index_text, block, section, level, block_start]`` per row, as
        records.json stores them, without trailing default values (a row of plain text keeps the
        five fields that indexes saved before the structure columns have)."""
        docs, kinds, blocks, sections = self._doc_ids, self._kinds, self._blocks, self._sections
        out = []
        for d, s, e, k, t, b, sec, lv, bs in zip(
                self._doc.tolist(), self._start.tolist(), self._end.tolist(), self._kind.tolist(), self._index_text,
                self._block.tolist(), self._section.tolist(), self._level.tolist(), self._block_start.tolist()):
            row = [docs[d], s, e, kinds[k], t, blocks[b], sections[sec], lv, bs]
            n = 9
            while n > 5 and row[n - 1] == _DEFAULTS[n - 4]:
                n -= 1
            out.append(row[:n])
        return out
