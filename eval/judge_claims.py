"""The LLM mode's claim check: today's (qa/verify.py: cosine + lexical share, a logistic fit) vs the judge.

    python -m eval.judge_claims [--squad A.json B.json] [--limit N]

Held-out data: the judge's calibration articles choose the judge's threshold (best accuracy), the test
articles report (SQuAD 2.0 dev A+B split by ``training.data.split_articles``; corpus = those articles'
paragraphs). Per answerable question, as in ``training/calibrate_support.py``: the claim "question + gold
answer" with its gold sentence (supported), with the 3 best-retrieved other sentences (not supported), and a
wrong claim "question + the answer of another question of the same paragraph" with the gold sentence (not
supported: the model cited the right sentence for a wrong answer). Writes eval/results/judge_claims.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

EVAL_DIR = Path(__file__).resolve().parent
NEGATIVES = 3


def pairs(a, questions: list[dict], seed: int) -> list[dict]:
    """(question, claim, row, label, kind) for every check the LLM mode would make."""
    view, retriever = a.corpus.view(), a.retriever()
    by_doc: dict[str, list[str]] = {}
    for q in questions:
        by_doc.setdefault(q["doc"], []).extend(q["answers"][:1])
    rng = random.Random(seed)
    out = []
    for q in questions:
        start = q["spans"][0][0]
        gold = [r for r in range(len(view.records)) if view.records[r].doc_id == q["doc"]
                and view.records[r].start <= start < view.records[r].end]
        if not gold:
            continue
        answer = q["answers"][0]
        claim = f"{q['question']} {answer}"
        out.append({"question": q["question"], "claim": claim, "sentence": answer, "row": gold[0], "label": 1,
                    "kind": "supported", "article": q["article"]})
        negs = [h.row for h in retriever.search(q["question"]) if h.row not in gold][:NEGATIVES]
        out += [{"question": q["question"], "claim": claim, "sentence": answer, "row": r, "label": 0,
                 "kind": "other sentence", "article": q["article"]} for r in negs]
        wrong = [x for x in by_doc[q["doc"]] if x.lower() not in answer.lower() and answer.lower() not in x.lower()]
        if wrong:
            bad = rng.choice(wrong)
            out.append({"question": q["question"], "claim": f"{q['question']} {bad}", "sentence": bad, "row": gold[0],
                        "label": 0, "kind": "wrong answer", "article": q["article"]})
    return out


def today(a, rows: list[dict]) -> np.ndarray:
    from qa.verify import SupportChecker

    checker, view = SupportChecker(a.embedder), a.corpus.view()
    return np.array([checker.scores(a.embedder.encode_query(r["claim"]), r["claim"], r["sentence"], [r["row"]], view)[0]
                     for r in rows])


def judged(judge, view, rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(judge.probabilities(r[key], [view.record_text(r["row"])])[0]) for r in rows])


def report(p: np.ndarray, rows: list[dict], t: float) -> dict:
    y = np.array([r["label"] for r in rows])
    yes = p >= t
    kinds = sorted({r["kind"] for r in rows})
    return {"threshold": round(float(t), 4), "accuracy": round(float(np.mean(yes == y)), 4),
            **{f"accepted_{k.replace(' ', '_')}": round(float(np.mean([yes[i] for i, r in enumerate(rows) if r["kind"] == k])), 4)
               for k in kinds}}


def best_threshold(p: np.ndarray, rows: list[dict]) -> float:
    y = np.array([r["label"] for r in rows])
    grid = np.round(np.arange(0.02, 0.99, 0.01), 2)
    return float(max(grid, key=lambda t: float(np.mean((p >= t) == y))))


def main(argv: list[str] | None = None) -> int:
    from training.calibrate_judge import DEFAULT_SQUAD, load_parts, part_corpus

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", nargs="+", type=Path, default=list(DEFAULT_SQUAD))
    ap.add_argument("--limit", type=int, default=500, help="answerable questions per part at most")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=EVAL_DIR / "results" / "judge_claims.json")
    args = ap.parse_args(argv)

    from qa import Assistant
    from qa.judge.scorer import scorer_for
    from qa.settings import Settings
    from qa.verify import SUPPORT_MIN

    settings = Settings.from_env()
    judge = scorer_for(settings)
    texts, parts = load_parts(args.squad)
    result: dict = {"command": "python -m eval.judge_claims " + " ".join(argv or sys.argv[1:]), "limit": args.limit}
    scores: dict[str, dict[str, np.ndarray]] = {}
    data: dict[str, list[dict]] = {}
    for part in ("calib", "test"):
        qs = [q for q in parts[part] if q["answerable"]]
        qs = random.Random(args.seed).sample(qs, min(args.limit, len(qs)))
        a = Assistant.from_texts(part_corpus(texts, parts[part]), settings=settings)
        rows = pairs(a, qs, args.seed)
        view = a.corpus.view()
        data[part] = rows
        scores[part] = {"today": today(a, rows), "judge(question, sentence)": judged(judge, view, rows, "question"),
                        "judge(claim, sentence)": judged(judge, view, rows, "claim")}
        print(f"{part}: {len(rows)} pairs", file=sys.stderr, flush=True)
    for name in scores["test"]:
        t = SUPPORT_MIN if name == "today" else best_threshold(scores["calib"][name], data["calib"])
        result[name] = {"calib": report(scores["calib"][name], data["calib"], t),
                        "test": report(scores["test"][name], data["test"], t)}
    result["pairs"] = {p: len(r) for p, r in data.items()}
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
