"""A corpus whose documents, sentence records and vectors live in Milvus; this process caches the records.

Adding writes each document as a new version straight to the engine (sentences first, then the
document row that makes them visible, then the older versions are deleted), in batches of about
``BATCH_SENTENCES`` embedded sentences, so memory stays flat in the size of what is added and a
killed ingestion leaves only invisible rows (a version without its document row is never loaded;
the next write of that document deletes them). Removing deletes every version in the engine.
Writes touch only the documents they change, so two processes adding documents never lose each
other's (the FAISS backend gets the same guarantee from its write lock and reload).

The records (offsets, kind) and document texts stay cached here because every answer reads them:
citations are spans of the document text, and the support scoring's term statistics span the corpus.
"""

from __future__ import annotations

from tqdm import tqdm

from index.corpus import PROGRESS_MIN_SENTENCES, Corpus
from index.document import DocumentEntry, ParsedDocument, SentenceRecord

BATCH_SENTENCES = 2048


class MilvusCorpus(Corpus):
    def __init__(self, index, embedder_name: str, dim: int, documents: dict[str, DocumentEntry] | None = None,
                 records: list[SentenceRecord] | None = None, store=None) -> None:
        self.index = index  # index.milvus.index.MilvusIndex
        super().__init__(embedder_name, dim, documents, records, store or index.new_store())

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
        texts = [r.index_text or d.text[r.start : r.end] for d in docs for r in d.sentences]
        vectors = embedder.encode(texts)
        entries = {d.doc_id: d.entry(*(sizes or {}).get(d.doc_id, (-1, -1))) for d in docs}
        written = self.index.write_documents(docs, entries, texts, vectors)
        replaced = {d.doc_id for d in docs if d.doc_id in self.documents}
        if replaced:
            self._drop(replaced)
        self.records = self.records.concat([r for d in docs for r in d.sentences])
        self.store.append_pks([pk for d in docs for pk in written[d.doc_id]])
        self.documents = {**self.documents, **entries}
        self.version += 1
        bar.update(len(texts))

    def remove(self, doc_id: str) -> None:
        self.document(doc_id)
        self.index.delete_document(doc_id)
        self._drop({doc_id})
        self.version += 1

