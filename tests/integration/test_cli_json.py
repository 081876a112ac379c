"""`citeqa ask --json`: one JSON object, the shape of ``Answer.to_dict`` (the MCP `ask` tool's too), whose
citations are exact spans of their documents; plain text, a PDF (page and boxes), and the combined mode's
final answer. Real embedder, real index, the CLI as a user runs it."""

from __future__ import annotations

import json

import pytest

from conftest import SEED, run_cli
from qa import Assistant

QUESTION = "Why was the trip cancelled?"


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory):
    idx = tmp_path_factory.mktemp("json-index")
    Assistant.open(index_dir=idx)  # an empty index starts with the seed article
    return idx


def _ask_json(idx, question: str, *args: str) -> dict:
    run = run_cli("--index-dir", idx, "ask", question, "--json", *args, timeout=900)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)  # the whole output is one JSON object


def _assert_exact(answer: dict, texts: dict[str, str]) -> None:
    assert answer["citations"] and not answer["abstained"]
    for c in answer["citations"]:
        assert c["text"] == texts[c["doc_id"]][c["start"]:c["end"]]
        assert 0 <= c["score"] <= 1


def test_ask_json_is_the_answer_with_exact_spans(seed_index):
    answer = _ask_json(seed_index, QUESTION, "--mode", "extractive")
    assert set(answer) == {"question", "standalone_question", "mode", "text", "abstained", "note", "unsupported",
                           "citations"}
    assert answer["mode"] == "extractive" and answer["question"] == QUESTION and answer["unsupported"] == []
    _assert_exact(answer, {SEED.name: SEED.read_text(encoding="utf-8")})
    assert all(c["page"] is None and c["boxes"] == [] and c["where"] == "" for c in answer["citations"])
    # The same serialiser as the API (and the MCP tool): the in-process answer has the same JSON.
    assert answer == Assistant.open(index_dir=seed_index).ask(QUESTION, mode="extractive").to_dict()


def test_ask_json_names_the_page_and_boxes_of_pdf_citations(tmp_path):
    from eval.pdf_fixtures import flow_pdf

    pdf = tmp_path / "report.pdf"
    flow_pdf(SEED.read_text(encoding="utf-8"), pdf, columns=2)
    idx = tmp_path / "idx"
    a = Assistant.open(paths=[pdf], index_dir=idx)
    answer = _ask_json(idx, "Who sent the letter to Pompeo?", "--mode", "extractive")
    _assert_exact(answer, {d.doc_id: a.document_text(d.doc_id) for d in a.documents()})
    pdf_cites = [c for c in answer["citations"] if c["doc_id"] == "report.pdf"]
    assert pdf_cites
    for c in pdf_cites:
        assert c["page"] == c["pages"][0] and c["where"].startswith("page")
        assert c["boxes"] and all(b["page"] in c["pages"] and b["x0"] < b["x1"] and b["top"] < b["bottom"]
                                  for b in c["boxes"])


def test_ask_json_combined_prints_only_the_final_answer(seed_index):
    answer = _ask_json(seed_index, QUESTION, "--mode", "combined")
    # The LLM's checked answer, or the quotes with a note saying why they stand instead.
    assert answer["mode"] == "generative" or (answer["mode"] == "extractive" and answer["note"])
    _assert_exact(answer, {SEED.name: SEED.read_text(encoding="utf-8")})


def test_ask_json_bad_question_is_one_error_line(seed_index):
    run = run_cli("--index-dir", seed_index, "ask", "   ", "--json")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == "citeqa: error: the question is empty; type a question about the documents"
