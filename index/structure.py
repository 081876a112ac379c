"""The structure of a document as a reader sees it: blocks (headings with levels, paragraphs, list
items, table rows, code, table-of-contents and index pages, page furniture) as spans of its text.

Loaders that know the structure (``index/pdf_layout.py``, ``index/docx.py``, HTML in
``index/loaders.py``, Markdown here) put ``"blocks"`` into the document's location map
(``index/locations.py``): ``[[start, end, kind, level], ...]`` sorted by ``start``, disjoint; ``level``
is a heading's level (1 = top; 0 = the document title) or a list item's depth (1 = outermost).
``index/document.py`` turns blocks into records: table rows whole, headings whole, the rest split
into sentences, the kinds of ``SKIPPED`` not indexed at all. Rows that are junk in any document
(dot leaders, page numbers, lone symbols) are not indexed either (``junk_reason``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

HEADING = "heading"
PARAGRAPH = "paragraph"
LIST_ITEM = "list_item"
TABLE_HEADER = "table_header"
TABLE_ROW = "table_row"
CODE = "code"
NOTE = "footnote"
TOC = "toc"
INDEX = "index"
FURNITURE = "furniture"
KINDS = (HEADING, PARAGRAPH, LIST_ITEM, TABLE_HEADER, TABLE_ROW, CODE, NOTE, TOC, INDEX, FURNITURE)
SKIPPED = frozenset({TOC, INDEX, FURNITURE})  # stay in the text, never indexed
WHOLE = frozenset({HEADING, TABLE_HEADER, TABLE_ROW})  # one record each, never split into sentences
SECTION_SEPARATOR = " > "

_DOT_LEADERS = re.compile(r"(?:\.[ \t\u00a0]?){5,}|\u2026{2,}|(?:\u00b7[ \t]?){4,}")
_PAGE_NUMBER = re.compile(r"(?:page\s*)?[-\u2013\u2014(\[]?\s*(?:\d{1,4}|[ivx]{1,5})\s*[-\u2013\u2014)\]]?"
                          r"(?:\s*(?:of|/)\s*\d{1,4})?", re.IGNORECASE)
# "thread safety, 12, 15-17": an index entry (a term and page numbers)
_INDEX_ENTRY = re.compile(r"[^\n]{1,80}?,\s*\d{1,4}(?:\s*[-\u2013]\s*\d{1,4})?(?:\s*,\s*\d{1,4}(?:\s*[-\u2013]\s*\d{1,4})?)*")
_CONTENTS_TITLE = re.compile(r"(?:table of )?contents|short contents", re.IGNORECASE)
_INDEX_TITLE = re.compile(r"(?:(?:concept|function|variable|subject|general|program|command|option|keystroke|"
                          r"type|data type|name|author)s?\s+)?index(?:es)?(?:\s+of\s+\w+(?:\s+\w+)?)?", re.IGNORECASE)
_NUMBERED_HEADING = re.compile(r"(?P<number>(?:\d{1,2}|[A-Z])(?:\.\d{1,2}){0,4})\s+(?=[A-Z])[^\n]{1,90}")


def has_dot_leaders(text: str) -> bool:
    # substring tests first: the regular expression is slow on every sentence of a corpus
    return (".." in text or ". ." in text or "\u2026\u2026" in text or "\u00b7" in text) and bool(_DOT_LEADERS.search(text))


def junk_reason(row: str) -> str | None:
    """Why a row is not worth indexing ("dot_leaders", "page_number", "symbols"), None when it is."""
    s = row.strip()
    if not any(c.isalnum() for c in s):
        return "symbols"
    if has_dot_leaders(s):
        return "dot_leaders"
    if len(s) <= 16 and _PAGE_NUMBER.fullmatch(s):
        return "page_number"
    return None


def is_toc_line(line: str) -> bool:
    """A table-of-contents (or index) line: a title, dot leaders and a page number."""
    return has_dot_leaders(line) and bool(re.search(r"(?:\d{1,4}|[ivx]{1,5})\s*$", line.strip()))


def is_index_entry(line: str) -> bool:
    return bool(_INDEX_ENTRY.fullmatch(line.strip()))


_LIST_MARKER = re.compile(r"[\u2022\u25e6\u25aa\u25cf\u2023\u2043\u00b7*\u2013\u2014-]"
                          r"|\(?(?:\d{1,3}|[a-zA-Z]|[ivxlc]{1,5})[.)]")


def is_list_marker(text: str) -> bool:
    """Whether a sentence is only a list item's marker ("1.", "(c)", "iv."): the splitter cuts it off the item's
    first sentence, which it belongs to."""
    return bool(_LIST_MARKER.fullmatch(text.strip()))


def is_run_in_heading(text: str) -> bool:
    """Whether a block set wholly in bold reads as a title: one short line (at most 20 words) that ends no
    sentence. Pages without heading elements title their items this way ("<li><b>Maximum Number Of
    Columns</b>", a FAQ's "<p><b>(9) What is the maximum size of a VARCHAR?</b>"); the PDF rule for a short
    bold line is the same (index/pdf_layout.py)."""
    text = text.strip()
    return bool(text) and "\n" not in text and len(text.split()) <= 20 and not text.endswith((".", ",", ";"))


def is_contents_title(line: str) -> bool:
    return bool(_CONTENTS_TITLE.fullmatch(line.strip()))


def is_index_title(line: str) -> bool:
    return bool(_INDEX_TITLE.fullmatch(line.strip()))


def numbered_heading_level(line: str) -> int | None:
    """"2.1 Options" -> 2: the depth of a numbered heading line, None for other lines."""
    s = line.strip()
    m = _NUMBERED_HEADING.fullmatch(s)
    if not m or s.endswith((".", ",", ";", ":")) or is_toc_line(s):
        return None
    return m.group("number").count(".") + 1


def cells(row: str) -> list[str]:
    """The cells of a table row's text: tab-separated (PDF, DOCX, HTML) or pipe-separated (Markdown)."""
    if "\t" in row:
        parts = row.split("\t")
    else:
        parts = re.split(r"(?<!\\)\|", row.strip().strip("|"))
    return [" ".join(p.split()) for p in parts]


def looks_like_header(row_cells: Sequence[str]) -> bool:
    """Whether a table's first row names its columns ("Option | Description"), for formats that do
    not mark header rows: short cells that start with a capital, none an option or a number."""
    return len(row_cells) >= 2 and all(
        c and len(c.split()) <= 4 and c[0].isupper() and not any(ch.isdigit() for ch in c) for c in row_cells)


def row_index_text(row: str, header: Sequence[str] | None) -> str:
    """What a table row is embedded by: each cell after its column's header ("Option: -b | ...")."""
    values = cells(row)
    if header and len(header) >= len(values):
        return " | ".join(f"{h}: {v}" if h else v for h, v in zip(header, values))
    return " | ".join(values)


def _title(heading: str) -> str:
    """A heading's text as a section name: white space collapsed, a Markdown bold title's "**" left out."""
    title = " ".join(heading.split())
    return title[2:-2].strip() if len(title) > 4 and title[:2] == title[-2:] and title[:2] in ("**", "__") else title


def section_paths(blocks: Sequence[Sequence], text: str) -> list[str]:
    """The section path ("2 Usage > 2.1 Options") of every block, a heading's including itself.
    The document title (level 0) is not part of any path."""
    stack: list[tuple[int, str]] = []
    out = []
    for start, end, kind, level, *_ in blocks:
        if kind == HEADING and level > 0:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, _title(text[start:end])))
        out.append(SECTION_SEPARATOR.join(t for _, t in stack))
    return out


def section_at(loc_map: dict | None, text: str | None, offset: int) -> str | None:
    """The section path at ``offset`` from a location map's blocks; None without blocks or headings."""
    blocks = (loc_map or {}).get("blocks") if isinstance(loc_map, dict) else None
    if not blocks or text is None:
        return None
    i = bisect.bisect_right(blocks, offset, key=lambda b: b[0]) - 1
    path: list[str] = []
    below = 1 << 30
    while i >= 0 and below > 1:  # back to the nearest heading of each higher level
        start, end, kind, level = blocks[i][:4]
        if kind == HEADING and 0 < level < below:
            path.append(_title(text[start:end]))
            below = level
        i -= 1
    return SECTION_SEPARATOR.join(reversed(path)) or None


def finish_blocks(blocks: list[list], text: str) -> list[list]:
    """Rules shared by the markup formats: a document's only top-level heading, when it comes
    first, is its title (level 0, in no section path); a heading "Contents" or "... Index" and
    the blocks under it (to the next heading of its rank) are a contents or index section."""
    headings = [b for b in blocks if b[2] == HEADING]
    top = [b for b in headings if b[3] == 1]
    if len(top) == 1 and headings[0] is top[0] and len(headings) > 1:
        top[0][3] = 0
    skip: tuple[str, int] | None = None
    for b in blocks:
        if b[2] == HEADING:
            title = text[b[0] : b[1]]
            if skip and b[3] <= skip[1]:
                skip = None
            if is_contents_title(title) or is_index_title(title):
                skip = (TOC if is_contents_title(title) else INDEX, b[3])
        if skip:
            b[2], b[3] = skip[0], 0
    return blocks


# ---------------------------------------------------------------------------------- Markdown
def _all_strong(children: list) -> bool:
    """Whether an inline token's every piece of text is inside strong emphasis (``**...**``)."""
    depth, texts = 0, 0
    for c in children:
        if c.type == "strong_open":
            depth += 1
        elif c.type == "strong_close":
            depth -= 1
        elif c.content.strip():
            if not depth:
                return False
            texts += 1
    return texts > 0


def markdown_blocks(text: str) -> list[list]:
    """Blocks of a Markdown text (markdown-it-py, CommonMark with tables), as spans of the source
    text itself: heading text without its ``#`` marks, list items without their bullets, table
    rows without their outer pipes, code without its fences."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(text)
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_span(a: int, b: int) -> tuple[int, int]:
        s = line_starts[a] if a < len(line_starts) else len(text)
        e = line_starts[b] - 1 if b < len(line_starts) else len(text)
        return s, max(s, e)

    blocks: list[list] = []

    def add(s: int, e: int, kind: str, level: int = 0, strip_re: str | None = None) -> None:
        if strip_re:
            m = re.match(strip_re, text[s:e])
            if m:
                s += m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e and (not blocks or blocks[-1][1] <= s):
            blocks.append([s, e, kind, level])

    depth = 0
    last_level = 0  # of the last heading, for a bold title ("**Results**" alone in a paragraph) under it
    open_items: list[list] = []  # [first line, last line, depth, written]
    in_table_head = False
    bullet = r"\s*(?:[-*+]|\d{1,9}[.)])[ \t]*"
    for i, tok in enumerate(tokens):
        t = tok.type
        if t in ("bullet_list_open", "ordered_list_open"):
            if open_items and not open_items[-1][3] and tok.map:  # the item's own text ends where its sub-list starts
                item = open_items[-1]
                add(*line_span(item[0], tok.map[0]), LIST_ITEM, item[2], bullet)
                item[3] = True
            depth += 1
        elif t in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif t == "list_item_open" and tok.map:
            open_items.append([tok.map[0], tok.map[1], depth, False])
        elif t == "list_item_close" and open_items:
            item = open_items.pop()
            if not item[3]:
                add(*line_span(item[0], item[1]), LIST_ITEM, item[2], bullet)
        elif t == "heading_open" and tok.map:
            s, e = line_span(tok.map[0], tok.map[0] + 1)
            if tok.markup.startswith("#"):
                add(s, len(text[:e].rstrip().rstrip("#")) if text[s:e].rstrip().endswith("#") else e,
                    HEADING, int(tok.tag[1]), r"\s*#{1,6}[ \t]*")
            else:
                add(s, e, HEADING, int(tok.tag[1]))
            last_level = int(tok.tag[1])
        elif t == "paragraph_open" and tok.map and not open_items:
            inline = tokens[i + 1] if i + 1 < len(tokens) else None
            children = (inline.children or []) if inline is not None else []
            if _all_strong(children) and is_run_in_heading("".join(c.content for c in children)):
                # Its span keeps the "**": a unit of it and the paragraph under it is then the source as written.
                add(*line_span(*tok.map), HEADING, min(6, last_level + 1))
            else:
                add(*line_span(*tok.map), PARAGRAPH)
        elif t in ("fence", "code_block") and tok.map:
            a, b = tok.map
            if t == "fence":
                a, b = a + 1, b - 1
            if b > a:
                add(*line_span(a, b), CODE)
        elif t == "thead_open":
            in_table_head = True
        elif t == "thead_close":
            in_table_head = False
        elif t == "tr_open" and tok.map:
            s, e = line_span(tok.map[0], tok.map[0] + 1)
            add(s, e, TABLE_HEADER if in_table_head else TABLE_ROW, 0, r"\s*\|?")
            if blocks and blocks[-1][2] in (TABLE_HEADER, TABLE_ROW) and text[blocks[-1][1] - 1] == "|":
                blocks[-1][1] -= 1
                while blocks[-1][1] > blocks[-1][0] and text[blocks[-1][1] - 1].isspace():
                    blocks[-1][1] -= 1
            if in_table_head and tok.map[0] + 1 < len(line_starts):  # the delimiter row |---|---|
                add(*line_span(tok.map[0] + 1, tok.map[0] + 2), FURNITURE)
        elif t == "hr" and tok.map:
            add(*line_span(*tok.map), FURNITURE)
        elif t == "html_block" and tok.map and not open_items:
            add(*line_span(*tok.map), PARAGRAPH)
    blocks.sort(key=lambda b: b[0])
    return finish_blocks(blocks, text)

