"""Search in Milvus for a corpus whose rows are cached here: dense (IP = cosine), BM25, vectors by row.

The vectors stay in the engine: ``RemoteVectors`` looks up the few rows an answer needs (retrieval
hits, the LLM mode's support checks). Row ``i`` of the corpus is the Milvus primary key ``pks[i]``;
like ``SentenceVectorStore``, a change binds new arrays, so a ``CorpusView`` keeps its rows.
"""

from __future__ import annotations

import numpy as np

from index.milvus.lexical import query_terms

# Dense search asks for a few more than top_k: rows of document versions that another process is
# writing or replacing right now are not in this server's rows yet and are skipped.
SEARCH_SLACK = 8


class RemoteVectors:
    """``vectors[row]`` / ``vectors[rows]`` / ``len(vectors)`` of a snapshot of rows, fetched from Milvus."""

    def __init__(self, engine, collection: str, pks: np.ndarray, dim: int) -> None:
        self._engine, self._collection, self._pks, self._dim = engine, collection, pks, dim

    def __len__(self) -> int:
        return len(self._pks)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self._pks), self._dim)

    def fetch(self, rows) -> dict[int, np.ndarray]:
        rows = [int(r) for r in rows]
        if not rows:
            return {}
        pks = [int(self._pks[r]) for r in rows]
        got = self._engine.call("read vectors", "get", self._collection, ids=pks, output_fields=["vec"])
        by_pk = {int(g["pk"]): np.asarray(g["vec"], dtype=np.float32) for g in got}
        # A row another process deleted since this snapshot (its document was replaced or removed)
        # has no vector any more: a zero vector makes it unsupported, which it is.
        zero = np.zeros(self._dim, np.float32)
        return {r: by_pk.get(pk, zero) for r, pk in zip(rows, pks)}

    def __getitem__(self, rows):
        if isinstance(rows, (int, np.integer)):
            return self.fetch([rows])[int(rows)]
        rows = list(rows)
        got = self.fetch(rows)
        return np.stack([got[int(r)] for r in rows]) if rows else np.zeros((0, self._dim), np.float32)


class MilvusSentenceStore:
    kind = "milvus"

    def __init__(self, engine, collection: str, dim: int, pks: np.ndarray | None = None) -> None:
        self._engine, self._collection, self._dim = engine, collection, dim
        self._set(np.zeros(0, np.int64) if pks is None else np.asarray(pks, np.int64))

    def _set(self, pks: np.ndarray) -> None:
        self.pks = pks
        self._row_of: dict[int, int] | None = None
        self._vectors = RemoteVectors(self._engine, self._collection, pks, self._dim)

    @property
    def vectors(self) -> RemoteVectors:
        return self._vectors

    def row_of(self) -> dict[int, int]:
        if self._row_of is None:
            self._row_of = {int(pk): i for i, pk in enumerate(self.pks)}
        return self._row_of

    def append_pks(self, pks: list[int]) -> None:
        self._set(np.concatenate([self.pks, np.asarray(pks, np.int64)]))

    def keep_rows(self, mask: np.ndarray) -> None:
        self._set(np.ascontiguousarray(self.pks[mask]))

    def vectors_for(self, rows) -> dict[int, np.ndarray]:
        return self._vectors.fetch(rows)

    def _rows(self, results, k: int) -> tuple[list[int], list[float]]:
        row_of, rows, scores = self.row_of(), [], []
        for hit in results[0] if results else []:
            row = row_of.get(int(hit["pk"]))
            if row is not None:
                rows.append(row)
                scores.append(float(hit["distance"]))
            if len(rows) == k:
                break
        return rows, scores

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosine scores of the k nearest vectors (the engine's index; FLAT is exact)."""
        k = min(k, len(self.pks))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        res = self._engine.call("search", "search", self._collection, data=[query.astype(np.float32).tolist()],
                                anns_field="vec", limit=k + SEARCH_SLACK, search_params={"metric_type": "IP"},
                                output_fields=[])
        rows, scores = self._rows(res, k)
        return np.asarray(rows, np.int64), np.asarray(scores, np.float32)

    def lexical_search(self, query: str, k: int) -> list[int]:
        """Rows ranked by the engine's BM25, best first (only rows sharing a term with the query)."""
        terms = query_terms(query)
        if not terms or not len(self.pks):
            return []
        res = self._engine.call("search", "search", self._collection, data=[terms], anns_field="sparse",
                                limit=k + SEARCH_SLACK, search_params={"metric_type": "BM25"}, output_fields=[])
        return self._rows(res, k)[0]
