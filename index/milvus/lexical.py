"""BM25 terms for Milvus's built-in BM25 function, analysed exactly as the FAISS backend's BM25.

The FAISS backend ranks with llama-index's BM25Retriever (bm25s: lower-case ``\\w\\w+`` tokens,
English stop words removed, Snowball English stems). Milvus Lite 3.2's analyzers have no stemmer
(only the "standard" and "jieba" tokenizers), and a server's "english" analyzer stems and stops with
other lists, so we store the terms bm25s would index, joined by spaces, and Milvus's "standard"
tokenizer splits them back into the same tokens; the query is analysed the same way here. The BM25
formula (Lucene IDF, k1 1.5, b 0.75) is then the same on both sides.
"""

from __future__ import annotations

from functools import lru_cache

from index.milvus.schema import TERMS_MAX_CHARS


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def _tokens(texts: list[str], stopwords: str | None) -> list[list[str]]:
    import bm25s

    out = bm25s.tokenize(texts, stopwords=stopwords, stemmer=_stemmer(), return_ids=False, show_progress=False)
    return [list(t) for t in out]


def document_terms(texts: list[str]) -> list[str]:
    """The terms of each sentence, as bm25s indexes them (stop words removed)."""
    return [" ".join(t)[:TERMS_MAX_CHARS].rsplit(" ", 1)[0] if len(" ".join(t)) > TERMS_MAX_CHARS else " ".join(t)
            for t in _tokens(texts, "en")]


def query_terms(query: str) -> str:
    """The query's terms, as BM25Retriever tokenizes a query: bm25s's default stop words ("english"),
    removed before stemming, so "it" is dropped from a query although "its" is indexed as "it"."""
    return " ".join(_tokens([query], "english")[0])
