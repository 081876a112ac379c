"""Load test of a running `citeqa serve`: many concurrent browser-like sessions, bounded in time.

    python tests/tools/loadtest.py --url http://127.0.0.1:7860/ --sessions 20 --seconds 60 --mode extractive

Each session is its own ``gradio_client.Client`` (its own Gradio session, hence its own chat
state) and goes through the same events the browser does: ``/new_chat``, then ``/ask`` + ``/answer``
for a first question that no other session uses, then a follow-up ("... that ...") whose
meaning depends on the session's own history. After each follow-up the session checks that:

- the chat it got back holds exactly its own two questions (no turn of another session), and
- the follow-up was read (``Read as: ...``) as its own first question plus the follow-up,
  i.e. the server used this session's history and nobody else's.

It prints one JSON line: questions asked, errors, leaks, p50/p95/max latency (ask+answer round
trip as the user sees it, queueing included), the server's own answer time (answer_p50/p95_ms,
as shown under each answer), throughput. Exit status 0 when there were no errors and no leaks.
New rounds stop at --seconds; requests in flight get --grace seconds to finish.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field

FIRST_QUESTIONS = (
    "Why was the trip cancelled?",
    "Who sent the letter?",
    "Who wrote the article?",
    "Who is the Defence Secretary?",
    "Which CIA official has accompanied Pompeo to Pyongyang?",
    "With whom has Trump been privately exchanging letters?",
    "Who believes that North Korea should go first?",
    "Where did Pompeo show the letter to Trump?",
    "What did Trump's latest letter encourage the Kim regime to do?",
    "What did Trump's latest letter warn against?",
    "What was described as a huge reversal for the president?",
    "How could officials apply more pressure to the Kim regime?",
    "How were some of Trump's letters to Kim Jong Un delivered?",
    "Why did the Pentagon suspend several of the largest exercises?",
    "Why does Bolton consider concessions such as face-to-face meetings unhelpful?",
    "On what day did Pompeo announce he was departing for Pyongyang?",
    "When did Trump decide to shelve large-scale drills with South Korea?",
    "How long before Pompeo's departure did Trump call off the trip?",
    "Which newspaper published the article?",
    "From which city was the story filed?",
    "Who is credited for the photo?",
    "What is the headline of the article?",
    "Who was in the room with Trump when he tweeted that the trip was cancelled?",
    "How many senior administration officials confirmed that Pompeo showed the letter to Trump?",
)
# Each contains a referring word ("that", "he", "it"), so it is read against the session's own history.
FOLLOW_UPS = ("Why did that happen?", "When was that?", "Who said that?", "What happened after that?")

_TAG = re.compile(r"<[^>]+>")
_STANDALONE = re.compile(r'<q class="cq-standalone">(.*?)</q>', re.S)
_TOOK = re.compile(r'<div class="cq-meta">[^<]*?(\d+(?:\.\d+)?) (ms|s)</div>')


def _text_of(content) -> str:
    if isinstance(content, list):
        content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content or "")


def plain(markup: str) -> str:
    return html.unescape(_TAG.sub("", markup)).strip()


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)  # the server's own time per answer (shown in the chat)
    errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    rounds: int = 0
    abstained: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, msg: str) -> None:
        with self.lock:
            self.errors.append(msg)


def _ask(client, question: str, mode: str, timeout: float) -> tuple[list, float]:
    t0 = time.perf_counter()
    client.submit(question, mode, api_name="/ask").result(timeout=timeout)
    endpoint = "/answer_llm" if mode == "generative" else "/answer"
    out = client.submit(api_name=endpoint).result(timeout=timeout)
    chat = out[0] if isinstance(out, (list, tuple)) else out
    return chat, (time.perf_counter() - t0) * 1e3


def session(idx: int, url: str, auth, mode: str, deadline: float, timeout: float, stats: Stats,
            all_first: set[str]) -> None:
    from gradio_client import Client

    first = FIRST_QUESTIONS[idx % len(FIRST_QUESTIONS)]
    others = all_first - {first}
    try:
        client = Client(url, auth=auth, verbose=False, download_files=False)
    except Exception as exc:  # noqa: BLE001
        stats.error(f"session {idx}: cannot connect: {type(exc).__name__}: {exc}")
        return
    k = 0
    while time.monotonic() < deadline:
        follow = FOLLOW_UPS[(idx + k) % len(FOLLOW_UPS)]
        k += 1
        try:
            client.submit(api_name="/new_chat").result(timeout=timeout)
            chat1, ms1 = _ask(client, first, mode, timeout)
            chat2, ms2 = _ask(client, follow, mode, timeout)
        except Exception as exc:  # noqa: BLE001
            stats.error(f"session {idx}: {type(exc).__name__}: {str(exc)[:200]}")
            time.sleep(0.5)
            continue
        with stats.lock:
            stats.latencies_ms += [ms1, ms2]
            stats.rounds += 1
        users = [plain(_text_of(m.get("content"))) for m in chat2 if m.get("role") == "user"]
        bots = [_text_of(m.get("content")) for m in chat2 if m.get("role") == "assistant"]
        if users != [first, follow]:
            with stats.lock:
                stats.leaks.append(f"session {idx}: chat holds {users!r}, expected {[first, follow]!r}")
            continue
        for b in bots:
            if "cq-error" in b or "cq-pending" in b or not plain(b):
                stats.error(f"session {idx}: bad answer {plain(b)[:160]!r}")
            if (t := _TOOK.search(b)):
                with stats.lock:
                    stats.answer_ms.append(float(t.group(1)) * (1.0 if t.group(2) == "ms" else 1e3))
            if "cq-abstained" in b:
                with stats.lock:
                    stats.abstained += 1
        m = _STANDALONE.search(bots[-1]) if bots else None
        standalone = html.unescape(m.group(1)) if m else ""
        if not standalone.startswith(first) or any(o in standalone for o in others):
            with stats.lock:
                stats.leaks.append(f"session {idx}: follow-up read as {standalone!r}, expected it to start with {first!r}")


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return round(s[i], 1)


def run(url: str, sessions: int, seconds: float, mode: str = "extractive", auth=None,
        timeout: float = 120.0, grace: float = 60.0) -> dict:
    stats = Stats()
    all_first = {FIRST_QUESTIONS[i % len(FIRST_QUESTIONS)] for i in range(sessions)}
    if sessions > len(FIRST_QUESTIONS):
        print(f"note: {sessions} sessions share {len(FIRST_QUESTIONS)} distinct first questions", file=sys.stderr)
    t0 = time.monotonic()
    deadline = t0 + seconds
    threads = [threading.Thread(target=session, daemon=True,
                                args=(i, url, auth, mode, deadline, timeout, stats, all_first))
               for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline + grace - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        stats.error(f"{stuck} sessions still waiting {grace:.0f} s after the end")
    wall = time.monotonic() - t0
    lat = stats.latencies_ms
    return {
        "url": url, "mode": mode, "sessions": sessions, "seconds": seconds, "wall_s": round(wall, 1),
        "questions": len(lat), "rounds": stats.rounds, "abstained": stats.abstained,
        "errors": len(stats.errors), "leaks": len(stats.leaks),
        "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95), "max_ms": round(max(lat), 1) if lat else None,
        "questions_per_s": round(len(lat) / wall, 2) if wall else None,
        "answer_p50_ms": percentile(stats.answer_ms, 50), "answer_p95_ms": percentile(stats.answer_ms, 95),
        "error_samples": stats.errors[:5], "leak_samples": stats.leaks[:5],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:7860/")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--mode", choices=("extractive", "generative"), default="extractive")
    p.add_argument("--auth", default=None, help="user:password if the server was started with --auth")
    p.add_argument("--timeout", type=float, default=120.0, help="per request")
    p.add_argument("--grace", type=float, default=60.0, help="time for requests in flight after --seconds")
    a = p.parse_args(argv)
    auth = tuple(a.auth.split(":", 1)) if a.auth else None
    result = run(a.url, a.sessions, a.seconds, a.mode, auth, a.timeout, a.grace)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["errors"] == 0 and result["leaks"] == 0 and result["questions"] > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
