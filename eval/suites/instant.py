"""Suite ``instant``: how soon a user sees a cited answer in the combined mode (quotes first, then the LLM).

Parts (``--parts``):
- ``cold``: ``citeqa serve`` is started as a fresh process on an existing index and asked through the
  chat's own API (gradio_client: ``/ask`` then ``/answer``, LLM mode) as soon as the page answers;
  the LLM loads and reads the corpus in the background meanwhile. Figures: process start -> page up,
  process start -> first cited answer, and that answer's round trip.
- ``users``: in-process ``Assistant``, LLM loaded and the corpus prefix read first; 1 and then
  ``--users`` threads ask ``--per-user`` questions each at once in the combined mode. Per question:
  time to the first cited (quoted) answer, to the LLM's first token, and to the final answer. With
  several users the written answers queue behind the one model; the quoted ones must not.
Baseline in the same run: the bare evidence step (``Assistant.evidence``) for the same questions.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from eval import metrics
from eval.suites.base import SuiteResult, headline, sample

DESCRIPTION = "combined mode: time to the first cited answer (cold start, 1 and N users) and to the LLM's"
EVAL_DIR = Path(__file__).resolve().parent.parent
REPO = EVAL_DIR.parent
PARTS = ("cold", "users")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    p.add_argument("--gold", type=Path, default=EVAL_DIR / "gold_seed.jsonl", help="questions (gold JSONL)")
    p.add_argument("--docs", type=Path, default=REPO / "seeds", help="documents")
    p.add_argument("--users", type=int, default=4, help="concurrent users in the second round")
    p.add_argument("--per-user", type=int, default=3, help="questions each user asks")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for any one step")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(proc: subprocess.Popen, url: str, timeout: float, poll_s: float = 0.1) -> None:
    """Return once ``url`` answers 200; RuntimeError if the server process exits or ``timeout`` passes."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"citeqa serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("citeqa serve did not come up")
        time.sleep(poll_s)


def stop_server(proc: subprocess.Popen, timeout: float = 20) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_cold(args: argparse.Namespace, question: str) -> dict[str, Any]:
    from gradio_client import Client

    from qa import Assistant

    with tempfile.TemporaryDirectory(prefix="citeqa-instant-") as tmp:
        Assistant.open(paths=[args.docs], index_dir=tmp)  # an existing index, as after `citeqa index add`
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO), "GRADIO_ANALYTICS_ENABLED": "False"}
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "--index-dir", tmp, "serve", "--port", str(port)],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_served(proc, url, args.timeout)
            up = time.perf_counter() - t0
            client = Client(url, verbose=False, download_files=False)
            t1 = time.perf_counter()
            client.submit(question, "generative", api_name="/ask").result(timeout=args.timeout)
            chat = client.submit(api_name="/answer").result(timeout=args.timeout)[0]
            answered = time.perf_counter()
            cited = "cq-cite" in json.dumps(chat)
        finally:
            stop_server(proc)
    return {"question": question, "page_up_s": round(up, 2), "first_cited_answer_s": round(answered - t0, 2),
            "answer_round_trip_ms": round((answered - t1) * 1e3, 1), "cited": cited}


def _ask_combined(a, question: str) -> dict[str, float | None]:
    from qa import Answer

    t0 = time.perf_counter()
    first_answer = first_token = None
    final, quoted_cites = None, False
    for item in a.stream(question, mode="combined"):
        now = (time.perf_counter() - t0) * 1e3
        if isinstance(item, Answer):
            if first_answer is None:
                first_answer = now
                quoted_cites = bool(item.citations)
            final = item
        elif first_token is None and item:
            first_token = now
    return {"first_answer_ms": first_answer, "first_cited": quoted_cites, "first_token_ms": first_token,
            "total_ms": (time.perf_counter() - t0) * 1e3, "final_mode": final.mode if final else None}


def bench_users(args: argparse.Namespace, questions: list[str], all_rows: list[dict[str, Any]]) -> dict[str, Any]:
    from qa import Assistant

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="citeqa-instant-") as tmp:
        a = Assistant.open(paths=[args.docs], index_dir=tmp)
        ok, why = a.llm_available()
        if not ok:
            raise ValueError(why)
        a.warm()
        a.ask("What is this about?", mode="combined")  # untimed: builds BM25, reads the prompt prefix
        base = []
        for q in questions:
            t = time.perf_counter()
            a.evidence(q)
            base.append((time.perf_counter() - t) * 1e3)
        out["evidence_only_ms"] = metrics.percentiles(base)
        for users in (1, args.users):
            rows: list[dict[str, Any]] = []
            lock = threading.Lock()

            def user(k: int, users: int = users, rows: list = rows, lock: threading.Lock = lock) -> None:
                for i in range(args.per_user):
                    q = questions[(k * args.per_user + i) % len(questions)]
                    r = {"users": users, "user": k, "question": q, **_ask_combined(a, q)}
                    with lock:
                        rows.append(r)

            threads = [threading.Thread(target=user, args=(k,)) for k in range(users)]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            all_rows.extend(rows)
            out[f"users_{users}"] = {
                "questions": len(rows), "wall_s": round(time.perf_counter() - t, 2),
                "first_cited_answer_ms": metrics.percentiles([r["first_answer_ms"] for r in rows]),
                "llm_first_token_ms": metrics.percentiles([r["first_token_ms"] for r in rows if r["first_token_ms"]]),
                "total_ms": metrics.percentiles([r["total_ms"] for r in rows]),
                "first_answer_cited_rate": sum(r["first_cited"] for r in rows) / len(rows),
                "written_answer_kept_rate": sum(r["final_mode"] == "generative" for r in rows) / len(rows),
            }
    return out


def run(args: argparse.Namespace) -> SuiteResult:
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if any(p not in PARTS for p in parts):
        raise ValueError(f"--parts must be a subset of {','.join(PARTS)}")
    gold = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    answerable = [g["question"] for g in gold if g.get("answerable") and not g.get("history")]
    questions = [g for g in sample(answerable, args.limit, args.seed)] or answerable
    m: dict[str, Any] = {"load_avg_before": list(os.getloadavg())}
    rows: list[dict[str, Any]] = []
    if "cold" in parts:
        m["cold"] = bench_cold(args, questions[0])
    if "users" in parts:
        m.update(bench_users(args, questions, rows))
    m["load_avg_after"] = list(os.getloadavg())
    keys = ["cold_page_up_s=cold.page_up_s", "cold_first_cited_answer_s=cold.first_cited_answer_s",
            "evidence_only_p50_ms=evidence_only_ms.p50"]
    for users in (1, args.users):
        keys += [f"users{users}_first_cited_p50_ms=users_{users}.first_cited_answer_ms.p50",
                 f"users{users}_first_cited_p95_ms=users_{users}.first_cited_answer_ms.p95",
                 f"users{users}_llm_first_token_p50_ms=users_{users}.llm_first_token_ms.p50",
                 f"users{users}_total_p50_ms=users_{users}.total_ms.p50",
                 f"users{users}_total_p95_ms=users_{users}.total_ms.p95"]
    config = {"parts": parts, "gold": str(args.gold), "docs": str(args.docs), "users": args.users,
              "per_user": args.per_user, "limit": args.limit, "seed": args.seed, "mode": "combined"}
    notes = ["Times are server-side (in-process) except the cold part, which goes through the chat's HTTP API. "
             "load_avg_before/after say whether the machine was idle."]
    return SuiteResult(config, m, headline(m, keys), rows, notes)
