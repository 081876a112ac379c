"""The ``perf`` suite's written-answer parts, each beside the bare LLM measured in the same run.

written: on the seed article (whole-corpus prompt, cached) and on a multi-document corpus of at least
    ``--corpus-min-chars`` characters built from SQuAD JSON files given as arguments (one document per article,
    its paragraphs joined), per question the written answer's time and first token, its prompt tokens and the
    tokens it read; baselines per question: the bare LLM answering the question alone (no documents, same max
    tokens), and on the multi-document corpus the prompt layout before issue #30 (the six best retrieved
    sentences and the neighbours of the best two, all in the system message, read for every question).
users: the seed article's questions asked by 1 and by 4 users at once (each its own chat; one model, FIFO):
    first token and answer time per question from its own start, queue wait included.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from eval import metrics
from eval.suites.base import progress, sample, warm_up

NEEDS_CORPUS = ("--parts written needs --corpus-squad FILE [FILE ...]: SQuAD JSON files whose articles make the "
                "multi-document corpus (e.g. ../shared/eval/squad2_dev_A.json)")


def squad_corpus(paths: list[Path], min_chars: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """({doc_id: article text}, answerable questions with their answers): whole articles, in file order,
    until the texts hold at least ``min_chars`` characters."""
    texts: dict[str, str] = {}
    questions: list[dict[str, Any]] = []
    for path in paths:
        if not path.is_file():
            raise ValueError(f"--corpus-squad {path}: no such file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"--corpus-squad {path}: not a JSON file ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise ValueError(f"--corpus-squad {path}: not a SQuAD JSON file (no top-level 'data' list)")
        for ai, article in enumerate(data["data"]):
            if sum(map(len, texts.values())) >= min_chars:
                return texts, questions
            doc = f"{article.get('title') or f'article-{ai}'}.txt"
            if doc in texts:
                doc = f"{path.stem}-{ai}-{doc}"
            texts[doc] = "\n\n".join(p["context"] for p in article["paragraphs"])
            for p in article["paragraphs"]:
                for q in p["qas"]:
                    answers = [a["text"] for a in q.get("answers", []) if a.get("text")]
                    if answers and not q.get("is_impossible"):
                        questions.append({"id": q["id"], "question": q["question"], "doc": doc, "answers": answers})
    if sum(map(len, texts.values())) < min_chars:
        raise ValueError(f"--corpus-squad: the files hold {sum(map(len, texts.values()))} characters of articles, "
                         f"fewer than --corpus-min-chars {min_chars}")
    return texts, questions


def _p(values: list[float | None]) -> dict[str, Any]:
    return metrics.percentiles([v for v in values if v is not None])


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def _stream_timed(items) -> tuple[Any, float, float | None, str]:
    """(last item, total ms, first text delta ms, text) of a stream of text deltas (and Answers)."""
    from qa import Answer

    t0 = time.perf_counter()
    first, last, text = None, None, []
    for item in items:
        if isinstance(item, Answer):
            last = item
        elif item:
            text.append(item)
            if first is None:
                first = (time.perf_counter() - t0) * 1e3
    return last, (time.perf_counter() - t0) * 1e3, first, "".join(text)


def _read_figures() -> dict[str, int | None]:
    from qa.llm.runtime import last_stats

    st = last_stats()
    return {"prompt_tokens": st.prompt_tokens if st else None,
            "read_tokens": st.prompt_tokens - st.reused_tokens if st else None}


def _before_messages(a: Any, question: str) -> list[dict[str, str]]:
    """The prompt layout before issue #30 for a corpus too large for the prompt: the six best retrieved
    sentences and the neighbours of the best two, numbered in the system message (read per question)."""
    from qa.prompt import SYSTEM, _lines, build_context, user_turn

    ev = a.evidence(question)
    old = a.settings.with_(llm={"evidence_sentences": 6, "neighbours_for": 2, "full_corpus_max_chars": 0})
    ctx = build_context(ev.corpus, old, [s.hit.row for s in ev.scored])
    number_of = {row: n for n, row in enumerate(ctx.rows, 1)}
    look = ", ".join(f"[{number_of[x.hit.row]}]" for x in ev.scored[:3] if x.hit.row in number_of)
    hint = f"\nLook first at sentences {look}." if look else ""  # the user turn named them then (decision 0224)
    return [{"role": "system", "content": SYSTEM + "\n".join(_lines(ev.corpus, ctx.rows))},
            {"role": "user", "content": user_turn(question, [], 0) + hint}]


def _written(a: Any, questions: list[dict[str, Any]], desc: str) -> list[dict[str, Any]]:
    """One row per question: the written answer's time, first token, prompt tokens read, answer in citations."""
    rows = []
    for g in progress(questions, total=len(questions), desc=desc):
        answer, total, first, _ = _stream_timed(a.stream(g["question"], mode="generative"))
        cited = " ".join(c.text for c in answer.citations).lower()
        rows.append({"id": g["id"], "question": g["question"], "latency_ms": total, "first_token_ms": first,
                     **_read_figures(), "abstained": answer.abstained, "answer_mode": answer.mode,
                     "answer_in_citations": any(x.lower() in cited for x in g["answers"]) if g["answers"] else None,
                     "text": answer.text})
    return rows


def _in_citations(rows: list[dict[str, Any]]) -> float | None:
    scored = [r["answer_in_citations"] for r in rows if not r["abstained"] and r["answer_in_citations"] is not None]
    return round(sum(scored) / len(scored), 4) if scored else None


def _summary(rows: list[dict[str, Any]], baseline: dict[str, Any]) -> dict[str, Any]:
    """Percentiles of written-answer rows, and their p50s against the bare model's (``baseline``: its rows'
    percentiles, keys ``baseline_ms`` and ``baseline_first_token_ms``)."""
    out = {"latency_ms": _p([r["latency_ms"] for r in rows]), "first_token_ms": _p([r["first_token_ms"] for r in rows]),
           "read_tokens": _p([r["read_tokens"] for r in rows]), "answer_in_citations": _in_citations(rows),
           "answered": sum(not r["abstained"] for r in rows) / max(1, len(rows))}
    out["latency_p50_vs_bare"] = _ratio(out["latency_ms"]["p50"], baseline["baseline_ms"]["p50"])
    out["first_token_p50_vs_bare"] = _ratio(out["first_token_ms"]["p50"], baseline["baseline_first_token_ms"]["p50"])
    return out


def bench_corpus(a: Any, questions: list[dict[str, Any]], with_before: bool,
                 without_windows: Any = None) -> tuple[dict[str, Any], list[dict]]:
    """Written answers (generative mode) on ``a``'s corpus, the bare LLM on the same questions after them,
    (``with_before``) the pre-#30 prompt layout, and (``without_windows``: the same index opened with
    ``corpus_windows=0``) the evidence-only prompt of decision 0221."""
    from qa.llm.local import LocalLLM
    from qa.prompt import windows

    load0 = _load()
    t0 = time.perf_counter()
    warm_up(a, "generative")  # reads the prompt prefixes: the whole corpus, or the instructions and every window
    warm_s = time.perf_counter() - t0
    win = windows(a.corpus.view(), a.settings)
    max_tokens = a.settings.llm.answer_max_tokens
    llm = LocalLLM(a.settings)
    rows = _written(a, questions, "perf written")
    for row in progress(rows, total=len(rows), desc="perf bare LLM"):
        _, total, first, _ = _stream_timed(llm.stream([{"role": "user", "content": row["question"]}],
                                                      max_tokens=max_tokens))
        row.update(baseline_ms=total, baseline_first_token_ms=first)
    if with_before:
        for row in progress(rows, total=len(rows), desc="perf pre-#30 prompt"):
            _, total, first, _ = _stream_timed(llm.stream(_before_messages(a, row["question"]), max_tokens=max_tokens))
            row.update(before_ms=total, before_first_token_ms=first,
                       **{f"before_{k}": v for k, v in _read_figures().items()})
    bare = {"baseline_ms": _p([r["baseline_ms"] for r in rows]),
            "baseline_first_token_ms": _p([r["baseline_first_token_ms"] for r in rows])}
    out = {"n": len(rows), **_summary(rows, bare), **bare, "prompt_tokens": _p([r["prompt_tokens"] for r in rows]),
           "warm_s": round(warm_s, 1), "windows": len(win.rows) if win is not None else 0,
           "load_avg_start": load0, "load_avg_end": _load()}
    if without_windows is not None:
        plain = _written(without_windows, questions, "perf without windows")
        for row, other in zip(rows, plain):
            row.update({f"nowin_{k}": other[k] for k in ("latency_ms", "first_token_ms", "read_tokens", "abstained",
                                                          "answer_in_citations", "text")})
        out["without_windows"] = {**_summary(plain, bare),
                                  "same_text": sum(r["text"] == o["text"] for r, o in zip(rows, plain)) / max(1, len(rows))}
    if with_before:
        out.update(before_ms=_p([r["before_ms"] for r in rows]),
                   before_first_token_ms=_p([r["before_first_token_ms"] for r in rows]),
                   before_prompt_tokens=_p([r["before_prompt_tokens"] for r in rows]),
                   before_read_tokens=_p([r["before_read_tokens"] for r in rows]))
        out["before_first_token_p50_vs_bare"] = _ratio(out["before_first_token_ms"]["p50"],
                                                       out["baseline_first_token_ms"]["p50"])
    return out, rows


def bench_users(a: Any, questions: list[str], counts: tuple[int, ...] = (1, 4), rounds: int = 2) -> dict[str, Any]:
    """First token and answer time per question when ``k`` users (chats) ask at once, for k in ``counts``."""
    warm_up(a, "generative")
    out: dict[str, Any] = {"load_avg_start": _load()}
    for k in counts:
        got: list[tuple[float | None, float]] = []
        lock = threading.Lock()

        def ask(q: str, chat: str) -> None:
            _, total, first, _ = _stream_timed(a.stream(q, mode="generative", chat=chat))
            with lock:
                got.append((first, total))

        for r in progress(range(rounds), total=rounds, desc=f"perf {k} users"):
            threads = [threading.Thread(target=ask, args=(questions[(r * k + i) % len(questions)], f"user-{i}"))
                       for i in range(k)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        out[f"users_{k}"] = {"n": len(got), "first_token_ms": _p([f for f, _ in got]),
                             "latency_ms": _p([t for _, t in got])}
    out["load_avg_end"] = _load()
    if "users_1" in out and "users_4" in out:
        out["first_token_p50_4_vs_1"] = _ratio(out["users_4"]["first_token_ms"]["p50"],
                                               out["users_1"]["first_token_ms"]["p50"])
    return out


def _load() -> list[float] | None:
    import os

    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run_written(args: Any, gold: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Both corpora: the seed article (``--docs``, gold questions) and the SQuAD multi-document corpus."""
    from qa import Assistant

    if not args.corpus_squad:
        raise ValueError(NEEDS_CORPUS)
    texts, squad_qs = squad_corpus(list(args.corpus_squad), args.corpus_min_chars)
    out: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    seed_qs = [{"id": g["id"], "question": g["question"], "answers": g["answers"]}
               for g in gold if g.get("answerable") and not g.get("history")]
    with tempfile.TemporaryDirectory(prefix="citeqa-perf-written-") as tmp:
        a = Assistant.open(paths=[args.docs], index_dir=Path(tmp) / "seed")
        out["seed"], seed_rows = bench_corpus(a, sample(seed_qs, args.llm_limit, args.seed), with_before=False)
        rows += [{**r, "corpus": "seed"} for r in seed_rows]
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for name, text in texts.items():
            (docs / name.replace("/", "_")).write_text(text, encoding="utf-8")
        b = Assistant.open(paths=[docs], index_dir=Path(tmp) / "multi")
        plain = Assistant.open(index_dir=Path(tmp) / "multi", settings=b.settings.with_(llm={"corpus_windows": 0}))
        out["multi"], multi_rows = bench_corpus(b, sample(squad_qs, args.llm_limit, args.seed), with_before=True,
                                                without_windows=plain)
        out["multi"].update(documents=len(texts), characters=sum(map(len, texts.values())),
                            sources=[str(p) for p in args.corpus_squad])
        rows += [{**r, "corpus": "multi"} for r in multi_rows]
    return out, rows


def run_users(args: Any, gold: list[dict[str, Any]]) -> dict[str, Any]:
    from qa import Assistant

    qs = [g["question"] for g in sample([g for g in gold if g.get("answerable") and not g.get("history")],
                                        8, args.seed)]
    with tempfile.TemporaryDirectory(prefix="citeqa-perf-users-") as tmp:
        a = Assistant.open(paths=[args.docs], index_dir=tmp)
        return bench_users(a, qs, rounds=args.users_rounds)
