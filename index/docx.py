"""DOCX -> document text plus a paragraph map (heading and paragraph number of every span).

Library: python-docx (MIT). The body is read in document order, paragraphs and tables alike;
each paragraph becomes one line of the text, separated by a blank line, and each table row one
line with its cells separated by a tab. A paragraph whose style is a heading (or the title) is
kept as text and also names the section of what follows it. Paragraph styles (and list numbering)
give the blocks of ``index/structure.py``: headings with levels, list items with depths, code,
table-of-contents and index entries; a table's first row is its header when it looks like one.

A DOCX is a zip file, so before python-docx opens it the archive's declared sizes are checked: a
zip bomb (a few KB that unpack to gigabytes) is refused without unpacking anything. Python's
zipfile never inflates a member past its declared size, so the declared sizes are a true bound.
"""

from __future__ import annotations

import io
import zipfile

import re

from index import structure
from index.errors import IngestError

MAX_DOCX_UNPACKED_BYTES = 200 * 1024 * 1024  # all members together, as declared in the zip directory
MAX_DOCX_RATIO = 200  # a member that inflates more than this (and past 10 MB) is a bomb, not a document
MAX_DOCX_MEMBERS = 10_000
MAX_DOCX_CHARS = 5_000_000  # the same text limit as PDFs
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Office's encrypted container (and the old binary .doc format)


def check_archive(data: bytes, name: str) -> None:
    """Refuse what is not a zip, or what unpacks to far more than any document needs."""
    if data.startswith(_OLE_MAGIC):
        raise IngestError(f"{name}: the file is encrypted (password protected) or an old binary Word file; "
                          f"save it unprotected as .docx and add that")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise IngestError(f"{name}: not a readable DOCX file (damaged, or not a Word document)") from None
    if len(infos) > MAX_DOCX_MEMBERS:
        raise IngestError(f"{name}: the DOCX holds {len(infos):,} files, over the limit of {MAX_DOCX_MEMBERS:,}")
    total = sum(i.file_size for i in infos)
    bomb = any(i.file_size > 10 * 1024 * 1024 and i.file_size > MAX_DOCX_RATIO * max(1, i.compress_size) for i in infos)
    if total > MAX_DOCX_UNPACKED_BYTES or bomb:
        raise IngestError(f"{name}: the DOCX would unpack to {total / 1e6:,.0f} MB (limit {MAX_DOCX_UNPACKED_BYTES / 1e6:.0f} MB, "
                          f"at most {MAX_DOCX_RATIO}x compression); refused as a possible zip bomb")


def extract_docx(data: bytes, name: str) -> tuple[str, dict]:
    """(text, location map) of a DOCX, or IngestError saying why not."""
    check_archive(data, name)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
        blocks: list[tuple[str, bool, str, int]] = []  # (text, is_heading, block kind, level)
        last_level = 0  # of the last heading, for a bold title under it
        for el in body.iterchildren():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "p":
                para = Paragraph(el, document)
                kind, level = _block_kind(para)
                heading = _is_heading(para)
                if kind == structure.HEADING:
                    last_level = level
                elif kind in (structure.PARAGRAPH, structure.LIST_ITEM) and _run_in_heading(para):
                    kind, level, heading = structure.HEADING, min(9, last_level + 1), True
                blocks.append((para.text, heading, kind, level))
            elif tag == "tbl":
                for i, row in enumerate(Table(el, document).rows):
                    cells = list({id(c._tc): c for c in row.cells}.values())  # merged cells repeat
                    texts = [" ".join(c.text.split()) for c in cells]
                    marked = row._tr.find(f".//{_W}tblHeader") is not None  # "repeat as header row"
                    header = marked or (i == 0 and len(row.table.rows) > 1 and structure.looks_like_header(texts))
                    blocks.append(("\t".join(texts), False, structure.TABLE_HEADER if header else structure.TABLE_ROW, 0))
    except IngestError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types for damaged parts
        raise IngestError(f"{name}: not a readable DOCX file ({type(exc).__name__}); is it damaged?") from None
    parts: list[str] = []
    paragraphs: list[list[int]] = []
    sections: list[str] = []
    spans: list[list] = []
    pos, number = 0, 0
    for text, heading, kind, level in blocks:
        text = text.strip()
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        number += 1
        if heading:
            sections.append(" ".join(text.split()))
        parts.append(text)
        paragraphs.append([pos, pos + len(text), number, len(sections) - 1])
        if kind == structure.PARAGRAPH and structure.is_toc_line(text):
            kind = structure.TOC
        spans.append([pos, pos + len(text), kind, level])
        pos += len(text)
        if pos > MAX_DOCX_CHARS:
            raise IngestError(f"{name}: over {MAX_DOCX_CHARS:,} characters of text (limit per document); split it")
    if not parts:
        raise IngestError(f"{name}: the DOCX has no text")
    return "".join(parts), {"kind": "docx", "sections": sections, "paragraphs": paragraphs,
                              "blocks": structure.finish_blocks(spans, "".join(parts))}


def _run_in_heading(para) -> bool:
    """A paragraph set in bold throughout that reads as a title (``structure.is_run_in_heading``): a report's
    "Results" in bold Normal text titles what follows as a heading style would."""
    runs = [r for r in para.runs if r.text.strip()]
    return bool(runs) and all(r.bold for r in runs) and structure.is_run_in_heading(para.text)


def _is_heading(para) -> bool:
    try:
        style = (para.style.name or "") if para.style is not None else ""
    except (KeyError, ValueError, AttributeError):  # a style id that the styles part does not define
        return False
    return style.startswith("Heading") or style == "Title"


def _style_name(para) -> str:
    try:
        return (para.style.name or "") if para.style is not None else ""
    except (KeyError, ValueError, AttributeError):
        return ""


def _block_kind(para) -> tuple[str, int]:
    """(block kind, level) of a paragraph from its style and list numbering."""
    style = _style_name(para)
    number = re.search(r"(\d+)\s*$", style)
    n = int(number.group(1)) if number else 1
    if style == "Title":
        return structure.HEADING, 0
    if style.startswith("Heading"):
        return structure.HEADING, max(1, min(n, 9))
    if re.match(r"(?i)toc\b|table of contents", style):
        return structure.TOC, 0
    if re.match(r"(?i)index\b", style):
        return structure.INDEX, 0
    if re.search(r"(?i)code|preformatted|macro text", style):
        return structure.CODE, 0
    ilvl = para._p.find(f".//{_W}ilvl")
    if ilvl is not None or style.startswith("List"):
        if ilvl is not None:
            try:
                n = int(ilvl.get(f"{_W}val", "0")) + 1
            except ValueError:
                n = 1
        return structure.LIST_ITEM, max(1, min(n, 9))
    return structure.PARAGRAPH, 0
