"""Rebuild an index directory from its documents (after corruption or an embedder change)."""

from __future__ import annotations

from pathlib import Path

from index.corpus import Corpus
from index.document import parse_document
from index.embedder import get_embedder
from index.errors import IngestError
from index.index_dir import IndexDirectory, recover_documents
from index.loaders import load_file
from qa.settings import Settings


def rebuild_index(settings: Settings) -> tuple[int, int, list[str]]:
    """Re-read each document of ``settings.index_dir`` from its source file (or its intact stored copy)
    and save a fresh index with ``settings.embed_model``."""
    embedder = get_embedder(settings.embed_model)
    directory = IndexDirectory(settings.index_dir)
    with directory.write_lock():
        corpus = Corpus(embedder.name, embedder.dim)
        docs, missing = [], []
        for doc_id, source, stored, locations in recover_documents(directory):
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
        corpus.add(docs, embedder)
        directory.save(corpus)
    return len(corpus.documents), len(corpus), missing
