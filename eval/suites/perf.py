"""Suite ``perf``: speed and memory, every timing next to a baseline measured in the same run.

The CPU may be shared with other work, so absolute times are only comparable within one run; the
figures to read are the RATIOS to each part's baseline (and the load average recorded with them).

(a) build: index build throughput of the project's pipeline -- parse (``parse_document``), embed +
    FAISS (``Corpus.add``), BM25 + lexical statistics (``HybridRetriever``), i.e. what
    ``Assistant.from_texts`` + the first question do -- as a ratio to a bare
    ``SentenceTransformer.encode`` of the same texts (same model object, batch size, normalisation).
    Baseline and pipeline alternate (ABBA) over ``--build-repeats`` rounds; ratio = best bare time /
    best pipeline time (= pipeline sentences/s / bare sentences/s; 1.0 means no overhead). Saving the
    index directory (``Assistant.open`` does) is timed apart. Default corpus: the seed article,
    replicated with light variations to about ``--build-sentences`` sentences.
(b) cold start: a fresh ``python -c`` process that opens an Assistant on a new index directory and
    answers one question; again on the index it wrote (warm index). Baselines: ``python -c pass``, and
    a process that only loads the bare SentenceTransformer and encodes the question.
    LLM mode (``--modes ...,generative``): first token and total of the first question in a fresh
    process (i) cold: no saved LLM state, the corpus prefix is read; (ii) saved state: a second fresh
    process on the same index reads the prefix's KV state from ``<index>/llm-state/``; (iii) in RAM:
    a second question in process (i). Baseline: the bare LLM load time (``get_llm()``) in a process
    that loads only the models.
(c) latency: per-question latency (and first token, generative) on the seed gold questions, per
    mode. Baselines per question: bare encode of the question + FAISS search (extractive); the bare
    LLM completing the question alone, with no documents (generative).
Length: the four parts share the child-process harness and the baseline bookkeeping; one module keeps
each timing next to the baseline it is divided by.
(d) memory: peak RSS (ru_maxrss) of each cold-start process and of the bare-model process, and of
    this process after each part.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eval import metrics
from eval.metrics import Span
from eval.suites.base import SuiteResult, headline, history_turns, make_row, progress, sample, timed_answer, warm_up

DESCRIPTION = "speed and memory vs same-run baselines: build throughput, cold start, latency, peak RSS"
EVAL_DIR = Path(__file__).resolve().parent.parent
REPO = EVAL_DIR.parent
DEFAULT_GOLD = EVAL_DIR / "gold_seed.jsonl"
DEFAULT_DOCS = REPO / "seeds"
PARTS = ("cold", "latency", "build", "written", "users")
DEFAULT_PARTS = ("cold", "latency", "build")
CHILD_TAG = "PERF-CHILD "

# The cold-start process. Its own clock starts after the interpreter is up; the parent times the whole process.
CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
cfg = json.loads(sys.argv[1])
out = {}

def timed(a, question):
    # (answer, first text delta s, total s) of one streamed question
    from qa import Answer
    t = time.perf_counter()
    first = answer = None
    for item in a.stream(question, mode=cfg["mode"]):
        if isinstance(item, Answer):
            answer = item
        elif first is None and item:
            first = time.perf_counter() - t
    return answer, first, time.perf_counter() - t

def llm_figures(first, total):
    from qa.llm.runtime import last_stats
    st = last_stats()
    return {"first_token_s": first, "total_s": total, "prompt_tokens": st.prompt_tokens,
            "read_tokens": st.prompt_tokens - st.reused_tokens}

if cfg["what"] == "bare":
    from index.embedder import default_model_path
    from sentence_transformers import SentenceTransformer
    from qa.settings import Settings
    out["import_s"] = time.perf_counter() - t0
    batch_size = Settings.from_env().index.batch_size
    model = SentenceTransformer(default_model_path(Settings.from_env().index.embed_model), device="cpu")
    out["load_s"] = time.perf_counter() - t0 - out["import_s"]
    model.encode([cfg["question"]], batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    if cfg.get("llm"):
        from qa.llm import runtime
        runtime.configure(Settings.from_env())
        t1 = time.perf_counter()
        runtime.get_llm()
        out["llm_load_s"] = time.perf_counter() - t1
        runtime.chat([{"role": "user", "content": cfg["question"]}], max_tokens=1)
elif cfg["what"] == "assistant":
    from qa import Assistant
    out["import_s"] = time.perf_counter() - t0
    a = Assistant.open(paths=cfg["paths"], index_dir=cfg["index_dir"])
    out["open_s"] = time.perf_counter() - t0 - out["import_s"]
    out["sentences_embedded"] = a.last_sync.sentences_embedded if a.last_sync else None
    answer, first, out["ask_s"] = timed(a, cfg["question"])
    out["abstained"] = answer.abstained
    out["citations"] = len(answer.citations)
    if cfg["mode"] == "generative":
        out["llm"] = llm_figures(first, out["ask_s"])
        if cfg.get("second_question"):
            _, first, total = timed(a, cfg["second_question"])
            out["llm_second"] = llm_figures(first, total)
out["in_process_s"] = time.perf_counter() - t0
out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("PERF-CHILD " + json.dumps(out), flush=True)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parts", default=",".join(DEFAULT_PARTS),
                   help=f"which parts to run (subset of {','.join(PARTS)}; written and users time the LLM)")
    p.add_argument("--modes", default="extractive", help="answer modes for latency and cold start: extractive[,generative]")
    p.add_argument("--llm-limit", type=int, default=10,
                   help="generative mode answers only a sample of this many of the questions (tens of seconds each)")
    p.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="gold JSONL of the latency questions")
    p.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="documents for cold start and latency (the gold's)")
    p.add_argument("--build-sentences", type=int, default=3000,
                   help="build corpus size: the seed article replicated (varied) to about this many sentences")
    p.add_argument("--build-files", type=Path, nargs="*", default=None,
                   help="build on these files/folders instead of the replicated seed")
    p.add_argument("--build-squad", type=Path, default=None,
                   help="build on the paragraphs of this SQuAD JSON instead (up to --build-sentences sentences)")
    p.add_argument("--build-repeats", type=int, default=3, help="baseline/pipeline rounds of the build benchmark")
    p.add_argument("--cold-repeats", type=int, default=2, help="rounds of the cold-start processes")
    p.add_argument("--corpus-squad", type=Path, nargs="+", default=None,
                   help="written: SQuAD JSON files whose articles (paragraphs joined) make the multi-document corpus")
    p.add_argument("--corpus-min-chars", type=int, default=100_000,
                   help="written: whole articles are taken until the corpus holds this many characters")
    p.add_argument("--users-rounds", type=int, default=2, help="users: rounds of 1 and of 4 users asking at once")


# ---------------------------------------------------------------- helpers
def load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def maxrss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def rss_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "median": None, "max": None, "n": 0}
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def _round(d: Any, nd: int = 4) -> Any:
    if isinstance(d, float):
        return round(d, nd)
    if isinstance(d, dict):
        return {k: _round(v, nd) for k, v in d.items()}
    if isinstance(d, list):
        return [_round(v, nd) for v in d]
    return d


# ---------------------------------------------------------------- (a) build throughput
def vary(text: str, i: int) -> str:
    """Copy ``i`` of the article: digits rotated by i and body paragraphs shuffled (the first five,
    the masthead/headline/byline block, stay in place so the layout analysis sees the same article)."""
    if i == 0:
        return text
    shifted = re.sub(r"\d", lambda m: str((int(m.group()) + i) % 10), text)
    paras = shifted.split("\n\n")
    head, body = paras[:5], paras[5:]
    random.Random(i).shuffle(body)
    return "\n\n".join(head + body)


def build_texts(args: argparse.Namespace) -> tuple[dict[str, str], str]:
    from index.document import parse_document

    if args.build_files:
        from index.ingest import collect_files
        from index.loaders import load_file

        files, _ = collect_files(list(args.build_files))
        return {doc_id: load_file(fp).text for doc_id, fp in files}, f"files: {', '.join(map(str, args.build_files))}"
    if args.build_squad:
        from eval.suites.squad import load_squad

        paragraphs, _ = load_squad(args.build_squad)
        texts, n = {}, 0
        for doc_id, text in paragraphs.items():
            if n >= args.build_sentences:
                break
            texts[doc_id] = text
            n += len(parse_document(doc_id, text).sentences)
        return texts, f"SQuAD paragraphs of {args.build_squad} ({len(texts)} paragraphs)"
    seeds = sorted(p for p in DEFAULT_DOCS.glob("*.txt"))
    base = {p.name: p.read_text(encoding="utf-8") for p in seeds}
    per_copy = sum(len(parse_document(k, t).sentences) for k, t in base.items())
    copies = max(1, round(args.build_sentences / max(1, per_copy)))
    texts = {f"copy{i:04d}/{name}": vary(t, i) for i in range(copies) for name, t in base.items()}
    return texts, f"seed article x {copies} varied copies"


def bench_build(texts: dict[str, str], repeats: int) -> dict[str, Any]:
    from eval.scale_corpus import sentence_texts
    from index.corpus import Corpus
    from index.document import parse_document
    from index.embedder import embedder_for
    from index.index_dir import IndexDirectory
    from qa.retrieval import HybridRetriever
    from qa.settings import Settings

    emb = embedder_for(Settings.from_env())
    batch_size = emb.batch_size
    docs = [parse_document(k, t) for k, t in texts.items()]
    sentences = sentence_texts(docs)  # what Corpus.add embeds
    del docs
    model = emb.model
    model.encode(sentences[:batch_size], batch_size=batch_size, normalize_embeddings=True)  # untimed warm-up

    def bare() -> dict[str, float]:
        t = time.perf_counter()
        model.encode(sentences, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)
        return {"total_s": time.perf_counter() - t}

    def pipeline() -> dict[str, float]:
        t0 = time.perf_counter()
        parsed = [parse_document(k, t) for k, t in texts.items()]
        t1 = time.perf_counter()
        corpus = Corpus(emb.name, emb.dim)
        corpus.add(parsed, emb, show_progress=False)
        t2 = time.perf_counter()
        HybridRetriever(corpus, emb, Settings())  # BM25 + lexical statistics, built on the first question
        t3 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="citeqa-perf-save-") as tmp:
            d = IndexDirectory(tmp)
            t4 = time.perf_counter()
            with d.write_lock():
                d.save(corpus)
            t5 = time.perf_counter()
        if len(corpus) != len(sentences):
            raise RuntimeError("the pipeline embedded a different number of sentences than the baseline")
        return {"parse_s": t1 - t0, "embed_faiss_s": t2 - t1, "bm25_s": t3 - t2, "total_s": t3 - t0, "save_s": t5 - t4}

    rounds = []
    for r in range(max(1, repeats)):
        order = ("bare", "pipeline") if r % 2 == 0 else ("pipeline", "bare")
        got: dict[str, Any] = {"load_avg": load_avg()}
        for what in order:
            got[what] = bare() if what == "bare" else pipeline()
        got["ratio"] = got["bare"]["total_s"] / got["pipeline"]["total_s"]
        rounds.append(got)
    bare_best = min(r["bare"]["total_s"] for r in rounds)
    best = min(rounds, key=lambda r: r["pipeline"]["total_s"])
    pipe_best = best["pipeline"]["total_s"]
    return {
        "sentences": len(sentences), "documents": len(texts), "batch_size": batch_size, "rounds": _round(rounds),
        "bare_encode_s": round(bare_best, 3), "pipeline_s": round(pipe_best, 3),
        "pipeline_stages_s": _round(best["pipeline"]), "bare_sentences_per_s": round(len(sentences) / bare_best, 1),
        "pipeline_sentences_per_s": round(len(sentences) / pipe_best, 1),
        "throughput_ratio": round(bare_best / pipe_best, 4),  # headline: best of each side
        "throughput_ratio_median_of_rounds": round(statistics.median(r["ratio"] for r in rounds), 4),
        "throughput_ratio_with_save": round(bare_best / (pipe_best + best["pipeline"]["save_s"]), 4),
    }


# ---------------------------------------------------------------- (b) cold start + (d) child memory
def run_child(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """Run one fresh interpreter; wall time from spawn to exit, plus what the child reports."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-c", "pass"] if cfg is None else [sys.executable, "-c", CHILD, json.dumps(cfg)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start process failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    out: dict[str, Any] = {"wall_s": wall}
    for line in proc.stdout.splitlines():
        if line.startswith(CHILD_TAG):
            out.update(json.loads(line[len(CHILD_TAG):]))
    if "maxrss_kb" in out:
        out["maxrss_mb"] = round(out.pop("maxrss_kb") / 1024, 1)
    return out


def bench_cold(docs: Path, question: str, modes: list[str], repeats: int, second_question: str) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"python": [], "bare_model": [], "fresh_index": [], "warm_index": []}
    base = {"question": question, "paths": [str(docs)], "mode": "extractive"}
    with tempfile.TemporaryDirectory(prefix="citeqa-perf-cold-") as tmp:
        for r in range(max(1, repeats)):
            index_dir = str(Path(tmp) / f"index-{r}")
            runs["python"].append(run_child(None))
            runs["bare_model"].append(run_child({**base, "what": "bare"}))
            runs["fresh_index"].append(run_child({**base, "what": "assistant", "index_dir": index_dir}))
            runs["warm_index"].append(run_child({**base, "what": "assistant", "index_dir": index_dir}))
        if "generative" in modes:  # one round: each costs an LLM load and a full prompt read
            from qa.llm.prefix_store import SUBDIR

            runs["bare_model_llm"] = [run_child({**base, "what": "bare", "llm": True})]
            index0 = Path(tmp) / "index-0"
            gen = {**base, "what": "assistant", "mode": "generative", "index_dir": str(index0)}
            shutil.rmtree(index0 / SUBDIR, ignore_errors=True)  # (i) cold: no saved LLM state
            runs["warm_index_generative"] = [run_child({**gen, "second_question": second_question})]
            llm_state_mb = round(sum(p.stat().st_size for p in (index0 / SUBDIR).glob("*.kv")) / 1e6, 1)
            runs["warm_index_generative_saved_state"] = [run_child(gen)]  # (ii) a restart with the state file
    out: dict[str, Any] = {"question": question, "docs": str(docs), "runs": _round(runs)}
    for k, v in runs.items():
        out[k] = {"wall_s": _round(_stats([x["wall_s"] for x in v])),
                  "maxrss_mb": max((x.get("maxrss_mb") or 0) for x in v) or None}
    bare = out["bare_model"]["wall_s"]["min"]
    out["ratios"] = {"fresh_index_vs_bare_model": _ratio(out["fresh_index"]["wall_s"]["min"], bare),
                     "warm_index_vs_bare_model": _ratio(out["warm_index"]["wall_s"]["min"], bare),
                     "fresh_index_rss_vs_bare_model": _ratio(out["fresh_index"]["maxrss_mb"], out["bare_model"]["maxrss_mb"]),
                     "warm_index_rss_vs_bare_model": _ratio(out["warm_index"]["maxrss_mb"], out["bare_model"]["maxrss_mb"])}
    if "warm_index_generative" in out:
        out["ratios"]["warm_index_generative_vs_bare_model_llm"] = _ratio(
            out["warm_index_generative"]["wall_s"]["min"], out["bare_model_llm"]["wall_s"]["min"])
        out["ratios"]["warm_index_generative_rss_vs_bare_model_llm"] = _ratio(
            out["warm_index_generative"]["maxrss_mb"], out["bare_model_llm"]["maxrss_mb"])
        out["llm_first_question"] = llm_first_question(runs, llm_state_mb, second_question)
    return out


def llm_first_question(runs: dict[str, list[dict[str, Any]]], state_mb: float, second_question: str) -> dict[str, Any]:
    """First token / total of the first LLM question: cold, from the saved state, and in RAM, as
    ratios to the bare LLM load time and to the cold figures."""
    cold = runs["warm_index_generative"][0]
    got = {"cold": cold["llm"], "saved_state": runs["warm_index_generative_saved_state"][0]["llm"],
           "in_ram": {**cold["llm_second"], "question": second_question}}
    load = runs["bare_model_llm"][0]["llm_load_s"]
    ratios: dict[str, float | None] = {}
    for case in got:
        for fig in ("first_token_s", "total_s"):
            ratios[f"{case}_{fig[:-2]}_vs_llm_load"] = _ratio(got[case][fig], load)
    for case in ("saved_state", "in_ram"):
        for fig in ("first_token_s", "total_s"):
            ratios[f"{case}_{fig[:-2]}_vs_cold"] = _ratio(got[case][fig], got["cold"][fig])
    return _round({**got, "bare_llm_load_s": load, "state_file_mb": state_mb, "ratios": ratios})


# ---------------------------------------------------------------- (c) per-question latency
def _encode_one_thread(model: Any, text: str, batch_size: int) -> float:
    """ms to encode ``text`` with torch limited to one thread (the thread count is restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t = time.perf_counter()
        model.encode([text], batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return (time.perf_counter() - t) * 1e3
    finally:
        torch.set_num_threads(before)


def bench_latency(args: argparse.Namespace, modes: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from qa import Assistant
    from qa.followup import condense

    gold = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = sample(gold, args.limit, args.seed)
    out: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="citeqa-perf-lat-") as tmp:
        a = Assistant.open(paths=[args.docs], index_dir=tmp)
        batch_size = a.embedder.batch_size
        model = a.embedder.model
        for mode in modes:
            load0 = load_avg()
            warm_up(a, mode)
            mode_rows = []
            questions = sample(chosen, args.llm_limit, args.seed) if mode == "generative" else chosen
            for g in progress(questions, total=len(questions), desc=f"perf {mode}"):
                turns = history_turns(g.get("history"))
                answer, total, first = timed_answer(a, g["question"], turns, mode)
                extra: dict[str, Any] = {"mode": mode}
                if mode == "extractive":  # floor: embed the (standalone) question + one FAISS search
                    q = condense(g["question"], turns)
                    t = time.perf_counter()
                    v = model.encode([q], batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
                    t1 = time.perf_counter()
                    a.corpus.store.search(v[0], 20)
                    t2 = time.perf_counter()
                    extra.update(baseline_ms=round((t2 - t) * 1e3, 3), baseline_encode_ms=round((t1 - t) * 1e3, 3),
                                 baseline_search_ms=round((t2 - t1) * 1e3, 3),
                                 encode_1thread_ms=round(_encode_one_thread(model, q, batch_size), 3))
                evidence = [Span(e["doc"], e["start"], e["end"]) for e in g["evidence"]]
                mode_rows.append(make_row(a, qid=g["id"], kind=g["kind"], question=g["question"], answers=g["answers"],
                                          answerable=bool(g["answerable"]), evidence=evidence, answer=answer,
                                          latency_ms=total, first_token_ms=first, **extra))
            if mode == "generative":  # floor: the bare LLM answering the question alone, after the mode's run
                from qa.llm.local import LocalLLM

                llm = LocalLLM(a.settings)
                for row in progress(mode_rows, total=len(mode_rows), desc="perf bare LLM"):
                    t = time.perf_counter()
                    first_b = None
                    for delta in llm.stream([{"role": "user", "content": row["question"]}],
                                            max_tokens=a.settings.llm.answer_max_tokens):
                        if first_b is None and delta:
                            first_b = (time.perf_counter() - t) * 1e3
                    row["baseline_ms"] = round((time.perf_counter() - t) * 1e3, 2)
                    row["baseline_first_token_ms"] = None if first_b is None else round(first_b, 2)
            agg = metrics.aggregate(mode_rows)
            base = metrics.percentiles([r["baseline_ms"] for r in mode_rows if r.get("baseline_ms") is not None])
            res = {"n": len(mode_rows), "latency_ms": agg["latency_ms"], "first_token_ms": agg["first_token_ms"],
                   "baseline_ms": base, "success": agg["success"], "invalid_spans": agg["invalid_spans"],
                   "latency_p50_vs_baseline": _ratio(agg["latency_ms"]["p50"], base["p50"]),
                   "latency_p95_vs_baseline": _ratio(agg["latency_ms"]["p95"], base["p95"]),
                   "load_avg_start": load0, "load_avg_end": load_avg()}
            if mode == "extractive":
                res["baseline"] = "bare encode of the question + FAISS search (same model, same index)"
                # torch's OpenMP threads wait for each other: on an oversubscribed CPU one thread can be faster
                res["baseline_encode_ms"] = metrics.percentiles([r["baseline_encode_ms"] for r in mode_rows])
                res["encode_1thread_ms"] = metrics.percentiles([r["encode_1thread_ms"] for r in mode_rows])
                # The relevance model's part: the share of questions it read and its time, against the same floor.
                res["relevance_model_share"] = agg["relevance_model_share"]
                res["relevance_ms"] = agg["relevance_ms"]
                res["relevance_p50_vs_baseline"] = _ratio(agg["relevance_ms"]["p50"], base["p50"])
            else:
                fb = metrics.percentiles([r["baseline_first_token_ms"] for r in mode_rows
                                          if r.get("baseline_first_token_ms") is not None])
                res.update(baseline="the bare LLM completing the question alone (no documents, same max tokens)",
                           baseline_first_token_ms=fb,
                           first_token_p50_vs_baseline=_ratio(agg["first_token_ms"]["p50"], fb["p50"]))
            out[mode] = res
            rows += mode_rows
    return out, rows


# ---------------------------------------------------------------- the suite
def run(args: argparse.Namespace) -> SuiteResult:
    parts = [p.strip() for p in str(args.parts).split(",") if p.strip()]
    modes = [m.strip() for m in str(args.modes).split(",") if m.strip()]
    if not parts or any(p not in PARTS for p in parts):
        raise ValueError(f"--parts must be a subset of {','.join(PARTS)}")
    if not modes or any(m not in ("extractive", "generative") for m in modes):
        raise ValueError("--modes must be a subset of extractive,generative")
    if min(args.build_sentences, args.build_repeats, args.cold_repeats, args.llm_limit, args.users_rounds) < 1:
        raise ValueError("--build-sentences, --build-repeats, --cold-repeats, --llm-limit and --users-rounds must be "
                         "at least 1")
    if "written" in parts and not args.corpus_squad:
        from eval.suites.perf_llm import NEEDS_CORPUS

        raise ValueError(NEEDS_CORPUS)
    if not args.docs.exists():
        raise ValueError(f"--docs {args.docs}: no such file or folder")

    m: dict[str, Any] = {"load_avg_start": load_avg(), "peak_rss_mb": {}}
    rows: list[dict[str, Any]] = []
    keys: list[str] = []
    notes = ["The CPU is shared: read the ratios to the same-run baselines; absolute times vary with the load "
             "average recorded beside them."]
    # Cold start first: nothing loaded in this process yet, so the children do not compete with it for RAM.
    if "cold" in parts:
        gold = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
        plain = [g["question"] for g in gold if g.get("answerable") and not g.get("history")] or [gold[0]["question"]]
        m["cold"] = bench_cold(args.docs, plain[0], modes, args.cold_repeats, plain[min(1, len(plain) - 1)])
        m["peak_rss_mb"]["after_cold"] = maxrss_mb()
        keys += ["cold_python_s=cold.python.wall_s.min", "cold_bare_model_s=cold.bare_model.wall_s.min",
                 "cold_fresh_index_s=cold.fresh_index.wall_s.min", "cold_warm_index_s=cold.warm_index.wall_s.min",
                 "cold_fresh_vs_bare=cold.ratios.fresh_index_vs_bare_model",
                 "cold_warm_vs_bare=cold.ratios.warm_index_vs_bare_model",
                 "rss_bare_model_mb=cold.bare_model.maxrss_mb", "rss_fresh_index_mb=cold.fresh_index.maxrss_mb",
                 "rss_warm_index_mb=cold.warm_index.maxrss_mb"]
        if "generative" in modes:
            keys += ["cold_generative_s=cold.warm_index_generative.wall_s.min",
                     "cold_bare_model_llm_s=cold.bare_model_llm.wall_s.min",
                     "cold_generative_vs_bare=cold.ratios.warm_index_generative_vs_bare_model_llm",
                     "rss_generative_mb=cold.warm_index_generative.maxrss_mb",
                     "rss_bare_model_llm_mb=cold.bare_model_llm.maxrss_mb",
                     "llm_load_s=cold.llm_first_question.bare_llm_load_s"]
            for case in ("cold", "saved_state", "in_ram"):
                keys += [f"llm_{case}_first_token_s=cold.llm_first_question.{case}.first_token_s",
                         f"llm_{case}_total_s=cold.llm_first_question.{case}.total_s",
                         f"llm_{case}_first_token_vs_load=cold.llm_first_question.ratios.{case}_first_token_vs_llm_load"]
            keys += ["llm_saved_state_first_token_vs_cold=cold.llm_first_question.ratios.saved_state_first_token_vs_cold",
                     "llm_saved_state_total_vs_cold=cold.llm_first_question.ratios.saved_state_total_vs_cold",
                     "llm_state_file_mb=cold.llm_first_question.state_file_mb"]
        notes.append("Cold start: wall time of a new `python -c` process (interpreter start included) that opens the "
                     "Assistant and answers one question; baseline: a process that loads the bare SentenceTransformer "
                     "and encodes the question. Best of --cold-repeats rounds.")
        if "generative" in modes:
            notes.append("LLM first question (one round each, fresh processes on the same index): cold = no saved LLM "
                         "state, the corpus prefix is read; saved_state = the next process reads the prefix's KV state "
                         "from <index>/llm-state/; in_ram = a second question in the cold process. Times include "
                         "loading the LLM on first use; ratios are to the bare LLM load time and to cold.")
    if "latency" in parts:
        m["latency"], rows = bench_latency(args, modes)
        m["peak_rss_mb"]["after_latency"] = maxrss_mb()
        for mode in modes:
            keys += [f"{mode}_n=latency.{mode}.n", f"{mode}_p50_ms=latency.{mode}.latency_ms.p50",
                     f"{mode}_p95_ms=latency.{mode}.latency_ms.p95",
                     f"{mode}_baseline_p50_ms=latency.{mode}.baseline_ms.p50",
                     f"{mode}_p50_vs_baseline=latency.{mode}.latency_p50_vs_baseline"]
            if mode == "extractive":
                keys += ["encode_question_p50_ms=latency.extractive.baseline_encode_ms.p50",
                         "encode_question_1thread_p50_ms=latency.extractive.encode_1thread_ms.p50",
                         "relevance_model_share=latency.extractive.relevance_model_share",
                         "relevance_p50_ms=latency.extractive.relevance_ms.p50",
                         "relevance_p50_vs_baseline=latency.extractive.relevance_p50_vs_baseline"]
            if mode == "generative":
                keys += ["generative_first_token_p50_ms=latency.generative.first_token_ms.p50",
                         "generative_first_token_p95_ms=latency.generative.first_token_ms.p95",
                         "generative_baseline_first_token_p50_ms=latency.generative.baseline_first_token_ms.p50"]
        first = rows and [r for r in rows if r["mode"] == modes[0]]
        if first:  # the report's run table reads these top-level figures: the first mode's
            m.update({k: v for k, v in metrics.aggregate(first).items() if k in ("n", "success", "latency_ms")})
    if "written" in parts or "users" in parts:
        from eval.suites import perf_llm

        gold = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
        if "written" in parts:
            m["written"], written_rows = perf_llm.run_written(args, gold)
            rows += [{**r, "mode": "written"} for r in written_rows]
            for c in ("seed", "multi"):
                keys += [f"written_{c}_p50_ms=written.{c}.latency_ms.p50",
                         f"written_{c}_bare_p50_ms=written.{c}.baseline_ms.p50",
                         f"written_{c}_p50_vs_bare=written.{c}.latency_p50_vs_bare",
                         f"written_{c}_first_token_p50_ms=written.{c}.first_token_ms.p50",
                         f"written_{c}_bare_first_token_p50_ms=written.{c}.baseline_first_token_ms.p50",
                         f"written_{c}_first_token_p50_vs_bare=written.{c}.first_token_p50_vs_bare",
                         f"written_{c}_read_tokens_p50=written.{c}.read_tokens.p50"]
            keys += ["written_multi_chars=written.multi.characters",
                     "written_multi_windows=written.multi.windows", "written_multi_warm_s=written.multi.warm_s",
                     "written_multi_answer_in_citations=written.multi.answer_in_citations",
                     "written_multi_no_windows_first_token_p50_vs_bare=written.multi.without_windows.first_token_p50_vs_bare",
                     "written_multi_no_windows_p50_vs_bare=written.multi.without_windows.latency_p50_vs_bare",
                     "written_multi_no_windows_answer_in_citations=written.multi.without_windows.answer_in_citations",
                     "written_multi_no_windows_same_text=written.multi.without_windows.same_text",
                     "written_multi_before_first_token_p50_ms=written.multi.before_first_token_ms.p50",
                     "written_multi_before_read_tokens_p50=written.multi.before_read_tokens.p50"]
            notes.append("Written answers (generative mode) on the seed article and on a multi-document corpus of "
                         "SQuAD articles; bare = the bare LLM answering the same question alone, in the same run, "
                         "after the written answers. The multi-document corpus is read in windows before timing (warm_s; "
                         "docs/decisions/0227); 'no_windows' = the same questions with corpus_windows=0 (evidence-only prompt). "
                         "'before' = the prompt layout before issue #30 (six retrieved "
                         "sentences and neighbours in the system message, read per question). Targets: written p50 "
                         "<= 1.3x bare, first token <= 1.5x bare.")
        if "users" in parts:
            m["users"] = perf_llm.run_users(args, gold)
            keys += [f"users_{k}_first_token_{p}_ms=users.users_{k}.first_token_ms.{p}"
                     for k in (1, 4) for p in ("p50", "p95")]
            keys += ["users_1_latency_p50_ms=users.users_1.latency_ms.p50",
                     "users_4_latency_p50_ms=users.users_4.latency_ms.p50"]
            notes.append("Users: seed questions asked by 1 and by 4 users at once (each its own chat), one model "
                         "serving them in arrival order: first token and answer time from each question's own start.")
    if "build" in parts:
        texts, what = build_texts(args)
        m["build"] = {"corpus": what, **bench_build(texts, args.build_repeats), "load_avg_end": load_avg()}
        m["peak_rss_mb"]["after_build"] = maxrss_mb()
        keys += ["build_sentences=build.sentences", "build_bare_encode_s=build.bare_encode_s",
                 "build_pipeline_s=build.pipeline_s", "build_throughput_ratio=build.throughput_ratio",
                 "build_ratio_median=build.throughput_ratio_median_of_rounds",
                 "build_ratio_with_save=build.throughput_ratio_with_save"]
        notes.append("Build: throughput_ratio = bare SentenceTransformer.encode time / pipeline time (parse + embed + "
                     "FAISS + BM25) on the same texts, best of each over alternating rounds; target >= 0.9. "
                     "Saving the index directory is reported apart (throughput_ratio_with_save).")
    m["peak_rss_mb"]["this_process_end"] = maxrss_mb()
    m["rss_mb_end"] = rss_mb()
    m["load_avg_end"] = load_avg()
    keys += ["peak_rss_this_process_mb=peak_rss_mb.this_process_end", "load_avg_start=load_avg_start",
             "load_avg_end=load_avg_end"]
    config = {"parts": parts, "modes": modes, "gold": str(args.gold), "docs": str(args.docs),
              "build_sentences": args.build_sentences, "build_files": [str(p) for p in args.build_files or []],
              "build_squad": str(args.build_squad) if args.build_squad else None, "build_repeats": args.build_repeats,
              "corpus_squad": [str(p) for p in args.corpus_squad or []], "corpus_min_chars": args.corpus_min_chars,
              "users_rounds": args.users_rounds,
              "cold_repeats": args.cold_repeats, "llm_limit": args.llm_limit, "limit": args.limit, "seed": args.seed,
              "mode": "written answers" if set(parts) <= {"written", "users"} else ",".join(modes)}
    return SuiteResult(config, m, headline(m, keys), rows, notes)
