"""FAISS over normalised vectors (inner product = cosine), as a llama-index vector store.

We subclass llama-index's ``FaissVectorStore`` for three things it lacks:
- ``add`` there calls ``faiss.Index.add`` once per node; we add a whole batch in one call.
- ``delete`` there raises NotImplementedError; we rebuild from the kept vectors (FAISS flat and
  HNSW indexes cannot remove rows in place).
- the index type is chosen from the corpus size (exact below ``APPROX_MIN_VECTORS``).
Row ``i`` of the FAISS index is row ``i`` of the corpus records; ids are ``str(i)``.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryResult
from llama_index.vector_stores.faiss import FaissVectorStore

# Exact search costs O(n*d) per query: about 10 ms at 100k x 384 on this 2-core machine, which
# is still inside the answer-latency budget; above this size HNSW (approximate) takes over.
# (`citeqa eval scale` measures both sides of this choice.)
APPROX_MIN_VECTORS = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def index_kind_for(n: int) -> str:
    return "hnsw" if n >= APPROX_MIN_VECTORS else "flat"


def build_faiss_index(vectors: np.ndarray, dim: int, kind: str | None = None) -> faiss.Index:
    kind = kind or index_kind_for(len(vectors))
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class SentenceVectorStore(FaissVectorStore):
    _vectors: np.ndarray = PrivateAttr()
    _dim: int = PrivateAttr()

    def __init__(self, vectors: np.ndarray, dim: int, faiss_index: Any | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
        super().__init__(faiss_index=faiss_index if faiss_index is not None else build_faiss_index(vectors, dim))
        self._vectors = vectors
        self._dim = dim

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self._faiss_index, faiss.IndexHNSWFlat) else "flat"

    def add(self, nodes: list[BaseNode], **add_kwargs: Any) -> list[str]:
        if not nodes:
            return []
        batch = np.asarray([n.get_embedding() for n in nodes], dtype=np.float32)
        return self.add_vectors(batch)

    def add_vectors(self, batch: np.ndarray) -> list[str]:
        first = len(self._vectors)
        self._vectors = np.concatenate([self._vectors, batch.astype(np.float32)]) if first else batch.astype(np.float32)
        if index_kind_for(len(self._vectors)) != self.kind:
            self._faiss_index = build_faiss_index(self._vectors, self._dim)
        else:
            self._faiss_index.add(np.ascontiguousarray(batch, dtype=np.float32))
        return [str(i) for i in range(first, len(self._vectors))]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        raise NotImplementedError("rows are owned by the corpus: use keep_rows(mask)")

    def keep_rows(self, mask: np.ndarray) -> None:
        self._vectors = np.ascontiguousarray(self._vectors[mask])
        self._faiss_index = build_faiss_index(self._vectors, self._dim)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosine scores of the k nearest vectors (the typed fast path of ``query``)."""
        k = min(k, len(self._vectors))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, rows = self._faiss_index.search(query.reshape(1, -1).astype(np.float32), k)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.filters is not None:
            raise ValueError("metadata filters are not supported by the FAISS sentence store")
        rows, scores = self.search(np.asarray(query.query_embedding, dtype=np.float32), query.similarity_top_k)
        return VectorStoreQueryResult(similarities=scores.tolist(), ids=[str(r) for r in rows])
