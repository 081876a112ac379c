"""Learned relevance model vs the hand-made scorer (qa/support.py), same questions, one run.

    python -m eval.relevance_bench ../shared/eval/squad2_dev_A.json [--weights DIR] [--limit N]
        [--open-k 20] [--no-open] [--latency-only]

On the held-out (test) articles of training.data.split_articles:
  paragraph: top-1 sentence accuracy within the gold paragraph (answerable questions), and
             abstention when the best sentence of the paragraph scores below a threshold;
  open:      all paragraphs of the file in one index (as training/calibrate.py); each model reranks
             the hybrid retriever's candidates; top-1 / top-2 = the gold sentence ranks first / in
             the first two; abstention on the best candidate. The current scorer is given every
             retrieved candidate (as the product does) and, separately, the same top-k as the model.
Thresholds are chosen on the calibration articles: the highest with false abstention <= 8%.
Latency: scoring 10 and 20 pairs on 1 and 2 threads, as a ratio to one bare
SentenceTransformer.encode of a question measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from training.heldout import BaselineScorer, abstention, choose_threshold, paragraph_eval


def open_eval(path: str, calib: list, test: list, model, k: int) -> dict:
    """Rerank the hybrid retriever's candidates over the whole file's paragraphs."""
    from training.data import load_squad
    from qa import Assistant
    from qa.support import score_hits

    texts, _ = load_squad(path)
    a = Assistant.from_texts(texts)
    retriever, corpus = a.retriever(), a.corpus

    def gold_rows(q, rows):
        return [r for r in rows if corpus.records[r].doc_id == q.doc
                and any(corpus.records[r].start <= s < corpus.records[r].end for s in q.starts)]

    def run(qs):
        out = {"base_all": [], "base_k": [], "model": []}  # (best prob, rank of gold or None)
        for n, q in enumerate(qs):
            hits = retriever.search(q.question)
            topk = hits[:k]
            for name, hs in (("base_all", hits), ("base_k", topk)):
                scored = score_hits(q.question, q.question, hs, retriever.lexical, corpus.record_text)
                rows = [s.hit.row for s in scored]
                out[name].append((scored[0].probability if scored else 0.0, _gold_rank(rows, gold_rows(q, rows))))
            p = model.score(q.question, [corpus.record_text(h.row) for h in topk])
            order = [topk[i].row for i in np.argsort(-p, kind="stable")]
            out["model"].append((float(p.max()) if len(p) else 0.0, _gold_rank(order, gold_rows(q, order))))
            if n % 200 == 0:
                print(f"  open {n}/{len(qs)}", file=sys.stderr)
        return out

    c, t = run(calib), run(test)
    result = {"sentences": len(corpus), "rerank_k": k}
    for name in ("base_all", "base_k", "model"):
        thr = choose_threshold([b for (b, _), q in zip(c[name], calib) if q.answerable])
        ranks = [r for (_, r), q in zip(t[name], test) if q.answerable]
        result[name] = {"top1": round(float(np.mean([r == 0 for r in ranks])), 3),
                        "top2": round(float(np.mean([r is not None and r < 2 for r in ranks])), 3),
                        "gold_in_candidates": round(float(np.mean([r is not None for r in ranks])), 3),
                        "abstention": abstention([b for b, _ in t[name]], [q.answerable for q in test], thr)}
    return result


def _gold_rank(order: list[int], gold: list[int]) -> int | None:
    g = set(gold)
    return next((i for i, r in enumerate(order) if r in g), None)


def latency(model, reps: int = 30) -> dict:
    """Median ms per call, and as a ratio to one bare SentenceTransformer.encode of a question."""
    import torch
    from sentence_transformers import SentenceTransformer

    from index.embedder import default_model_path

    st = SentenceTransformer(default_model_path(), device="cpu")
    q = "When did the Normans conquer England and who led them?"
    sents = [f"In {1000 + i} the Norman duke William led an army across the channel to claim the throne, "
             f"according to chronicle number {i}." for i in range(20)]

    def median_ms(fn) -> float:
        fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1000)
        return statistics.median(ts)

    out = {}
    prev, prev_model = torch.get_num_threads(), model.threads
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            model.threads = threads
            enc = median_ms(lambda: st.encode([q], batch_size=1, show_progress_bar=False))
            row = {"encode_one_question_ms": round(enc, 1)}
            for n in (10, 20):
                ms = median_ms(lambda: model.score(q, sents[:n]))
                row[f"score_{n}_ms"] = round(ms, 1)
                row[f"score_{n}_ratio"] = round(ms / enc, 1)
            out[f"threads_{threads}"] = row
    finally:
        torch.set_num_threads(prev)
        model.threads = prev_model
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("squad_json")
    ap.add_argument("--weights", default=None, help="relevance weights dir (default: the committed one)")
    ap.add_argument("--quantize", action="store_true", help="dynamic int8 quantisation of the linear layers")
    ap.add_argument("--limit", type=int, default=0, help="questions per part (calibration, test); 0 = all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--open-k", type=int, default=20, help="candidates the model reranks in the open setting")
    ap.add_argument("--no-open", action="store_true")
    ap.add_argument("--latency-only", action="store_true")
    ap.add_argument("--card", default=None, help="append the figures to this weights dir's MODEL_CARD.md")
    args = ap.parse_args(argv)

    import torch

    from index.embedder import get_embedder
    from training.data import limit_questions, load_questions, split_articles
    from qa.relevance.model import RelevanceModel

    model = RelevanceModel.load(args.weights, quantize=args.quantize or None)
    result: dict = {"weights": args.weights or "committed", "quantize": bool(model.config["quantize"] or args.quantize)}
    result["latency"] = latency(model)
    if not args.latency_only:
        torch.set_num_threads(1)  # on the shared 2-core machine a second thread slows down under load
        questions, paragraphs = load_questions(args.squad_json)
        split = split_articles([q.article for q in questions])
        calib = limit_questions([q for q in questions if split[q.article] == "calib"], args.limit, args.seed)
        test = limit_questions([q for q in questions if split[q.article] == "test"], args.limit, args.seed)
        result["split"] = {"calib_questions": len(calib), "test_questions": len(test),
                           "test_articles": sorted(a for a, p in split.items() if p == "test"),
                           "calib_articles": sorted(a for a, p in split.items() if p == "calib")}
        base = BaselineScorer([s for ss in paragraphs.values() for s in ss], get_embedder())
        t0 = time.perf_counter()
        result["paragraph"] = {"model": paragraph_eval(calib, test, model.score),
                               "baseline": paragraph_eval(calib, test, base)}
        print(f"  paragraph setting {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        if not args.no_open:
            result["open"] = open_eval(args.squad_json, calib, test, model, args.open_k)
    result["command"] = "python -m eval.relevance_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(result, indent=1))
    if args.card:
        from training.card import append_bench

        append_bench(Path(args.card), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
