"""Document structure at ingestion (index/structure.py): blocks of Markdown, HTML and DOCX, records
with block kind and section path, junk rows left out, citation units (introduces / unit_of).
No models: records and corpus views are built directly."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SEED
from eval.doc_fixtures import check_structure, manual_docx, manual_html, manual_markdown
from index.corpus import CorpusView
from index.document import SentenceRecord, parse_document
from index.loaders import load_bytes
from index.locations import Location, location_of
from index.records import RecordTable
from index.structure import SKIPPED, cells, junk_reason


def _view(doc) -> CorpusView:
    table = RecordTable.from_records(doc.sentences)
    return CorpusView({doc.doc_id: doc.entry()}, table, np.zeros((len(table), 1), np.float32), 0)


def _parsed(name: str, data: bytes):
    loaded = load_bytes(data, name, "." + name.rsplit(".", 1)[1])
    return parse_document(name, loaded.text, "", loaded.format, loaded.locations)


@pytest.mark.parametrize("name,make", [("manual.md", lambda: manual_markdown().encode()),
                                       ("manual.html", lambda: manual_html().encode()),
                                       ("manual.docx", manual_docx)])
def test_manuals_in_markup_formats_have_their_units_and_no_junk(tmp_path, name, make):
    path = tmp_path / name
    path.write_bytes(make())
    figures = check_structure(path)
    assert figures["junk_records"] == 0, figures["junk_examples"]
    assert figures["units_right"] == figures["units_checked"] >= 14, figures["wrong"]
    assert figures["skipped"]["toc"] >= 6 and figures["skipped"]["page_number"] == 1
    if name != "manual.docx":  # the markup formats have an index section
        assert figures["skipped"]["index"] >= 10


def test_a_table_row_is_one_record_cited_by_its_text_and_embedded_with_its_header():
    doc = _parsed("manual.md", manual_markdown().encode())
    rows = [r for r in doc.sentences if r.block == "table_row"]
    assert [cells(doc.text[r.start : r.end])[0] for r in rows][:2] == ["-b, --benchmark", "-c, --stdout"]
    first = rows[0]
    assert doc.text[first.start : first.end] == "-b, --benchmark | perform a benchmark on decoding"
    assert first.index_text == "Option: -b, --benchmark | Description: perform a benchmark on decoding"
    assert first.section == "2 Invoking lztool > 2.1 Options" and first.block_start == first.start
    html = _parsed("manual.html", manual_html().encode())
    row = next(r for r in html.sentences if r.block == "table_row")
    assert html.text[row.start : row.end] == "-b, --benchmark\tperform a benchmark on decoding"
    assert row.index_text == first.index_text


def test_headings_list_heads_and_lead_ins_introduce_what_follows():
    doc = _parsed("manual.md", manual_markdown().encode())
    view = _view(doc)
    text_of = {view.record_text(i): i for i in range(len(view))}
    head = text_of["Thread-safety."]
    assert view.introduces(head)
    assert doc.text[slice(*view.unit_of(head))] == ("Thread-safety. No global variables are used; every function "
                                                     "keeps its state in the lz_stream structure given to it.")
    body = head + 1
    assert not view.introduces(body) and view.unit_of(body) == (doc.sentences[body].start, doc.sentences[body].end)
    lead = text_of["The library has the following properties:"]
    unit = doc.text[slice(*view.unit_of(lead))]
    assert unit.startswith("The library has the following properties:") and unit.endswith("Level 9: slow and smallest")
    nested_head = text_of["Compression levels:"]
    assert doc.text[slice(*view.unit_of(nested_head))].endswith("slow and smallest")
    heading = text_of["1.1 Thread safety"]
    assert doc.text[slice(*view.unit_of(heading))] == "1.1 Thread safety\n\nThe library has the following properties:"
    options = text_of["The options are:"]
    rows = view.unit_rows(options)
    assert [doc.sentences[i].block for i in rows][1:] == ["table_header"] + ["table_row"] * 5
    # A chapter heading over a sub-heading introduces both and the first paragraph under them.
    chapter = text_of["2 Invoking lztool"]
    assert doc.text[slice(*view.unit_of(chapter))] == "2 Invoking lztool\n\nUsage: lztool [option] [file]"
    assert view.unit_rows(heading, max_chars=5) == range(heading, heading + 2)  # always one row after


def test_without_structure_a_sentence_ending_in_a_colon_introduces_the_next():
    text = "Pack these items:\nA lamp.\nA rope.\n\nThe trip starts at dawn."
    doc = parse_document("plain.txt", text)
    assert all(r.block is None and r.section is None and r.block_start == -1 for r in doc.sentences)
    view = _view(doc)
    assert view.introduces(0) and text[slice(*view.unit_of(0))] == "Pack these items:\nA lamp."
    assert not view.introduces(1) and not view.introduces(3)
    # Rows as an index saved before the structure columns stores them: the same fallback.
    old = RecordTable.from_records([[r.doc_id, r.start, r.end, r.kind, r.index_text] for r in doc.sentences])
    old_view = CorpusView(view.documents, old, view.vectors, 0)
    assert old_view.unit_of(0) == view.unit_of(0) and old_view.records.block_of(0) is None


def test_junk_rows_stay_in_the_text_with_exact_offsets_but_are_not_indexed():
    text = ("Contents\n1 Introduction . . . . . . . . . . 3\n2 Usage ........................ 7\n\n"
            "The tool reads a file. It writes a copy.\n\n* * *\n\n12\n\n- iv -\n\nThe copy is checked twice.")
    doc = parse_document("manual.txt", text)
    spans = [text[r.start : r.end] for r in doc.sentences]
    assert spans == ["Contents", "The tool reads a file.", "It writes a copy.", "The copy is checked twice."]
    assert doc.skipped == {"toc": 2, "symbols": 1, "page_number": 2}
    assert doc.text == text
    assert junk_reason(".") == "symbols" and junk_reason("Wait...") is None and junk_reason("2018 was dry.") is None


def test_seed_article_records_are_unchanged_and_have_no_structure():
    text = SEED.read_text(encoding="utf-8")
    doc = parse_document(SEED.name, text)
    assert len(doc.sentences) == 34 and doc.skipped == {}
    assert {r.kind for r in doc.sentences} >= {"byline", "headline", "body"}
    assert all(r.block is None for r in doc.sentences)
    # records.json rows of plain text keep the five fields of indexes saved before structure
    assert all(len(row) == 5 for row in RecordTable.from_records(doc.sentences).rows())


def test_record_rows_round_trip_with_structure_columns():
    doc = _parsed("manual.html", manual_html().encode())
    table = RecordTable.from_records(doc.sentences)
    rows = table.rows()
    assert any(len(row) == 9 for row in rows)
    assert RecordTable.from_records(rows) == doc.sentences
    assert table.concat(table).filtered(np.arange(2 * len(table)) >= len(table)) == doc.sentences
    rec = SentenceRecord("a", 0, 1)
    assert (rec.block, rec.section, rec.level, rec.block_start) == (None, None, 0, -1)


def test_locations_carry_the_section_path_and_the_source_panel_shows_it_escaped():
    from ui.render import location_record, source_html

    doc = _parsed("manual.html", manual_html().encode())
    row = next(r for r in doc.sentences if r.block == "table_row")
    loc = location_of(doc, row.start, row.end)
    assert loc == Location(section="2 Invoking lztool > 2.1 Options") and loc.describe() == "“2 Invoking lztool > 2.1 Options”"
    cite = {"doc_id": "manual.html", "start": row.start, "end": row.end, "text": "", "score": 1.0,
            "location": location_record(Location(section="Usage > <b>Options</b>"))}
    html = source_html("manual.html", doc.text, 1, 1, [cite])
    assert '<div class="cq-src-section" title="section of the cited passage">Usage &gt; &lt;b&gt;Options&lt;/b&gt;</div>' in html
    assert "cq-src-section" not in source_html("manual.html", doc.text, 1, 1, [{**cite, "location": None}])


def test_skipped_blocks_are_never_indexed():
    for name, data in (("manual.md", manual_markdown().encode()), ("manual.html", manual_html().encode())):
        doc = _parsed(name, data)
        skipped = [b for b in doc.locations["blocks"] if b[2] in SKIPPED]
        assert skipped and not any(b[0] <= r.start < b[1] for r in doc.sentences for b in skipped)


def test_docx_header_row_marked_repeat_as_header_is_the_header_whatever_its_cells():
    import io

    import docx
    from docx.oxml import OxmlElement

    d = docx.Document()
    t = d.add_table(rows=3, cols=2)
    for i, row in enumerate([["flag", "meaning"], ["-v", "verbose output"], ["-q", "quiet"]]):
        for j, value in enumerate(row):
            t.cell(i, j).text = value
    t.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    buf = io.BytesIO()
    d.save(buf)
    doc = _parsed("flags.docx", buf.getvalue())
    assert [(doc.text[r.start : r.end], r.block, r.index_text) for r in doc.sentences] == [
        ("flag\tmeaning", "table_header", "flag | meaning"),
        ("-v\tverbose output", "table_row", "flag: -v | meaning: verbose output"),
        ("-q\tquiet", "table_row", "flag: -q | meaning: quiet")]


def test_a_markdown_list_item_is_never_taken_for_a_byline():
    """A short Markdown file whose first body line is "- Oil the hinge." looked like a dash byline."""
    doc = _parsed("care.md", b"# Extra\n\n## Care\n\n- Oil the hinge.\n")
    assert "author" not in doc.metadata
    assert "byline" not in {r.kind for r in doc.sentences}
    assert any(doc.text[r.start:r.end] == "Oil the hinge." for r in doc.sentences)


def test_a_section_heading_and_its_first_lines_are_body_rows_not_headline_and_deck():
    """The newspaper layout takes a document's first lines for headline, deck and byline; under a section
    heading (one other than the title) the structure knows better, so the heading introduces its section."""
    doc = _parsed("m.md", b"# Manual\n\n## Install\n\nThe files created by the tool are:\n\n- an archive\n- a list\n")
    rows = {doc.text[r.start:r.end]: r for r in doc.sentences}
    assert rows["Install"].kind == "body" and rows["Install"].block == "heading" and rows["Install"].section == "Install"
    assert rows["The files created by the tool are:"].kind == "body"
    html = _parsed("n.html", b"<h1>Trip called off</h1><p>By Jane Roe</p><p>The trip was cancelled on Friday.</p>")
    assert {r.kind for r in html.sentences} >= {"headline", "byline"}  # a news page keeps its metadata


def test_html_bold_titles_are_run_in_headings_and_an_in_page_link_list_is_contents():
    """Pages without heading elements title their answers in bold (SQLite's FAQ): such a block is a heading a
    level below the page's last heading and introduces what follows; a list of links within the page is its
    table of contents, not indexed. A bold sentence (ending in ".") stays body text."""
    page = b"""<html><body><h2>Limits</h2><ol><li><a href="#cols">Columns</a></li><li><a href="#q2">Rows</a></li></ol>
<ul><li><p><b>Maximum Number Of Columns</b></p><p>It bounds:</p><ul><li>columns</li><li>terms</li></ul>
<p>The default setting is 2000.</p></li>
<li><b>Rows</b><p>A table holds 2<sup>64</sup> rows.</p></li></ul>
<p><b>(9) What is the maximum size of a VARCHAR?</b></p><blockquote><p>Its length is not enforced.</p></blockquote>
<p><b>Never store secrets here.</b></p><p>Home <a href="other.html">page</a>.</p></body></html>"""
    doc = _parsed("limits.html", page)
    view = _view(doc)
    texts = [doc.text[r.start : r.end] for r in doc.sentences]
    by_text = dict(zip(texts, doc.sentences))
    assert "Columns" not in texts and doc.entry().skipped["toc"] == 2  # the contents list: in the text, not indexed
    assert doc.text.startswith("Limits\n\nColumns\n\nRows")
    title, body = "(9) What is the maximum size of a VARCHAR?", "Its length is not enforced."
    head = texts.index(title)
    assert by_text[title].block == "heading" and by_text[title].section.endswith(title)
    assert doc.text[slice(*view.unit_of(head))] == f"{title}\n\n{body}"
    assert by_text[body].section == f"Limits > {title}"
    # A list item's paragraphs are one block, as a PDF's, and its text after its sub-list sits under it: its bold
    # first line is the item's head, which introduces the whole item.
    head = texts.index("Maximum Number Of Columns")
    assert by_text["Maximum Number Of Columns"].block == "list_item"
    assert doc.text[slice(*view.unit_of(head))] == ("Maximum Number Of Columns\n\nIt bounds:\n\ncolumns\n\nterms\n\n"
                                                     "The default setting is 2000.")
    assert by_text["Never store secrets here."].block != "heading"  # a bold sentence is emphasis, not a title
    assert not view.introduces(texts.index("Never store secrets here."))


def test_a_list_items_number_is_part_of_its_first_sentence():
    """A PDF list item "2. Maximum Number Of Columns" with its text under it: the splitter cuts "2." off as a
    sentence of its own; it is the item's marker, so the first record is "2. Maximum Number Of Columns", which
    then introduces the rest of the item."""
    text = "Limits\n\n2. Maximum Number Of Columns\n\nThe default setting is 2000. It can be raised.\n\nOther text."
    item_end = text.index("\n\nOther")
    blocks = [[0, 6, "heading", 1], [8, item_end, "list_item", 1], [item_end + 2, len(text), "paragraph", 0]]
    doc = parse_document("limits.pdf", text, "", "pdf", {"kind": "pdf", "blocks": blocks})
    rows = [text[r.start : r.end] for r in doc.sentences]
    assert rows[1] == "2. Maximum Number Of Columns" and "2." not in rows
    view = _view(doc)
    unit = text[slice(*view.unit_of(1))]
    assert unit == "2. Maximum Number Of Columns\n\nThe default setting is 2000. It can be raised."


def test_markdown_and_docx_bold_titles_are_run_in_headings():
    """A paragraph that is only a bold title ("**Results**", a DOCX paragraph of bold runs) is a heading a level
    below the last heading and introduces the paragraph under it; a bold sentence is emphasis, not a title."""
    import io

    import docx

    md = b"# Report\n\n## Tests\n\n**Results**\n\nAll 12 tests passed.\n\n**Run them daily.**\n\nDone."
    d = docx.Document()
    d.add_heading("Report", 0)
    d.add_heading("Tests", 1)
    d.add_paragraph().add_run("Results").bold = True
    d.add_paragraph("All 12 tests passed.")
    d.add_paragraph().add_run("Run them daily.").bold = True
    d.add_paragraph("Done.")
    buf = io.BytesIO()
    d.save(buf)
    for name, data in (("report.md", md), ("report.docx", buf.getvalue())):
        doc = _parsed(name, data)
        view = _view(doc)
        texts = [doc.text[r.start : r.end] for r in doc.sentences]
        title = next(i for i, t in enumerate(texts) if t.strip("*") == "Results")  # Markdown keeps its "**"
        assert doc.sentences[title].block == "heading" and doc.sentences[title].section == "Tests > Results", name
        assert doc.text[slice(*view.unit_of(title))] == f"{texts[title]}\n\nAll 12 tests passed.", name
        emphasis = next(i for i, t in enumerate(texts) if "Run them daily." in t)
        assert doc.sentences[emphasis].block != "heading" and not view.introduces(emphasis), name
