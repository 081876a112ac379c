"""Sentence retrieval: dense FAISS search plus BM25, fused by reciprocal rank.

We fuse ourselves instead of using llama-index's ``QueryFusionRetriever`` because that one
replaces the raw scores by fused ones, and the relevance scoring needs each candidate's raw
cosine. The BM25 side is bm25s over the sentence rows as llama-index's ``BM25Retriever`` runs it,
but without its one-``TextNode``-per-sentence (``index/lexical.py`` says why and what it saves), and
saved with the index. With the Milvus backend both sides run in the engine (``store.search``,
``store.lexical_search``: Milvus's BM25 over the same terms, index/milvus/lexical.py) and the fusion
here is unchanged. ``Settings.retrieval.mode`` picks one side only ("bm25", "dense") for the benchmark
baselines; the candidates still carry their cosine, which the relevance scoring needs whatever
retrieved them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.corpus import Corpus, CorpusView
from index.lexical import LexicalIndex, stems_of
from qa.settings import Settings


@dataclass(frozen=True, slots=True)
class Hit:
    row: int
    rrf: float
    cosine: float
    bm25_rank: int | None  # 0-based, None when BM25 did not return it
    dense_rank: int | None


class LexicalStats:
    """What the lexical relevance features read: stem IDFs over the corpus sentences, and each
    candidate row's stems (of the text that was indexed for it)."""

    def __init__(self, index: LexicalIndex, view: CorpusView | None = None, texts: list[str] | None = None) -> None:
        self.index = index
        self.view = view
        self._texts = texts  # rows' texts when there is no corpus view (from_texts)

    @classmethod
    def from_texts(cls, texts: list[str]) -> "LexicalStats":
        return cls(LexicalIndex.build(texts, with_bm25=False), texts=list(texts))

    @property
    def n(self) -> int:
        return self.index.n

    def idf(self, stem: str) -> float:
        return self.index.idf(stem)

    def row_stems(self, row: int) -> frozenset[str]:
        if self.view is None:
            return stems_of(self._texts[row])
        rec = self.view.records[row]
        return stems_of(rec.index_text or self.view.record_text(row))


class HybridRetriever:
    def __init__(self, corpus: Corpus, embedder, settings: Settings) -> None:
        self.corpus = corpus
        self.embedder = embedder
        self.top_k = settings.retrieval.top_k
        self.rrf_k = settings.retrieval.rrf_k
        self.sides = ("dense", "bm25") if settings.retrieval.mode == "hybrid" else (settings.retrieval.mode,)
        self.version = corpus.version
        self.engine_lexical = getattr(corpus.store, "lexical_search", None)  # Milvus: BM25 in the engine
        index = corpus.lexical_index(with_bm25=self.engine_lexical is None)
        self.lexical = LexicalStats(index, corpus.view())

    def _bm25_ranks(self, query: str) -> dict[int, int]:
        if self.engine_lexical is not None:
            rows = self.engine_lexical(query, self.top_k)
        else:
            rows = self.lexical.index.search(query, self.top_k)
        ranks: dict[int, int] = {}
        for i, row in enumerate(rows):
            ranks.setdefault(row, i)
        return ranks

    def search(self, query: str, query_vector: np.ndarray | None = None) -> list[Hit]:
        if not len(self.corpus):
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
