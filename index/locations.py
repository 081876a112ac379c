"""Where a span of a document's text is in the original file: PDF pages and boxes, DOCX paragraphs.

A loader that knows the layout (``index/pdf.py``, ``index/docx.py``) returns a location map with
the text; it is stored with the document (``DocumentEntry.locations``, plain JSON) and turned into
a :class:`Location` for any ``(start, end)`` by :func:`location_of`. Plain text and HTML have no
map, and neither do documents of indexes saved before maps existed: their citations carry no
location (``None``), which every user of a citation must accept.

Map format (JSON-able, compact because a 500-page PDF has ~250k words)::

    {"kind": "pdf", "page_sizes": [[w, h], ...],          # points, page 1 first
     "words": [[start, end, page, x0, top, x1, bottom], ...]}   # text offsets; page 1-based; points, top-left origin
    {"kind": "docx", "sections": ["Heading", ...],
     "paragraphs": [[start, end, paragraph_no, section_index or -1], ...]}
    {"kind": "html" | "markdown"}

and, in any of them, the document's structure (``index/structure.py``)::

     "blocks": [[start, end, kind, level], ...]

``words``/``paragraphs``/``blocks`` are sorted by ``start`` and do not overlap. With blocks, a
location's ``section`` is the section path ("2 Usage > 2.1 Options") of the span's start.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any

from index.structure import section_at

Box = tuple[int, float, float, float, float]  # page, x0, top, x1, bottom (points, top-left origin)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a cited span is: ``page`` is the first page, ``pages`` all of them (PDF); ``boxes`` one
    rectangle per line of the span; ``section`` the section path above it (the heading above it for
    DOCX maps without blocks) and ``paragraph`` its number (DOCX)."""

    page: int | None = None
    pages: tuple[int, ...] = ()
    boxes: tuple[Box, ...] = ()
    section: str | None = None
    paragraph: int | None = None

    def describe(self) -> str:
        """A short human label: "page 3", "pages 3–4", "“Methods”, paragraph 12"."""
        if self.pages:
            return f"page {self.pages[0]}" if len(self.pages) == 1 else f"pages {self.pages[0]}–{self.pages[-1]}"
        parts = []
        if self.section:
            parts.append(f"“{self.section}”")
        if self.paragraph is not None:
            parts.append(f"paragraph {self.paragraph}")
        return ", ".join(parts)


def location_of(entry: Any, start: int, end: int) -> Location | None:
    """The location of ``text[start:end]`` of a corpus document entry, or None without a map."""
    loc_map = getattr(entry, "locations", None)
    if not isinstance(loc_map, dict):
        return None
    section = section_at(loc_map, getattr(entry, "text", None), start)
    if loc_map.get("kind") == "pdf":
        loc = _pdf_location(loc_map, start, end)
        return replace(loc, section=section) if loc and section else loc
    if loc_map.get("kind") == "docx":
        loc = _docx_location(loc_map, start, end)
        return replace(loc, section=section) if loc and section else loc
    return Location(section=section) if section else None


def _overlapping(rows: list[list], start: int, end: int) -> list[list]:
    """Rows [s, e, ...] (sorted by s, disjoint) that overlap [start, end)."""
    i = max(bisect.bisect_right(rows, start, key=lambda r: r[0]) - 1, 0)
    out = []
    while i < len(rows) and rows[i][0] < end:
        if rows[i][1] > start:
            out.append(rows[i])
        i += 1
    return out


def _pdf_location(loc_map: dict, start: int, end: int) -> Location | None:
    words = _overlapping(loc_map.get("words", []), start, end)
    if not words:
        return None
    boxes: list[list] = []
    for _, _, page, x0, top, x1, bottom in words:
        last = boxes[-1] if boxes else None
        # Words of one line share a page and overlap vertically: merge them into one rectangle.
        if last and last[0] == page and top < last[4] and bottom > last[2] and x0 >= last[1]:
            last[3], last[2], last[4] = max(last[3], x1), min(last[2], top), max(last[4], bottom)
        else:
            boxes.append([page, x0, top, x1, bottom])
    pages = tuple(sorted({b[0] for b in boxes}))
    return Location(page=words[0][2], pages=pages, boxes=tuple(tuple(b) for b in boxes))


def _docx_location(loc_map: dict, start: int, end: int) -> Location | None:
    paras = _overlapping(loc_map.get("paragraphs", []), start, end)
    if not paras:
        return None
    _, _, number, section = paras[0]
    sections = loc_map.get("sections", [])
    return Location(section=sections[section] if 0 <= section < len(sections) else None, paragraph=number)
