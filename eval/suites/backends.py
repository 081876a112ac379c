"""Suite ``backends``: the Milvus backend (Milvus Lite) beside FAISS in one run.

- ``answers``: the same questions on both backends over the same documents (the seed gold set, and a
  SQuAD v2 sample with ``--squad PATH``, all of its paragraphs indexed): answers, abstentions and
  citations (doc, start, end, score) compared question by question, plus the retrieval hits
  (row, BM25 rank, dense rank) so that any difference is traced to the side that caused it.
- ``latency``: ``--sentences`` synthetic sentences (the ``scale`` suite's topic-model generator:
  words are tokens "w<id>", vectors a random projection of them; labelled synthetic) written to each
  backend from precomputed vectors (ingest = index writes + BM25, without the embedding, which is the
  same model call on both), reopened, then ``HybridRetriever.search`` timed per query with the
  query vector given (dense + BM25 + fusion: the part that differs), the backends alternating query
  by query so load from other processes hits both alike. Then, on the reopened index (no text read yet, as
  in a server that has just started), ``--change-docs`` documents are written again with other words (a
  replacement) and as many others removed, each followed by a save: ``change_s``; the rows and stem counts
  left must be the same on both backends.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.scale_common import PrecomputedEmbedder, SyntheticSentences
from eval.suites.base import SuiteResult, history_turns, progress, sample

DESCRIPTION = "FAISS vs Milvus Lite: same answers/citations (seed, SQuAD sample), ingest and query latency"
EVAL_DIR = Path(__file__).resolve().parent.parent


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parts", default="answers,latency", help="answers, latency (comma-separated)")
    p.add_argument("--squad", type=Path, default=None, help="SQuAD v2.0 JSON: also compare on --limit of its questions")
    p.add_argument("--sentences", type=int, default=100_000, help="corpus size of the latency part (synthetic)")
    p.add_argument("--queries", type=int, default=50, help="timed queries of the latency part")
    p.add_argument("--doc-sentences", type=int, default=20, help="sentences per synthetic document")
    p.add_argument("--corpus", type=Path, default=None,
                   help="latency part on the first --sentences sentences of this folder of .txt files (real text, "
                        "MiniLM vectors from --vectors-cache, as `eval scale --corpus`) instead of synthetic ones")
    p.add_argument("--vectors-cache", type=Path, default=None, help="chunked vector cache of --corpus (eval scale's)")
    p.add_argument("--change-docs", type=int, default=50,
                   help="latency part: documents replaced, and as many removed, on the reopened index")


def _pct(values: list[float]) -> dict[str, float]:
    return {"p50": round(float(np.percentile(values, 50)), 2), "p95": round(float(np.percentile(values, 95)), 2)} if values else {}


def _load() -> float | None:
    try:
        return round(__import__("os").getloadavg()[0], 2)
    except OSError:
        return None


# ---------------------------------------------------------------- answers
def _answer_key(ans) -> tuple:
    return (ans.text, ans.abstained, tuple((c.doc_id, c.start, c.end, c.score) for c in ans.citations))


def _hits_key(a, question: str) -> tuple:
    return tuple((h.row, h.bm25_rank, h.dense_rank) for h in a.retriever().search(question))


def compare(name: str, faiss_a, milvus_a, questions: list[dict[str, Any]]) -> dict[str, Any]:
    same_answers = same_citations = same_hits = invalid = 0
    diffs: list[dict[str, Any]] = []
    lat: dict[str, list[float]] = {"faiss": [], "milvus": []}
    for q in progress(questions, total=len(questions), desc=f"backends {name}"):
        turns = history_turns(q.get("history"))
        out = {}
        for label, a in (("faiss", faiss_a), ("milvus", milvus_a)):
            t0 = time.perf_counter()
            out[label] = a.ask(q["question"], history=turns, mode="extractive")
            lat[label].append((time.perf_counter() - t0) * 1e3)
            for c in out[label].citations:
                invalid += c.text != a.document_text(c.doc_id)[c.start : c.end]
        kf, km = _answer_key(out["faiss"]), _answer_key(out["milvus"])
        same_answers += kf == km
        same_citations += kf[1:] == km[1:] and [c[:3] for c in kf[2]] == [c[:3] for c in km[2]]
        hf, hm = _hits_key(faiss_a, q["question"]), _hits_key(milvus_a, q["question"])
        same_hits += hf == hm
        if kf != km or hf != hm:
            diffs.append({"id": q.get("id"), "question": q["question"], "answer_differs": kf != km,
                          "faiss": [c[:3] for c in kf[2]], "milvus": [c[:3] for c in km[2]],
                          "bm25_ranks_differ": {(r, b) for r, b, _ in hf if b is not None} != {(r, b) for r, b, _ in hm if b is not None},
                          "dense_ranks_differ": {(r, d) for r, _, d in hf if d is not None} != {(r, d) for r, _, d in hm if d is not None}})
    n = len(questions)
    return {"n": n, "identical_answers": same_answers, "identical_citations": same_citations,
            "identical_retrieval_hits": same_hits, "invalid_spans": invalid, "differences": diffs,
            "latency_ms": {k: _pct(v) for k, v in lat.items()},
            "latency_ratio_p50": round(float(np.percentile(lat["milvus"], 50) / np.percentile(lat["faiss"], 50)), 2)}


def run_answers(args, tmp: Path) -> dict[str, Any]:
    from eval.suites.seed import DEFAULT_DOCS, DEFAULT_GOLD, load_gold
    from qa import Assistant

    out: dict[str, Any] = {}
    f = Assistant.open(paths=[DEFAULT_DOCS], index_dir=tmp / "seed-faiss")
    m = Assistant.open(paths=[DEFAULT_DOCS], index_dir=tmp / "seed-milvus", backend="milvus", uri=str(tmp / "seed.db"))
    out["seed"] = compare("seed", f, m, load_gold(DEFAULT_GOLD))
    if args.squad:
        from eval.suites.squad import load_squad

        texts, questions = load_squad(args.squad)
        t0 = time.perf_counter()
        f = Assistant.open(paths=[], index_dir=tmp / "squad-faiss")
        f.add_texts(texts)
        t1 = time.perf_counter()
        m = Assistant.open(paths=[], index_dir=tmp / "squad-milvus", backend="milvus", uri=str(tmp / "squad.db"))
        m.add_texts(texts)
        t2 = time.perf_counter()
        out["squad"] = compare("squad", f, m, sample(questions, args.limit, args.seed))
        out["squad"]["index_s"] = {"faiss": round(t1 - t0, 1), "milvus": round(t2 - t1, 1),
                                   "documents": len(texts), "sentences": len(f.corpus)}
    return out


# ---------------------------------------------------------------- latency
def synthetic_corpus(n: int, per_doc: int, nq: int, seed: int, dim: int):
    from index.document import ParsedDocument, SentenceRecord, text_sha256

    gen = SyntheticSentences(dim, seed)
    words, offsets = gen.sentences(n)
    vectors = gen.vectors(words, offsets)
    sentences = [" ".join(f"w{w}" for w in words[offsets[i] : offsets[i + 1]]) for i in range(n)]
    docs = []
    for d in range(0, n, per_doc):
        text, recs = "", []
        for s in sentences[d : d + per_doc]:
            start = len(text) + (1 if text else 0)
            text = f"{text} {s}" if text else s
            recs.append((start, start + len(s)))
        doc_id = f"synthetic-{d // per_doc}"
        docs.append(ParsedDocument(doc_id, text, text_sha256(text),
                                   sentences=[SentenceRecord(doc_id, a, b) for a, b in recs]))
    rng = np.random.default_rng(seed + 1)
    q_words, q_off = [], [0]
    for i in rng.choice(n, nq, replace=False):
        w = words[offsets[i] : offsets[i + 1]]
        q_words.append(np.concatenate([w[rng.random(len(w)) < 0.5], rng.choice(gen.vocab, 3, p=gen.background)]))
        q_off.append(q_off[-1] + len(q_words[-1]))
    qv = gen.vectors(np.concatenate(q_words), np.asarray(q_off))
    q_text = [" ".join(f"w{w}" for w in qw) for qw in q_words]
    return docs, vectors, q_text, qv


def real_corpus(args, embedder):
    """The first ``--sentences`` sentences (whole documents) of ``--corpus``, their cached vectors, and
    ``--queries`` questions made from its sentences (eval/scale_corpus.py), encoded by the model."""
    from eval import scale_corpus as sc

    if not args.corpus.is_dir():
        raise ValueError(f"--corpus: {args.corpus} is not a folder")
    docs = sc.corpus_documents(args.corpus, args.sentences)
    texts = sc.sentence_texts(docs)
    vectors = sc.cached_vectors(texts, sc.vectors_cache_dir(args.vectors_cache), embedder)
    q_text = sc.make_queries(docs, args.queries, args.seed)
    return docs, vectors, q_text, np.stack([embedder.encode_query(q) for q in q_text])


def run_latency(args, tmp: Path) -> dict[str, Any]:
    from index.corpus import Corpus
    from index.document import text_sha256
    from index.embedder import get_embedder
    from index.index_dir import IndexDirectory
    from index.milvus.index import MilvusIndex
    from qa.retrieval import HybridRetriever
    from qa.settings import Settings

    real = get_embedder(None)
    t0 = time.perf_counter()
    if getattr(args, "corpus", None):
        docs, vectors, q_text, qv = real_corpus(args, real)
        kind = "model embeddings (all-MiniLM-L6-v2) of real sentences"
    else:
        docs, vectors, q_text, qv = synthetic_corpus(args.sentences, args.doc_sentences, args.queries, args.seed, real.dim)
        kind = "synthetic"
    out: dict[str, Any] = {"sentences": len(vectors), "documents": len(docs), "vectors": kind,
                           "generate_s": round(time.perf_counter() - t0, 1), "load_avg_start": _load()}
    emb = PrecomputedEmbedder(real.name, vectors, qv)
    settings = Settings(index={"dir": tmp / "lat-faiss", "backend": "faiss"})
    msettings = Settings(index={"dir": tmp / "lat-milvus", "backend": "milvus"}, milvus={"uri": str(tmp / "lat.db")})
    retrievers, ingest, reopen, stores = {}, {}, {}, {}
    for label in ("faiss", "milvus"):
        emb.rewind()
        t0 = time.perf_counter()
        if label == "faiss":
            store = IndexDirectory(settings.index.dir)
            corpus = Corpus(real.name, real.dim)
        else:
            store = MilvusIndex(msettings)
            corpus = store.new_corpus(real.name, real.dim)
        corpus.add(docs, emb, show_progress=False)
        store.save(corpus)
        HybridRetriever(corpus, emb, settings)
        ingest[label] = time.perf_counter() - t0
        t0 = time.perf_counter()
        stores[label] = IndexDirectory(settings.index.dir) if label == "faiss" else MilvusIndex(msettings)
        corpus = stores[label].load(real.name, real.dim)
        retrievers[label] = HybridRetriever(corpus, emb, settings)
        reopen[label] = round(time.perf_counter() - t0, 1)
    lat: dict[str, list[float]] = {"faiss": [], "milvus": []}
    same = same_dense = same_bm25 = same_bm25_set = 0
    for text, v in zip(q_text, qv):
        got = {}
        for label, r in retrievers.items():
            t0 = time.perf_counter()
            got[label] = [(h.row, h.bm25_rank, h.dense_rank) for h in r.search(text, v)]
            lat[label].append((time.perf_counter() - t0) * 1e3)
        same += got["faiss"] == got["milvus"]
        side = {k: ({(r, d) for r, _, d in g if d is not None}, {(r, b) for r, b, _ in g if b is not None})
                for k, g in got.items()}
        same_dense += side["faiss"][0] == side["milvus"][0]
        same_bm25 += side["faiss"][1] == side["milvus"][1]
        same_bm25_set += {r for r, _ in side["faiss"][1]} == {r for r, _ in side["milvus"][1]}
    k = min(args.change_docs, len(docs) // 2)
    # New versions with other words at the same offsets, so that the old version's counts must really go.
    changed = [dataclasses.replace(d, text=t, sha256=text_sha256(t)) for d in docs[:k] for t in [d.text.replace("w", "v")]]
    change: dict[str, dict[str, float]] = {}
    for label, r in retrievers.items():  # after the queries: this changes the index
        emb.rewind()  # the first k documents hold the first vectors
        t0 = time.perf_counter()
        r.corpus.add(changed, emb, show_progress=False)
        stores[label].save(r.corpus)
        t1 = time.perf_counter()
        for d in docs[k : 2 * k]:
            r.corpus.remove(d.doc_id)
        stores[label].save(r.corpus)
        change[label] = {"replace": round(t1 - t0, 2), "remove": round(time.perf_counter() - t1, 2)}
    # What the support scoring counts after the change must be the same on both sides (Milvus updates its
    # stem statistics in place, FAISS recounts them from the texts).
    after = {label: (len(r.corpus.records), lex.n, lex.df)
             for label, r in retrievers.items() for lex in [r.corpus.lexical_index(False)]}
    out.update({"ingest_s": {k: round(v, 1) for k, v in ingest.items()},
                "ingest_ratio": round(ingest["milvus"] / ingest["faiss"], 2),
                "reopen_s": reopen, "query_ms": {k: _pct(v) for k, v in lat.items()},
                "query_ratio_p50": round(float(np.percentile(lat["milvus"], 50) / np.percentile(lat["faiss"], 50)), 1),
                "identical_hits": f"{same}/{len(q_text)}", "identical_dense_ranks": f"{same_dense}/{len(q_text)}",
                "identical_bm25_ranks": f"{same_bm25}/{len(q_text)}",
                "same_bm25_rows_any_order": f"{same_bm25_set}/{len(q_text)}",
                "change_docs": k, "change_s": change, "same_rows_and_stems_after_change": after["faiss"] == after["milvus"],
                "load_avg_end": _load()})
    return out


def run(args: argparse.Namespace) -> SuiteResult:
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    metrics: dict[str, Any] = {"load_avg_start": _load()}
    with tempfile.TemporaryDirectory(prefix="citeqa-backends-") as tmp:
        if "answers" in parts:
            metrics["answers"] = run_answers(args, Path(tmp))
        if "latency" in parts:
            metrics["latency"] = run_latency(args, Path(tmp))
    metrics["load_avg_end"] = _load()
    head: dict[str, Any] = {}
    for name, r in metrics.get("answers", {}).items():
        head[f"{name}_identical_citations"] = f"{r['identical_citations']}/{r['n']}"
        head[f"{name}_identical_answers"] = f"{r['identical_answers']}/{r['n']}"
        head[f"{name}_invalid_spans"] = r["invalid_spans"]
        head[f"{name}_latency_ratio_p50"] = r["latency_ratio_p50"]
    if "latency" in metrics:
        lat = metrics["latency"]
        head.update({"sentences": lat["sentences"], "ingest_s": lat["ingest_s"], "ingest_ratio": lat["ingest_ratio"],
                     "query_ms_p50": {k: v["p50"] for k, v in lat["query_ms"].items()},
                     "query_ratio_p50": lat["query_ratio_p50"], "change_s": lat["change_s"]})
    config = {"parts": parts, "squad": str(args.squad) if args.squad else None, "limit": args.limit, "seed": args.seed,
              "sentences": args.sentences, "queries": args.queries, "change_docs": args.change_docs, "milvus": "Milvus Lite (in-process), FLAT + BM25",
              "corpus": str(args.corpus) if getattr(args, "corpus", None) else None}
    notes = [f"latency part: {metrics['latency']['vectors']}" if "latency" in metrics else "no latency part"]
    return SuiteResult(config, metrics, head, notes=notes)
