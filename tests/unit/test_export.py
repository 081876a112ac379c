"""Answers and chats as Markdown and JSON (ui/export.py): footnotes hold document, offsets, page and the
quoted text; document text never becomes markup or a link."""

from __future__ import annotations

import html
import json
import re

import pytest
from markdown_it import MarkdownIt

from ui.export import ExportDir, chat_json, chat_markdown, md_escape

HOSTILE = ("Kim <script>alert(1)</script> sent **it** [x](javascript:alert(2)) ![i](http://e.vil/p.png) "
           "www.example.com http://evil.org/a <b onmouseover=x>b</b> &amp; `code` $x$ # h | t | ~~s~~ a_b_c")


def _renderers():
    pytest.importorskip("linkify_it")
    return [MarkdownIt("commonmark"), MarkdownIt("gfm-like")]


def _turns():
    doc_text = "Intro. " + HOSTILE + " Tail."
    start = doc_text.index("Kim")
    cite = {"doc_id": "report_[1]<x>.pdf", "start": start, "end": start + len(HOSTILE), "text": HOSTILE,
            "score": 0.87, "where": "page 2",
            "location": {"page": 2, "pages": [2], "boxes": [[2, 60.0, 280.0, 400.0, 300.0]], "section": None,
                         "paragraph": None}}
    plain = {"doc_id": "notes.txt", "start": 0, "end": 6, "text": "Intro.", "score": 0.5, "where": "", "location": None}
    answer = {"text": "Kim sent it **now**. [1] Also [2][1] and [9].", "abstained": False, "mode": "generative",
              "note": "", "unsupported": ["Also <i>this</i>."], "standalone": "", "seconds": 1.0,
              "citations": [cite, plain]}
    abstain = {"text": "I could not find that.", "abstained": True, "mode": "extractive", "note": "", "unsupported": [],
               "standalone": "Who is <b>X</b>?", "seconds": 0.1, "citations": []}
    return doc_text, [{"question": "Who sent <it>?", "answer": answer}, {"question": "Who is he?", "answer": abstain},
                      {"question": "Broken?", "error": "Something went wrong."},
                      {"question": "still coming", "answer": answer, "provisional": True}]


def test_md_escape_renders_back_to_the_same_text_and_nothing_else():
    for md in _renderers():
        out = md.render(md_escape(HOSTILE))
        assert "<a " not in out and "<script" not in out and "<img" not in out and "<b " not in out
        assert "<strong>" not in out and "<code>" not in out and "<s>" not in out
        plain = re.sub(r"<[^>]+>", "", out).strip()
        assert html.unescape(plain) == HOSTILE


def test_chat_markdown_has_a_footnote_per_citation_with_document_offsets_page_and_quote():
    doc_text, turns = _turns()
    text = chat_markdown("Letters <b>", turns)
    assert "still coming" not in text  # a provisional answer is not exported
    cite = turns[0]["answer"]["citations"][0]
    assert f"characters {cite['start']}–{cite['end']}, page 2" in text
    assert doc_text[cite["start"]:cite["end"]] == cite["text"]
    assert "Kim sent it \\*\\*now\\*\\*\\. [^1-1] Also [^1-2][^1-1] and \\[9\\]\\." in text
    assert "[^1-1]: report\\_\\[1\\]\\<x\\>\\.pdf, characters" in text
    assert "[^1-2]: notes\\.txt, characters 0–6: “Intro\\.”" in text
    assert "Not in the documents" in text and "read as\\: Who is" in text and "Could not answer" in text
    for md in _renderers():
        out = md.render(text)
        assert "<a " not in out and "<script" not in out and "<img" not in out and "<b" not in out.replace("<blockquote", "")
        assert "<strong>now" not in out and "<h1>Letters &lt;b&gt;</h1>" in out
        assert html.unescape(re.sub(r"<[^>]+>", "", out)).count(HOSTILE) == 1  # the quote, verbatim


def test_one_answer_alone():
    _, turns = _turns()
    text = chat_markdown("t", turns, only=1)
    assert "Who is he" in text and "Who sent" not in text and "## 2\\." in text


def test_json_holds_the_answers_as_the_api_returns_them(tmp_path):
    _, turns = _turns()
    data = chat_json("c" * 32, "t", turns)
    assert [a["turn"] for a in data["answers"]] == [1, 2, 3]
    first = data["answers"][0]
    assert set(first) >= {"question", "text", "abstained", "mode", "note", "unsupported", "citations"}
    pdf, plain = first["citations"]
    assert pdf["pages"] == [2] and pdf["page"] == 2 and pdf["text"] == HOSTILE
    assert pdf["boxes"] == [{"page": 2, "x0": 60.0, "top": 280.0, "x1": 400.0, "bottom": 300.0}]
    assert plain["page"] is None and plain["boxes"] == [] and plain["where"] == ""
    # the same citation shape as citeqa ask --json and the MCP tools
    from qa.types import Citation

    assert set(pdf) == set(Citation("d", 0, 1, "x", 0.0).to_dict())
    assert data["answers"][2] == {"turn": 3, "question": "Broken?", "error": "Something went wrong."}
    md, js = ExportDir(tmp_path).write("c" * 32, "My chat: <letters>", turns, only=0)
    assert md.name == "citeqa-my-chat-letters-answer-1.md" and md.parent.parent == tmp_path
    assert json.loads(js.read_text(encoding="utf-8"))["answers"][0]["citations"][0]["text"] == HOSTILE
