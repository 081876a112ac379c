"""Suite ``scale``: the dense index at 10k / 100k / 1M sentences, for each index type ``index/`` uses.

Embedding a million sentences with the real model would take about half an hour on this machine, so
the vectors here are **synthetic**: sentences of word ids drawn from a topic model (Zipfian words,
each sentence mostly from one of a few hundred topics), turned into vectors by a hashed
bag-of-words -> fixed Gaussian random projection to the embedder's dimension (384), normalised.
They have the size, dtype and norm of real sentence embeddings and a clustered neighbourhood
structure, but they are not MiniLM embeddings: recall figures of approximate search are indicative.
Every figure of this suite is labelled ``vectors: synthetic``.

Per size and index kind (``flat`` = exact ``IndexFlatIP``, ``ivf`` = IVF with 8-bit codes and exact
re-ranking as the product uses it above ``APPROX_MIN_VECTORS``, ``hnsw`` = ``IndexHNSWFlat``, the
previous choice, for comparison; all built by ``index.vector_store.build_faiss_index``):
- build time; RAM: the index's own bytes (computed from its arrays) and the RSS delta of the build;
- query latency p50/p95: one query at a time through ``SentenceVectorStore.search`` (the call the
  retriever makes) with the retriever's top-k; the kinds are queried alternately, query by query,
  so load from other processes hits both alike;
- recall@10 against exact search (ground truth: a batched exact search).
Then which kind ``index_kind_for(n)`` picks at each size, and whether the numbers agree.
Length: the measurement and the real-embedding check belong to this one suite; the synthetic generator, shared
with ``backends``, is in ``eval/scale_common.py``.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from typing import Any

import numpy as np

from eval.scale_common import SyntheticSentences, rss_bytes
from eval.suites.base import SuiteResult, headline

DESCRIPTION = "dense index at 10k/100k/1M sentences (synthetic vectors): build, query p50/p95, recall@10, RAM"
DEFAULT_SIZES = "10000,100000,1000000"
VECTORS_LABEL = "synthetic (topic-model bag-of-words -> random projection, normalised; not model embeddings)"
RECALL_K = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default=None, help="comma-separated synthetic corpus sizes in sentences "
                   f"(default {DEFAULT_SIZES}; none with --corpus unless given)")
    p.add_argument("--corpus", default=None, metavar="DIR",
                   help="also measure the FAISS backend end to end on the real .txt files under DIR (eval/scale_corpus.py)")
    p.add_argument("--corpus-limit", type=int, default=None, help="--corpus: at most this many sentences")
    p.add_argument("--corpus-vectors", choices=("model", "synthetic"), default="model",
                   help="--corpus: the model's embeddings (cached; hours for a million sentences) or stand-ins "
                   "made from each sentence's words (labelled synthetic)")
    p.add_argument("--vectors-cache", default=None, metavar="DIR",
                   help="--corpus: where embeddings are cached in chunks (default: <cache>/scale-vectors)")
    p.add_argument("--embed-bf16", action="store_true",
                   help="--corpus: embed the chunks not cached yet under torch bfloat16 autocast (1.8x faster "
                   "on CPUs with AMX; cosine to float32 >= 0.9999 measured); questions stay float32")
    p.add_argument("--ingest-sample", type=int, default=4000,
                   help="--corpus: sentences for the ingestion vs bare encode comparison")
    p.add_argument("--queries", type=int, default=200, help="timed queries per size (also the recall sample)")
    p.add_argument("--kinds", default="flat,ivf", help="index kinds to measure: flat, ivf (what index/ chooses "
                   "from) and hnsw (what it used before, for comparison)")
    p.add_argument("--budget-ms", type=float, default=50.0,
                   help="dense-search p95 a corpus may cost before exact search is 'too slow' (for the verdict)")
    p.add_argument("--min-recall", type=float, default=0.95, help="recall@10 approximate search must keep")
    p.add_argument("--dim", type=int, default=None, help="vector dimension (default: the embedder's, 384)")
    p.add_argument("--faiss-threads", default="default,1",
                   help="OpenMP thread counts to time queries with ('default' = FAISS's own setting, as the app runs)")
    p.add_argument("--ef-search", default="",
                   help="extra HNSW efSearch values to query the same graph with (e.g. 192,384), reported as hnsw_ef<N>")
    p.add_argument("--real-squad", default=None, metavar="SQUAD_JSON",
                   help="also measure on real MiniLM embeddings of this SQuAD file's sentences and questions")


# ---------------------------------------------------------------- measuring
def index_bytes(index: Any) -> int:
    """Bytes the FAISS index holds (vectors plus, for HNSW, the graph), from its arrays' sizes."""
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexHNSW):
        storage = faiss.downcast_index(index.storage)
        h = index.hnsw
        return int(storage.ntotal * storage.code_size + h.neighbors.size() * 4 + h.levels.size() * 4
                   + h.offsets.size() * 8)
    if isinstance(index, faiss.IndexIVF):  # codes + one int64 id each + the centroids
        return int(index.ntotal * (index.code_size + 8) + index.nlist * index.d * 4)
    return int(index.ntotal * index.code_size)


def _pct(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "mean": float(v.mean())}


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def thread_settings(spec: str) -> list[int]:
    """'default,1' -> [faiss's default OpenMP threads, 1] (deduplicated, in order)."""
    import faiss

    out: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        t = faiss.omp_get_max_threads() if part == "default" else int(part)
        if t < 1:
            raise ValueError(f"--faiss-threads: {part!r} is not a thread count")
        if t not in out:
            out.append(t)
    return out or [faiss.omp_get_max_threads()]


def measure_vectors(vectors: np.ndarray, queries: np.ndarray, kinds: list[str], top_k: int,
                    threads: list[int], ef_values: tuple[int, ...] = ()) -> dict[str, Any]:
    """Build each kind over ``vectors`` and time ``queries`` one at a time against each (interleaved)."""
    import faiss

    from index.vector_store import SentenceVectorStore, build_faiss_index

    dim = vectors.shape[1]
    default_threads = faiss.omp_get_max_threads()
    exact = faiss.IndexFlatIP(dim)  # ground truth: one batched exact search
    exact.add(vectors)
    _, truth = exact.search(queries, RECALL_K)
    del exact
    gc.collect()

    out: dict[str, Any] = {"kinds": {}, "faiss_threads_default": default_threads}
    stores = {}
    for kind in kinds:
        gc.collect()
        rss0 = rss_bytes()
        t = time.perf_counter()
        index = build_faiss_index(vectors, dim, kind)
        build_s = time.perf_counter() - t
        rss1 = rss_bytes()
        stores[kind] = SentenceVectorStore(vectors, dim, faiss_index=index)
        out["kinds"][kind] = {"build_s": round(build_s, 3), "index_bytes": index_bytes(index),
                              "index_mb": round(index_bytes(index) / 2**20, 1),
                              "rss_delta_bytes": None if rss0 is None or rss1 is None else rss1 - rss0,
                              # what the project's store holds: its own copy of the vectors + the index
                              "store_bytes": int(vectors.nbytes) + index_bytes(index)}
    efs = {"hnsw": None}
    if "hnsw" in stores:
        from index.vector_store import HNSW_EF_SEARCH

        efs["hnsw"] = HNSW_EF_SEARCH
        for ef in ef_values:
            if ef != HNSW_EF_SEARCH:  # the same graph searched with another efSearch
                stores[f"hnsw_ef{ef}"] = stores["hnsw"]
                efs[f"hnsw_ef{ef}"] = ef
                out["kinds"][f"hnsw_ef{ef}"] = {**out["kinds"]["hnsw"], "ef_search": ef}
        out["kinds"]["hnsw"]["ef_search"] = HNSW_EF_SEARCH
    for store in stores.values():  # untimed warm-up (page faults, code paths)
        for q in queries[:5]:
            store.search(q, top_k)
    combos = [(kind, th) for th in threads for kind in stores]
    times: dict[tuple[str, int], list[float]] = {c: [] for c in combos}
    hits: dict[str, list[float]] = {k: [] for k in stores}
    try:
        for qi, q in enumerate(queries):
            for kind, th in (combos if qi % 2 == 0 else list(reversed(combos))):
                faiss.omp_set_num_threads(th)
                if efs.get(kind):
                    stores[kind].set_ef_search(efs[kind])
                t = time.perf_counter()
                rows, _ = stores[kind].search(q, top_k)
                times[(kind, th)].append((time.perf_counter() - t) * 1e3)
                if th == threads[0]:
                    got = set(int(r) for r in rows[:RECALL_K])
                    hits[kind].append(len(got & set(int(r) for r in truth[qi])) / RECALL_K)
    finally:
        faiss.omp_set_num_threads(default_threads)
        if efs.get("hnsw"):
            stores["hnsw"].set_ef_search(efs["hnsw"])
    for kind in stores:
        by_threads = {str(th): _pct(times[(kind, th)]) for th in threads}
        out["kinds"][kind].update({"query_ms": by_threads[str(threads[0])], "query_ms_by_faiss_threads": by_threads,
                                   "recall_at_10": float(np.mean(hits[kind])), "queries": len(queries),
                                   "top_k": top_k})
    del stores
    gc.collect()
    return out


def measure_size(gen: SyntheticSentences, n: int, nq: int, kinds: list[str], top_k: int,
                 threads: list[int], ef_values: tuple[int, ...] = ()) -> dict[str, Any]:
    from index.vector_store import index_kind_for

    load0 = _load()
    t0 = time.perf_counter()
    words, offsets = gen.sentences(n)
    vectors = gen.vectors(words, offsets)
    queries = gen.queries(words, offsets, nq)
    del words, offsets
    out: dict[str, Any] = {"n": n, "vectors": "synthetic", "vector_bytes": int(vectors.nbytes),
                           "generate_s": round(time.perf_counter() - t0, 2), "picked_kind": index_kind_for(n),
                           "load_avg_start": load0}
    out.update(measure_vectors(vectors, queries, kinds, top_k, threads, ef_values))
    out["load_avg_end"] = _load()
    return out


def real_check(path: str, nq: int, kinds: list[str], top_k: int, threads: list[int], seed: int) -> dict[str, Any]:
    """The same measurements on real model embeddings (SQuAD sentences and questions), and on synthetic
    vectors of the same count, to see how far the synthetic recall figures can be trusted."""
    from pathlib import Path

    from eval.scale_corpus import sentence_texts
    from eval.suites.base import sample
    from eval.suites.squad import load_squad
    from index.document import parse_document
    from index.embedder import embedder_for
    from qa.settings import Settings

    texts, questions = load_squad(Path(path))
    sentences = sentence_texts([parse_document(k, t) for k, t in texts.items()])
    emb = embedder_for(Settings.from_env())
    t = time.perf_counter()
    vectors = emb.encode(sentences, show_progress=False)
    embed_s = time.perf_counter() - t
    queries = emb.encode([q["question"] for q in sample(questions, nq, seed)])
    real = measure_vectors(vectors, queries, kinds, top_k, threads)
    gen = SyntheticSentences(vectors.shape[1], seed)
    words, offsets = gen.sentences(len(sentences))
    synth = measure_vectors(gen.vectors(words, offsets), gen.queries(words, offsets, len(queries)), kinds, top_k, threads)
    return {"source": str(path), "n": len(sentences), "queries": len(queries), "embed_s": round(embed_s, 1),
            "real": {"vectors": "model embeddings", **real}, "synthetic_same_n": {"vectors": "synthetic", **synth}}


# ---------------------------------------------------------------- verdict
def verdict(sizes: list[dict[str, Any]], budget_ms: float, min_recall: float, threshold: int) -> dict[str, Any]:
    """Is index_kind_for's choice right at each size, and where should the switch be?

    Exact search is preferred while its p95 stays within the budget (exact results, no graph to
    build -- or rebuild on every document removal --, less RAM); above it HNSW is preferred (with a
    caveat when its recall@10 is below ``min_recall``: then efSearch, not the threshold, needs work).
    Flat query time is proportional to n, so the size where its p95 reaches the budget is
    budget / c, with c fitted through the origin over the measured sizes (dominated by the largest).
    """
    per_size = []
    for s in sizes:
        approx_kind = "ivf" if "ivf" in s["kinds"] else "hnsw"
        flat, hnsw = s["kinds"].get("flat"), s["kinds"].get(approx_kind)
        caveat = ""
        if flat and (flat["query_ms"]["p95"] <= budget_ms or not hnsw):
            better = "flat"
            why = f"flat p95 {flat['query_ms']['p95']:.1f} ms {'<=' if flat['query_ms']['p95'] <= budget_ms else '>'} " \
                  f"budget {budget_ms:g} ms"
        elif hnsw:
            better = approx_kind
            why = (f"flat p95 {flat['query_ms']['p95']:.1f} ms > budget {budget_ms:g} ms; " if flat else "") + \
                  f"{approx_kind} p95 {hnsw['query_ms']['p95']:.1f} ms at recall@10 {hnsw['recall_at_10']:.3f}"
            if hnsw["recall_at_10"] < min_recall:
                caveat = f"{approx_kind} recall@10 {hnsw['recall_at_10']:.3f} < {min_recall:g}"
        else:
            better, why = "flat", "flat only"
        per_size.append({"n": s["n"], "picked": s["picked_kind"], "better": better, "right": s["picked_kind"] == better,
                         "why": why, "caveat": caveat})
    crossover = _crossover([(s["n"], s["kinds"]["flat"]["query_ms"]["p95"]) for s in sizes if "flat" in s["kinds"]],
                           budget_ms)
    by_threads = {}
    for th in (sizes[0]["kinds"].get("flat", {}).get("query_ms_by_faiss_threads") or {}) if sizes else {}:
        by_threads[th] = _crossover([(s["n"], s["kinds"]["flat"]["query_ms_by_faiss_threads"][th]["p95"])
                                     for s in sizes if "flat" in s["kinds"]], budget_ms)
    return {"per_size": per_size, "all_right": all(p["right"] for p in per_size), "budget_ms": budget_ms,
            "min_recall": min_recall, "approx_min_vectors": threshold, "flat_p95_reaches_budget_at_n": crossover,
            "flat_p95_reaches_budget_at_n_by_faiss_threads": by_threads}


def _crossover(points: list[tuple[int, float]], budget_ms: float) -> int | None:
    """n where flat p95 = c * n reaches the budget (least squares through the origin)."""
    num = sum(n * t for n, t in points)
    den = sum(n * n for n, _ in points)
    return int(budget_ms * den / num) if num > 0 else None


def run(args: argparse.Namespace) -> SuiteResult:
    from index.vector_store import APPROX_MIN_VECTORS, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
    from qa.settings import Settings

    top_k = Settings().retrieval.top_k  # what the answer path retrieves per question

    spec = args.sizes if args.sizes is not None else ("" if args.corpus else DEFAULT_SIZES)
    try:
        sizes = [int(float(x)) for x in str(spec).split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--sizes: expected comma-separated integers, got {args.sizes!r}") from None
    kinds = [k.strip() for k in str(args.kinds).split(",") if k.strip()]
    if args.corpus and not sizes:
        return run_corpus(args, top_k)
    if not sizes or min(sizes) < RECALL_K or any(k not in ("flat", "hnsw", "ivf") for k in kinds) or not kinds:
        raise ValueError("--sizes must be integers >= 10 and --kinds a subset of flat,ivf,hnsw")
    nq = max(1, args.queries if args.limit is None else min(args.queries, args.limit))
    if args.dim:
        dim = args.dim
    else:
        from index.embedder import embedder_for

        dim = embedder_for(Settings.from_env()).dim
    import faiss

    threads = thread_settings(args.faiss_threads)
    try:
        ef_values = tuple(int(x) for x in str(args.ef_search).split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--ef-search: expected comma-separated integers, got {args.ef_search!r}") from None
    gen = SyntheticSentences(dim, args.seed)
    results = []
    for n in sizes:
        results.append(measure_size(gen, n, min(nq, n), kinds, top_k, threads, ef_values))
    v = verdict(results, args.budget_ms, args.min_recall, APPROX_MIN_VECTORS)

    m: dict[str, Any] = {"vectors": VECTORS_LABEL, "dim": dim, "faiss_threads": faiss.omp_get_max_threads(),
                         "hnsw_params": {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH},
                         "approx_min_vectors": APPROX_MIN_VECTORS, "sizes": {str(r["n"]): r for r in results},
                         "verdict": v}
    if args.real_squad:
        m["real_check"] = real_check(args.real_squad, nq, kinds, top_k, threads, args.seed)
    keys = ["vectors=vectors"]
    for r in results:
        n = r["n"]
        keys.append(f"{n}_picked=sizes.{n}.picked_kind")
        for kind in r["kinds"]:
            keys += [f"{n}_{kind}_build_s=sizes.{n}.kinds.{kind}.build_s",
                     f"{n}_{kind}_query_p50_ms=sizes.{n}.kinds.{kind}.query_ms.p50",
                     f"{n}_{kind}_query_p95_ms=sizes.{n}.kinds.{kind}.query_ms.p95",
                     f"{n}_{kind}_recall@10=sizes.{n}.kinds.{kind}.recall_at_10",
                     f"{n}_{kind}_index_MB=sizes.{n}.kinds.{kind}.index_mb"]
            if len(threads) > 1:
                keys.append(f"{n}_{kind}_query_p95_ms_1thread=sizes.{n}.kinds.{kind}.query_ms_by_faiss_threads.1.p95")
    keys += ["choice_right_at_all_sizes=verdict.all_right", "flat_p95_reaches_budget_at_n=verdict.flat_p95_reaches_budget_at_n"]
    rows = [{"n": r["n"], "kind": kind, "picked": kind == r["picked_kind"], "vectors": "synthetic", **{
        k: val for k, val in r["kinds"][kind].items()}} for r in results for kind in r["kinds"]]
    if "real_check" in m:
        keys += [f"real_{kind}_recall@10=real_check.real.kinds.{kind}.recall_at_10" for kind in kinds]
        keys += [f"synthetic_same_n_{kind}_recall@10=real_check.synthetic_same_n.kinds.{kind}.recall_at_10"
                 for kind in kinds]
    config = {"sizes": sizes, "kinds": kinds, "queries": nq, "faiss_threads": threads, "real_squad": args.real_squad,
              "top_k": top_k, "budget_ms": args.budget_ms, "min_recall": args.min_recall, "seed": args.seed, "limit": args.limit, "dim": dim,
              "vectors": "synthetic"}
    if ef_values:
        config["ef_search_extra"] = list(ef_values)
    notes = [f"Vectors are {VECTORS_LABEL}; the index timings do not depend on where vectors come from, "
             "approximate-search recall does somewhat.",
             "Query latency: one query at a time (as the retriever searches), flat and hnsw queried alternately; "
             "under shared-CPU load compare the kinds at one size rather than absolute values."]
    for p in v["per_size"]:
        notes.append(f"n={p['n']}: index_kind_for picks {p['picked']}, the numbers favour {p['better']} ({p['why']})"
                     + (f"; {p['caveat']}" if p["caveat"] else "") + ".")
    cross = v["flat_p95_reaches_budget_at_n"]
    if cross is not None:
        notes.append(f"Flat search p95 reaches the {args.budget_ms:g} ms budget at about n={cross:,} "
                     f"(APPROX_MIN_VECTORS = {APPROX_MIN_VECTORS:,}); by FAISS thread count: "
                     + ", ".join(f"{th} thread(s): {c:,}" if c is not None else f"{th}: -"
                                 for th, c in v["flat_p95_reaches_budget_at_n_by_faiss_threads"].items()) + ".")
    if args.corpus:
        corpus_result = run_corpus(args, top_k)
        m["corpus"] = corpus_result.metrics
        keys += [f"corpus_{k}=corpus.{v.split('=')[1]}" for k, v in
                 (item.split("=", 1) for item in _CORPUS_KEYS)]
        notes += corpus_result.notes
    return SuiteResult(config, m, headline(m, keys), rows, notes)


_CORPUS_KEYS = ["vectors=x=vectors", "sentences=x=sentences", "kind=x=probe.kind", "retrieval_p50_ms=x=probe.retrieval_ms.p50",
                "retrieval_given_vector_p50_ms=x=probe.retrieval_given_vector_ms.p50",
                "recall@10=x=probe.recall_at_10", "index_and_records_MB=x=probe.index_and_records_mb",
                "ingest_vs_encode_sample=x=ingestion_sample.ratio", "ingest_vs_encode_full=x=ingestion_full_ratio"]


def run_corpus(args: argparse.Namespace, top_k: int) -> SuiteResult:
    """The FAISS backend on real sentences (eval/scale_corpus.py)."""
    import sys
    import tempfile
    from pathlib import Path

    from eval import scale_corpus as sc
    from index.embedder import embedder_for
    from qa.settings import Settings

    directory = Path(args.corpus)
    if not directory.is_dir():
        raise ValueError(f"--corpus: {directory} is not a folder")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    load0 = _load()
    t = time.perf_counter()
    docs = sc.corpus_documents(directory, args.corpus_limit)
    parse_s = time.perf_counter() - t
    texts = sc.sentence_texts(docs)
    emb = embedder_for(Settings.from_env())
    cache = sc.vectors_cache_dir(args.vectors_cache)
    log(f"{len(texts):,} sentences in {len(docs):,} documents (parsed in {parse_s:.0f} s); vectors cached in {cache}")
    if args.corpus_vectors == "synthetic":
        vectors = sc.synthetic_vectors(texts, emb.dim, args.seed)
    else:
        import contextlib

        precision = contextlib.nullcontext()
        if args.embed_bf16:
            import torch

            precision = torch.autocast("cpu", dtype=torch.bfloat16)
        with precision:
            vectors = sc.cached_vectors(texts, cache, emb, log)
    sample = sc.ingestion_vs_encode(docs, emb, args.ingest_sample)
    with tempfile.TemporaryDirectory(prefix="citeqa-scale-") as tmp:
        build = sc.full_build(docs, vectors, Path(tmp) / "index", emb)
        encode_full_s = len(texts) / sample["bare_encode_per_s"]
        full_ratio = encode_full_s / (encode_full_s / sample["ratio"] + build["overhead_s"])
        queries = sc.make_queries(docs, args.queries, args.seed)
        del vectors, docs
        qv = sc.synthetic_vectors(queries, emb.dim, args.seed) if args.corpus_vectors == "synthetic" else None
        probe = sc.probe(Path(tmp) / "index", queries, qv)
    m = {"corpus": str(directory), "documents": None, "sentences": len(texts), "parse_s": round(parse_s, 1),
         "vectors": ("synthetic (hashed bag of the sentence's words -> random projection; not model embeddings)"
                     if args.corpus_vectors == "synthetic" else "model embeddings (all-MiniLM-L6-v2"
                     + ("; chunks embedded by this run under bf16 autocast)" if args.embed_bf16 else ")")),
         "ingestion_sample": sample, "full_build": build,
         "ingestion_full_ratio": round(full_ratio, 3), "probe": probe, "top_k": top_k,
         "load_avg_start": load0, "load_avg_end": _load()}
    notes = [f"Real corpus {directory}: {len(texts):,} sentences; vectors: {m['vectors']}.",
             "ingestion_full_ratio = bare encode time of all sentences / (that time divided by the sample's "
             "ingest-vs-encode ratio + the full-size FAISS add, BM25 build and save measured with precomputed vectors); "
             "the sample ratio already contains splitting and a small-index add, so the full-size add is counted twice "
             "(a conservative estimate)."]
    return SuiteResult({"corpus": str(directory), "corpus_limit": args.corpus_limit, "queries": args.queries,
                        "corpus_vectors": args.corpus_vectors,
                        "seed": args.seed, "top_k": top_k}, m,
                       headline({"corpus": m}, [f"corpus_{k}=corpus.{v.split('=')[1]}" for k, v in
                                                (item.split("=", 1) for item in _CORPUS_KEYS)]), [], notes)
