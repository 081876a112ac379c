"""llama.cpp options for the local LLM, each against a baseline measured in the same run.

``python -m eval.llm_options [--repeats 3] [--configs base,fa,...] [--out FILE]``

Per configuration and round: read an answer prompt (instructions + numbered seed sentences + a question) from
an empty KV cache (prompt tokens/s), then write the greedy answer (written tokens/s, answer time), and whether
the answer is the baseline's, token for token. Configurations alternate within each round (the CPU is shared);
the report gives medians over rounds and ratios to ``base``. Decision: docs/decisions/0220-llm-speed-options.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "seeds" / "national_post_us_north_korea_stalemate.txt"
QUESTIONS = ("Why was the trip cancelled?", "Who is Stephen Biegun?", "What did Trump say about the talks?")

# name -> (Llama keyword arguments, prompt-lookup draft (max_ngram, num_pred) or None)
CONFIGS: dict[str, tuple[dict[str, Any], tuple[int, int] | None]] = {
    "base": ({}, None),
    "flash_attn": ({"flash_attn": True}, None),
    "flash_attn_kv_q8": ({"flash_attn": True, "type_k": 8, "type_v": 8}, None),  # 8 = GGML_TYPE_Q8_0
    "batch_128": ({"n_batch": 128, "n_ubatch": 128}, None),
    "threads_1": ({"n_threads": 1, "n_threads_batch": 1}, None),
    "write_threads_1": ({"n_threads": 1}, None),  # reads the prompt with --threads, writes with one
    "lookup_2_10": ({}, (2, 10)),
    "lookup_3_5": ({}, (3, 5)),
    "flash_attn_lookup_2_10": ({"flash_attn": True}, (2, 10)),
}


def _prompt_messages(n_sentences: int, question: str) -> list[dict[str, str]]:
    from qa.prompt import SYSTEM

    text = SEED.read_text(encoding="utf-8")
    sents = [s.strip() for s in re.split(r"(?<=[.!?\u201d])\s+|\n+", text) if s.strip()][:n_sentences]
    system = SYSTEM + "\n".join(f"[{i}] {s}" for i, s in enumerate(sents, 1))
    return [{"role": "system", "content": system}, {"role": "user", "content": f"Question: {question}"}]


def build(name: str, threads: int) -> Any:
    from qa.llm import runtime
    from qa.settings import Settings

    kwargs, lookup = CONFIGS[name]
    settings = Settings.from_env()
    llm = {"threads": kwargs.get("n_threads_batch", threads), "write_threads": kwargs.get("n_threads"),
           "flash_attn": kwargs.get("flash_attn", False),
           "kv_type": {8: "q8_0"}.get(kwargs.get("type_k"), "f16"), "n_batch": kwargs.get("n_batch", 512),
           "n_ubatch": kwargs.get("n_ubatch", 512), "lookup_ngram": lookup[0] if lookup else 0,
           "lookup_tokens": lookup[1] if lookup else 10}
    return runtime.build_llm(settings.with_(llm=llm))


def one(llama: Any, tokens: list[int], max_tokens: int, stops: list[str]) -> dict[str, Any]:
    from qa.llm import runtime

    llama.reset()
    llama._ctx.kv_cache_seq_rm(-1, 0, -1)
    t0 = time.perf_counter()
    runtime.read_prompt(llama, tokens[:-1])
    t1 = time.perf_counter()
    out: list[int] = []
    first = None
    with runtime.lookup_on(llama):
        for tok in llama.generate(tokens, temp=0.0, repeat_penalty=1.0, top_k=1):
            if first is None:
                first = time.perf_counter() - t1
            if llama.token_is_eog(tok) if hasattr(llama, "token_is_eog") else tok == llama.token_eos():
                break
            out.append(tok)
            text = llama.detokenize(out).decode("utf-8", "replace")
            if len(out) >= max_tokens or any(s in text for s in stops):
                break
    t2 = time.perf_counter()
    return {"prompt_tokens": len(tokens), "read_s": t1 - t0, "write_s": t2 - t1, "first_token_s": first,
            "written_tokens": len(out), "tokens": out}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sentences", type=int, default=8, help="seed sentences in the prompt")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--questions", type=int, default=len(QUESTIONS), help=f"of the {len(QUESTIONS)} questions")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    names = [n.strip() for n in a.configs.split(",") if n.strip()]
    if not names or names[0] != "base" or any(n not in CONFIGS for n in names):
        raise SystemExit(f"--configs: names from {', '.join(CONFIGS)}, base first")
    from qa.llm import runtime

    models = {n: build(n, a.threads) for n in names}
    chat = runtime.template_of(models["base"])
    prompts = [chat.render(_prompt_messages(a.sentences, q)) for q in QUESTIONS[: a.questions]]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    load = [os.getloadavg()[0]]
    for r in range(a.repeats):
        for n in (names if r % 2 == 0 else [names[0], *reversed(names[1:])]):
            for qi, text in enumerate(prompts):
                res = one(models[n], runtime._tokenize(models[n], text), a.max_tokens, list(chat.stops))
                res.update(question=qi, round=r)
                runs[n].append(res)
                print(n, r, qi, f"read {res['read_s']:.2f}s write {res['write_s']:.2f}s "
                      f"{res['written_tokens']} tok", file=sys.stderr, flush=True)
        load.append(os.getloadavg()[0])
    base_tokens = {x["question"]: x["tokens"] for x in runs["base"] if x["round"] == 0}
    report: dict[str, Any] = {"load_avg_1min": load, "repeats": a.repeats, "sentences": a.sentences,
                              "max_tokens": a.max_tokens, "configs": {}}
    for n in names:
        xs = runs[n]
        med = lambda key: statistics.median(x[key] for x in xs)  # noqa: E731
        read_tps = statistics.median(x["prompt_tokens"] / x["read_s"] for x in xs)
        write_tps = statistics.median(x["written_tokens"] / x["write_s"] for x in xs if x["written_tokens"])
        report["configs"][n] = {
            "options": CONFIGS[n][0], "lookup": CONFIGS[n][1], "prompt_tokens_per_s": round(read_tps, 2),
            "written_tokens_per_s": round(write_tps, 2), "read_s_median": round(med("read_s"), 3),
            "write_s_median": round(med("write_s"), 3), "first_token_s_median": round(med("first_token_s"), 3),
            "answer_s_median": round(statistics.median(x["read_s"] + x["write_s"] for x in xs), 3),
            "same_answers_as_base": sum(x["tokens"] == base_tokens[x["question"]] for x in xs) / len(xs)}
    b = report["configs"]["base"]
    for n, c in report["configs"].items():
        c["read_speed_vs_base"] = round(c["prompt_tokens_per_s"] / b["prompt_tokens_per_s"], 3)
        c["write_speed_vs_base"] = round(c["written_tokens_per_s"] / b["written_tokens_per_s"], 3)
        c["write_time_vs_base"] = round(c["write_s_median"] / b["write_s_median"], 3)
    report["answers"] = {q: models["base"].detokenize(t).decode("utf-8", "replace") for q, t in base_tokens.items()}
    text = json.dumps(report, indent=1)
    if a.out:
        a.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
