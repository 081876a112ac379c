"""The manual of ``eval/pdf_fixtures.manual_pdf`` as Markdown, HTML and DOCX, with the same known
structure: a contents list with dot leaders, numbered chapter and section headings, a lead-in ":"
with a list whose items have a head and a body (and a nested list), an option table with a header
row, a page number line and an index. ``check_structure`` measures any of them after ingestion.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from eval.pdf_fixtures import (MANUAL_HEADINGS, MANUAL_INDEX, MANUAL_LEAD_IN, MANUAL_OPTIONS, MANUAL_PROPERTIES,
                               MANUAL_SIGNATURE, MANUAL_TOC)

INTRO = "lztool compresses and decompresses data in the lz format."
SHARING = "Programs that share one lz_stream between threads must lock it themselves."
NESTED = [("Level 1", "fast and small"), ("Level 9", "slow and smallest")]
TABLE_HEADER = ("Option", "Description")
EXPECTED_SECTIONS = {  # a sentence -> its section path, in every format
    INTRO: "1 Introduction",
    MANUAL_LEAD_IN: "1 Introduction > 1.1 Thread safety",
    MANUAL_PROPERTIES[0][1]: "1 Introduction > 1.1 Thread safety",
    SHARING: "1 Introduction > 1.1 Thread safety",
    "The options are:": "2 Invoking lztool > 2.1 Options",
}


def _toc_lines() -> list[str]:
    return [f"{title} {' .' * 20} {page}" for title, page in MANUAL_TOC]


def manual_markdown() -> str:
    rows = "\n".join(f"| {o} | {d} |" for o, d in MANUAL_OPTIONS)
    props = "\n".join(f"- {head} {body}" for head, body in MANUAL_PROPERTIES)
    nested = "\n".join(f"  - {a}: {b}" for a, b in NESTED)
    toc = "\n\n".join(_toc_lines())
    index = "\n\n".join(f"{term}, {page}" for term, page in MANUAL_INDEX)
    return f"""# The lztool Manual

## Contents

{toc}

## {MANUAL_HEADINGS[0][0]}

{INTRO} This manual describes the command-line tool and the library that it is built on.

### {MANUAL_HEADINGS[1][0]}

{MANUAL_LEAD_IN}

{props}
- Compression levels:
{nested}

{SHARING}

2

## {MANUAL_HEADINGS[2][0]}

Usage: lztool [option] [file]

### {MANUAL_HEADINGS[3][0]}

The options are:

| {TABLE_HEADER[0]} | {TABLE_HEADER[1]} |
|---|---|
{rows}

## {MANUAL_HEADINGS[4][0]}

```
{MANUAL_SIGNATURE}
```

Decodes the next block of the stream and returns the number of bytes written.

## Index

{index}
"""


def manual_html() -> str:
    from html import escape

    rows = "".join(f"<tr><td>{escape(o)}</td><td>{escape(d)}</td></tr>" for o, d in MANUAL_OPTIONS)
    props = "".join(f"<li>{escape(h)} {escape(b)}</li>" for h, b in MANUAL_PROPERTIES)
    nested = "".join(f"<li>{escape(a)}: {escape(b)}</li>" for a, b in NESTED)
    toc = "".join(f"<p>{escape(line)}</p>" for line in _toc_lines())
    index = "".join(f"<p>{escape(term)}, {page}</p>" for term, page in MANUAL_INDEX)
    return f"""<!doctype html><html><head><title>The lztool Manual</title></head><body>
<h1>The lztool Manual</h1><nav><h2>Contents</h2>{toc}</nav>
<h2>{MANUAL_HEADINGS[0][0]}</h2><p>{INTRO} This manual describes the command-line tool and the library
that it is built on.</p>
<h3>{MANUAL_HEADINGS[1][0]}</h3><p>{MANUAL_LEAD_IN}</p>
<ul>{props}<li>Compression levels:<ul>{nested}</ul></li></ul>
<p>{SHARING}</p><p>2</p>
<h2>{MANUAL_HEADINGS[2][0]}</h2><p>Usage: lztool [option] [file]</p>
<h3>{MANUAL_HEADINGS[3][0]}</h3><p>The options are:</p>
<table><thead><tr><th>{TABLE_HEADER[0]}</th><th>{TABLE_HEADER[1]}</th></tr></thead><tbody>{rows}</tbody></table>
<h2>{MANUAL_HEADINGS[4][0]}</h2><pre>{escape(MANUAL_SIGNATURE)}</pre>
<p>Decodes the next block of the stream and returns the number of bytes written.</p>
<h2>Index</h2>{index}
</body></html>"""


def manual_docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("The lztool Manual", 0)
    for line in _toc_lines():
        d.add_paragraph(line)
    d.add_heading(MANUAL_HEADINGS[0][0], 1)
    d.add_paragraph(f"{INTRO} This manual describes the command-line tool and the library that it is built on.")
    d.add_heading(MANUAL_HEADINGS[1][0], 2)
    d.add_paragraph(MANUAL_LEAD_IN)
    for head, body in MANUAL_PROPERTIES:
        d.add_paragraph(f"{head} {body}", style="List Bullet")
    d.add_paragraph("Compression levels:", style="List Bullet")
    for a, b in NESTED:
        d.add_paragraph(f"{a}: {b}", style="List Bullet 2")
    d.add_paragraph(SHARING)
    d.add_paragraph("2")
    d.add_heading(MANUAL_HEADINGS[2][0], 1)
    d.add_paragraph("Usage: lztool [option] [file]")
    d.add_heading(MANUAL_HEADINGS[3][0], 2)
    d.add_paragraph("The options are:")
    table = d.add_table(rows=len(MANUAL_OPTIONS) + 1, cols=2)
    for i, row in enumerate([TABLE_HEADER, *MANUAL_OPTIONS]):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    d.add_heading(MANUAL_HEADINGS[4][0], 1)
    d.add_paragraph(MANUAL_SIGNATURE)
    d.add_paragraph("Decodes the next block of the stream and returns the number of bytes written.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def write_manuals(folder: Path) -> dict[str, Path]:
    """The manual in every format (the PDF from eval/pdf_fixtures.py) in ``folder``: format -> path."""
    from eval.pdf_fixtures import manual_pdf

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"pdf": folder / "manual.pdf", "markdown": folder / "manual.md", "html": folder / "manual.html",
             "docx": folder / "manual.docx"}
    manual_pdf(paths["pdf"])
    paths["markdown"].write_text(manual_markdown(), encoding="utf-8")
    paths["html"].write_text(manual_html(), encoding="utf-8")
    paths["docx"].write_bytes(manual_docx())
    return paths


def check_structure(path: Path) -> dict[str, Any]:
    """Units right and junk rows of one manual after ingestion (no embedder: records only).

    Units checked: each option row is one record whose index text has its description (and its
    header, where the format has one); the section path of known sentences; the list item
    "Thread-safety." introduces its body; the lead-in introduces the whole list; headings have
    their levels. Junk: records that are contents or index lines, dot leaders, page numbers or
    lone symbols."""
    import numpy as np

    from index.corpus import CorpusView
    from index.document import parse_document
    from index.loaders import load_file
    from index.records import RecordTable
    from index.structure import is_index_entry, is_toc_line, junk_reason

    loaded = load_file(path)
    doc = parse_document(path.name, loaded.text, str(path), loaded.format, loaded.locations)
    table = RecordTable.from_records(doc.sentences)
    view = CorpusView({doc.doc_id: doc.entry()}, table, np.zeros((len(table), 1), np.float32), 0)
    texts = [view.record_text(i) for i in range(len(table))]
    index_terms = {term for term, _ in MANUAL_INDEX}
    junk = [t for t in texts if junk_reason(t) or is_toc_line(t) or is_index_entry(t) and t.split(",")[0] in index_terms]
    checks: dict[str, bool] = {}
    for option, description in MANUAL_OPTIONS:
        rows = [i for i, t in enumerate(texts) if t.startswith(option)]
        ok = len(rows) == 1 and table[rows[0]].block == "table_row" and description in (table[rows[0]].index_text or "")
        if ok and path.suffix != ".pdf":
            ok = (table[rows[0]].index_text or "").startswith(f"{TABLE_HEADER[0]}: {option}")
        checks[f"row {option}"] = ok
    for sentence, expected in EXPECTED_SECTIONS.items():
        rows = [i for i, t in enumerate(texts) if sentence.startswith(t) or t.startswith(sentence)]
        checks[f"section of {sentence[:30]}"] = bool(rows) and table[rows[0]].section == expected
    head = next((i for i, t in enumerate(texts) if t.lstrip("\u2022 ").startswith(MANUAL_PROPERTIES[0][0])), None)
    body = MANUAL_PROPERTIES[0][1]
    checks["item head introduces its body"] = head is not None and view.introduces(head) and \
        body in loaded.text[slice(*view.unit_of(head))]
    lead = next((i for i, t in enumerate(texts) if t == MANUAL_LEAD_IN), None)
    checks["lead-in introduces the list"] = lead is not None and view.introduces(lead) and \
        MANUAL_PROPERTIES[-1][1].split()[0] in loaded.text[slice(*view.unit_of(lead))]
    levels = {texts[i]: table[i].level for i in range(len(table)) if table[i].block == "heading"}
    for heading, level in MANUAL_HEADINGS[:4]:
        got = levels.get(heading)
        checks[f"heading {heading}"] = got is not None and (got == level or path.suffix in (".md", ".html", ".docx"))
    return {"file": path.name, "format": loaded.format, "records": len(table), "junk_records": len(junk),
            "junk_examples": junk[:5], "skipped": dict(doc.skipped or {}), "units_checked": len(checks),
            "units_right": sum(checks.values()), "wrong": [k for k, v in checks.items() if not v]}
