"""Read user files into text. The returned text is what citations point into.

- .txt/.md: the decoded file, exactly (a leading byte-order mark is not text and is dropped);
  Markdown's blocks (headings, lists, tables, code) come from markdown-it-py (``index/structure.py``).
- .html/.htm: the visible text, produced by a real HTML parser (stdlib ``html.parser``, which is
  streaming and has no recursion limit, so deeply nested pages cannot crash it). Offsets then refer
  to that visible text, which is what ``Assistant.document_text`` returns and the UI shows. Each
  block element starts a paragraph; a table row is one line with its cells separated by a tab.
  Every loader but plain text returns the blocks in its location map (``"blocks"``).
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

from index import structure
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
    format: str  # "text", "markdown", "html", "pdf", "docx" or "image"
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
        visible, blocks = html_to_blocks(text)
        return LoadedText(visible, "html", {"kind": "html", "blocks": blocks})
    if suffix in (".md", ".markdown"):
        return LoadedText(text, "markdown", {"kind": "markdown", "blocks": structure.markdown_blocks(text)})
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
_CELL_TAGS = frozenset(("td", "th"))
_SPACES = re.compile(r"\s+")


class _VisibleText(HTMLParser):
    """Visible text, and its blocks: the innermost structural element decides a block's kind."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.pos = 0
        self.hidden_depth = 0
        self.pending_break = False
        self.pending_cell = False  # a cell of the current row began: a tab, not a paragraph break
        self.context: list[tuple[str, int, int]] = []  # open structural elements: (kind, level, list item number)
        self.items = 0  # list items opened so far: each gets a number, so its paragraphs are known to be its own
        self.block_item = 0  # the list item the last block belongs to (0: none)
        self.items_written: set[int] = set()  # list items that have a block
        self.lists = 0
        self.row_cells: list[str] = []  # tags of the cells of the open row ("th"/"td")
        self.in_thead = False
        self.blocks: list[list] = []
        self.block_open = False
        self.bold = 0  # open <b>/<strong> elements
        self.heading_level = 0  # level of the last real heading (h1-h6), for run-in headings under it
        # Per block: the level it has as a run-in heading (a paragraph or list item all of whose text is bold, a
        # level below the last real heading), 0 once a character of it is not bold.
        self.run_in: list[int] = []
        self.anchor_link = 0  # open <a href="#..."> elements (links within the page)
        self.contents_entry: list[bool] = []  # per block: a list item whose text is all links within the page

    def _put(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.pos += len(chunk)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _HIDDEN_TAGS and tag != "head":
            self.hidden_depth += 1
            return
        if tag in ("ul", "ol"):
            self.lists += 1
        elif tag == "thead":
            self.in_thead = True
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.context.append((structure.HEADING, int(tag[1]), 0))
            self.heading_level = int(tag[1])
        elif tag in ("b", "strong"):
            self.bold += 1
        elif tag == "a" and (dict(attrs).get("href") or "").startswith("#"):
            self.anchor_link += 1
        elif tag == "li":
            self.items += 1
            self.context.append((structure.LIST_ITEM, max(1, self.lists), self.items))
        elif tag == "pre":
            self.context.append((structure.CODE, 0, 0))
        elif tag == "tr":
            self.context.append((structure.TABLE_ROW, 0, 0))
            self.row_cells = []
        if tag in _CELL_TAGS and self.context and self.context[-1][0] == structure.TABLE_ROW:
            self.row_cells.append(tag)
            if len(self.row_cells) > 1:
                self.pending_cell = True
                return
        if tag in _BLOCK_TAGS:
            self.pending_break = True

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK_TAGS:
            self.pending_break = True

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS and tag != "head":
            self.hidden_depth = max(0, self.hidden_depth - 1)
            return
        kind = {"li": structure.LIST_ITEM, "pre": structure.CODE, "tr": structure.TABLE_ROW}.get(
            tag, structure.HEADING if tag in ("h1", "h2", "h3", "h4", "h5", "h6") else None)
        if kind:
            for j in range(len(self.context) - 1, -1, -1):  # tolerate unclosed inner elements
                if self.context[j][0] == kind:
                    if kind == structure.TABLE_ROW and self.blocks and self.block_open and self.blocks[-1][2] == kind:
                        if self.in_thead or (self.row_cells and all(c == "th" for c in self.row_cells)):
                            self.blocks[-1][2] = structure.TABLE_HEADER
                    del self.context[j:]
                    break
        if tag in ("ul", "ol"):
            self.lists = max(0, self.lists - 1)
        elif tag in ("b", "strong"):
            self.bold = max(0, self.bold - 1)
        elif tag == "a":
            self.anchor_link = max(0, self.anchor_link - 1)
        elif tag == "thead":
            self.in_thead = False
        if tag in _CELL_TAGS and self.context and self.context[-1][0] == structure.TABLE_ROW:
            return
        if tag in _BLOCK_TAGS:
            self.pending_break = True

    def handle_data(self, data: str) -> None:
        if self.hidden_depth:
            return
        chunk = _SPACES.sub(" ", data)
        if not chunk.strip():
            if self.parts and not self.pending_break and not self.parts[-1].endswith((" ", "\n", "\t")):
                self._put(" ")
            return
        new_block = not self.parts
        if self.pending_break and self.parts:
            self._trim_spaces()
            self._put("\n\n")
            chunk = chunk.lstrip()
            new_block = True
        elif self.pending_cell and self.parts:
            self._trim_spaces()
            self._put("\t")
            chunk = chunk.lstrip()
        elif not self.parts or self.parts[-1].endswith(("\n", " ", "\t")):
            chunk = chunk.lstrip()
        self.pending_break = self.pending_cell = False
        kind, level, item = self.context[-1] if self.context else (structure.PARAGRAPH, 0, 0)
        if new_block and item and item == self.block_item and self.blocks:
            new_block = False  # another paragraph of the same list item: one block, as a PDF's indented paragraph
        elif new_block and item and item in self.items_written:
            level += 1  # the item's text again after its sub-list: under the item, as its sub-items are
        if new_block:
            self.block_item = item
            self.items_written.add(item)
            self.blocks.append([self.pos, self.pos, kind, level])
            titled = kind in (structure.PARAGRAPH, structure.LIST_ITEM)
            self.run_in.append(min(6, self.heading_level + 1) if titled else 0)
            self.block_open = True
            self.contents_entry.append(kind == structure.LIST_ITEM)
        if not self.bold:
            self.run_in[-1] = 0
        if not self.anchor_link:
            self.contents_entry[-1] = False
        self._put(chunk)
        self.blocks[-1][1] = self.pos

    def _trim_spaces(self) -> None:
        while self.parts and self.parts[-1] == " ":
            self.pos -= 1
            self.parts.pop()


def html_to_visible_text(html: str) -> str:
    return html_to_blocks(html)[0]


def html_to_blocks(html: str) -> tuple[str, list[list]]:
    """(visible text, its blocks as ``[start, end, kind, level]``) of an HTML page."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    blocks = []
    for (s, e, kind, level), run_in, entry in zip(parser.blocks, parser.run_in, parser.contents_entry):
        s, e = max(0, s - lead), min(len(text), e - lead)
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            if run_in and structure.is_run_in_heading(text[s:e]):
                kind, level = structure.HEADING, run_in
            elif entry:  # a page's own table of contents ("<li><a href="#q1">...</a>"): not indexed, like a PDF's
                kind, level = structure.TOC, 0
            blocks.append([s, e, kind, level])
    return text, structure.finish_blocks(blocks, text)
