"""BM25-only and dense-only retrieval under our unchanged extractive answer selection.

The Assistant's own ``ask``/``stream`` path runs as usual (follow-up condensing, support scoring,
selection, composition, abstention); only ``HybridRetriever.search`` is replaced, for the duration of
a ``with restricted(assistant, side)`` block, by a search over one side:
- ``bm25``: the retriever's BM25 top-k only;
- ``dense``: the FAISS top-k only.
Each hit keeps the features the support model needs (its cosine to the question: the answer
selection scores every candidate with it, whatever retrieved it); the other side's rank is None and
the fused score is the reciprocal rank of the one side. The search does only its own side's work,
so the latency is that of a one-sided retriever.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from qa.retrieval import RRF_K, Hit

if TYPE_CHECKING:
    from qa import Assistant
    from qa.retrieval import HybridRetriever

SIDES = ("bm25", "dense")


def dense_only(r: "HybridRetriever", query: str, query_vector: np.ndarray | None = None) -> list[Hit]:
    if not r.nodes:
        return []
    qv = r.embedder.encode_query(query) if query_vector is None else query_vector
    rows, scores = r.corpus.store.search(qv, r.top_k)
    return [Hit(int(row), 1 / (RRF_K + i + 1), float(s), None, i) for i, (row, s) in enumerate(zip(rows, scores))]


def bm25_only(r: "HybridRetriever", query: str, query_vector: np.ndarray | None = None) -> list[Hit]:
    if not r.nodes or r.bm25 is None:
        return []
    qv = r.embedder.encode_query(query) if query_vector is None else query_vector  # the cosine feature
    ranks: dict[int, int] = {}
    try:
        for i, nws in enumerate(r.bm25.retrieve(query)):
            if nws.score and nws.score > 0:
                ranks.setdefault(int(nws.node.metadata["row"]), i)
    except (ValueError, IndexError, KeyError):
        return []  # a query of only stopwords has no BM25 terms: nothing retrieved
    vectors = r.corpus.store.vectors
    hits = [Hit(row, 1 / (RRF_K + b + 1), float(vectors[row] @ qv), b, None) for row, b in ranks.items()]
    hits.sort(key=lambda h: -h.rrf)
    return hits


@contextmanager
def restricted(a: "Assistant", side: str) -> Iterator[None]:
    """Answer with retrieval restricted to one side inside the block (the retriever instance is patched)."""
    if side not in SIDES:
        raise ValueError(f"unknown retrieval side {side!r}; choose one of {', '.join(SIDES)}")
    r = a.retriever()
    search = bm25_only if side == "bm25" else dense_only
    r.search = lambda query, query_vector=None: search(r, query, query_vector)  # instance attribute shadows the method
    try:
        yield
    finally:
        del r.search
