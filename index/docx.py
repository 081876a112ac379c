"""DOCX -> document text plus a paragraph map (heading and paragraph number of every span).

Library: python-docx (MIT). The body is read in document order, paragraphs and tables alike;
each paragraph becomes one line of the text, separated by a blank line, and each table row one
line with its cells separated by a tab. A paragraph whose style is a heading (or the title) is
kept as text and also names the section of what follows it.

A DOCX is a zip file, so before python-docx opens it the archive's declared sizes are checked: a
zip bomb (a few KB that unpack to gigabytes) is refused without unpacking anything. Python's
zipfile never inflates a member past its declared size, so the declared sizes are a true bound.
"""

from __future__ import annotations

import io
import zipfile

from index.errors import IngestError

MAX_DOCX_UNPACKED_BYTES = 200 * 1024 * 1024  # all members together, as declared in the zip directory
MAX_DOCX_RATIO = 200  # a member that inflates more than this (and past 10 MB) is a bomb, not a document
MAX_DOCX_MEMBERS = 10_000
MAX_DOCX_CHARS = 5_000_000  # the same text limit as PDFs
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
        blocks: list[tuple[str, bool]] = []  # (text, is_heading)
        for el in body.iterchildren():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "p":
                para = Paragraph(el, document)
                blocks.append((para.text, _is_heading(para)))
            elif tag == "tbl":
                for row in Table(el, document).rows:
                    cells = list({id(c._tc): c for c in row.cells}.values())  # merged cells repeat
                    blocks.append(("\t".join(" ".join(c.text.split()) for c in cells), False))
    except IngestError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types for damaged parts
        raise IngestError(f"{name}: not a readable DOCX file ({type(exc).__name__}); is it damaged?") from None
    parts: list[str] = []
    paragraphs: list[list[int]] = []
    sections: list[str] = []
    pos, number = 0, 0
    for text, heading in blocks:
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
        pos += len(text)
        if pos > MAX_DOCX_CHARS:
            raise IngestError(f"{name}: over {MAX_DOCX_CHARS:,} characters of text (limit per document); split it")
    if not parts:
        raise IngestError(f"{name}: the DOCX has no text")
    return "".join(parts), {"kind": "docx", "sections": sections, "paragraphs": paragraphs}


def _is_heading(para) -> bool:
    try:
        style = (para.style.name or "") if para.style is not None else ""
    except (KeyError, ValueError, AttributeError):  # a style id that the styles part does not define
        return False
    return style.startswith("Heading") or style == "Title"
