"""Train the relevance cross-encoder on SQuAD v2.0 (split by article), evaluate, write the weights.

    python -m training.relevance --out DIR [--squad PATH] [--minutes N] [--steps N] [--limit N] [--seed 0]
        [--save-every 100] [--resume]

Builds (question, sentence, label) pairs from the training articles (training/data.py), grouped by
question, and trains a peft LoRA adapter on the first ``--layers`` layers of the packaged MiniLM plus a
linear head over the mean-pooled tokens, with ``transformers.Trainer``: binary cross-entropy plus a
listwise softmax loss over each answerable question's candidates (batches of whole questions). Then fits a
Platt scaling on the calibration articles and reports on the held-out test articles, for this model and for
the hand-made scorer (qa/support.py) on the same questions. Writes to --out (never the committed
``qa/relevance/weights/``): adapter_model.safetensors + adapter_config.json (peft), head.safetensors
(``weight``, ``bias``), config.json (layers, max_length, platt_a, platt_b), metrics.json, MODEL_CARD.md.
Checkpoints (same layout plus the trainer's state) go to DIR/checkpoints every ``--save-every`` steps;
``--resume`` continues from the newest.

Steps: --steps N fixes them (fully reproducible with --seed); otherwise the epoch plan is cut to what fits
in --minutes, measured on the first steps (the card records the steps actually used, so ``--steps``
reproduces the run). ``--limit 40 --steps 8 --batch 8`` is the CI slice: 40 questions per part.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.model_dirs import DEFAULT_MODEL, base_model_dir
from qa.relevance.layout import ADAPTER_FILE, CONFIG_FILE, HEAD_FILE, LORA_TARGETS  # what the answer path loads

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SQUAD = REPO.parent / "shared" / "eval" / "squad2_dev_A.json"
PROBE_STEPS = 10


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", type=Path, default=DEFAULT_SQUAD, help="SQuAD v2.0 JSON (default: %(default)s)")
    ap.add_argument("--out", type=Path, required=True, help="a new directory (never qa/relevance/weights itself)")
    ap.add_argument("--minutes", type=float, default=35.0, help="training-loop time budget")
    ap.add_argument("--steps", type=int, default=0, help="exact optimiser steps (overrides --minutes)")
    ap.add_argument("--epochs", type=float, default=2.0, help="upper bound on passes over the questions")
    ap.add_argument("--limit", type=int, default=0, help="questions per part (train/calib/test); 0 = all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=4, help="keep the first N encoder layers")
    ap.add_argument("--rank", type=int, default=16, help="LoRA rank")
    ap.add_argument("--batch", type=int, default=32, help="pairs per batch (whole questions, at least this many)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: see docs/decisions/0012)")
    ap.add_argument("--save-every", type=int, default=100, help="checkpoint every N steps (DIR/checkpoints)")
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in DIR/checkpoints")
    args = ap.parse_args(argv)
    from qa.relevance.layout import WEIGHTS_DIR

    if args.out.resolve() == WEIGHTS_DIR.resolve():
        ap.error(f"--out must not be the committed weights ({WEIGHTS_DIR}): train elsewhere, then replace them by hand")
    if not 1 <= args.layers <= 6 or args.steps < 0 or args.batch < 1 or args.save_every < 1:
        ap.error("--layers must be 1..6, --steps >= 0, --batch and --save-every >= 1")
    return args


def relevance_net(layers: int, rank: int, dropout: float = 0.1, adapter_dir: Path | None = None):
    """The trained module: the first ``layers`` MiniLM layers with a LoRA adapter (new with ``rank``, or read
    with the head from ``adapter_dir``), mean pooling over the tokens, a linear head giving one logit."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from torch import nn
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # not the report of the 2 layers left out on purpose

    class RelevanceNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            bert = BertModel.from_pretrained(str(base_model_dir()), num_hidden_layers=layers, add_pooling_layer=False)
            if adapter_dir is None:
                config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=dropout, target_modules=LORA_TARGETS,
                                    bias="none")
                self.encoder = get_peft_model(bert, config)
            else:
                self.encoder = PeftModel.from_pretrained(bert, str(adapter_dir), is_trainable=True)
            self.head = nn.Linear(bert.config.hidden_size, 1)
            nn.init.zeros_(self.head.bias)
            nn.init.normal_(self.head.weight, std=0.02)
            if adapter_dir is not None:
                from safetensors.torch import load_file

                self.head.load_state_dict(load_file(str(adapter_dir / HEAD_FILE)))

        def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            return self.head((out * mask).sum(1) / mask.sum(1).clamp(min=1.0)).squeeze(-1)

        def save(self, out: Path, config: dict) -> None:
            """The delivered layout: peft's adapter files, head.safetensors, config.json."""
            from safetensors.torch import save_file

            out.mkdir(parents=True, exist_ok=True)
            self.encoder.peft_config["default"].base_model_name_or_path = DEFAULT_MODEL  # the packaged model's name, not a path or hub id
            self.encoder.save_pretrained(str(out))
            (out / "README.md").unlink(missing_ok=True)  # peft's template card; MODEL_CARD.md is ours
            save_file({k: v.detach().contiguous() for k, v in self.head.state_dict().items()}, str(out / HEAD_FILE))
            (out / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")

        def load(self, out: Path) -> None:
            """Read an adapter and head written by ``save`` into this module (resuming a checkpoint)."""
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            state = {k.removeprefix("base_model.model."): v for k, v in load_file(str(out / ADAPTER_FILE)).items()}
            set_peft_model_state_dict(self.encoder, state)
            self.head.load_state_dict(load_file(str(out / HEAD_FILE)))

    return RelevanceNet()


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


def group_loss(logits, sizes: list[int], labels):
    """BCE on every pair (an absolute probability, for abstention) plus, per answerable question, a softmax
    over its candidates with the gold sentence(s) as target (the ranking signal; see docs/decisions/0012)."""
    import torch

    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    listwise, k = [], 0
    for n in sizes:
        z, y = logits[k: k + n], labels[k: k + n]
        k += n
        if y.sum() > 0:
            listwise.append(torch.logsumexp(z, 0) - torch.logsumexp(z[y > 0], 0))
    lw = torch.stack(listwise).mean() if listwise else logits.sum() * 0
    return bce + lw, bce, lw


def encode_pairs(tokenizer, questions: list[str], sentences: list[str], max_length: int):
    # Truncate the sentence, never the question: the question says what to look for.
    return tokenizer(questions, sentences, truncation="only_second", max_length=max_length, padding=True,
                     return_tensors="pt")


@dataclass
class Plan:
    """Steps of the learning-rate schedule; cut once by the --minutes probe (read by the scheduler)."""
    total: int
    warmup: int


def train(args, groups, log) -> tuple[object, dict, dict]:
    import torch
    from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from training.run import last_checkpoint

    config = {"layers": args.layers, "max_length": args.max_length}
    net = relevance_net(args.layers, args.rank)
    tok = AutoTokenizer.from_pretrained(str(base_model_dir()))
    plan_batches = batches(groups, args.batch)
    per_epoch = len(plan_batches)
    total = args.steps or max(1, int(args.epochs * per_epoch))
    plan = Plan(total, max(1, min(100, int(0.06 * total))))
    checkpoints = args.out / "checkpoints"
    resume = last_checkpoint(checkpoints) if args.resume else None
    if args.resume and resume is None:
        raise SystemExit(f"--resume: no checkpoint under {checkpoints}")
    if resume and (Path(resume) / "plan.json").exists():  # a budget-cut plan is the resumed run's plan
        plan = Plan(**json.loads((Path(resume) / "plan.json").read_text(encoding="utf-8")))

    def collate(items):
        (batch,) = items  # one packed batch of whole questions per step
        enc = encode_pairs(tok, [q for q, cands in batch for _ in cands], [s for _, cands in batch for s, _ in cands],
                           args.max_length)
        enc["labels"] = torch.tensor([lab for _, cands in batch for _, lab in cands], dtype=torch.float32)
        enc["sizes"] = [len(cands) for _, cands in batch]
        return enc

    running: list[tuple[float, float]] = []
    pairs_seen = [0]

    class GroupTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels, sizes = inputs.pop("labels"), inputs.pop("sizes")
            logits = model(**inputs)
            loss, bce, lw = group_loss(logits, sizes, labels)
            running.append((bce.item(), lw.item()))
            pairs_seen[0] += len(labels)
            return (loss, logits) if return_outputs else loss

        def _save(self, output_dir=None, state_dict=None):
            out = Path(output_dir or self.args.output_dir)
            net.save(out, {**config, "platt_a": 1.0, "platt_b": 0.0})
            (out / "plan.json").write_text(json.dumps(vars(plan)) + "\n", encoding="utf-8")

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            net.load(Path(resume_from_checkpoint))

    class Budget(TrainerCallback):
        """--minutes: time the first steps, cut the plan to what fits; stop at the plan's end."""

        def __init__(self) -> None:
            self.t0 = time.perf_counter()
            self.first = None

        def on_step_end(self, targs, state, control, **kw):
            step = state.global_step
            self.first = self.first if self.first is not None else step - 1
            if not args.steps and step - self.first == PROBE_STEPS:
                per_step = (time.perf_counter() - self.t0) / PROBE_STEPS
                fits = int(args.minutes * 60 / per_step)
                if fits < plan.total:
                    log(f"budget: {per_step:.2f} s/step, {fits} steps fit in {args.minutes} min (plan was {plan.total})")
                    plan.total = max(step, fits)
                    plan.warmup = min(plan.warmup, max(1, int(0.06 * plan.total)))
            if step % 25 == 0 or step >= plan.total:
                el = time.perf_counter() - self.t0
                r = np.array(running[-25:] or [(0.0, 0.0)])
                log(f"step {step}/{plan.total} bce {r[:, 0].mean():.4f} listwise {r[:, 1].mean():.4f} "
                    f"{pairs_seen[0] / el:.1f} pairs/s {el / 60:.1f} min")
            if step >= plan.total:
                control.should_training_stop = True

    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, plan.warmup, plan.total))
    targs = TrainingArguments(
        output_dir=str(checkpoints), max_steps=plan.total, per_device_train_batch_size=1, max_grad_norm=1.0,
        seed=args.seed, data_seed=args.seed, save_strategy="steps", save_steps=args.save_every, save_total_limit=2,
        logging_strategy="no", report_to="none", use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
        remove_unused_columns=False, label_names=["labels"])
    trainer = GroupTrainer(model=net, args=targs, train_dataset=plan_batches, data_collator=collate,
                           optimizers=(opt, sched), callbacks=[Budget()])
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    step = trainer.state.global_step
    r = np.array(running[-50:] or [(float("nan"), float("nan"))])
    info = {"steps": step, "batch": args.batch, "pairs_seen": pairs_seen[0], "epochs": round(step / per_epoch, 2),
            "train_seconds": round(seconds, 1), "final_bce_last50": round(float(r[:, 0].mean()), 4),
            "final_listwise_last50": round(float(r[:, 1].mean()), 4), "warmup_steps": plan.warmup,
            "lora_rank": args.rank, "lora_alpha": 2 * args.rank, "resumed_from": resume}
    net.eval()
    return net, config, info


class Scorer:
    """The written weights read back (adapter, head, config.json): logits and Platt probabilities."""

    def __init__(self, out: Path, threads: int) -> None:
        import torch
        from transformers import AutoTokenizer

        self.config = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
        self.net = relevance_net(self.config["layers"], 0, adapter_dir=out).eval()
        self.tok = AutoTokenizer.from_pretrained(str(base_model_dir()))
        self.threads = threads
        torch.set_num_threads(threads)

    def logits(self, question: str, sentences: list[str], batch_size: int = 32) -> np.ndarray:
        import torch

        if not sentences:
            return np.zeros(0, dtype=np.float32)
        with torch.inference_mode():
            return np.concatenate([
                self.net(**encode_pairs(self.tok, [question] * len(sentences[i: i + batch_size]),
                                        sentences[i: i + batch_size], self.config["max_length"])).float().numpy()
                for i in range(0, len(sentences), batch_size)])

    def score(self, question: str, sentences: list[str]) -> np.ndarray:
        z = self.logits(question, sentences)
        return 1.0 / (1.0 + np.exp(-(self.config["platt_a"] * z + self.config["platt_b"])))


def fit_platt(model: Scorer, calib) -> tuple[float, float]:
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
    from index.embedder import get_embedder, hub_offline

    hub_offline()
    import torch

    from training.card import write_card
    from training.data import questions_by_part, training_groups
    from training.heldout import BaselineScorer, paragraph_eval
    from training.run import begin, log, machine

    started = begin(args.seed, args.threads)
    paragraphs, _, parts = questions_by_part(args.squad, args.limit, args.seed)
    embedder = get_embedder()
    groups = training_groups(parts["train"], paragraphs, embedder, args.seed)
    pairs = [(q, s, lab) for q, cands in groups for s, lab in cands]
    log(f"{len(pairs)} training pairs ({sum(p[2] for p in pairs):.0f} positive) from "
        f"{len(parts['train'])} questions; calib {len(parts['calib'])}, test {len(parts['test'])}")

    net, config, info = train(args, groups, log)
    net.save(args.out, {**config, "platt_a": 1.0, "platt_b": 0.0})

    # Evaluate what is delivered: read back from the written files.
    model = Scorer(args.out, args.threads)
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
        "training": info, "config": {**config, "lora_rank": info["lora_rank"], "lora_alpha": info["lora_alpha"]},
        "held_out_paragraph": metrics,
    }
    (args.out / "metrics.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    write_card(args.out, record)
    log(f"done in {total_min:.1f} min: test top-1 {metrics['model']['top1']} "
        f"(baseline {metrics['baseline_support_py']['top1']}); wrote {args.out}")
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
