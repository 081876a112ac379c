"""Read user files into text. The returned text is what citations point into.

- .txt/.md: the decoded file, exactly (a leading byte-order mark is not text and is dropped).
- .html/.htm: the visible text, produced by a real HTML parser (stdlib ``html.parser``, which is
  streaming and has no recursion limit, so deeply nested pages cannot crash it). Offsets then refer
  to that visible text, which is what ``Assistant.document_text`` returns and the UI shows.
- .pdf (text layer, ``index/pdf.py``) and .docx (``index/docx.py``): the extracted text, plus a
  location map (pages and word boxes, or headings and paragraphs; see ``index/locations.py``).
- .png/.jpg/.jpeg/.tif/.tiff and the scanned pages of a PDF: the OCR text (``index/ocr.py``) with
  the same page and word-box map as a PDF.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from index.errors import IngestError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")  # scans, read by OCR (index/ocr.py)
SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx") + IMAGE_SUFFIXES
PACKED_SUFFIXES = (".pdf", ".docx") + IMAGE_SUFFIXES  # files whose text is a small part of their bytes (fonts, images)
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024  # ~100k sentences; embedding more on 2 cores takes many minutes
# PDF/DOCX carry images and fonts besides text; their text is limited after extraction instead
# (index.pdf.MAX_PDF_CHARS, index.docx.MAX_DOCX_CHARS).
MAX_PACKED_DOCUMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoadedText:
    text: str
    format: str  # "text", "html", "pdf", "docx" or "image"
    locations: dict | None = None  # index.locations map (pages/boxes, paragraphs) for PDF, DOCX and images


def max_bytes_for(suffix: str) -> int:
    return MAX_PACKED_DOCUMENT_BYTES if suffix.lower() in PACKED_SUFFIXES else MAX_DOCUMENT_BYTES


def load_file(path: Path, max_bytes: int | None = None) -> LoadedText:
    """Read one file, or raise IngestError naming it and saying why."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"{path.name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}")
    max_bytes = max_bytes_for(suffix) if max_bytes is None else max_bytes
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"{path.name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit per document; split it")
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc
    return load_bytes(data, path.name, suffix)


def load_bytes(data: bytes, name: str, suffix: str) -> LoadedText:
    if suffix == ".pdf":
        from index.pdf import extract_pdf  # imported here: plain-text users never load PDFium

        text, locations = extract_pdf(data, name)
        return LoadedText(text, "pdf", locations)
    if suffix in IMAGE_SUFFIXES:
        from index.ocr import extract_image

        text, locations = extract_image(data, name)
        return LoadedText(text, "image", locations)
    if suffix == ".docx":
        from index.docx import extract_docx

        text, locations = extract_docx(data, name)
        return LoadedText(text, "docx", locations)
    text = decode_text(data, name)
    if suffix in (".html", ".htm"):
        return LoadedText(html_to_visible_text(text), "html")
    return LoadedText(text, "text")


def decode_text(data: bytes, name: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(f"{name}: invalid UTF-16 text ({exc.reason} at byte {exc.start})") from exc
    else:
        if b"\x00" in data:
            raise IngestError(f"{name}: looks like a binary file (contains NUL bytes), not text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IngestError(
                f"{name}: not valid UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
            ) from exc
    text = text.lstrip("\ufeff")  # every leading BOM: a file saved twice by a BOM-writing editor has two
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if controls > max(8, len(text) // 100):
        raise IngestError(f"{name}: looks like a binary file ({controls} control characters), not text")
    return text


_BLOCK_TAGS = frozenset(
    """address article aside blockquote br dd div dl dt fieldset figcaption figure footer form h1 h2 h3
    h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul title""".split()
)
_HIDDEN_TAGS = frozenset("script style noscript template head svg math iframe object".split())
_SPACES = re.compile(r"\s+")


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0
        self.pending_break = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _HIDDEN_TAGS and tag != "head":
            self.hidden_depth += 1
        elif tag in _BLOCK_TAGS:
            self.pending_break = True

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK_TAGS:
            self.pending_break = True

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS and tag != "head":
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.pending_break = True

    def handle_data(self, data: str) -> None:
        if self.hidden_depth:
            return
        chunk = _SPACES.sub(" ", data)
        if not chunk.strip():
            if self.parts and not self.pending_break and not self.parts[-1].endswith((" ", "\n")):
                self.parts.append(" ")
            return
        if self.pending_break and self.parts:
            while self.parts and self.parts[-1] in (" ",):
                self.parts.pop()
            self.parts.append("\n\n")
            chunk = chunk.lstrip()
        elif not self.parts or self.parts[-1].endswith(("\n", " ")):
            chunk = chunk.lstrip()
        self.pending_break = False
        self.parts.append(chunk)


def html_to_visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip()
