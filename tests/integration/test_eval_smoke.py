"""Smoke tests of the eval package: every suite runs end to end (real embedder, real FAISS) on data
that ships with the repo or is written here, and its figures are computed and sane.

No timing assertions: CI machines vary. No dependency on ../shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import metrics
from eval.__main__ import main
from eval.make_gold_seed import ARTICLE, OUT as GOLD, verify

RIVERS = [
    "The Danube is the second-longest river in Europe. It flows through ten countries, more than any other river. "
    "Its source is in the Black Forest of Germany, and it ends in the Black Sea.",
    "The Rhine rises in the Swiss Alps. It forms part of the border between Germany and France. "
    "The river is about 1,230 kilometres long and reaches the North Sea in the Netherlands.",
]
CHEESE = [
    "Gruyere is a hard yellow cheese named after the town of Gruyeres in Switzerland. "
    "It is aged for five months to a year.",
]


def _squad_file(tmp_path: Path) -> Path:
    def qa(qid: str, question: str, context: str, answer: str | None) -> dict:
        answers = [{"text": answer, "answer_start": context.index(answer)}] if answer else []
        return {"id": qid, "question": question, "answers": answers, "is_impossible": answer is None}

    data = {"version": "v2.0", "data": [
        {"title": "Rivers", "paragraphs": [
            {"context": RIVERS[0], "qas": [qa("r1", "Where is the source of the Danube?", RIVERS[0], "Black Forest"),
                                           qa("r2", "How many countries does the Danube flow through?", RIVERS[0], "ten"),
                                           qa("r3", "Who built the first bridge over the Danube?", RIVERS[0], None)]},
            {"context": RIVERS[1], "qas": [qa("r4", "Where does the Rhine rise?", RIVERS[1], "Swiss Alps"),
                                           qa("r5", "How long is the Rhine?", RIVERS[1], "about 1,230 kilometres")]}]},
        {"title": "Cheese", "paragraphs": [
            {"context": CHEESE[0], "qas": [qa("c1", "How long is Gruyere aged?", CHEESE[0], "five months to a year"),
                                           qa("c2", "What is the fat content of Gruyere?", CHEESE[0], None)]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _hotpot_file(tmp_path: Path) -> Path:
    # Official distractor format; sentences after the first carry a leading space, as in HotpotQA.
    context = [
        ["Danube", ["The Danube is the second-longest river in Europe.", " Its source is in the Black Forest."]],
        ["Black Forest", ["The Black Forest is a mountain range in Germany.", " Its highest peak is the Feldberg."]],
        ["Rhine", ["The Rhine rises in the Swiss Alps.", " It reaches the North Sea."]],
        ["Gruyere", ["Gruyere is a Swiss cheese.", " It is aged for months."]],
    ]
    data = [
        {"_id": "h1", "question": "What is the highest peak of the range where the Danube has its source?",
         "answer": "Feldberg", "supporting_facts": [["Danube", 1], ["Black Forest", 1]], "context": context},
        {"_id": "h2", "question": "Are the Danube and the Rhine both rivers?", "answer": "yes",
         "supporting_facts": [["Danube", 0], ["Rhine", 0]], "context": context},
    ]
    path = tmp_path / "hotpot.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _run(argv: list[str], results: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict, dict]:
    assert main([*argv, "--results-dir", str(results)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    head = json.loads(last)  # the last line of output is the headline JSON
    doc = json.loads(Path(head["results"]).read_text(encoding="utf-8"))
    assert Path(head["results"]).parent == results
    assert (results / "REPORT.md").is_file()
    assert doc["machine"]["cores"] and doc["machine"]["python"]
    return head, doc


def _in_unit(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and 0.0 <= value <= 1.0)


def _check_common(doc: dict, n: int) -> None:
    m = doc["metrics"]
    assert m["n"] == n == len(doc["rows"])
    assert m["invalid_spans"] == 0
    for key in ("em", "f1", "success", "answer_in_citations", "citation_precision_micro", "citation_recall_micro",
                "citation_precision_macro", "citation_recall_macro", "abstention_rate_unanswerable",
                "false_abstention_rate", "abstention_precision", "abstention_recall"):
        assert _in_unit(m[key]), key
    assert m["latency_ms"]["p50"] is not None and m["latency_ms"]["p50"] >= 0
    for row in doc["rows"]:
        assert _in_unit(row["em"]) and _in_unit(row["f1"])
        assert row["abstained"] == (not row["citations"])


def test_gold_seed_file_is_valid() -> None:
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert verify(rows, ARTICLE.read_text(encoding="utf-8")) == []
    assert len(rows) >= 30
    kinds = [r["kind"] for r in rows]
    assert kinds.count("unanswerable") >= 6 and sum(1 for r in rows if r["kind"] == "followup" and r.get("history")) >= 4


def test_metrics_conventions() -> None:
    assert metrics.normalize_answer("The  Black-Forest, an area!") == "blackforest area"
    assert metrics.answer_scores("the Black Forest [1]", False, ["Black Forest"], True) == (1.0, 1.0)
    assert metrics.answer_scores("anything", True, [], False) == (1.0, 1.0)
    assert metrics.answer_scores("anything", False, [], False) == (0.0, 0.0)
    assert metrics.answer_in_text(["no"], "there is no plan") is None  # verdicts are not quotable
    cited = [metrics.Span("d", 0, 10), metrics.Span("d", 20, 30), metrics.Span("e", 0, 10)]
    c = metrics.citation_scores(cited, [metrics.Span("d", 5, 8), metrics.Span("d", 40, 50)])
    assert c == {"n_cited": 3, "n_cited_correct": 1, "n_evidence": 2, "n_evidence_covered": 1,
                 "n_cited_chars": 30, "n_cited_chars_in_evidence": 3}
    # Overlapping evidence spans count each cited character once.
    assert metrics.evidence_chars(metrics.Span("d", 0, 10), [metrics.Span("d", 2, 6), metrics.Span("d", 4, 12)]) == 8
    assert metrics.wrong_verdict(["no", "he was opposed"], "Yes, he supported it. [1]", False) is True
    assert metrics.wrong_verdict(["no"], "No, he was opposed [1].", False) is False
    assert metrics.wrong_verdict(["no"], "He was opposed to the trip [1].", False) is False  # no verdict given
    assert metrics.wrong_verdict(["Pompeo"], "Yes. [1]", False) is None  # not a yes/no question
    assert metrics.wrong_verdict(["no"], "", True) is None
    assert metrics.recall_at_k([0, 3, None], [1, 5]) == {"1": 1 / 3, "5": 2 / 3}


def test_seed_suite_on_own_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = sum(1 for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip())
    head, doc = _run(["seed", "--mode", "extractive"], tmp_path / "results", capsys)
    _check_common(doc, n)
    assert head["n"] == n and doc["config"]["mode"] == "extractive"
    assert {"followup", "unanswerable", "meta"} <= set(doc["metrics"]["by_kind"])
    assert any(r["history"] for r in doc["rows"])
    assert (tmp_path / "results" / "seed-latency.png").is_file()


def test_seed_suite_sampling_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = []
    for _ in range(2):
        _, doc = _run(["seed", "--limit", "5", "--seed", "3"], tmp_path / "results", capsys)
        ids.append([r["id"] for r in doc["rows"]])
    assert ids[0] == ids[1] and len(ids[0]) == 5


def test_squad_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head, doc = _run(["squad", str(_squad_file(tmp_path)), "--limit", "20"], tmp_path / "results", capsys)
    _check_common(doc, 7)  # --limit above the number of questions: all of them
    retrieval = doc["metrics"]["retrieval"]
    assert retrieval["n"] == 5
    assert all(_in_unit(v) for v in retrieval["recall_at_k"].values()) and _in_unit(retrieval["mrr"])
    assert retrieval["recall_at_k"]["1"] <= retrieval["recall_at_k"]["5"] <= retrieval["recall_at_k"]["10"]
    assert set(doc["metrics"]["by_kind"]) == {"HasAns", "NoAns"}
    assert doc["metrics"]["index"]["documents"] == 3
    assert {r["doc"] for r in doc["rows"]} == {"Rivers#0", "Rivers#1", "Cheese#0"}


@pytest.mark.parametrize("pooled", [False, True])
def test_hotpot_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str], pooled: bool) -> None:
    argv = ["hotpot", str(_hotpot_file(tmp_path))] + (["--pooled"] if pooled else [])
    head, doc = _run(argv, tmp_path / "results", capsys)
    _check_common(doc, 2)
    sp = doc["metrics"]["supporting_facts"]
    assert all(_in_unit(sp[k]) for k in ("precision", "recall", "f1", "em"))
    assert all(_in_unit(v) for v in doc["metrics"]["retrieval"]["recall_at_k"].values())
    for row in doc["rows"]:
        assert len(row["supporting_facts"]) == 2  # every gold (title, sentence) mapped to a span
        assert row["kind"] in ("span", "yesno")


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    assert main(["squad", str(bad), "--results-dir", str(tmp_path)]) == 1
    assert "not a SQuAD JSON file" in capsys.readouterr().err


def test_config_file_sets_defaults_and_cli_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"limit": 4, "seed": 1}), encoding="utf-8")
    _, doc = _run(["seed", "--config", str(config), "--limit", "2"], tmp_path / "results", capsys)
    assert len(doc["rows"]) == 2 and doc["config"]["seed"] == 1 and doc["config"]["config_file"] == str(config)
    config.write_text(json.dumps({"no_such_option": 1}), encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["seed", "--config", str(config)])


def test_eval_report_writes_results_md_from_the_newest_file_of_each_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import main as citeqa

    results = tmp_path / "eval" / "results"
    head, doc = _run(["seed", "--limit", "3", "--seed", "1"], results, capsys)
    older = dict(doc, timestamp="2000-01-01T00:00:00+00:00", headline={**doc["headline"], "success": 0.1234})
    (results / "seed-20000101T000000Z.json").write_text(json.dumps(older), encoding="utf-8")
    out = tmp_path / "eval" / "RESULTS.md"
    assert citeqa(["eval", "report", "--results-dir", str(results), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    newest = Path(head["results"]).name
    assert f"[{newest}](results/{newest})" in text and "seed-20000101T000000Z" not in text and "0.123" not in text
    assert text.count("| [seed](") == 1  # one row per configuration
    assert "`python -m eval seed --limit 3 --seed 1`" in text  # the command, without --results-dir
    assert f"{doc['machine']['cores']} cores, {doc['machine']['ram_gb']} GiB RAM" in text
    assert f"| success | {doc['headline']['success']:.3f} |" in text
    assert citeqa(["eval", "report", "--results-dir", str(results), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == text  # regenerating from the same files: same bytes
    assert citeqa(["eval", "report", "--results-dir", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert "no result files" in capsys.readouterr().err


def test_committed_results_md_is_generated_from_the_committed_result_files(tmp_path: Path) -> None:
    import shutil

    from eval.report import DEFAULT_RESULTS_DIR, DEFAULT_RESULTS_MD, write_results_md

    results = shutil.copytree(DEFAULT_RESULTS_DIR, tmp_path / "eval" / "results")
    out = write_results_md(results, tmp_path / "eval" / "RESULTS.md")
    assert out.read_text(encoding="utf-8") == DEFAULT_RESULTS_MD.read_text(encoding="utf-8"), \
        "eval/RESULTS.md is stale: run `citeqa eval report`"
