"""Rebuild an index directory from its documents (after corruption or an embedder change)."""

from __future__ import annotations

from pathlib import Path

from index.corpus import Corpus
from index.document import parse_document
from index.embedder import embedder_for
from index.errors import IngestError
from index.index_dir import IndexDirectory, recover_documents
from index.loaders import load_file
from qa.settings import Settings


def rebuild_index(settings: Settings) -> tuple[int, int, list[str]]:
    """Re-read each document of the index ``settings`` name from its source file (or its intact stored
    copy) and save a fresh index with ``settings.index.embed_model``."""
    embedder = embedder_for(settings)
    if settings.index.backend == "milvus":
        return _rebuild_milvus(settings, embedder)
    directory = IndexDirectory(settings.index.dir)
    with directory.write_lock():
        corpus = Corpus(embedder.name, embedder.dim)
        docs, missing = _documents(recover_documents(directory))
        corpus.add(docs, embedder)
        directory.save(corpus)
    return len(corpus.documents), len(corpus), missing


def _rebuild_milvus(settings: Settings, embedder) -> tuple[int, int, list[str]]:
    """The documents are read from the engine first; then its collections are dropped and refilled
    (other servers on the same index see it empty meanwhile)."""
    from index.milvus.index import MilvusIndex
    from index.milvus.index import recover_documents as recover_milvus

    index = MilvusIndex(settings)
    docs, missing = _documents(recover_milvus(index))
    index.drop()
    corpus = index.new_corpus(embedder.name, embedder.dim)
    corpus.add(docs, embedder)
    index.save(corpus)
    return len(corpus.documents), len(corpus), missing


def _documents(recovered) -> tuple[list, list[str]]:
    docs, missing = [], []
    for doc_id, source, stored, locations in recovered:
        text, fmt = stored, "text"
        if source and Path(source).is_file():
            try:
                loaded = load_file(Path(source))
                text, fmt, locations = loaded.text, loaded.format, loaded.locations
            except IngestError:
                pass
        if text is None:
            missing.append(doc_id)
            continue
        docs.append(parse_document(doc_id, text, source, fmt, locations))
    return docs, missing
