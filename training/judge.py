"""Train the judge: a cross-encoder giving the probability that a unit (a sentence, or a sentence with its successor)
answers a question; export it as int8 ONNX with its config, calibration and figures.

    python -m training.judge --squad ../shared/eval/squad2_dev_A.json ../shared/eval/squad2_dev_B.json --out DIR
        [--minutes N] [--max-steps N] [--resume] [--limit N] [--layers 3] [--pos-weight 1] [--pair-fraction 0.5]

SQuAD 2.0 dev A+B split by article (``training.data.split_articles`` over all titles): train, calib, test.
Training pairs (``training.data.judge_pairs``) from the train articles only; sentence-transformers'
``CrossEncoderTrainer`` with ``BinaryCrossEntropyLoss`` fine-tunes the first ``--layers`` layers of the packaged
MiniLM (all their weights), mean pooling and a one-logit head; checkpoints go to DIR/checkpoints, ``--resume`` continues from
the newest. ``--minutes`` stops the trainer at that budget; ``--max-steps`` fixes the steps (else ``--epochs``).
Then: DIR/model (the torch CrossEncoder), DIR/model.int8.onnx (``index.onnx_export.export_cross_encoder``),
DIR/config.json with a Platt calibration fitted on the calib articles, DIR/metrics.json and DIR/MODEL_CARD.md
with the test-split figures (``training.judge_report``). Deliver by copying model.int8.onnx, config.json and
MODEL_CARD.md into ``qa/judge/weights/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "eval"
DEFAULT_SQUAD = [SHARED / "squad2_dev_A.json", SHARED / "squad2_dev_B.json"]
EVAL_QUESTIONS = 100  # calib questions the trainer's evaluator reranks at each checkpoint


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", type=Path, nargs="+", default=DEFAULT_SQUAD, help="SQuAD v2.0 JSON files")
    ap.add_argument("--out", type=Path, required=True, help="a new directory (never qa/judge/weights itself)")
    ap.add_argument("--minutes", type=float, default=150.0, help="stop training after this many minutes")
    ap.add_argument("--max-steps", type=int, default=0, help="optimiser steps (0: --epochs passes)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in DIR/checkpoints")
    ap.add_argument("--limit", type=int, default=0, help="questions per part (train/calib/test); 0 = all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=3, help="first N of the MiniLM's 6 layers (speed: decision 0200)")
    ap.add_argument("--max-length", type=int, default=128, help="tokens of question + unit (the unit is truncated)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--pos-weight", type=float, default=1.0, help="BCE weight of positive pairs")
    ap.add_argument("--pair-fraction", type=float, default=0.5, help="share of sentence+successor units trained on")
    ap.add_argument("--hard-negatives", type=int, default=4, help="other-paragraph sentences per answerable question")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (decision 0200)")
    ap.add_argument("--save-every", type=int, default=200, help="checkpoint (and evaluate) every N steps")
    args = ap.parse_args(argv)
    from qa.judge.scorer import WEIGHTS_DIR

    if args.out.resolve() == WEIGHTS_DIR.resolve():
        ap.error(f"--out must not be the committed weights ({WEIGHTS_DIR}): train elsewhere, then copy")
    if not 1 <= args.layers <= 6 or args.max_steps < 0 or args.batch < 1 or args.save_every < 1:
        ap.error("--layers must be 1..6, --max-steps >= 0, --batch and --save-every >= 1")
    if not 0 <= args.pair_fraction <= 1 or args.pos_weight <= 0 or not 16 <= args.max_length <= 512:
        ap.error("--pair-fraction must be 0..1, --pos-weight > 0, --max-length 16..512")
    return args


def split_parts(questions, limit: int, seed: int) -> tuple[dict[str, str], dict[str, list]]:
    """Article -> part over all titles, and each part's questions (cut to ``limit`` for the CI slice)."""
    from training.data import limit_questions, split_articles

    split = split_articles([q.article for q in questions])
    parts = {p: limit_questions([q for q in questions if split[q.article] == p], limit, seed)
             for p in ("train", "calib", "test")}
    return split, parts


def evaluator_samples(calib, texts: dict[str, str], n: int) -> list[dict]:
    """Answerable calib questions with their paragraph's sentences ranked (the trainer's progress figure)."""
    from training.data import paragraph_units

    out = []
    for q in [q for q in calib if q.answerable][:n]:
        sents = paragraph_units(q.doc, texts[q.doc])[0]
        labels = q.labels(sents)
        if any(labels):
            out.append({"query": q.question, "positive": [u.text for u, y in zip(sents, labels) if y],
                        "documents": [u.text for u in sents]})
    return out


def judge_model(base_dir: str, layers: int, max_length: int):
    """The first ``layers`` layers of the packaged MiniLM, mean pooling over the tokens, one linear logit, as a
    sentence-transformers CrossEncoder. Not the library's default [CLS] head: this MiniLM was trained as a
    mean-pooled sentence encoder and its [CLS] state is almost the same for every input (std across inputs
    ~1% of its size), so a [CLS] head started from it did not learn (docs/decisions/0200-judge-model.md)."""
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling
    from torch import nn

    local = {"local_files_only": True}
    encoder = Transformer(base_dir, transformer_task="feature-extraction", max_seq_length=max_length,
                          config_kwargs={"num_hidden_layers": layers, **local}, model_kwargs=local,
                          processor_kwargs=local)
    width = encoder.get_embedding_dimension()
    return CrossEncoder(modules=[encoder, Pooling(width, "mean"),
                                 Dense(width, 1, activation_function=nn.Identity(), module_output_name="scores")],
                        device="cpu")


def train(args, pairs, eval_samples, log) -> dict:
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import TrainerCallback
    from transformers.utils import logging as hf_logging

    from index.model_dirs import base_model_dir
    from training.run import last_checkpoint

    checkpoints = args.out / "checkpoints"
    resume = last_checkpoint(checkpoints) if args.resume else None
    if args.resume and resume is None:
        raise SystemExit(f"--resume: no checkpoint under {checkpoints}")
    hf_logging.set_verbosity_error()  # not the load report of the layers left out on purpose
    model = judge_model(str(base_model_dir()), args.layers, args.max_length)
    data = Dataset.from_dict({"question": [p[0] for p in pairs], "unit": [p[1] for p in pairs],
                              "label": [p[2] for p in pairs]})
    loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(args.pos_weight))
    evaluator = CrossEncoderRerankingEvaluator(eval_samples, at_k=10, always_rerank_positives=False,
                                               name="calib", show_progress_bar=False) if eval_samples else None
    started = time.perf_counter()

    class Budget(TrainerCallback):
        """--minutes: stop when the budget is spent (a checkpoint is saved then); a progress line now and then."""

        def on_step_end(self, targs, state, control, **kw):
            minutes = (time.perf_counter() - started) / 60
            if state.global_step % 50 == 0:
                log(f"step {state.global_step}/{state.max_steps} {minutes:.1f} min")
            if minutes >= args.minutes:
                log(f"budget of {args.minutes} min reached at step {state.global_step}")
                control.should_training_stop = control.should_save = True

    targs = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=args.epochs, max_steps=args.max_steps or -1,
        per_device_train_batch_size=args.batch, learning_rate=args.lr, warmup_steps=0.1, weight_decay=0.01,
        seed=args.seed, data_seed=args.seed, save_strategy="steps", save_steps=args.save_every, save_total_limit=2,
        eval_strategy="steps" if evaluator else "no", eval_steps=args.save_every, logging_steps=50,
        report_to="none", use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)
    trainer = CrossEncoderTrainer(model=model, args=targs, train_dataset=data, loss=loss, evaluator=evaluator,
                                  callbacks=[Budget()])
    trainer.train(resume_from_checkpoint=resume)
    model.save_pretrained(str(args.out / "model"))
    history = [h for h in trainer.state.log_history if any(k.startswith("eval_") for k in h)]
    return {"steps": trainer.state.global_step, "max_steps": trainer.state.max_steps,
            "epochs": round(trainer.state.epoch or 0.0, 3), "train_seconds": round(time.perf_counter() - started, 1),
            "resumed_from": resume, "eval_history": history[-5:]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from index.model_dirs import hub_offline

    hub_offline()
    import torch

    from index.embedder import get_embedder
    from index.onnx_export import export_cross_encoder
    from training.data import judge_pairs, load_judge_data
    from training.judge_report import evaluate, write_card, write_config
    from training.run import begin, log, machine

    started = begin(args.seed, args.threads)
    texts, questions = load_judge_data(args.squad)
    split, parts = split_parts(questions, args.limit, args.seed)
    pairs = judge_pairs(parts["train"], texts, get_embedder(), args.pair_fraction, args.seed, args.hard_negatives)
    positives = int(sum(p[2] for p in pairs))
    log(f"{len(pairs)} training pairs ({positives} positive) from {len(parts['train'])} questions; "
        f"calib {len(parts['calib'])}, test {len(parts['test'])}")
    info = train(args, pairs, evaluator_samples(parts["calib"], texts, EVAL_QUESTIONS), log)

    log("exporting int8 ONNX")
    export_cross_encoder(args.out / "model", args.out / "model.int8.onnx")
    write_config(args.out, args.max_length, args.layers, 1.0, 0.0)
    log("calibrating on the calib articles, evaluating on the test articles")
    a, b, figures = evaluate(args.out, parts, texts)
    write_config(args.out, args.max_length, args.layers, a, b)
    articles = {p: sorted({t for t, s in split.items() if s == p}) for p in ("train", "calib", "test")}
    record = {
        "command": "python -m training.judge " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "torch": torch.__version__, "threads": args.threads, "seed": args.seed,
        "total_minutes": round((time.perf_counter() - started) / 60, 1),
        "hyper": {k: getattr(args, k) for k in ("layers", "max_length", "batch", "lr", "pos_weight", "pair_fraction",
                                                "hard_negatives", "epochs", "max_steps", "minutes", "limit")},
        "data": {"files": [p.name for p in args.squad], "train_pairs": len(pairs), "train_positive_pairs": positives,
                 **{f"{k}_questions": len(v) for k, v in parts.items()},
                 **{f"{k}_answerable": sum(q.answerable for q in v) for k, v in parts.items()},
                 **{f"{k}_articles": v for k, v in articles.items()}},
        "training": info, "calibration": {"platt_a": a, "platt_b": b},
        "size_bytes": (args.out / "model.int8.onnx").stat().st_size, "test": figures,
    }
    (args.out / "metrics.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    write_card(args.out, record)
    log(f"done in {record['total_minutes']} min: test top-1 {figures['top1']}, AUC {figures['auc_max']}; "
        f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
