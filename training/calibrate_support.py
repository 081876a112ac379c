"""Fit the claim-support check of the generative mode (qa/verify.py) on SQuAD v2.0.

    python -m training.calibrate_support ../shared/eval/squad2_dev_A.json [--limit 1500] [--out PATH]

A claim is the question followed by its gold answer ("Who sent the letter? Kim Yong Chol"),
a stand-in for an answer sentence. Its positive source is the paragraph sentence holding the
answer; its negatives are the best-retrieved other sentences (hard negatives). A logistic
regression over (cosine, lexical share) gives the support probability; the threshold that
maximises accuracy on the even-numbered articles is reported with its accuracy on the others. The fit, with
those figures, is written to qa/fitted/verify.json (or ``--out``), which qa/verify.py reads.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from qa import Assistant
from qa.verify import lexical_support
from training.calibrate import load_squad
from training.fitted import command_line, fit_record, save

NEGATIVES = 3
FEATURES = ("cosine", "lexical")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("squad_json")
    ap.add_argument("--limit", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the fit here instead of qa/fitted/verify.json")
    args = ap.parse_args(argv)
    texts, questions = load_squad(args.squad_json)
    questions = [q for q in questions if q["answerable"]]
    questions = random.Random(args.seed).sample(questions, min(args.limit, len(questions)))
    answers = {}
    for article in json.load(open(args.squad_json, encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                if qa.get("answers"):
                    answers[qa["id"]] = qa["answers"][0]["text"]
    assistant = Assistant.from_texts(texts)
    corpus, retriever, emb = assistant.corpus, assistant.retriever(), assistant.embedder
    rows = []  # (article, cos, lex, label)
    for i, q in enumerate(questions):
        claim = f"{q['question']} {answers[q['id']]}"
        gold = [r for r, rec in enumerate(corpus.records)
                if rec.doc_id == q["doc"] and any(rec.start <= s < rec.end for s in q["starts"])]
        if not gold:
            continue
        negs = [h.row for h in retriever.search(q["question"]) if h.row not in gold][:NEGATIVES]
        cv = emb.encode_query(claim)
        for r, label in [(gold[0], 1)] + [(n, 0) for n in negs]:
            rows.append((q["article"], float(corpus.store.vectors[r] @ cv), lexical_support(claim, corpus.record_text(r)), label))
        if i % 300 == 0:
            print(f"  {i}/{len(questions)}", file=sys.stderr)
    articles = sorted({r[0] for r in rows})
    fit_set = set(articles[::2])
    X = lambda part: np.array([[r[1], r[2]] for r in part])
    y = lambda part: np.array([r[3] for r in part])
    fit = [r for r in rows if r[0] in fit_set]
    held = [r for r in rows if r[0] not in fit_set]
    model = LogisticRegression(max_iter=1000).fit(X(fit), y(fit))
    grid = np.round(np.arange(0.05, 0.95, 0.01), 2)
    acc = lambda part, t: float(np.mean((model.predict_proba(X(part))[:, 1] >= t) == y(part)))
    best = max(grid, key=lambda t: acc(fit, t))
    p_held = model.predict_proba(X(held))[:, 1] >= best
    yh = y(held)
    weights = {"bias": round(float(model.intercept_[0]), 4),
               **{f: round(float(v), 4) for f, v in zip(FEATURES, model.coef_[0])}}
    figures = {"pairs": len(rows), "fit_accuracy": round(acc(fit, best), 3), "held_out_accuracy": round(acc(held, best), 3),
               "held_out_recall_supported": round(float(p_held[yh == 1].mean()), 3),
               "held_out_false_support": round(float(p_held[yh == 0].mean()), 3)}
    print(json.dumps({"weights": weights, "support_min": float(best), **figures}))
    data = {"file": args.squad_json, "questions": len(questions), "limit": args.limit, "seed": args.seed,
            "pairs": f"claim = question + first gold answer; its gold sentence and {NEGATIVES} best-retrieved other "
                     "sentences (hard negatives)",
            "split": "articles by sorted title: even-numbered ones fit the weights and the threshold, the others held out",
            "threshold_rule": "the best accuracy on the fit articles over 0.05..0.94"}
    record = fit_record(weights, float(best), embedder=emb.name, data=data, figures=figures,
                        command=command_line("training.calibrate_support", argv))
    print(f"wrote {save('verify', record, FEATURES, out=args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
