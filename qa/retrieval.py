"""Hybrid sentence retrieval: dense FAISS search plus BM25, fused by reciprocal rank.

A llama-index ``BaseRetriever`` (so it plugs into query engines), with a typed ``search`` that
keeps each side's raw score. We fuse ourselves instead of using llama-index's
``QueryFusionRetriever`` because that one replaces the raw scores by fused ones, and the
abstention decision needs the raw cosine and lexical evidence of each candidate.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.retrievers.bm25 import BM25Retriever

from index.corpus import Corpus
from index.nodes import corpus_nodes
from qa.text import content_stems

RRF_K = 60
DEFAULT_TOP_K = 20


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


class HybridRetriever(BaseRetriever):
    def __init__(self, corpus: Corpus, embedder, top_k: int = DEFAULT_TOP_K) -> None:
        super().__init__()
        self.corpus = corpus
        self.embedder = embedder
        self.top_k = top_k
        self.version = corpus.version
        self.nodes = corpus_nodes(corpus)
        texts = [n.get_content() for n in self.nodes]
        self.lexical = LexicalStats(texts)
        self.bm25 = None
        if self.nodes:
            try:
                self.bm25 = BM25Retriever.from_defaults(nodes=self.nodes, similarity_top_k=min(top_k, len(self.nodes)))
            except ValueError:
                pass  # bm25s cannot index sentences without a single word (only emoji, punctuation, stopwords)

    def search(self, query: str, query_vector: np.ndarray | None = None) -> list[Hit]:
        if not self.nodes:
            return []
        qv = self.embedder.encode_query(query) if query_vector is None else query_vector
        rows, scores = self.corpus.store.search(qv, self.top_k)
        dense_rank = {int(r): i for i, r in enumerate(rows)}
        bm25_rank: dict[int, int] = {}
        if self.bm25 is not None:
            try:
                for i, nws in enumerate(self.bm25.retrieve(query)):
                    if nws.score and nws.score > 0:
                        bm25_rank.setdefault(int(nws.node.metadata["row"]), i)
            except (ValueError, IndexError, KeyError):
                pass  # a query of only stopwords has no BM25 terms: dense results alone
        candidates = set(dense_rank) | set(bm25_rank)
        vectors = self.corpus.store.vectors
        hits = []
        for row in candidates:
            d, b = dense_rank.get(row), bm25_rank.get(row)
            rrf = (1 / (RRF_K + d + 1) if d is not None else 0.0) + (1 / (RRF_K + b + 1) if b is not None else 0.0)
            hits.append(Hit(row, rrf, float(vectors[row] @ qv), b, d))
        hits.sort(key=lambda h: -h.rrf)
        return hits

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=self.nodes[h.row], score=h.rrf) for h in self.search(query_bundle.query_str)]
