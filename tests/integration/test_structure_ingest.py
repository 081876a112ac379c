"""Structure-aware ingestion end to end: a texinfo-style manual as PDF (fpdf2) and as Markdown, HTML
and DOCX; the option table's row is found and cited whole; contents, index and page furniture are
not indexed; `citeqa index list` shows units and skipped rows; an index saved before the structure
columns still loads. Real PDFium, real embedder, real index."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import run_cli
from eval.doc_fixtures import check_structure, write_manuals
from eval.pdf_fixtures import MANUAL_OPTIONS, manual_pdf
from index.loaders import load_file
from qa import Assistant


@pytest.fixture(scope="module")
def manuals(tmp_path_factory):
    return write_manuals(tmp_path_factory.mktemp("manuals"))


def test_texinfo_style_pdf_has_its_units_and_no_junk(manuals):
    figures = check_structure(manuals["pdf"])
    assert figures["junk_records"] == 0, figures["junk_examples"]
    assert figures["units_right"] == figures["units_checked"], figures["wrong"]
    assert figures["skipped"] == {"toc": 7, "index": 6}  # the contents and index pages, headings included
    text = load_file(manuals["pdf"]).text
    # Option rows come out whole and in order; a wrapped description stays in its row.
    rows = [line for line in text.splitlines() if line.startswith("-")]
    assert rows == ["\t".join(r) for r in MANUAL_OPTIONS]
    assert "[Function]" in next(line for line in text.splitlines() if line.startswith("int lz_decode"))


def test_pdf_blocks_give_heading_levels_and_the_title(tmp_path):
    drawn = manual_pdf(tmp_path / "m.pdf")
    loaded = load_file(tmp_path / "m.pdf")
    headings = [(loaded.text[s:e], level) for s, e, kind, level in loaded.locations["blocks"] if kind == "heading"]
    assert headings[:2] == [("The lztool Manual", 0), ("Compressing data in streams, version 1.4", 0)]
    assert headings[2:] == drawn.headings


def test_questions_cite_the_option_row_with_its_section_and_index_list_counts(manuals, tmp_path):
    idx = tmp_path / "idx"
    a = Assistant.open(paths=list(manuals.values()), index_dir=idx)
    ans = a.ask("Which option performs a benchmark?", mode="extractive")
    assert ans.citations and not ans.abstained
    for c in ans.citations[:1]:
        text = a.document_text(c.doc_id)
        assert c.text == text[c.start : c.end] and c.text.startswith("-b, --benchmark")
        assert "perform a benchmark on decoding" in c.text
        assert c.location.section == "2 Invoking lztool > 2.1 Options"
    infos = {d.doc_id: d for d in a.documents()}
    assert infos["manual.pdf"].skipped == {"toc": 7, "index": 6}
    assert infos["manual.md"].skipped["index"] >= 10
    listed = run_cli("index", "list", "--index-dir", str(idx))
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith("manual.pdf"))
    assert f"\t{infos['manual.pdf'].n_sentences} units\t13 skipped (index 6, toc 7)\t" in line


def test_an_index_saved_before_structure_columns_loads_and_falls_back(tmp_path):
    doc = tmp_path / "plan.txt"
    doc.write_text("Pack these items:\nA lamp.\nA rope.\n\nThe trip starts at dawn.", encoding="utf-8")
    idx = tmp_path / "idx"
    Assistant.open(paths=[doc], index_dir=idx)
    gen = next(idx.glob("gen-*"))
    docs = json.loads((gen / "documents.json").read_text(encoding="utf-8"))
    for d in docs:
        del d["skipped"]  # as written before skipped rows were counted
    (gen / "documents.json").write_text(json.dumps(docs), encoding="utf-8")
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    manifest["checksums"]["documents.json"] = hashlib.sha256((gen / "documents.json").read_bytes()).hexdigest()
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert all(len(row) == 5 for row in json.loads((gen / "records.json").read_text(encoding="utf-8")))
    a = Assistant.open(index_dir=idx)
    assert a.documents()[0].skipped is None
    view = a.corpus.view()
    assert view.introduces(0) and a.document_text("plan.txt")[slice(*view.unit_of(0))] == "Pack these items:\nA lamp."
    listed = run_cli("index", "list", "--index-dir", str(idx))
    assert listed.returncode == 0 and "\t4 units\tskipped ?\t" in listed.stdout, listed.stdout + listed.stderr


def _man_page_pdf(tmp_path, name: str = "gzip"):
    """A real manual page typeset by groff (Debian's groff; skipped where gropdf or the page is missing)."""
    import gzip
    import shutil
    import subprocess
    from pathlib import Path

    page = Path(f"/usr/share/man/man1/{name}.1.gz")
    if not page.is_file() or shutil.which("groff") is None:
        pytest.skip("needs groff and the gzip manual page")
    out = subprocess.run(["groff", "-man", "-Tpdf"], input=gzip.decompress(page.read_bytes()), capture_output=True)
    if out.returncode != 0 or not out.stdout.startswith(b"%PDF"):
        pytest.skip("groff cannot write PDF here (apt-get install groff)")
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(out.stdout)
    return pdf


def test_a_real_manual_page_has_sections_and_options_that_introduce_their_descriptions(tmp_path):
    import numpy as np

    from index.corpus import CorpusView
    from index.document import parse_document
    from index.records import RecordTable
    from index.structure import is_toc_line, junk_reason

    pdf = _man_page_pdf(tmp_path)
    loaded = load_file(pdf)
    doc = parse_document(pdf.name, loaded.text, str(pdf), loaded.format, loaded.locations)
    table = RecordTable.from_records(doc.sentences)
    view = CorpusView({doc.doc_id: doc.entry()}, table, np.zeros((len(table), 1), np.float32), 0)
    texts = [view.record_text(i) for i in range(len(table))]
    headings = [t for t, r in zip(texts, table) if r.block == "heading"]
    assert {"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"} <= set(headings)
    assert not [t for t in texts if junk_reason(t) or is_toc_line(t)]
    row = texts.index("-c --stdout --to-stdout")
    assert table[row].block == "list_item" and table[row].section == "OPTIONS" and view.introduces(row)
    assert loaded.text[slice(*view.unit_of(row))].startswith("-c --stdout --to-stdout\n\nWrite output on standard output")


def test_a_latex_style_index_page_without_a_heading_is_not_indexed(tmp_path):
    from eval.pdf_fixtures import MARGIN, new_pdf
    from index.document import parse_document

    pdf = new_pdf()
    pdf.add_page()
    pdf.text(MARGIN, 80, "The cable is rated for outdoor use. It is sold by the metre.")
    pdf.add_page()
    terms = ["anchor, 3", "bracket, 4, 9", "cable, 2-3", "clamp, 7", "drill bit, 5, 11", "fuse, 12", "grommet, 8",
             "hinge, 6", "insulation, 2, 10", "junction box, 9"]
    for k, term in enumerate(terms):  # makeindex style: term, pages; lowercase lines that would run on as text
        pdf.text(MARGIN, 80 + 14 * k, term)
    pdf.output(str(tmp_path / "catalogue.pdf"))
    loaded = load_file(tmp_path / "catalogue.pdf")
    doc = parse_document("catalogue.pdf", loaded.text, "", loaded.format, loaded.locations)
    assert [loaded.text[r.start : r.end] for r in doc.sentences] == ["The cable is rated for outdoor use.",
                                                                    "It is sold by the metre."]
    assert doc.skipped == {"index": len(terms)} and all(t in loaded.text.splitlines() for t in terms)


LATEX_MANUAL = r"""\documentclass[11pt]{article}
\title{The tarpit Manual}
\author{A. Writer}
\begin{document}
\maketitle
\tableofcontents
\newpage
\section{Introduction}
The tarpit tool packs folders into compressed archives. It was written for nightly backups of small servers.
\subsection{Limits}
The largest archive that tarpit writes is four gigabytes. Larger folders are split into several archives.
\section{Usage}
Call tarpit with a folder and an archive name. The files created by tarpit are:
\begin{itemize}
\item an archive of the folder, ending in .tp;
\item a list of the archived files, ending in .lst.
\end{itemize}
\subsection{Options}
The options are given before the folder name.

\noindent\begin{tabular}{ll}
Option & Meaning \\
-v, --verbose & print each file name as it is packed \\
-b, --benchmark & measure the packing speed without writing \\
-k, --keep & keep the partial archive after an error \\
\end{tabular}

\section{Errors}
A damaged archive is reported with its first bad block. Packing stops at the first unreadable file.
\end{document}
"""


@pytest.fixture(scope="module")
def latex_manual(tmp_path_factory):
    """A manual typeset by pdflatex (Debian's texlive-latex-base, installed by `.ci/setup --test`)."""
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("needs pdflatex (apt-get install texlive-latex-base)")
    d = tmp_path_factory.mktemp("latex")
    (d / "tarpit.tex").write_text(LATEX_MANUAL, encoding="utf-8")
    for _ in range(2):  # the second run writes the table of contents
        subprocess.run(["pdflatex", "-interaction=batchmode", "tarpit.tex"], cwd=d, capture_output=True, timeout=120)
    assert (d / "tarpit.pdf").is_file(), (d / "tarpit.log").read_text(errors="replace")[-2000:]
    return d / "tarpit.pdf"


def _rows(pdf):
    import numpy as np

    from index.corpus import CorpusView
    from index.document import parse_document
    from index.records import RecordTable

    loaded = load_file(pdf)
    doc = parse_document(pdf.name, loaded.text, str(pdf), loaded.format, loaded.locations)
    table = RecordTable.from_records(doc.sentences)
    view = CorpusView({doc.doc_id: doc.entry()}, table, np.zeros((len(table), 1), np.float32), 0)
    return doc, view, [view.record_text(i) for i in range(len(table))]


def test_a_latex_manual_has_its_sections_lead_in_and_no_contents_rows(latex_manual, tmp_path):
    doc, view, texts = _rows(latex_manual)
    assert doc.entry().skipped.get("toc", 0) >= 5  # the contents page: not indexed
    assert texts.count("2 Usage") == 1 and "The files created by tarpit are:" in texts  # the fi ligature read
    sections = {view.section_of(i) for i in range(len(texts))}
    assert {"1 Introduction", "2 Usage", "3 Errors"} <= sections
    lead = texts.index("The files created by tarpit are:")  # the lead-in introduces the whole list
    assert [texts[i] for i in view.unit_rows(lead)][1:] == ["\u2022 an archive of the folder, ending in .tp;",
                                                           "\u2022 a list of the archived files, ending in .lst."]
    a = Assistant.open(paths=[latex_manual], index_dir=tmp_path / "idx")
    ans = a.ask("How large can an archive of tarpit be?", mode="extractive")
    c = ans.citations[0]
    assert c.text == a.document_text(c.doc_id)[c.start : c.end] and "four gigabytes" in c.text
    assert c.location.page == 2 and c.location.section == "1 Introduction > 1.1 Limits"


def test_a_latex_manuals_option_rows_and_subsections(latex_manual):
    """pdflatex's tabular leaves 12 pt between cells (1.1 em at 11 pt) and sets \\subsection headings
    in 12 pt bold over 11 pt text: the rows come out whole, in order, and the subsections are headings."""
    _, view, texts = _rows(latex_manual)
    start = texts.index("Option\tMeaning")
    assert texts[start + 1 : start + 4] == ["-v, \u2013verbose\tprint each file name as it is packed",
                                           "-b, \u2013benchmark\tmeasure the packing speed without writing",
                                           "-k, \u2013keep\tkeep the partial archive after an error"]
    assert view.section_of(start + 2) == "2 Usage > 2.1 Options"
    limits = texts.index("1.1 Limits")
    assert view.records[limits].block == "heading" and view.section_of(limits + 1) == "1 Introduction > 1.1 Limits"


@pytest.mark.parametrize("suffix", [".html", ".pdf"])
def test_real_manual_pages_cite_a_chosen_title_or_lead_in_with_what_it_introduces(tmp_path, suffix):
    """SQLite's own documentation (eval/docs/sqlite, public domain; eval/docs/sqlite_pdf, the same pages printed
    by Chromium): the default answer path cites a chosen heading, item head or lead-in together with what it
    introduces, as one exact span, so the answer under "(9) What is the maximum size of a VARCHAR?", "Embedded
    devices and the internet of things" (bold titles) or after "... an upper bound on:" is in the citation."""
    from eval.make_gold_docs import DOCS, PDF_DOCS

    folder = DOCS if suffix == ".html" else PDF_DOCS
    paths = [folder / f"{n}{suffix}" for n in ("faq", "limits", "whentouse")]
    a = Assistant.open(paths=paths, index_dir=tmp_path / "idx")
    assert a.settings.judge.relevance == "model"  # the default path, not the judge
    for question, answer in (("What is the maximum size of a VARCHAR in SQLite?", "does not enforce the length"),
                             ("What does SQLITE_MAX_COLUMN set an upper bound on?", "The number of columns in a table"),
                             ("Why is the depth of trigger recursion limited?", "unbounded amount of memory"),
                             ("Why does SQLite suit embedded devices?", "requires no administration")):
        ans = a.ask(question, mode="extractive")
        assert not ans.abstained, question
        for c in ans.citations:
            assert c.text == a.document_text(c.doc_id)[c.start : c.end]
        assert any(answer in c.text for c in ans.citations), (question, [c.text for c in ans.citations])
    # Each answer is quoted once: no citation overlaps another.
    spans = sorted((c.doc_id, c.start, c.end) for c in ans.citations)
    assert all(a_[0] != b[0] or a_[2] <= b[1] for a_, b in zip(spans, spans[1:]))


def test_the_real_documents_gold_sets_match_their_documents():
    """eval/gold_docs.jsonl's and eval/gold_docs_pdf.jsonl's evidence offsets are those of the documents as
    ingested today."""
    from eval.make_gold_docs import main

    assert main(["--check"]) == 0 and main(["--check", "--pdf"]) == 0


def test_a_bold_line_over_its_paragraph_in_a_printed_page_is_a_heading():
    """Chromium declares 340 for regular and 415 for bold text: bold is judged against the body's weight, so a
    one-line bold paragraph that reads as a title is a heading under the page's last heading."""
    from eval.make_gold_docs import PDF_DOCS

    loaded = load_file(PDF_DOCS / "whentouse.pdf")
    headings = {loaded.text[s:e]: level for s, e, kind, level in loaded.locations["blocks"] if kind == "heading"}
    assert headings["Situations Where SQLite Works Well"] == 1
    assert headings["Embedded devices and the internet of things"] == 2 and headings["Data analysis"] == 2
    body = loaded.text.index("Because an SQLite database requires no administration")
    assert not any(s <= body < e for s, e, kind, _ in loaded.locations["blocks"] if kind == "heading")


def test_a_printed_pages_clickable_contents_is_not_indexed():
    """The FAQ printed to PDF lists its questions as links to their answers, under no "Contents" heading: lines whose
    every word (but the list number) links within the PDF are contents entries, kept in the text and not indexed;
    the question over its answer, further down, is a row and introduces the answer."""
    from eval.make_gold_docs import PDF_DOCS

    loaded = load_file(PDF_DOCS / "faq.pdf")
    kinds = {loaded.text[s:e]: kind for s, e, kind, _ in loaded.locations["blocks"]}
    assert kinds["1. How do I create an AUTOINCREMENT field?"] == "toc"
    doc, view, texts = _rows(PDF_DOCS / "faq.pdf")
    assert doc.entry().skipped["toc"] >= 25 and "1. How do I create an AUTOINCREMENT field?" not in texts
    head = next(i for i, t in enumerate(texts) if t.startswith("(1) How do I create an AUTOINCREMENT field?"))
    assert "Short answer: A column declared INTEGER PRIMARY KEY" in doc.text[slice(*view.unit_of(head))]


def test_a_page_of_thousands_of_in_document_links_loads_and_only_linked_lines_are_contents(tmp_path):
    """A hostile page with 3,000 link annotations to a place in the PDF over half its paragraphs: it loads whole (at
    most 1,000 links a page are read); the linked paragraphs are contents entries, the others are indexed."""
    from eval.pdf_fixtures import new_pdf

    pdf = new_pdf()
    pdf.add_page()
    target = pdf.add_link(page=1)
    lines = [f"Line {n} says the archive holds file number {n}." for n in range(24)]
    for n, line in enumerate(lines):  # one paragraph each: a blank line between them
        pdf.text(56, 60 + 30 * n, line)
    for k in range(3000):  # over the first 12 paragraphs only
        pdf.link(56, 50 + 30 * (k % 12), 300, 12, target)
    pdf.output(str(tmp_path / "links.pdf"))
    loaded = load_file(tmp_path / "links.pdf")
    assert all(line in loaded.text for line in lines)
    a = Assistant.open(paths=[tmp_path / "links.pdf"], index_dir=tmp_path / "idx")
    view = a.corpus.view()
    indexed = {view.record_text(i) for i in range(len(view.records))}
    assert set(lines[12:]) <= indexed and not indexed & set(lines[:12])
    assert a.documents()[0].skipped["toc"] == 12
