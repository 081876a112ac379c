"""``citeqa eval scale --corpus DIR``: the FAISS backend on a real text corpus, end to end.

What is measured (real sentences, real MiniLM embeddings):
- ingestion against bare encode: ``Corpus.add`` with the real model (sentence splitting, embedding,
  FAISS, records) against ``SentenceTransformer.encode`` of the same sentences, alternated, on a
  sample; then, at full size with the vectors already computed, what ingestion adds to the model call
  (FAISS build, BM25, save), so the full-size ratio is bare encode time / (bare encode time + that);
- a fresh process opening the saved index: its resident memory before and after (index plus records,
  model excluded), the time to open, retrieval p50/p95 (``HybridRetriever.search``: question
  embedding, dense search, BM25, fusion) and dense recall@10 against exact search.

Embedding a million sentences takes hours on 2 cores, so vectors are cached in chunks under
``--vectors-cache`` (keyed by the chunk's sentences and the embedder) and a killed run resumes.
``--corpus-vectors synthetic`` replaces the model's vectors by stand-ins made from each sentence's own
words (hashed bag of words -> fixed random projection, normalised), so everything but dense recall
(records, document texts, BM25, the FAISS index's size and speed, opening) is measured at full size on
the real text at once; every figure of such a run is labelled ``vectors: synthetic``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CHUNK = 20_000
QUERY_WORDS = 10


def corpus_documents(directory: Path, limit: int | None):
    """Parsed .txt documents under ``directory`` in path order, up to ``limit`` sentences."""
    from index.document import parse_document

    docs, n = [], 0
    for path in sorted(directory.rglob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        doc = parse_document(path.relative_to(directory).as_posix(), text)
        if not doc.sentences:
            continue
        docs.append(doc)
        n += len(doc.sentences)
        if limit is not None and n >= limit:
            break
    return docs


def sentence_texts(docs) -> list[str]:
    from index.document import indexed_texts

    return [t for d in docs for t in indexed_texts(d.text, d.sentences)]


def vectors_cache_dir(given) -> Path:
    """``--vectors-cache`` if given, else ``<cache>/scale-vectors`` (shared by `eval scale` and `eval backends`)."""
    from qa.settings import Settings

    return Path(given) if given else Settings.from_env().cache_dir / "scale-vectors"


def cached_vectors(texts: list[str], cache: Path, embedder, log=print) -> np.ndarray:
    cache.mkdir(parents=True, exist_ok=True)
    parts = []
    for s in range(0, len(texts), CHUNK):
        chunk = texts[s : s + CHUNK]
        key = hashlib.sha256((embedder.name + "\x00" + "\x00".join(chunk)).encode("utf-8", "replace")).hexdigest()[:20]
        path = cache / f"{key}.npy"
        if path.is_file():
            parts.append(np.load(path, mmap_mode="r"))
            continue
        t = time.perf_counter()
        # Repeated sentences (the Rust std pages, licence boilerplate) are embedded once.
        unique, inverse = np.unique(np.array(chunk, dtype=object), return_inverse=True)
        v = np.asarray(embedder.encode(list(unique)))[inverse]
        np.save(path.with_suffix(".tmp.npy"), v)
        os.replace(path.with_suffix(".tmp.npy"), path)
        log(f"embedded {s + len(chunk):,}/{len(texts):,} ({len(chunk) / (time.perf_counter() - t):.0f}/s)")
        parts.append(v)
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def synthetic_vectors(texts: list[str], dim: int, seed: int = 0, chunk: int = 50_000) -> np.ndarray:
    """Stand-in vectors from the sentences' own words: near-duplicates get near vectors."""
    import re
    import zlib

    from scipy import sparse

    buckets = 1 << 16
    projection = (np.random.default_rng(seed).standard_normal((buckets, dim)) / np.sqrt(dim)).astype(np.float32)
    word = re.compile(r"\w+")
    out = np.empty((len(texts), dim), dtype=np.float32)
    for s in range(0, len(texts), chunk):
        cols, ptr = [], [0]
        for t in texts[s : s + chunk]:
            cols.extend(zlib.crc32(w.encode()) & (buckets - 1) for w in word.findall(t.lower()))
            ptr.append(len(cols))
        m = sparse.csr_matrix((np.ones(len(cols), np.float32), cols, ptr), shape=(len(ptr) - 1, buckets))
        v = np.asarray(m @ projection, dtype=np.float32)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        out[s : s + len(ptr) - 1] = v
    return out


def ingestion_vs_encode(docs, embedder, sample_sentences: int, repeats: int = 2) -> dict[str, Any]:
    """Corpus.add with the real model vs bare encode of the same sentences, alternated."""
    from index.corpus import Corpus

    picked, n = [], 0
    for d in docs[:: max(1, len(docs) // 200)]:
        picked.append(d)
        n += len(d.sentences)
        if n >= sample_sentences:
            break
    texts = sentence_texts(picked)
    embedder.encode(texts[:64])  # loads the model, untimed
    bare, ingest = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        embedder.encode(texts)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        Corpus(embedder.name, embedder.dim).add(picked, embedder, show_progress=False)
        ingest.append(time.perf_counter() - t)
    b, i = min(bare), min(ingest)
    return {"sentences": len(texts), "bare_encode_s": round(b, 2), "ingest_s": round(i, 2),
            "bare_encode_per_s": round(len(texts) / b, 1), "ingest_per_s": round(len(texts) / i, 1),
            "ratio": round(b / i, 3)}


def full_build(docs, vectors: np.ndarray, index_dir: Path, embedder) -> dict[str, Any]:
    """Everything ingestion does besides the model call, at full size (vectors handed out precomputed)."""
    from eval.scale_common import PrecomputedEmbedder
    from index.corpus import Corpus
    from index.index_dir import IndexDirectory

    emb = PrecomputedEmbedder(embedder.name, vectors, vectors[:0])
    t = time.perf_counter()
    corpus = Corpus(embedder.name, embedder.dim)
    corpus.add(docs, emb, show_progress=False)
    add_s = time.perf_counter() - t
    t = time.perf_counter()
    corpus.lexical_index()
    lexical_s = time.perf_counter() - t
    t = time.perf_counter()
    directory = IndexDirectory(index_dir)
    with directory.write_lock():
        directory.save(corpus)
    save_s = time.perf_counter() - t
    return {"kind": corpus.store.kind, "add_s": round(add_s, 1), "lexical_s": round(lexical_s, 1),
            "save_s": round(save_s, 1), "overhead_s": round(add_s + lexical_s + save_s, 1),
            "index_dir_mb": round(sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 2**20, 1)}


def make_queries(docs, n: int, seed: int) -> list[str]:
    """Realistic short queries: the first words of sentences drawn at random."""
    texts = sentence_texts(docs)
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(texts), min(n, len(texts)), replace=False):
        words = texts[i].split()
        out.append(" ".join(words[:QUERY_WORDS]))
    return out


_PROBE = r"""
import gc, json, sys, time
import numpy as np
from eval.scale_common import rss_bytes
from index.embedder import embedder_for
from index.index_dir import IndexDirectory
from qa.retrieval import HybridRetriever
from qa.settings import Settings
index_dir, queries = sys.argv[1], json.loads(open(sys.argv[2]).read())
given = np.load(sys.argv[3]) if len(sys.argv) > 3 else None  # query vectors in the corpus vectors' space
emb = embedder_for(Settings.from_env()); emb.encode_query("warm up")
gc.collect(); rss0 = rss_bytes()
t = time.perf_counter()
corpus = IndexDirectory(index_dir).load(emb.name, emb.dim)
open_s = time.perf_counter() - t
settings = Settings()
r = HybridRetriever(corpus, emb, settings)
r.search(queries[0])
gc.collect(); rss1 = rss_bytes()
qv = given if given is not None else np.stack([emb.encode_query(q) for q in queries])
lat = []
for q in queries:
    t = time.perf_counter(); r.search(q); lat.append((time.perf_counter() - t) * 1e3)
# The same searches given the question's vector: what the index costs, apart from the model (whose
# encoding of a question costs the same at any corpus size).
lat_index = []
for q, v in zip(queries, qv):
    t = time.perf_counter(); r.search(q, v); lat_index.append((time.perf_counter() - t) * 1e3)
lat_encode = []
for q in queries[:50]:
    t = time.perf_counter(); emb.encode_query(q); lat_encode.append((time.perf_counter() - t) * 1e3)
dense = []
got = []
for v in qv:
    t = time.perf_counter(); rows, _ = corpus.store.search(v, settings.retrieval.top_k); dense.append((time.perf_counter() - t) * 1e3)
    got.append(np.asarray(rows[:10], dtype=np.int64))
gc.collect(); rss2 = rss_bytes()
vec = corpus.store.vectors
truth = np.full((len(qv), 10), -1)
best = np.full((len(qv), 10), -np.inf)
for s in range(0, len(vec), 100_000):
    sc = np.asarray(vec[s:s + 100_000]) @ qv.T
    for j in range(len(qv)):
        cand = np.concatenate([best[j], sc[:, j]]); ids = np.concatenate([truth[j], np.arange(s, s + len(sc))])
        top = np.argsort(-cand, kind="stable")[:10]; best[j], truth[j] = cand[top], ids[top]
# Tie-aware (duplicate sentences have equal vectors): a row found counts when its exact score reaches the
# 10th best exact score.
recall = float(np.mean([np.sum(np.asarray(vec[np.sort(g)]) @ v >= b[-1] - 1e-5) / 10 for g, v, b in zip(got, qv, best)]))
pct = lambda v: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))}
print(json.dumps({"kind": corpus.store.kind, "sentences": len(corpus), "open_s": round(open_s, 1),
                  "rss_before_mb": round(rss0 / 2**20), "rss_open_mb": round(rss1 / 2**20),
                  "rss_after_queries_mb": round(rss2 / 2**20),
                  "index_and_records_mb": round((rss2 - rss0) / 2**20), "retrieval_ms": pct(lat), "retrieval_given_vector_ms": pct(lat_index),
                  "question_encode_ms": pct(lat_encode), "dense_search_ms": pct(dense), "recall_at_10": recall,
                  "queries": len(queries)}))
"""


def probe(index_dir: Path, queries: list[str], query_vectors: np.ndarray | None = None) -> dict[str, Any]:
    """Open the index in a fresh process (so its resident memory is the index's, not this run's).
    ``query_vectors``: for dense search and recall, when the corpus vectors are not the model's."""
    with tempfile.TemporaryDirectory(prefix="citeqa-probe-") as tmp:
        qfile = Path(tmp) / "queries.json"
        qfile.write_text(json.dumps(queries), encoding="utf-8")
        argv = [sys.executable, "-c", _PROBE, str(index_dir), str(qfile)]
        if query_vectors is not None:
            np.save(Path(tmp) / "qv.npy", query_vectors)
            argv.append(str(Path(tmp) / "qv.npy"))
        out = subprocess.run(argv, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the probe process failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
