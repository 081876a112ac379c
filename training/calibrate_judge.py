"""Fit the judge's abstention threshold and near-tie margin on the calibration articles (open corpus).

    python -m training.calibrate_judge [--squad A.json B.json] [--limit N] [--out PATH]

SQuAD 2.0 dev A+B is split by article as the judge was trained (``training.data.split_articles`` over the
titles of both files: test = titles[1::4], calibration = titles[3::8], train = the rest). The corpus is the
paragraphs of the calibration articles, one document each; every calibration question is asked through the
product's evidence step with ``judge.relevance = "judge"`` (the judge reads at most ``judge.max_units`` units).
The threshold is the highest whose false abstention (answerable questions abstained on) is at most
``FALSE_ABSTENTION_BUDGET``; the margin is the one of ``MARGINS`` with the best harmonic mean of citation
precision and recall-any at that threshold. Both go to ``qa/fitted/judge.json`` (or ``--out``), with the figures.
``eval.suites.judge`` reports the same figures on the test articles.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FALSE_ABSTENTION_BUDGET = 0.05
MARGINS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)
MAX_CITED = 3
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
DEFAULT_SQUAD = (SHARED / "squad2_dev_A.json", SHARED / "squad2_dev_B.json")


@dataclass
class Asked:
    """One question's ranked candidates as the evidence step scored them, with what answers it."""

    question: str
    answerable: bool
    gold: list[tuple[str, int, int]]  # (doc, start, end) of each gold answer
    ranked: list[tuple[float, str, int, int]]  # (probability, doc, start, end), best first


def load_parts(paths) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """({doc id "title#paragraph": text}, {part: questions}) over all given SQuAD 2.0 files, split by article."""
    from training.data import split_articles

    texts: dict[str, str] = {}
    questions: list[dict] = []
    for path in paths:
        if not Path(path).exists():
            raise SystemExit(f"SQuAD file not found: {path} (give --squad PATHS)")
        for article in json.loads(Path(path).read_text(encoding="utf-8"))["data"]:
            for pi, para in enumerate(article["paragraphs"]):
                doc = f"{article['title']}#{pi}"
                texts[doc] = para["context"]
                for qa in para["qas"]:
                    answers = [a for a in qa.get("answers", []) if a.get("text")]
                    questions.append({"id": qa["id"], "question": qa["question"], "doc": doc,
                                      "article": article["title"], "answerable": bool(answers) and not qa.get("is_impossible"),
                                      "answers": [a["text"] for a in answers],
                                      "spans": [(a["answer_start"], a["answer_start"] + len(a["text"])) for a in answers]})
    split = split_articles([q["article"] for q in questions])
    parts = {p: [q for q in questions if split[q["article"]] == p] for p in ("train", "calib", "test")}
    return texts, parts


def part_corpus(texts: dict[str, str], questions: list[dict]) -> dict[str, str]:
    """The paragraphs of the articles the questions are about: the open corpus they are asked against."""
    articles = {q["article"] for q in questions}
    return {d: t for d, t in texts.items() if d.rpartition("#")[0] in articles}


def sample(questions: list[dict], limit: int, seed: int) -> list[dict]:
    import random

    if not limit or limit >= len(questions):
        return questions
    keep = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in keep]


def asked(ev, q: dict) -> Asked:
    """What ``simulate`` needs of one Evidence: its ranked candidates as spans."""
    view = ev.corpus
    ranked = []
    for s in ev.scored:
        first = view.records[s.hit.row]
        last = view.records[s.last if s.last is not None else s.hit.row]
        ranked.append((s.probability, first.doc_id, first.start, last.end))
    return Asked(q["question"], q["answerable"], [(q["doc"], a, b) for a, b in q["spans"]], ranked)


def collect(assistant, questions: list[dict]) -> list[Asked]:
    out = []
    t0 = time.perf_counter()
    for i, q in enumerate(questions):
        out.append(asked(assistant.evidence(q["question"]), q))
        if i % 200 == 0:
            print(f"  {i}/{len(questions)} {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def choose(ranked: list[tuple[float, str, int, int]], threshold: float, margin: float,
           max_cited: int = MAX_CITED) -> list[tuple[float, str, int, int]]:
    """As ``qa.evidence.select``: the best when it clears the threshold, plus near ties sharing no text with it."""
    if not ranked or ranked[0][0] < threshold:
        return []
    chosen = [ranked[0]]
    for c in ranked[1:]:
        if len(chosen) == max_cited or c[0] < max(threshold, ranked[0][0] - margin):
            break
        if not any(c[1] == d[1] and c[2] < d[3] and d[2] < c[3] for d in chosen):
            chosen.append(c)
    return chosen


def simulate(rows: list[Asked], threshold: float, margin: float) -> dict[str, float]:
    """Citation precision (micro: cited spans overlapping a gold answer), recall-any (a gold answer lies
    within a cited span), false and true abstention."""
    cited = correct = recall = 0
    ans = [r for r in rows if r.answerable]
    unans = [r for r in rows if not r.answerable]
    false_abst = true_abst = 0
    for r in rows:
        chosen = choose(r.ranked, threshold, margin)
        if not chosen:
            false_abst += r.answerable
            true_abst += not r.answerable
            continue
        cited += len(chosen)
        if r.answerable:
            correct += sum(any(d == c[1] and a < c[3] and c[2] < b for d, a, b in r.gold) for c in chosen)
            recall += any(d == c[1] and c[2] <= a and b <= c[3] for d, a, b in r.gold for c in chosen)
    return {"citation_precision": round(correct / cited, 4) if cited else None,
            "recall_any": round(recall / len(ans), 4) if ans else None,
            "false_abstention": round(false_abst / len(ans), 4) if ans else None,
            "true_abstention": round(true_abst / len(unans), 4) if unans else None,
            "answerable": len(ans), "unanswerable": len(unans)}


def reachable(rows: list[Asked]) -> float | None:
    """Share of answerable questions with a gold answer within some unit the judge read: recall-any's ceiling."""
    ans = [r for r in rows if r.answerable]
    hit = sum(any(d == c[1] and c[2] <= a and b <= c[3] for d, a, b in r.gold for c in r.ranked) for r in ans)
    return round(hit / len(ans), 4) if ans else None


def threshold_for(rows: list[Asked], budget: float = FALSE_ABSTENTION_BUDGET) -> float:
    """The highest threshold with false abstention <= ``budget`` (ties at the best probability answer)."""
    best = sorted(r.ranked[0][0] if r.ranked else 0.0 for r in rows if r.answerable)
    if not best:
        raise ValueError("no answerable questions to calibrate on")
    return float(best[int(budget * len(best))])


def curve(rows: list[Asked], margin: float, thresholds=None) -> list[dict[str, float]]:
    """False and true abstention, precision and recall-any over thresholds (the operating points)."""
    import numpy as np

    thresholds = thresholds if thresholds is not None else [round(float(t), 3) for t in np.linspace(0.0, 0.95, 20)]
    return [{"threshold": t, **simulate(rows, t, margin)} for t in thresholds]


def harmonic(f: dict) -> float:
    p, r = f["citation_precision"] or 0.0, f["recall_any"] or 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def fit(rows: list[Asked]) -> tuple[float, float, dict]:
    threshold = threshold_for(rows)
    by_margin = {m: simulate(rows, threshold, m) for m in MARGINS}
    margin = max(MARGINS, key=lambda m: (harmonic(by_margin[m]), -m))
    return threshold, margin, {str(m): f for m, f in by_margin.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", nargs="+", type=Path, default=list(DEFAULT_SQUAD), help="SQuAD 2.0 dev files (A and B)")
    ap.add_argument("--limit", type=int, default=0, help="calibration questions at most (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the fit here instead of qa/fitted/judge.json")
    args = ap.parse_args(argv)

    from qa import Assistant
    from qa.settings import Settings
    from training.fitted import command_line

    texts, parts = load_parts(args.squad)
    questions = sample(parts["calib"], args.limit, args.seed)
    settings = Settings.from_env().with_(judge={"relevance": "judge", "abstain_below": 0.0})  # ranks only
    assistant = Assistant.from_texts(part_corpus(texts, parts["calib"]), settings=settings)
    if assistant._finder.relevance != "judge":
        raise SystemExit("the judge did not load (see the warning above); nothing to calibrate")
    rows = collect(assistant, questions)
    threshold, margin, by_margin = fit(rows)
    figures = {"calib": simulate(rows, threshold, margin), "reachable": reachable(rows), "margins_at_threshold": by_margin,
               "curve": curve(rows, margin)}
    print(json.dumps({"threshold": threshold, "margin": margin, **figures}, indent=1))
    import datetime

    from qa.fitted import FORMAT, load_judge, path_of

    record = {"format": FORMAT, "values": {"threshold": round(threshold, 6), "margin": margin},
              "embedder": assistant.embedder.name,
              "data": {"file": " + ".join(str(p) for p in args.squad), "limit": args.limit, "seed": args.seed,
                       "questions": len(rows), "max_units": settings.judge.max_units,
                       "split": "training.data.split_articles over the titles of all files: calibration = "
                                "titles[3::8]; the corpus is the calibration articles' paragraphs",
                       "articles": sorted({q["article"] for q in questions}),
                       "threshold_rule": f"highest with false abstention <= {FALSE_ABSTENTION_BUDGET} on the calibration "
                                         f"questions; margin of {list(MARGINS)} with the best harmonic mean of "
                                         "citation precision and recall-any there"},
              "figures": figures, "command": command_line("training.calibrate_judge", argv),
              "date": datetime.date.today().isoformat()}
    path = args.out or path_of("judge")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    load_judge(tmp)  # checked as the product will read it before it replaces anything
    tmp.replace(path)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
