"""A corpus whose documents, sentence records and vectors live in Milvus.

Adding writes each document as a new version straight to the engine (sentences first, then the
document row that makes them visible, then the older versions are deleted), in batches of about
``BATCH_SENTENCES`` embedded sentences, so memory stays flat in the size of what is added and a
killed ingestion leaves only invisible rows (a version without its document row is never loaded;
the next write of that document deletes them). Removing deletes every version in the engine.
Writes touch only the documents they change, so two processes adding documents never lose each
other's (the FAISS backend gets the same guarantee from its write lock and reload).

What this process keeps: the record columns (doc, start, end, kind, structure: about 39 bytes a
sentence, ``index/records.py``), which map the engine's hits to rows, neighbours and spans; each document's
entry without its text (``index/milvus/entries.py``: texts are read from the engine when an answer
needs them, and the recent ones cached); and the stem document frequencies of the support scoring,
kept up to date on every change instead of re-read from every text (``index.lexical.SentenceStems``).
"""

from __future__ import annotations

from tqdm import tqdm

from index.corpus import PROGRESS_MIN_SENTENCES, Corpus
from index.document import DocumentEntry, ParsedDocument, SentenceRecord, indexed_texts
from index.lexical import LexicalIndex, SentenceStems
from index.milvus.entries import StoredEntry

BATCH_SENTENCES = 2048


class MilvusCorpus(Corpus):
    def __init__(self, index, embedder_name: str, dim: int, documents: dict[str, DocumentEntry] | None = None,
                 records: list[SentenceRecord] | None = None, store=None, stems: SentenceStems | None = None) -> None:
        self.index = index  # index.milvus.index.MilvusIndex
        super().__init__(embedder_name, dim, documents, records, store or index.new_store())
        self.stems = stems or SentenceStems()

    def add(self, docs: list[ParsedDocument], embedder, sizes: dict[str, tuple[int, int]] | None = None,
            show_progress: bool | None = None) -> int:
        if not docs:
            return 0
        total = sum(len(d.sentences) for d in docs)
        if show_progress is None:
            show_progress = total > PROGRESS_MIN_SENTENCES
        bar = tqdm(total=total, unit="sentence", desc="indexing", disable=not show_progress)
        try:
            batch: list[ParsedDocument] = []
            for d in docs:
                batch.append(d)
                if sum(len(b.sentences) for b in batch) >= BATCH_SENTENCES:
                    self._add_batch(batch, embedder, sizes, bar)
                    batch = []
            if batch:
                self._add_batch(batch, embedder, sizes, bar)
        finally:
            bar.close()
        return total

    def _add_batch(self, docs: list[ParsedDocument], embedder, sizes, bar) -> None:
        texts = [t for d in docs for t in indexed_texts(d.text, d.sentences)]
        vectors = embedder.encode(texts)
        entries = {d.doc_id: d.entry(*(sizes or {}).get(d.doc_id, (-1, -1))) for d in docs}
        replaced = {d.doc_id for d in docs if d.doc_id in self.documents}
        old_n, old_df = self._stems_of(replaced)  # before the write deletes the old versions
        written = self.index.write_documents(docs, entries, texts, vectors)
        if replaced:
            self._drop(replaced)
        self.records = self.records.concat([r for d in docs for r in d.sentences])
        self.store.append_pks([pk for d in docs for pk in written[d.doc_id][2]])
        stored = {}
        for doc_id, entry in entries.items():
            key, seq, _ = written[doc_id]
            self.index.entries.put(key, seq, entry)
            stored[doc_id] = StoredEntry(self.index.entries, key, seq, entry)
        self.documents = {**self.documents, **stored}
        self.stems = self.stems.changed(texts, old_n, old_df)
        self.version += 1
        bar.update(len(texts))

    def remove(self, doc_id: str) -> None:
        self.document(doc_id)
        old_n, old_df = self._stems_of({doc_id})
        self.index.delete_document(doc_id)
        self._drop({doc_id})
        self.stems = self.stems.changed([], old_n, old_df)
        self.version += 1

    def _stems_of(self, doc_ids: set[str]) -> tuple[int, dict[str, int]]:
        """Sentence and stem counts of these documents' loaded versions, to take away when they go: from
        their heads (one read for all, no text), else counted from their texts."""
        if not doc_ids:
            return 0, {}
        entries = [self.documents[d] for d in doc_ids]
        if all(isinstance(e, StoredEntry) for e in entries):
            got = self.index.head_stems([(e.key, e.seq) for e in entries])
            if got is not None:
                return got
        # A head another process has deleted meanwhile (it replaced or removed the document): the texts
        # then say whether this version's text is still there, or raise IndexChangedError.
        view = self.view()
        texts = [view.records[r].index_text or view.record_text(r) for r in map(int, view.records.rows_of(doc_ids).nonzero()[0])]
        return len(texts), SentenceStems.counts(texts)

    def lexical_index(self, with_bm25: bool = True) -> LexicalIndex:
        # The engine ranks BM25 (index/milvus/store.py); BM25 here too means reading every text back.
        return super().lexical_index(True) if with_bm25 else self.stems.index()

