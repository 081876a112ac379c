"""Same answers before and after a refactor: record every answer of a question set, then compare two records.

    python -m eval.same_answers record OUT.jsonl [--squad PATH --squad-limit N] [--modes extractive,generative]
                                                 [--record-llm REPLIES.jsonl | --replay-llm REPLIES.jsonl]
    python -m eval.same_answers compare BEFORE.jsonl AFTER.jsonl

The sets are the own seed gold set, the shared seed dev set (when given) and a deterministic SQuAD sample (open
corpus). LLM answers are compared by replaying the LLM replies recorded in the "before" run: the decisions around
the model (prompt building, marker parsing, claim checks, fall-backs) are then compared exactly, and a changed
prompt is reported per question instead of a sampling difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent
GOLD = EVAL_DIR / "gold_seed.jsonl"
SEEDS = EVAL_DIR.parent / "seeds"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class ReplyBook:
    """LLM replies keyed by (question key, call number): written by a recording run, read by a replaying one."""

    def __init__(self, path: Path, replay: bool) -> None:
        self.path, self.replay = path, replay
        self.replies: dict[str, dict] = {}
        if replay:
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                self.replies[row["key"]] = row
        self.key = ""
        self.calls = 0
        self.prompt_changed: list[str] = []

    def start(self, key: str) -> None:
        self.key, self.calls = key, 0

    def next_key(self) -> str:
        self.calls += 1
        return f"{self.key}#{self.calls}"


class RecordingLLM:
    """Streams the real LLM's reply and writes it down."""

    def __init__(self, real, book: ReplyBook) -> None:
        self.real, self.book = real, book
        self.out = book.path.open("w", encoding="utf-8")

    def stream(self, prompt: str, **kw) -> Iterator[str]:
        key = self.book.next_key()
        parts = []
        for delta in self.real.stream(prompt, **kw):
            parts.append(delta)
            yield delta
        self.out.write(json.dumps({"key": key, "prompt_sha": _digest(prompt), "prompt": prompt,
                                   "reply": "".join(parts)}) + "\n")
        self.out.flush()

    def warm(self, prefix: str, persist_prefix: bool = False) -> None:
        self.real.warm(prefix, persist_prefix=persist_prefix)


class ReplayLLM:
    """Gives back the recorded reply of the same question and call; notes when the prompt differs."""

    def __init__(self, book: ReplyBook) -> None:
        self.book = book
        self._template = None

    def _render(self, prompt) -> str:
        """The prompt as the model reads it: chat messages rendered with the model file's own template."""
        if isinstance(prompt, str):
            return prompt
        if self._template is None:
            from qa.llm import runtime
            from qa.settings import Settings

            settings = Settings.from_env()
            runtime.configure(settings)
            self._template = runtime.chat_template(settings.llm.chat_template)
        return self._template.render(prompt)

    def stream(self, prompt, **kw) -> Iterator[str]:
        key = self.book.next_key()
        row = self.book.replies.get(key)
        if row is None:
            raise KeyError(f"no recorded LLM reply for {key}")
        if row["prompt_sha"] != _digest(self._render(prompt)):
            self.book.prompt_changed.append(key)
        yield row["reply"]

    def warm(self, prefix, persist_prefix: bool = False) -> None:
        pass


def _answer_row(key: str, mode: str, ans) -> dict:
    return {"key": key, "mode": mode, "text": ans.text, "abstained": ans.abstained, "answer_mode": ans.mode,
            "note": ans.note, "unsupported": list(ans.unsupported),
            "citations": [[c.doc_id, c.start, c.end, c.text] for c in ans.citations]}


def _history(turns) -> list[dict]:
    out = []
    for t in turns or []:
        out += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": t["answer"]}]
    return out


def _gold(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _squad(path: Path, limit: int) -> tuple[dict[str, str], list[dict]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    texts, questions = {}, []
    for ai, article in enumerate(data["data"]):
        for pi, para in enumerate(article["paragraphs"]):
            doc = f"{article.get('title', ai)}~{ai}#{pi}"
            texts[doc] = para["context"]
            questions += [{"id": q["id"], "question": q["question"]} for q in para["qas"]]
    return texts, random.Random(0).sample(questions, min(limit, len(questions)))


def record(args: argparse.Namespace) -> int:
    import tempfile

    from qa import Assistant

    modes = args.modes.split(",")
    book = None
    llm = None
    if args.record_llm or args.replay_llm:
        book = ReplyBook(Path(args.record_llm or args.replay_llm), replay=bool(args.replay_llm))
    sets: list[tuple[str, object, list[dict]]] = []
    with tempfile.TemporaryDirectory(prefix="same-answers-") as tmp:
        if book is not None:
            if book.replay:
                llm = ReplayLLM(book)
            else:
                from qa.llm.local import LocalLLM
                from qa.settings import Settings

                llm = RecordingLLM(LocalLLM(Settings.from_env()), book)
        seed = Assistant.open(paths=[SEEDS], index_dir=Path(tmp) / "seed", llm=llm)
        sets.append(("own", seed, _gold(GOLD)))
        if args.shared_dev:
            sets.append(("dev", seed, _gold(Path(args.shared_dev))))
        if args.squad:
            texts, qs = _squad(Path(args.squad), args.squad_limit)
            sets.append(("squad", Assistant.from_texts(texts, llm=llm), qs))
        n = 0
        with open(args.out, "w", encoding="utf-8") as out:
            for name, assistant, questions in sets:
                for mode in modes:
                    if mode != "extractive" and book is None:
                        continue
                    limit = args.llm_limit if mode != "extractive" else None
                    for q in questions[:limit]:
                        key = f"{name}:{q['id']}:{mode}"
                        if book is not None:
                            book.start(key)
                        ans = assistant.ask(q["question"], history=_history(q.get("history")), mode=mode)
                        out.write(json.dumps(_answer_row(key, mode, ans)) + "\n")
                        n += 1
    print(f"recorded {n} answers to {args.out}")
    if book is not None and book.replay:
        print(f"LLM prompts that differ from the recorded ones: {len(book.prompt_changed)} {book.prompt_changed[:10]}")
    return 0


def compare(args: argparse.Namespace) -> int:
    before = {r["key"]: r for r in map(json.loads, Path(args.before).read_text(encoding="utf-8").splitlines())}
    after = {r["key"]: r for r in map(json.loads, Path(args.after).read_text(encoding="utf-8").splitlines())}
    differ = [k for k in before if k in after and before[k] != after[k]]
    missing = sorted(set(before) ^ set(after))
    for k in differ:
        b, a = before[k], after[k]
        fields = [f for f in b if b[f] != a.get(f)]
        print(f"DIFF {k}: {', '.join(fields)}")
        for f in fields:
            print(f"   before {f}: {json.dumps(b[f])[:300]}\n   after  {f}: {json.dumps(a.get(f))[:300]}")
    same = len(before) - len(differ) - len(set(before) - set(after))
    print(f"same: {same} of {len(before)} · differ: {len(differ)} · only in one record: {len(missing)}")
    return 0 if not differ and not missing else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.same_answers", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="answer every question and write the answers")
    r.add_argument("out")
    r.add_argument("--shared-dev", help="the shared seed dev set (seed_dev.jsonl)")
    r.add_argument("--squad", help="a SQuAD v2.0 JSON file (open corpus sample)")
    r.add_argument("--squad-limit", type=int, default=200)
    r.add_argument("--modes", default="extractive")
    r.add_argument("--llm-limit", type=int, default=None, help="questions per set in the LLM modes")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--record-llm", help="use the real LLM and write its replies here")
    g.add_argument("--replay-llm", help="replay the LLM replies recorded here")
    c = sub.add_parser("compare", help="compare two records question by question")
    c.add_argument("before")
    c.add_argument("after")
    args = p.parse_args(argv)
    return record(args) if args.cmd == "record" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
