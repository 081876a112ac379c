"""The in-memory corpus: documents, sentence records and their vectors, row-aligned.

Changes are copy-on-write (a change binds new lists, dicts and arrays, never edits them in place),
so a ``CorpusView`` taken before a change stays consistent: a question answered from a view needs
no lock while the LLM writes, even if a document is added meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.document import DocumentEntry, ParsedDocument, SentenceRecord, indexed_texts
from index import structure
from index.errors import UnknownDocumentError
from index.lexical import LexicalIndex
from index.records import RecordTable
from index.vector_store import SentenceVectorStore

PROGRESS_MIN_SENTENCES = 300  # show a progress bar when embedding more than this
UNIT_MAX_CHARS = 1_500  # a citation unit stops growing past this (a heading over a long section)


@dataclass(frozen=True)
class CorpusView:
    """A consistent, read-only snapshot of the corpus: what one answer is computed from."""

    documents: dict[str, DocumentEntry]
    records: RecordTable
    vectors: np.ndarray
    version: int

    def __len__(self) -> int:
        return len(self.records)

    def document(self, doc_id: str) -> DocumentEntry:
        try:
            return self.documents[doc_id]
        except KeyError:
            raise UnknownDocumentError(f"no document {doc_id!r} in the corpus") from None

    def record_text(self, row: int) -> str:
        r = self.records[row]
        return self.documents[r.doc_id].text[r.start : r.end]

    def neighbours(self, row: int) -> tuple[int | None, int | None]:
        """Previous/next sentence rows of the same document and section (sentence-window context): a
        sentence of the section before is other matter, not context. Rows without known sections (plain
        text) are neighbours across the whole document."""
        doc_of = self.records.doc_id_of
        doc, section = doc_of(row), self.records[row].section

        def near(j: int) -> bool:
            return doc_of(j) == doc and (section is None or self.records[j].section in (None, section))

        prev = row - 1 if row > 0 and near(row - 1) else None
        nxt = row + 1 if row + 1 < len(self.records) and near(row + 1) else None
        return prev, nxt

    def introduces(self, row: int) -> bool:
        """Whether the row introduces what follows it: a heading (its section's first block), the
        head of a list item (the rest of the item and its sub-items) or a lead-in sentence ending
        in ":" (the next block; a whole list or table). Without known structure (plain text,
        indexes saved before structure was kept) only the lead-in rule holds, for the next row."""
        return self.unit_rows(row).stop > row + 1

    def unit_rows(self, row: int, max_chars: int = UNIT_MAX_CHARS) -> range:
        """The rows of the citation unit "this row + what it introduces" (``introduces``); just the
        row when it introduces nothing. Rows of one document, contiguous; the unit stops adding
        rows past ``max_chars`` characters, but always holds at least one row after an introducer."""
        last = self._introduced_last(row)
        if last is None:
            return range(row, row + 1)
        start = self.records.span_of(row)[0]
        stop = row + 1
        while stop <= last and (stop == row + 1 or self.records.span_of(stop)[1] - start <= max_chars):
            stop += 1
        return range(row, stop)

    def unit_of(self, row: int, max_chars: int = UNIT_MAX_CHARS) -> tuple[int, int]:
        """(start, end) in the row's document of its citation unit (``unit_rows``): cite
        ``document.text[start:end]`` to cite a heading or lead-in with what it introduces."""
        rows = self.unit_rows(row, max_chars)
        return self.records.span_of(rows.start)[0], self.records.span_of(rows.stop - 1)[1]

    def _introduced_last(self, row: int) -> int | None:
        """The last row of what ``row`` introduces, None when it introduces nothing."""
        recs, n = self.records, len(self.records)

        def ok(j: int) -> bool:
            return j < n and recs.same_document(row, j)

        def block_last(j: int) -> int:
            while ok(j + 1) and recs.same_block(j, j + 1):
                j += 1
            return j

        def run_last(j: int, kinds: tuple[str, ...], min_level: int) -> int:
            """The last row of the run of blocks of these kinds (and levels) starting at row j."""
            while ok(j + 1) and recs.block_of(j + 1) in kinds and recs.level_of(j + 1) >= min_level:
                j += 1
            return j

        if not ok(row + 1):
            return None
        block = recs.block_of(row)
        lead_in = self.record_text(row).rstrip().endswith(":")
        if block is None:
            return row + 1 if lead_in else None
        if block == structure.HEADING:
            j, level = row + 1, recs.level_of(row)
            if level == 0:  # the document's title introduces the whole document, not a unit
                return None
            while ok(j) and recs.block_of(j) == structure.HEADING:  # sub-headings come along, not a sibling
                if recs.level_of(j) <= level:
                    return None if j == row + 1 else j - 1
                j += 1
            return block_last(j) if ok(j) else j - 1
        if block == structure.LIST_ITEM and not (row > 0 and recs.same_block(row - 1, row)):
            last = block_last(row)
            last = run_last(last, (structure.LIST_ITEM,), recs.level_of(row) + 1)  # its sub-items
            if last > row:
                return last
        if not lead_in:
            return None
        if recs.same_block(row, row + 1):
            return block_last(row + 1)
        nxt = recs.block_of(row + 1)
        if nxt == structure.LIST_ITEM:
            return run_last(row + 1, (structure.LIST_ITEM,), recs.level_of(row + 1))
        if nxt in (structure.TABLE_HEADER, structure.TABLE_ROW):
            return run_last(row + 1, (structure.TABLE_HEADER, structure.TABLE_ROW), 0)
        return block_last(row + 1)

    def section_of(self, row: int) -> str | None:
        """The row's section path ("2 Usage > 2.1 Options"), None when unknown."""
        return self.records[row].section

    def same_paragraph(self, a: int, b: int) -> bool:
        """Rows a < b of one document with no line break between them."""
        ra, rb = self.records[a], self.records[b]
        return ra.doc_id == rb.doc_id and "\n" not in self.documents[ra.doc_id].text[ra.end : rb.start]


class Corpus:
    def __init__(self, embedder_name: str, dim: int, documents: dict[str, DocumentEntry] | None = None,
                 records: RecordTable | list[SentenceRecord] | None = None, store: SentenceVectorStore | None = None,
                 lexical: LexicalIndex | None = None) -> None:
        self.embedder_name = embedder_name
        self.dim = dim
        self.documents: dict[str, DocumentEntry] = documents or {}
        self.records = records if isinstance(records, RecordTable) else RecordTable.from_records(records or [])
        self.store = store or SentenceVectorStore(np.zeros((0, dim), np.float32), dim)
        self.version = 0  # bumped on every change so derived structures (BM25) know to rebuild
        self._view: CorpusView | None = None
        self._lexical = lexical  # index/lexical.py: saved with the index, else built on first use
        self._lexical_version = self.version
        if len(self.records) != len(self.store.vectors):
            raise ValueError("records and vectors are not aligned")

    def __len__(self) -> int:
        return len(self.records)

    def view(self) -> CorpusView:
        v = self._view
        if (v is None or v.version != self.version or v.records is not self.records
                or v.documents is not self.documents or v.vectors is not self.store.vectors):
            v = self._view = CorpusView(self.documents, self.records, self.store.vectors, self.version)
        return v

    def document(self, doc_id: str) -> DocumentEntry:
        return self.view().document(doc_id)

    def add(self, docs: list[ParsedDocument], embedder, sizes: dict[str, tuple[int, int]] | None = None,
            show_progress: bool | None = None) -> int:
        """Add or replace documents; embeds only their sentences in one batched call. Returns #sentences."""
        if not docs:
            return 0
        replaced = [d.doc_id for d in docs if d.doc_id in self.documents]
        if replaced:
            self._drop(set(replaced))
        new_records = [r for d in docs for r in d.sentences]
        texts = [t for d in docs for t in indexed_texts(d.text, d.sentences)]
        if show_progress is None:
            show_progress = len(texts) > PROGRESS_MIN_SENTENCES
        vectors = embedder.encode(texts, show_progress=show_progress)
        self.store.add_vectors(vectors)
        self.records = self.records.concat(new_records)
        self.documents = dict(self.documents)
        for d in docs:
            size, mtime = (sizes or {}).get(d.doc_id, (-1, -1))
            self.documents[d.doc_id] = d.entry(size, mtime)
        self.version += 1
        return len(new_records)

    def remove(self, doc_id: str) -> None:
        self.document(doc_id)
        self._drop({doc_id})
        self.version += 1

    def _drop(self, doc_ids: set[str]) -> None:
        mask = ~self.records.rows_of(doc_ids)
        self.records = self.records.filtered(mask)
        self.store.keep_rows(mask)
        self.documents = {k: v for k, v in self.documents.items() if k not in doc_ids}

    def record_text(self, row: int) -> str:
        return self.view().record_text(row)

    def lexical_index(self, with_bm25: bool = True) -> LexicalIndex:
        """BM25 and stem statistics of the current rows: the one loaded with the index, or built now
        (and kept until the next change). Call with the corpus read- or write-locked."""
        lex = self._lexical
        if lex is None or self._lexical_version != self.version or (with_bm25 and not lex.with_bm25):
            view = self.view()
            texts = [r.index_text or view.record_text(i) for i, r in enumerate(view.records)]
            lex = self._lexical = LexicalIndex.build(texts, with_bm25)
            self._lexical_version = view.version
        return lex

    def neighbours(self, row: int) -> tuple[int | None, int | None]:
        return self.view().neighbours(row)
