"""BM25 terms for Milvus's built-in BM25 function, analysed exactly as the FAISS backend's BM25.

The FAISS backend ranks with bm25s as llama-index's BM25Retriever runs it (index/lexical.py: lower-case ``\\w\\w+`` tokens,
English stop words removed, Snowball English stems). Milvus Lite 3.2's analyzers have no stemmer
(only the "standard" and "jieba" tokenizers), and a server's "english" analyzer stems and stops with
other lists, so we store the terms bm25s would index, joined by spaces, and Milvus's "standard"
tokenizer splits them back into the same tokens; the query is analysed the same way here. The BM25
formula (Lucene IDF, k1 1.5, b 0.75) is then the same on both sides.
"""

from __future__ import annotations

from index.lexical import INDEX_STOPWORDS, QUERY_STOPWORDS, bm25_tokens
from index.milvus.schema import TERMS_MAX_CHARS


def document_terms(texts: list[str]) -> list[str]:
    """The terms of each sentence, as bm25s indexes them (stop words removed)."""
    return [" ".join(t)[:TERMS_MAX_CHARS].rsplit(" ", 1)[0] if len(" ".join(t)) > TERMS_MAX_CHARS else " ".join(t)
            for t in bm25_tokens(texts, INDEX_STOPWORDS)]


def query_terms(query: str) -> str:
    """The query's terms, as BM25Retriever tokenizes a query: bm25s's default stop words ("english"),
    removed before stemming, so "it" is dropped from a query although "its" is indexed as "it"."""
    return " ".join(bm25_tokens([query], QUERY_STOPWORDS)[0])
