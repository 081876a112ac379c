"""Fit how the product combines the trained relevance model with the hand features (open corpus).

    python -m training.calibrate_relevance ../shared/eval/squad2_dev_A.json [--limit 400] [--top 6] [--out PATH]

All SQuAD paragraphs go into one index, as in ``training/calibrate.py``. Per question, the retriever's
candidates are scored by ``qa/support.py``; the best ``--top`` of them are also read by the relevance
cross-encoder (``qa/relevance``). A logistic regression over (cosine, coverage, type_ok, model logit)
is fitted on the CALIBRATION articles of ``training/data.py`` (never seen by the cross-encoder's
training), and the abstention threshold there is the highest with false abstention <= 8%. Reported on
the TEST articles (held out from both fits), for the hand features alone and for the combination, on
the same questions: top-1 (the best-scored sentence holds a gold answer), top-2, false and true
abstention. The fit, with those figures, replaces the running embedder's entry of qa/fitted/relevance.json (or
of ``--out``), which qa/support.py reads: cosines differ by embedder. ``gated`` shows the product's
``Settings.judge.relevance_gate``: the model reads only questions whose best hand-feature probability is below the
gate (others keep the hand features' choice and threshold); pick it on the calibration articles.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

MAX_FALSE_ABSTENTION = 0.08
FEATURES = ("cosine", "coverage", "type_ok", "relevance")


def collect(assistant, questions: list[dict], scorer, top: int) -> list[dict]:
    from qa.support import score_hits

    retriever, corpus = assistant.retriever(), assistant.corpus
    out = []
    t0 = time.perf_counter()
    for i, q in enumerate(questions):
        hits = retriever.search(q["question"])
        scored = score_hits(q["question"], q["question"], hits, retriever.lexical, corpus.record_text)
        head = scored[:top]
        logits = scorer.logits(q["question"], [corpus.record_text(s.hit.row) for s in head])
        cands = []
        for k, s in enumerate(scored):
            rec = corpus.records[s.hit.row]
            gold = rec.doc_id == q["doc"] and any(rec.start <= a < rec.end for a in q["starts"])
            cands.append({"cosine": s.cosine, "coverage": s.coverage, "type_ok": s.type_ok,
                          "support": s.probability, "relevance": float(logits[k]) if k < len(head) else None,
                          "gold": bool(gold)})
        out.append({**q, "cands": cands})
        if i % 100 == 0:
            print(f"  {i}/{len(questions)} {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def stacked(c: dict, w: dict[str, float]) -> float:
    """What the product computes (qa.support.probability with the model's logit)."""
    from qa.support import probability

    if c["relevance"] is None:  # below the reranked head: keeps its hand-feature probability, scaled down
        return -1.0 + c["support"]
    return probability(c["cosine"], c["coverage"], c["type_ok"], w, relevance=c["relevance"])


def evaluate(rows: list[dict], key, threshold: float | None = None) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    best = {id(r): max((key(c) for c in r["cands"]), default=-1.0) for r in rows}
    ranked = {id(r): sorted(r["cands"], key=lambda c: -key(c)) for r in answerable}
    top1 = np.mean([bool(ranked[id(r)]) and ranked[id(r)][0]["gold"] for r in answerable])
    top2 = np.mean([any(c["gold"] for c in ranked[id(r)][:2]) for r in answerable])
    if threshold is None:  # the highest threshold with false abstention <= budget
        scores = sorted(best[id(r)] for r in answerable)
        threshold = scores[int(MAX_FALSE_ABSTENTION * len(scores))] if scores else 0.0
    false_abst = np.mean([best[id(r)] < threshold for r in answerable])
    unans = [r for r in rows if not r["answerable"]]
    true_abst = np.mean([best[id(r)] < threshold for r in unans]) if unans else float("nan")
    return {"top1": round(float(top1), 4), "top2": round(float(top2), 4), "threshold": round(float(threshold), 4),
            "false_abstention": round(float(false_abst), 4), "true_abstention": round(float(true_abst), 4),
            "answerable": len(answerable), "unanswerable": len(unans)}


def evaluate_gated(rows: list[dict], weights: dict[str, float], gate: float, model_threshold: float,
                   hand_threshold: float) -> dict:
    """As the product runs with ``Settings.judge.relevance_gate``: a question whose best hand-feature probability is
    at least ``gate`` keeps the hand features' ranking and threshold; the others are reranked with the model.
    Each candidate is scored as its margin over its question's threshold, so ``evaluate`` decides at 0."""
    shifted, ran = [], 0
    for r in rows:
        if max((c["support"] for c in r["cands"]), default=-1.0) >= gate:
            margin = lambda c: c["support"] - hand_threshold  # noqa: E731
        else:
            margin, ran = (lambda c: stacked(c, weights) - model_threshold), ran + 1  # noqa: E731
        shifted.append({**r, "cands": [{**c, "margin": margin(c)} for c in r["cands"]]})
    out = evaluate(shifted, lambda c: c["margin"], threshold=0.0)
    return {"gate": gate, **{k: out[k] for k in ("top1", "top2", "false_abstention", "true_abstention")},
            "model_runs": round(ran / max(len(rows), 1), 4)}


def fit(rows: list[dict]) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    X, y = [], []
    for r in rows:
        if not r["answerable"]:
            continue
        for c in r["cands"]:
            if c["relevance"] is not None:
                X.append([c[f] for f in FEATURES])
                y.append(int(c["gold"]))
    lr = LogisticRegression(C=10.0, max_iter=2000).fit(np.array(X), np.array(y))
    return {"bias": round(float(lr.intercept_[0]), 4),
            **{f: round(float(v), 4) for f, v in zip(FEATURES, lr.coef_[0])}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("squad_json")
    ap.add_argument("--limit", type=int, default=400, help="questions per part (calibration, test); 0 = all")
    ap.add_argument("--top", type=int, default=6, help="candidates the cross-encoder reads per question")
    ap.add_argument("--weights", default=None, help="relevance model directory (default: the committed one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gates", default="0.2,0.3,0.4,0.5,1.01",
                    help="comma-separated relevance_gate values to evaluate (1.01 = the model reads every question)")
    ap.add_argument("--out", type=Path, default=None, help="write the fit here instead of qa/fitted/relevance.json")
    args = ap.parse_args(argv)

    from qa import Assistant
    from training.data import split_articles
    from qa.relevance.scorer import RelevanceScorer
    from training.calibrate import load_squad
    from training.fitted import command_line, fit_record, save

    texts, questions = load_squad(args.squad_json)
    split = split_articles([q["article"] for q in questions])
    rng = random.Random(args.seed)
    parts = {}
    for name in ("calib", "test"):
        qs = [q for q in questions if split[q["article"]] == name]
        parts[name] = rng.sample(qs, min(args.limit, len(qs))) if args.limit else qs
    assistant = Assistant.from_texts(texts)
    scorer = RelevanceScorer.load(args.weights)
    data = {name: collect(assistant, qs, scorer, args.top) for name, qs in parts.items()}
    weights = fit(data["calib"])
    hand = lambda c: c["support"]  # noqa: E731
    combo = lambda c: stacked(c, weights)  # noqa: E731
    result = {"weights": weights, "top": args.top, "limit": args.limit,
              "articles": {k: sorted({q["article"] for q in v}) for k, v in parts.items()}}
    for name, key in (("hand_features", hand), ("hand_features_plus_model", combo)):
        calib = evaluate(data["calib"], key)
        result[name] = {"calib": calib, "test": evaluate(data["test"], key, calib["threshold"])}
    from qa.support import ABSTAIN_BELOW

    model_threshold = result["hand_features_plus_model"]["calib"]["threshold"]
    result["gated"] = [{name: evaluate_gated(data[name], weights, float(g), model_threshold, ABSTAIN_BELOW)
                        for name in ("calib", "test")} for g in args.gates.split(",") if g.strip()]
    only = lambda c: c["relevance"] if c["relevance"] is not None else -99.0  # noqa: E731
    calib = evaluate(data["calib"], only)
    result["model_alone_on_top"] = {"calib": calib, "test": evaluate(data["test"], only, calib["threshold"])}
    print(json.dumps(result, indent=1))
    source = {"file": args.squad_json, "limit": args.limit, "seed": args.seed, "top": args.top,
              "relevance_model": str(args.weights or "the committed one (qa/relevance/weights)"),
              "split": "qa/relevance/data.py split_articles: weights and threshold fitted on the calibration articles "
                       "(answerable questions' best --top candidates), reported on the test articles",
              "threshold_rule": f"highest with false abstention <= {MAX_FALSE_ABSTENTION} on the calibration articles",
              "articles": result["articles"]}
    figures = {k: v for k, v in result.items() if k not in ("weights", "top", "limit", "articles")}
    record = fit_record(weights, model_threshold, embedder=assistant.embedder.name, data=source, figures=figures,
                        command=command_line("training.calibrate_relevance", argv))
    print(f"wrote {save('relevance', record, FEATURES, by_embedder=True, out=args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
