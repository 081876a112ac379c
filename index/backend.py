"""Which index backend a Settings object names: an index directory (FAISS) or Milvus.

Both offer the same interface to the Assistant: ``load``, ``save``, ``write_lock``, ``current_name``,
``exists``, ``new_corpus`` and ``path`` (a local directory for this machine's own files).
"""

from __future__ import annotations

from index.index_dir import IndexDirectory


def open_index(settings):
    """The index the settings name; Milvus is imported only when chosen (pymilvus starts gRPC)."""
    if settings.index.backend == "milvus":
        from index.milvus.index import MilvusIndex

        return MilvusIndex(settings)
    return IndexDirectory(settings.index.dir)
