"""Block kinds of a PDF's lines (``index/structure.py``), decided as ``index/pdf_layout.py`` writes them.

A PDF has no markup, so the kinds come from what a reader sees: a line set larger than the body
text is a heading (its level is the rank of its size; a size used once, on the first page, is the
document's title, level 0); a heading "Contents" opens a table of contents and a heading "...
Index" an index, both not indexed until the next heading of the same rank; a line with dot leaders
and a page number is a contents or index entry; a line starting with a bullet or "1." is a list
item, and paragraphs indented under its text belong to it, as do the paragraphs indented under a
line starting with an option ("-b, --benchmark", a manual page's tagged paragraph); a short line
in capitals at body size is a heading (a manual page's "OPTIONS"); a line of several cells is a table row,
the first row of a table its header when it looks like one; small print at the page foot is a note.
"""

from __future__ import annotations

import re
from collections import Counter
from index import structure
from index.pdf_words import Unit

_BULLET = re.compile(r"^(?:[\u2022\u25e6\u25aa\u25cf\u2023\u2043\u00b7*\u2013\u2014-]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_OPTION = re.compile(r"^--?[A-Za-z0-9?]")  # "-b, --benchmark": a command-line option that a description follows
_CAPS_HEADING = re.compile(r"^[A-Z][A-Z0-9 &/-]{2,38}$")  # "SEE ALSO": a manual page's section heading
_INDENT_TOLERANCE = 2.0  # points


def heading_levels(units: list["Unit"]) -> dict[float, int]:
    """Heading font size -> level: the largest size 1, the next 2, ...; a size used by a single
    heading on page 1 only is the title (0) and ranks no other heading."""
    used: dict[float, list["Unit"]] = {}
    for u in units:
        if u.kind == "heading":
            used.setdefault(_size(u), []).append(u)
    titles = {size for size, us in used.items() if len(us) == 1 and us[0].page == 1 and len(used) > 1}
    ranked = sorted((s for s in used if s not in titles), reverse=True)
    levels = {s: 0 for s in titles}
    levels.update({s: i + 1 for i, s in enumerate(ranked)})
    return levels


def listing_pages(pages: list[list["Unit"]]) -> dict[int, str]:
    """Pages that are mostly contents or index entries (dot leaders and page numbers, "term, 12, 15"),
    with or without a heading saying so: page number -> TOC or INDEX."""
    out: dict[int, str] = {}
    for units in pages:
        texts = [" ".join(c.text for c in u.cells) for u in units if u.kind != "heading"]
        toc = sum(structure.is_toc_line(t) for t in texts)
        index = sum(structure.is_index_entry(t) and not structure.is_toc_line(t) for t in texts)
        if len(texts) >= 5 and toc + index >= 0.6 * len(texts):
            out[units[0].page] = structure.TOC if toc >= index else structure.INDEX
    return out


def _size(u: "Unit") -> float:
    return round(max(c.size for c in u.cells) * 2) / 2


def is_bullet_line(text: str) -> bool:
    return bool(_BULLET.match(text))


class BlockTagger:
    """Call ``kind_of(unit)`` for the first line of every paragraph, in reading order."""

    def __init__(self, levels: dict[float, int], listings: dict[int, str] | None = None) -> None:
        self.levels = levels
        self.listings = listings or {}  # listing_pages
        self.skip: tuple[str, int] | None = None  # (TOC or INDEX, the rank of the heading that opened it)
        self.bullets: list[float] = []  # x of the bullets of the open list, outermost first
        self.item_text_x: float | None = None  # where the text of the open list item starts
        self.table_rows = 0  # rows of the table being written
        self.counts: Counter[str] = Counter()

    def kind_of(self, unit: "Unit") -> tuple[str, int] | None:
        """(kind, level) of the block this paragraph starts; None when it continues the open
        list item (a paragraph indented under the item's text)."""
        text = " ".join(c.text for c in unit.cells)
        if unit.kind != "table":
            self.table_rows = 0
        if unit.kind == "heading":
            self._end_list()
            level = self.levels.get(_size(unit), 1)
            if structure.is_contents_title(text):
                self.skip = (structure.TOC, level)
                return structure.TOC, 0
            if structure.is_index_title(text):
                self.skip = (structure.INDEX, level)
                return structure.INDEX, 0
            if self.skip and level <= self.skip[1]:
                self.skip = None
            if self.skip:
                return self.skip[0], 0
            return structure.HEADING, level
        if self.skip:
            return self.skip[0], 0
        if unit.page in self.listings and unit.kind != "footnote":
            return self.listings[unit.page], 0
        if structure.is_toc_line(text):
            return structure.TOC, 0
        if unit.kind == "footnote":
            return structure.NOTE, 0
        if unit.kind == "table":
            self._end_list()
            self.table_rows += 1
            cells = [c.text for c in unit.cells]
            if self.table_rows == 1 and structure.looks_like_header(cells):
                return structure.TABLE_HEADER, 0
            return structure.TABLE_ROW, 0
        x = unit.cells[0].x0
        if _CAPS_HEADING.match(text) and len(text.split()) <= 4:
            self._end_list()
            return structure.HEADING, max(self.levels.values(), default=0) + 1
        if _OPTION.match(text) and (self.item_text_x is None or x < self.item_text_x - _INDENT_TOLERANCE):
            self.bullets[:] = [x]
            self.item_text_x = x + unit.cells[0].size
            return structure.LIST_ITEM, 1
        if is_bullet_line(text):
            while self.bullets and self.bullets[-1] > x + _INDENT_TOLERANCE:
                self.bullets.pop()
            if not self.bullets or x > self.bullets[-1] + _INDENT_TOLERANCE:
                self.bullets.append(x)
            words = unit.cells[0].words
            self.item_text_x = words[1].x0 if len(words) > 1 else None
            return structure.LIST_ITEM, len(self.bullets)
        if self.item_text_x is not None and x >= self.item_text_x - _INDENT_TOLERANCE:
            return None
        self._end_list()
        return structure.PARAGRAPH, 0

    def _end_list(self) -> None:
        self.bullets.clear()
        self.item_text_x = None
