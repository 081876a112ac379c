"""FAISS over normalised vectors (inner product = cosine), row-aligned with the corpus records.

Row ``i`` of the FAISS index is row ``i`` of the corpus records. This is a plain class, not a
llama-index ``FaissVectorStore`` subclass: that store keys vectors by node id, adds them one
``faiss.Index.add`` call per node and cannot delete (NotImplementedError), while we need batched
adds, removal by rebuilding from the kept rows (FAISS flat and HNSW indexes cannot remove rows in
place) and a typed row search. The subclass we had implemented none of its interface for real;
llama-index interop is offered where users plug in, at the retriever and query-engine level
(``Assistant.as_retriever()``, ``Assistant.as_query_engine()``).
"""

from __future__ import annotations

import faiss
import numpy as np

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


class SentenceVectorStore:
    """The vectors (kept for exact cosines and rebuilds) and their FAISS index.

    ``vectors`` is never modified in place (adds and removals bind a new array), so a reader holding
    an older array keeps a consistent view (see ``index.corpus.CorpusView``).
    """

    def __init__(self, vectors: np.ndarray, dim: int, faiss_index: faiss.Index | None = None) -> None:
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
        self._dim = dim
        self.client = faiss_index if faiss_index is not None else build_faiss_index(self._vectors, dim)

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self.client, faiss.IndexHNSWFlat) else "flat"

    def vectors_for(self, rows) -> np.ndarray:
        """Something ``[row]`` gives the vector of each of ``rows`` from (here: all of them)."""
        return self._vectors

    def set_ef_search(self, ef: int) -> None:
        if self.kind == "hnsw":
            self.client.hnsw.efSearch = ef

    def add_vectors(self, batch: np.ndarray) -> None:
        batch = np.ascontiguousarray(batch, dtype=np.float32).reshape(-1, self._dim)
        self._vectors = np.concatenate([self._vectors, batch]) if len(self._vectors) else batch
        if index_kind_for(len(self._vectors)) != self.kind:
            self.client = build_faiss_index(self._vectors, self._dim)
        else:
            self.client.add(batch)

    def keep_rows(self, mask: np.ndarray) -> None:
        self._vectors = np.ascontiguousarray(self._vectors[mask])
        self.client = build_faiss_index(self._vectors, self._dim)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosine scores of the k nearest vectors."""
        k = min(k, len(self._vectors))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, rows = self.client.search(query.reshape(1, -1).astype(np.float32), k)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]
