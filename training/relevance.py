"""Train the relevance cross-encoder on SQuAD v2.0 (split by article), evaluate, write the weights.

    python -m training.relevance [--squad PATH] [--out DIR] [--minutes N] [--steps N] [--limit N] [--seed 0]

Builds (question, sentence, label) pairs from the training articles (training/data.py), grouped
by question, trains LoRA adapters + a linear head on the packaged MiniLM with binary cross-entropy
plus a listwise softmax loss over each answerable question's candidates, fits a Platt
scaling on the calibration articles, and reports on the held-out test articles, for this model and
for the current hand-made scorer (qa/support.py) on the same questions. Writes adapter.safetensors,
config.json, metrics.json and MODEL_CARD.md to --out.

Steps: --steps N fixes them (fully reproducible with --seed); otherwise the epoch plan is cut to
what fits in --minutes, measured on the first steps (the card records the steps actually used, so
``--steps`` reproduces the run). ``--limit 40 --minutes 1`` is the CI slice: 40 questions per part.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SQUAD = REPO.parent / "shared" / "eval" / "squad2_dev_A.json"
PROBE_STEPS = 10


def parse_args(argv):
    from qa.relevance.model import WEIGHTS_DIR

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", type=Path, default=DEFAULT_SQUAD, help="SQuAD v2.0 JSON (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--minutes", type=float, default=35.0, help="training-loop time budget")
    ap.add_argument("--steps", type=int, default=0, help="exact optimiser steps (overrides --minutes)")
    ap.add_argument("--epochs", type=float, default=2.0, help="upper bound on passes over the questions")
    ap.add_argument("--limit", type=int, default=0, help="questions per part (train/calib/test); 0 = all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=4, help="keep the first N encoder layers")
    ap.add_argument("--rank", type=int, default=16, help="LoRA rank")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-length", type=int, default=128)
    # 1 by default: on the shared 2-core machine under load, 2 threads ran 2.8x SLOWER per step
    # (12.6 vs 4.5 s per batch of 32, measured 2026-12-01): OpenMP threads wait on each other.
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_args(argv)


def lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def batches(groups, size: int) -> list[list]:
    """Whole question groups, packed until a batch holds at least ``size`` pairs."""
    out, cur, n = [], [], 0
    for g in groups:
        cur.append(g)
        n += len(g[1])
        if n >= size:
            out.append(cur)
            cur, n = [], 0
    if cur:
        out.append(cur)
    return out


def group_loss(logits, groups, labels):
    """BCE on every pair (an absolute probability, for abstention) plus, per answerable question, a
    softmax over its candidates with the gold sentence(s) as target (the ranking; a far stronger
    signal than BCE alone, where ~90% negatives let a model sit at the base rate for hundreds of steps)."""
    import torch

    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    listwise, k = [], 0
    for _, cands in groups:
        z, y = logits[k: k + len(cands)], labels[k: k + len(cands)]
        k += len(cands)
        if y.sum() > 0:
            listwise.append(torch.logsumexp(z, 0) - torch.logsumexp(z[y > 0], 0))
    lw = torch.stack(listwise).mean() if listwise else logits.sum() * 0
    return bce + lw, bce, lw


def train(args, groups, log) -> tuple[object, dict]:
    import torch

    from qa.relevance.model import CrossEncoder, encode_pairs, load_tokenizer

    config = {"layers": args.layers, "max_length": args.max_length, "lora_rank": args.rank,
              "lora_alpha": 2 * args.rank}
    net = CrossEncoder(config)
    net.add_lora()
    net.train()
    tok = load_tokenizer()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    plan = batches(groups, args.batch)
    per_epoch = len(plan)
    total = args.steps or max(1, int(args.epochs * per_epoch))
    warmup = max(1, min(100, int(0.06 * total)))
    t0 = time.perf_counter()
    running, step, pairs_seen = [], 0, 0
    while step < total:
        if step and step % per_epoch == 0:  # a new order each epoch, still seeded
            random.Random(args.seed + step).shuffle(groups)
            plan = batches(groups, args.batch)
        batch = plan[step % per_epoch] if step % per_epoch < len(plan) else plan[-1]
        qs = [q for q, cands in batch for _ in cands]
        ss = [s for _, cands in batch for s, _ in cands]
        y = torch.tensor([lab for _, cands in batch for _, lab in cands], dtype=torch.float32)
        enc = encode_pairs(tok, qs, ss, args.max_length)
        for g in opt.param_groups:
            g["lr"] = args.lr * lr_factor(step, warmup, total)
        loss, bce, lw = group_loss(net(**enc), batch, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        running.append((bce.item(), lw.item()))
        pairs_seen += len(ss)
        step += 1
        if step == PROBE_STEPS and not args.steps:
            per_step = (time.perf_counter() - t0) / step
            fits = int(args.minutes * 60 / per_step)
            if fits < total:
                log(f"budget: {per_step:.2f} s/step, {fits} steps fit in {args.minutes} min (plan was {total})")
                total = max(step, fits)
                warmup = min(warmup, max(1, int(0.06 * total)))
        if step % 25 == 0 or step == total:
            el = time.perf_counter() - t0
            r = np.array(running[-25:])
            log(f"step {step}/{total} bce {r[:, 0].mean():.4f} listwise {r[:, 1].mean():.4f} "
                f"{pairs_seen / el:.1f} pairs/s {el / 60:.1f} min")
    seconds = time.perf_counter() - t0
    r = np.array(running[-50:])
    info = {"steps": step, "batch": args.batch, "pairs_seen": pairs_seen,
            "epochs": round(step / per_epoch, 2), "train_seconds": round(seconds, 1),
            "final_bce_last50": round(float(r[:, 0].mean()), 4),
            "final_listwise_last50": round(float(r[:, 1].mean()), 4), "warmup_steps": warmup}
    net.eval()
    return net, {**config, **info}


def fit_platt(model, calib) -> tuple[float, float]:
    """Logistic calibration of the logit on every (question, paragraph sentence) of the calibration
    articles: gold sentences 1, the rest 0, unanswerable questions all 0."""
    from sklearn.linear_model import LogisticRegression

    z, y = [], []
    for q in calib:
        z += list(model.logits(q.question, q.sentences))
        y += [int(q.answerable and i in q.gold) for i in range(len(q.sentences))]
    if len(set(y)) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=100.0).fit(np.array(z).reshape(-1, 1), np.array(y))
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.squad.exists():
        raise SystemExit(f"SQuAD file not found: {args.squad} (give --squad PATH)")
    import torch
    from safetensors.torch import save_file

    from index.embedder import get_embedder
    from qa.relevance.model import ADAPTER_FILE, CONFIG_FILE, RelevanceModel
    from training.data import limit_questions, load_questions, split_articles, training_groups
    from training.heldout import BaselineScorer, paragraph_eval

    from training.run import begin, log, machine

    started = begin(args.seed, args.threads)

    questions, paragraphs = load_questions(str(args.squad))
    split = split_articles([q.article for q in questions])
    parts = {name: limit_questions([q for q in questions if split[q.article] == name], args.limit, args.seed)
             for name in ("train", "calib", "test")}
    embedder = get_embedder()
    groups = training_groups(parts["train"], paragraphs, embedder, args.seed)
    pairs = [(q, s, lab) for q, cands in groups for s, lab in cands]
    log(f"{len(pairs)} training pairs ({sum(p[2] for p in pairs):.0f} positive) from "
        f"{len(parts['train'])} questions; calib {len(parts['calib'])}, test {len(parts['test'])}")

    net, info = train(args, groups, log)
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(net.adapter_state(), str(args.out / ADAPTER_FILE))
    config = {k: info[k] for k in ("layers", "max_length", "lora_rank", "lora_alpha")}
    config.update(platt_a=1.0, platt_b=0.0, quantize=False)
    (args.out / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")

    # Evaluate what is shipped: reload from the written files (fp16 deltas merged into the base).
    model = RelevanceModel.load(args.out, threads=args.threads)
    config["platt_a"], config["platt_b"] = fit_platt(model, parts["calib"])
    (args.out / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    model.config.update(config)
    log(f"Platt a={config['platt_a']:.3f} b={config['platt_b']:.3f}; evaluating")
    base = BaselineScorer([s for ss in paragraphs.values() for s in ss], embedder)
    metrics = {"model": paragraph_eval(parts["calib"], parts["test"], model.score),
               "baseline_support_py": paragraph_eval(parts["calib"], parts["test"], base)}
    total_min = (time.perf_counter() - started) / 60
    record = {
        "command": "python -m training.relevance " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "torch": torch.__version__, "threads": args.threads, "seed": args.seed,
        "lr": args.lr, "limit": args.limit, "total_minutes": round(total_min, 1),
        "data": {"file": args.squad.name, "train_pairs": len(pairs),
                 "train_positive_pairs": int(sum(p[2] for p in pairs)),
                 **{f"{k}_questions": len(v) for k, v in parts.items()},
                 **{f"{k}_articles": sorted({q.article for q in v}) for k, v in parts.items()}},
        "training": info, "config": config, "held_out_paragraph": metrics,
    }
    (args.out / "metrics.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    from training.card import write_card

    write_card(args.out, record)
    log(f"done in {total_min:.1f} min: test top-1 {metrics['model']['top1']} "
        f"(baseline {metrics['baseline_support_py']['top1']}); wrote {args.out}")
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
