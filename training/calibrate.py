"""Fit the sentence-support model and the abstention threshold on SQuAD v2.0 (open corpus).

    python -m training.calibrate ../shared/eval/squad2_dev_A.json [--limit N] [--out PATH]

All paragraphs of the file go into one index; every question is asked against all of them.
For answerable questions the sentence holding a gold answer start is the positive candidate,
the other retrieved candidates negatives: a logistic regression over (cosine, coverage,
type_ok) fitted on half of the articles gives the support probability. The abstention
threshold is then chosen on the same half and the rates are reported on the other half
(held-out articles). The fit, with those figures, is written to qa/fitted/support.json (or ``--out``),
which qa/support.py reads.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from qa import Assistant
from qa.support import answer_type, coverage, type_ok
from index.text import content_stems
from training.data import load_squad
from training.fitted import command_line, fit_record, save

TARGET_FALSE_ABSTENTION = 0.10  # operating point: answer at least 90% of answerable questions
FEATURES = ("cosine", "coverage", "type_ok")


def features(assistant: Assistant, questions: list[dict]) -> list[dict]:
    retriever = assistant.retriever()
    corpus = assistant.corpus
    rows = []
    for i, q in enumerate(questions):
        hits = retriever.search(q["question"])
        kind = answer_type(q["question"])
        q_stems = content_stems(q["question"])
        cands = []
        for h in hits:
            rec = corpus.records[h.row]
            label = rec.doc_id == q["doc"] and any(rec.start <= s < rec.end for s in q["starts"])
            cands.append((h.cosine, coverage(q_stems, retriever.lexical.row_stems(h.row), retriever.lexical),
                          type_ok(kind, corpus.record_text(h.row)), int(label)))
        rows.append({**q, "cands": cands})
        if i % 500 == 0:
            print(f"  features {i}/{len(questions)}", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("squad_json")
    ap.add_argument("--limit", type=int, default=0, help="sample this many questions (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the fit here instead of qa/fitted/support.json")
    args = ap.parse_args(argv)

    texts, questions = load_squad(args.squad_json)
    if args.limit:
        questions = random.Random(args.seed).sample(questions, min(args.limit, len(questions)))
    t0 = time.perf_counter()
    assistant = Assistant.from_texts(texts)
    print(f"indexed {len(texts)} paragraphs, {len(assistant.corpus)} sentences in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rows = features(assistant, questions)

    articles = sorted({r["article"] for r in rows})
    fit_articles = set(articles[::2])
    fit = [r for r in rows if r["article"] in fit_articles]
    held = [r for r in rows if r["article"] not in fit_articles]

    X = np.array([c[:3] for r in fit if r["answerable"] for c in r["cands"]])
    y = np.array([c[3] for r in fit if r["answerable"] for c in r["cands"]])
    model = LogisticRegression(C=10.0, max_iter=1000).fit(X, y)
    w = {"bias": round(float(model.intercept_[0]), 4),
         **{f: round(float(v), 4) for f, v in zip(FEATURES, model.coef_[0])}}

    def top_p(r: dict) -> float:
        if not r["cands"]:
            return 0.0
        X = np.array([c[:3] for c in r["cands"]])
        return float(model.predict_proba(X)[:, 1].max())

    def rates(part: list[dict], thr: float) -> tuple[float, float]:
        ans = [top_p(r) < thr for r in part if r["answerable"]]
        una = [top_p(r) < thr for r in part if not r["answerable"]]
        return (sum(ans) / max(1, len(ans)), sum(una) / max(1, len(una)))

    for r in rows:
        r["p"] = top_p(r)
    grid = np.round(np.arange(0.02, 0.9, 0.01), 2)
    print("threshold  false-abstain(fit)  true-abstain(fit)", file=sys.stderr)
    chosen = grid[0]
    for thr in grid:
        fa, ta = rates(fit, thr)
        if fa <= TARGET_FALSE_ABSTENTION:
            chosen = thr
        if int(thr * 100) % 5 == 0:
            print(f"  {thr:.2f}      {fa:.3f}               {ta:.3f}", file=sys.stderr)
    fa_h, ta_h = rates(held, chosen)
    fa_f, ta_f = rates(fit, chosen)
    # How often the best-scored candidate is the gold sentence (answerable, held-out).
    top1 = [max(r["cands"], key=lambda c: float(model.predict_proba(np.array([c[:3]]))[0, 1]))[3]
            for r in held if r["answerable"] and r["cands"]]
    result = {
        "weights": w, "abstain_below": float(chosen),
        "fit": {"questions": len(fit), "false_abstention": round(fa_f, 3), "true_abstention": round(ta_f, 3)},
        "held_out": {"questions": len(held), "false_abstention": round(fa_h, 3), "true_abstention": round(ta_h, 3),
                     "top1_support_is_gold": round(sum(top1) / max(1, len(top1)), 3)},
        "corpus": {"paragraphs": len(texts), "sentences": len(assistant.corpus)},
    }
    print(json.dumps(result))
    data = {"file": args.squad_json, "questions": len(rows), "limit": args.limit, "seed": args.seed,
            "split": "articles by sorted title: even-numbered ones fit the weights and the threshold "
                     "(answerable questions' retrieved candidates; gold = holds an answer start), the others held out",
            "fit_articles": sorted(fit_articles),
            "threshold_rule": f"highest of 0.02..0.89 with false abstention <= {TARGET_FALSE_ABSTENTION} on the fit articles"}
    figures = {k: result[k] for k in ("fit", "held_out", "corpus")}
    record = fit_record(w, float(chosen), embedder=assistant.embedder.name, data=data, figures=figures,
                        command=command_line("training.calibrate", argv))
    print(f"wrote {save('support', record, FEATURES, out=args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
