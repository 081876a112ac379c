"""Sentence retrieval: dense FAISS search plus BM25, fused by reciprocal rank.

We fuse ourselves instead of using llama-index's ``QueryFusionRetriever`` because that one
replaces the raw scores by fused ones, and the relevance scoring needs each candidate's raw
cosine. The BM25 side is llama-index's ``BM25Retriever`` over our sentence ``TextNode``s.
With the Milvus backend both sides run in the engine (``store.search``, ``store.lexical_search``:
Milvus's BM25 over the same terms, index/milvus/lexical.py) and the fusion here is unchanged.
``Settings.retrieval`` picks one side only ("bm25", "dense") for the benchmark baselines; the
candidates still carry their cosine, which the relevance scoring needs whatever retrieved them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from llama_index.retrievers.bm25 import BM25Retriever

from index.corpus import Corpus
from index.nodes import corpus_nodes
from qa.settings import Settings
from qa.text import content_stems


@dataclass(frozen=True, slots=True)
class Hit:
    row: int
    rrf: float
    cosine: float
    bm25_rank: int | None  # 0-based, None when BM25 did not return it
    dense_rank: int | None


class LexicalStats:
    """Inverse document frequencies of stems over the corpus sentences (for lexical features)."""

    def __init__(self, texts: list[str]) -> None:
        self.n = len(texts)
        df: Counter[str] = Counter()
        self.stems: list[frozenset[str]] = []
        for t in texts:
            s = frozenset(content_stems(t))
            self.stems.append(s)
            df.update(s)
        self.df = df

    def idf(self, stem: str) -> float:
        return math.log((self.n + 1) / (self.df.get(stem, 0) + 0.5))


class HybridRetriever:
    def __init__(self, corpus: Corpus, embedder, settings: Settings) -> None:
        self.corpus = corpus
        self.embedder = embedder
        self.top_k = settings.top_k
        self.rrf_k = settings.rrf_k
        self.sides = ("dense", "bm25") if settings.retrieval == "hybrid" else (settings.retrieval,)
        self.version = corpus.version
        self.nodes = corpus_nodes(corpus)
        self.lexical = LexicalStats([n.get_content() for n in self.nodes])
        self.bm25 = None
        self.engine_lexical = getattr(corpus.store, "lexical_search", None)  # Milvus: BM25 in the engine
        if self.nodes and self.engine_lexical is None:
            try:
                self.bm25 = BM25Retriever.from_defaults(nodes=self.nodes, similarity_top_k=min(self.top_k, len(self.nodes)))
            except ValueError:
                pass  # bm25s cannot index sentences without a single word (only emoji, punctuation, stopwords)

    def _bm25_ranks(self, query: str) -> dict[int, int]:
        ranks: dict[int, int] = {}
        if self.engine_lexical is not None:
            return {row: i for i, row in enumerate(self.engine_lexical(query, self.top_k))}
        if self.bm25 is None:
            return ranks
        try:
            for i, nws in enumerate(self.bm25.retrieve(query)):
                if nws.score and nws.score > 0:
                    ranks.setdefault(int(nws.node.metadata["row"]), i)
        except (ValueError, IndexError, KeyError):
            pass  # a query of only stopwords has no BM25 terms: nothing from this side
        return ranks

    def search(self, query: str, query_vector: np.ndarray | None = None) -> list[Hit]:
        if not self.nodes:
            return []
        qv = self.embedder.encode_query(query) if query_vector is None else query_vector
        dense_rank: dict[int, int] = {}
        if "dense" in self.sides:
            rows, _ = self.corpus.store.search(qv, self.top_k)
            dense_rank = {int(r): i for i, r in enumerate(rows)}
        bm25_rank = self._bm25_ranks(query) if "bm25" in self.sides else {}
        found = set(dense_rank) | set(bm25_rank)
        vectors = self.corpus.store.vectors_for(found)  # FAISS: the array; Milvus: these rows' vectors
        hits = []
        for row in found:
            d, b = dense_rank.get(row), bm25_rank.get(row)
            rrf = (1 / (self.rrf_k + d + 1) if d is not None else 0.0) + (1 / (self.rrf_k + b + 1) if b is not None else 0.0)
            hits.append(Hit(row, rrf, float(vectors[row] @ qv), b, d))
        hits.sort(key=lambda h: -h.rrf)
        return hits
