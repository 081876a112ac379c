"""PDF and DOCX documents: reading order, debris, exact spans with pages/boxes or paragraphs.

The PDFs are generated here (eval/pdf_fixtures.py, fpdf2) from the seed article, so every
sentence's page is known; the DOCX files with python-docx. Real PDFium, real embedder, real index.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest

from conftest import SEED
from eval.pdf_fixtures import flow_pdf
from eval.suites import ingest
from index.document import DocumentEntry
from index.loaders import load_file
from index.locations import Location, location_of
from qa import Assistant, Citation, Settings


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def two_column(tmp_path_factory, seed_text):
    path = tmp_path_factory.mktemp("pdf") / "two columns.pdf"
    drawn = flow_pdf(seed_text, path, columns=2, hyphenate=True, table=ingest.TABLE, footnotes=ingest.FOOTNOTES)
    return path, drawn


def test_two_columns_header_footer_hyphens_table_and_footnotes_keep_every_sentence_whole(two_column, seed_text):
    path, drawn = two_column
    figures = ingest.check_pdf(path, seed_text, drawn)
    assert figures["sentences_cut_or_glued"] == 0, figures["cut_examples"]
    assert figures["debris_lines_left"] == 0
    assert figures["sentence_pages_right"] == figures["sentence_pages_total"] == figures["source_sentences"] > 30
    assert figures["spans_exact"] == 1.0
    assert figures["table_rows_found"] == len(ingest.TABLE)
    assert figures["footnotes_as_paragraphs"] == len(ingest.FOOTNOTES)
    text = load_file(path).text
    assert "Journal of Generated Documents" not in text and "Page 1" not in text
    # Hyphenated line ends are joined: every word of the text is a word of the source.
    source_words = set(seed_text.split())
    glued = [w for w in text.split() if w not in source_words and not any(w in " ".join(r) for r in ingest.TABLE)
             and not any(w in n for n in ingest.FOOTNOTES.values())]
    assert glued == []


def test_a_long_pdf_keeps_its_pages(tmp_path, seed_text):
    long_text = "\n\n".join([seed_text] * 4)
    path = tmp_path / "long.pdf"
    drawn = flow_pdf(long_text, path, columns=1, hyphenate=True)
    figures = ingest.check_pdf(path, long_text, drawn)
    assert drawn.pages >= 6
    assert figures["sentences_cut_or_glued"] == 0 and figures["debris_lines_left"] == 0
    assert figures["sentence_pages_right"] == figures["sentence_pages_total"]


def test_pdf_citations_are_exact_name_the_page_and_survive_reopen_and_rebuild(tmp_path, two_column):
    from qa.rebuild import rebuild_index

    src, drawn = two_column
    pdf = tmp_path / "docs" / "report.pdf"
    pdf.parent.mkdir()
    shutil.copy(src, pdf)
    idx = tmp_path / "idx"
    a = Assistant.open(paths=[pdf], index_dir=idx)
    ans = a.ask("Who sent the letter to Pompeo?", mode="extractive")
    assert ans.citations and not ans.abstained
    text = a.document_text("report.pdf")
    source = SEED.read_text(encoding="utf-8")
    norm = ingest.Normalised(source)
    for c in ans.citations:
        assert c.text == text[c.start : c.end]
        assert isinstance(c.location, Location) and c.location.page == c.location.pages[0]
        span = norm.find(c.text, 0.0)
        assert span and set(c.location.pages) == drawn.page_of(*span)
        assert c.location.boxes and all(b[0] in c.location.pages and b[1] < b[3] and b[2] < b[4] for b in c.location.boxes)
        assert c.location.describe().startswith("page")
    first = ans.citations[0]
    reopened = Assistant.open(index_dir=idx)
    assert reopened.ask("Who sent the letter to Pompeo?", mode="extractive").citations[0] == first
    rebuild_index(Settings(index={"dir": idx}))
    assert Assistant.open(index_dir=idx).ask("Who sent the letter to Pompeo?", mode="extractive").citations[0] == first
    pdf.unlink()  # the stored copy (text and page map) is used when the file is gone
    rebuild_index(Settings(index={"dir": idx}))
    assert Assistant.open(index_dir=idx).ask("Who sent the letter to Pompeo?", mode="extractive").citations[0] == first


def _docx_bytes() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Mill report", 0)
    d.add_paragraph("The Harlow mill ground forty tonnes of rye in March.")
    d.add_heading("Repairs", 1)
    d.add_paragraph("The waterwheel was repaired by Edna Fairweather after the spring flood.")
    table = d.add_table(rows=2, cols=2)
    for i, row in enumerate([["Month", "Tonnes"], ["March", "40"]]):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_citations_name_heading_and_paragraph(tmp_path):
    f = tmp_path / "mill.docx"
    f.write_bytes(_docx_bytes())
    a = Assistant.open(paths=[f], index_dir=tmp_path / "idx")
    text = a.document_text("mill.docx")
    assert "Month\tTonnes" in text and "Repairs" in text
    ans = a.ask("Who repaired the waterwheel?", mode="extractive")
    c = ans.citations[0]
    assert c.text == text[c.start : c.end] and "Edna Fairweather" in c.text
    assert c.location == Location(section="Repairs", paragraph=4)
    assert c.location.describe() == "“Repairs”, paragraph 4"


def test_plain_text_and_old_indexes_have_no_location(tmp_path):
    assert Citation("d", 0, 1, "x", 0.5).location is None  # existing callers keep working
    entry = DocumentEntry(**{"doc_id": "old.txt", "text": "Old.", "sha256": "x"})  # documents.json of an old index
    assert entry.locations is None and location_of(entry, 0, 3) is None
    f = tmp_path / "note.txt"
    f.write_text("Copper conducts electricity well.", encoding="utf-8")
    a = Assistant.open(paths=[f], index_dir=tmp_path / "idx")
    assert a.ask("What conducts electricity?", mode="extractive").citations[0].location is None
    saved = json.loads(next((tmp_path / "idx").glob("gen-*/documents.json")).read_text(encoding="utf-8"))
    assert saved[0]["locations"] is None


def test_page_view_boxes_the_span_escapes_text_and_falls_back_to_text_when_the_file_changed(tmp_path):
    from eval.pdf_fixtures import new_pdf
    from ui.page_view import page_html

    pdf = new_pdf()
    pdf.add_page()
    pdf.text(60, 100, "Intro line of the first page.")
    pdf.add_page()
    pdf.text(60, 200, "The <b>bold</b> claim sits on page two.")
    f = tmp_path / "p.pdf"
    pdf.output(str(f))
    loaded = load_file(f)
    st = f.stat()
    entry = DocumentEntry("p.pdf", loaded.text, "", str(f), "pdf", {}, st.st_size, st.st_mtime_ns, loaded.locations)
    start = loaded.text.index("The <b>")
    end = loaded.text.index("two.") + 4
    html = page_html(entry, start, end)
    assert 'class="cq-page-number">2</b> of 2' in html and "data:image/jpeg;base64," in html
    assert html.count('class="cq-page-box"') == 1
    assert "<b>bold" not in html  # the image carries the text; nothing of it is markup
    assert page_html(entry, start, end, stale=True) == ""
    f.write_bytes(f.read_bytes() + b"\n")  # changed since indexed: the page as text, escaped, span marked
    html = page_html(entry, start, end)
    assert "data:image" not in html and "shown as text" in html
    assert '<mark class="cq-hl cq-active">The &lt;b&gt;bold&lt;/b&gt; claim sits on page two.</mark>' in html
    plain = DocumentEntry("n.txt", "Plain.", "")
    assert page_html(plain, 0, 6) == ""


def test_eval_ingest_suite_runs_and_reports_its_figures(tmp_path, capsys):
    from eval.__main__ import main

    assert main(["ingest", "--fifty-pages", "4", "--limit", "12", "--results-dir", str(tmp_path)]) == 0
    head = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert head["suite"] == "ingest" and head["generated_pages"] >= 8
    assert head["sentences_cut_or_glued"] == 0 and head["debris_lines_left"] == 0
    assert head["spans_exact"] == head["docx_spans_exact"] == head["sentence_pages_right"] == 1.0
    assert head["seed_pdf_citation_pages_right"] == 1.0
    assert head["seed_pdf_citation_precision_micro"] == head["seed_txt_citation_precision_micro"]
    assert head["seed_pdf_citation_recall_micro"] == head["seed_txt_citation_recall_micro"]
    assert head["pages_per_s"] > 0 and head["chars_per_s"] > 0
    assert head["structure_units_right"] == 1.0 and head["structure_junk_rows"] == 0 and head["manual_pdf_pages_per_s"] > 0


def test_cli_adds_a_pdf_and_prints_the_page_of_each_citation(tmp_path, two_column):

    from conftest import run_cli
    from eval.pdf_fixtures import encrypted_pdf

    pdf = tmp_path / "report.pdf"
    shutil.copy(two_column[0], pdf)
    locked = tmp_path / "locked.pdf"
    encrypted_pdf(locked)
    idx = str(tmp_path / "idx")

    def cli(*args):
        return run_cli(*args, "--index-dir", idx, timeout=600)

    added = cli("index", "add", str(pdf))
    assert added.returncode == 0 and "added report.pdf" in added.stdout, added.stderr
    refused = cli("index", "add", str(locked))
    assert refused.returncode != 0 and "locked.pdf: the PDF is encrypted" in refused.stderr
    assert "Traceback" not in refused.stderr
    asked = cli("ask", "Which government did Trump blame?", "--mode", "extractive")
    assert asked.returncode == 0, asked.stderr
    assert any(line.startswith("[") and "report.pdf:" in line and "(page 1)" in line for line in asked.stdout.splitlines())
