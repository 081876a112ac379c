"""Reading order of PDF words -> document text plus a word map (page and box of every word).

1. words -> line segments (split at gaps wider than a column gutter or a table cell gap; the
   equal wide spaces of a justified line are no such gap);
2. running headers/footers (a margin line repeated on most pages, digits ignored) and lone page
   numbers are dropped; small-print lines at the page bottom are footnotes;
3. a page with a vertical gutter that no text line crosses is read left column then right column,
   in bands separated by full-width lines (a title above two columns, a table row);
4. lines are joined into paragraphs: a line-end hyphen is removed (kept when the document also
   writes that compound with its hyphen), and a paragraph that runs on across a column or page
   boundary stays one paragraph. Footnotes and tables are emitted after the paragraph they
   interrupted, so no sentence is cut or glued across them. Table rows become one line each,
   cells separated by a tab; a wrapped line of a cell (an option's long description) joins its cell.
5. every paragraph's block kind (heading and level, list item, table row, contents, index, ...)
   comes from ``index/pdf_structure.py`` and goes into the location map's ``"blocks"``.

Input: ``PageWords`` per page from ``index/pdf.py``; output: ``assemble`` -> (text, location map
of ``index/locations.py``).
"""

from __future__ import annotations

import re
import statistics

import numpy as np

from index import structure
from index.pdf_structure import BlockTagger, heading_levels, is_bullet_line, listing_pages
from index.pdf_words import BOLD_WEIGHT, PageWords, Segment, Unit, Word

_SEGMENT_GAP_EM = 1.0  # a gap wider than this (in font sizes) inside a line separates columns or table cells
_CELL_GAP_EM = 4.0  # ... and always one this wide, even when every gap of the line is (a table row)
_MARGIN = 0.1  # the top and bottom tenth of a page hold running headers and footers
_REPEATED_ON = 0.5  # a margin line on at least this share of the pages is a running header/footer
_SMALL_PRINT = 0.85  # footnotes are set at most this size of the body text
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[-\u2013\u2014(\[]?\s*(?:\d{1,4}|[ivxlcdm]{1,6})\s*[-\u2013\u2014)\]]?"
                          r"(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
_SENTENCE_END = ('.', '!', '?', ':', '"', '\u201d', '\u2019', ')')
_HYPHENS = ("-", "\u00ad", "\u2010")


def segments(words: list[Word]) -> list[Segment]:
    """Group words into lines (by vertical centre), then split each line at wide gaps."""
    lines: list[list[Word]] = []
    for w in sorted(words, key=lambda w: ((w.top + w.bottom) / 2, w.x0)):
        centre = (w.top + w.bottom) / 2
        if lines:
            last = lines[-1]
            lc = sum((x.top + x.bottom) / 2 for x in last) / len(last)
            if abs(centre - lc) < 0.35 * max(w.size, last[0].size):
                last.append(w)
                continue
        lines.append([w])
    segments: list[Segment] = []
    for line in lines:
        line.sort(key=lambda w: w.x0)
        gaps = [b.x0 - a.x1 for a, b in zip(line, line[1:])]
        usual = statistics.median(gaps) if gaps else 0.0
        seg = [line[0]]
        for w, gap in zip(line[1:], gaps):
            em = max(w.size, seg[-1].size)
            # Justified text stretches every space of a line alike: a gutter or a cell gap is
            # wider than the line's usual space, or wider than any justified space.
            if gap > _SEGMENT_GAP_EM * em and (gap > 2 * usual or gap > _CELL_GAP_EM * em):
                segments.append(Segment(seg))
                seg = []
            seg.append(w)
        segments.append(Segment(seg))
    return segments


def _drop_running_lines(pages: list[PageWords]) -> None:
    """Remove repeated margin lines (headers/footers) and lone page numbers in the margins."""
    def in_margin(p: PageWords, s: Segment) -> bool:
        return s.bottom < p.height * _MARGIN or s.top > p.height * (1 - _MARGIN)

    def key(s: Segment) -> str:
        return re.sub(r"\d+", "#", s.text.lower())

    seen: dict[str, set[int]] = {}
    for p in pages:
        for s in p.segments:
            if in_margin(p, s):
                seen.setdefault(key(s), set()).add(p.number)
    threshold = max(2, _REPEATED_ON * len(pages))
    for p in pages:
        p.segments = [s for s in p.segments
                      if not (in_margin(p, s) and (len(seen[key(s)]) >= threshold or _PAGE_NUMBER.match(s.text)))]


def _mark_footnotes(page: PageWords, body_size: float) -> None:
    """Small print at the bottom of the page, below all body-size text, is footnotes."""
    for s in sorted(page.segments, key=lambda s: -s.top):
        if s.size < _SMALL_PRINT * body_size and s.top > page.height * 0.5:
            s.kind = "footnote"
        else:
            break


def _gutter(page: PageWords, segs: list[Segment]) -> float | None:
    """The x of a column gutter: a vertical line near the middle that few text lines cross, with
    several wide lines (text columns, not table cells) on each side; None for one column."""
    if not segs:
        return None
    xs = np.arange(page.width * 0.3, page.width * 0.7, 2.0)
    x0 = np.array([s.x0 for s in segs])[:, None]
    x1 = np.array([s.x1 for s in segs])[:, None]
    crossings = ((x0 < xs) & (xs < x1)).sum(axis=0)
    # The fewest crossings, and of those the x closest to the middle of the page.
    best = min(range(len(xs)), key=lambda i: (crossings[i], abs(xs[i] - page.width / 2)))
    crossing, x = int(crossings[best]), float(xs[best])
    left = [s.x1 - s.x0 for s in segs if s.x1 <= x]
    right = [s.x1 - s.x0 for s in segs if s.x0 >= x]
    if (len(left) >= 3 and len(right) >= 3 and crossing <= 0.2 * len(segs)
            and statistics.median(left) > 0.25 * page.width and statistics.median(right) > 0.25 * page.width):
        return x
    return None


def _page_units(page: PageWords, body_size: float) -> tuple[list[Unit], list[Unit]]:
    """(body units in reading order, footnote units) of one page."""
    body = [s for s in page.segments if s.kind == "body"]
    notes = [s for s in page.segments if s.kind == "footnote"]
    # A line of three or more segments across most of the page is a table row: it spans the
    # columns and is read across.
    table = {id(s) for line in _same_line(body)
             if len(line) >= 3 and max(s.x1 for s in line) - min(s.x0 for s in line) > 0.6 * page.width for s in line}
    gutter = _gutter(page, [s for s in body if id(s) not in table])
    ordered: list[tuple[int, Segment]] = []  # (column, segment): 0 full width / single column, 1 left, 2 right
    if gutter is None:
        ordered = [(0, s) for s in _reading_order(body)]
    else:
        band: list[Segment] = []

        def flush_band() -> None:
            ordered.extend((1, s) for s in _reading_order(s for s in band if s.x1 <= gutter))
            ordered.extend((2, s) for s in _reading_order(s for s in band if s.x1 > gutter))
            band.clear()

        for s in sorted(body, key=lambda s: (s.top, s.x0)):
            if s.x0 < gutter < s.x1 or id(s) in table:
                flush_band()
                ordered.append((0, s))
            else:
                band.append(s)
        flush_band()
    return _rows(page, ordered, body_size), _rows(page, [(0, s) for s in sorted(notes, key=lambda s: (s.top, s.x0))],
                                                  body_size, "footnote")


def _same_line(segs: list[Segment]) -> list[list[Segment]]:
    """Segments grouped into lines, top to bottom, each line left to right (the tops of one line's
    segments differ by a fraction of a point with their glyphs: a table row's cells must not swap)."""
    lines: list[list[Segment]] = []
    for s in sorted(segs, key=lambda s: (s.top, s.x0)):
        if lines and abs(s.top - lines[-1][0].top) < 0.35 * s.size:
            lines[-1].append(s)
        else:
            lines.append([s])
    return [sorted(line, key=lambda s: s.x0) for line in lines]


def _reading_order(segs) -> list[Segment]:
    return [s for line in _same_line(list(segs)) for s in line]


RELATIVE_BOLD = 1.15  # a weight this much above the body text's median is bold (see _mark_bold)
_NUMBERED = re.compile(r"^(?:\d+\.)+\d+\.?\s+\S")  # "2.1 Options", "4.3.2. Limits": a subsection's number


def _is_heading(s: Segment, body_size: float) -> bool:
    """A line set clearly larger than the body text; or a short bold line, slightly larger or numbered
    as a subsection ("1.1 Limits" in LaTeX's 12 pt bold over 11 pt text), that ends no sentence."""
    if s.size > 1.15 * body_size:
        return True
    short = len(s.words) <= 12 and not s.text.endswith((".", ",", ";"))
    return s.bold and short and (s.size > 1.05 * body_size or bool(_NUMBERED.match(s.text)))


def _rows(page: PageWords, ordered: list[tuple[int, Segment]], body_size: float, kind: str = "body") -> list[Unit]:
    """Segments of one column on one line form a row: a table row when there are several."""
    extent: dict[int, tuple[float, float]] = {}
    for col, s in ordered:
        lo, hi = extent.get(col, (s.x0, s.x1))
        extent[col] = (min(lo, s.x0), max(hi, s.x1))
    units: list[Unit] = []
    for col, s in ordered:
        last = units[-1] if units else None
        if last and last.column == col and abs(s.top - last.cells[-1].top) < 0.35 * s.size:
            last.cells.append(s)
            last.kind = "table"
            continue
        lo, hi = extent[col]
        k = "heading" if kind == "body" and _is_heading(s, body_size) else kind
        if (last and last.kind == "table" and last.column == col and k == "body"
                and 0 <= s.top - last.cells[-1].bottom < 0.8 * s.size):
            cell = next((j for j, c in enumerate(last.cells) if j and abs(c.x0 - s.x0) < 0.5 * s.size), None)
            if cell is not None:  # a wrapped line of a cell: it joins the cell
                last.cells[cell] = Segment(last.cells[cell].words + s.words, last.cells[cell].kind)
                continue
        units.append(Unit([s], page.number, col, hi, hi - lo, kind=k))
    gaps: dict[int, list[float]] = {}
    for a, b in zip(units, units[1:]):
        gap = b.cells[0].top - a.cells[-1].bottom
        if a.column == b.column and -0.5 * a.cells[-1].size < gap < a.cells[-1].size:
            gaps.setdefault(a.column, []).append(gap)
    for u in units:
        u.line_gap = statistics.median(gaps[u.column]) if len(gaps.get(u.column, ())) >= 3 else None
    return units


class _Writer:
    """Appends words to the text and records each word's offsets and box."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.words: list[list] = []
        self.blocks: list[list] = []  # [start, end, kind, level] (index/structure.py)
        self.lines: list[int] = []  # per block: its lines
        self.bold: list[bool] = []  # per block: every word of it is bold
        self.linked: list[bool] = []  # per block: every word of it (but a list marker) links within the document

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.pos += len(text)

    def start_block(self, kind_level: tuple[str, int] | None) -> None:
        """A paragraph starts here: a new block, or (None) more of the open one."""
        if kind_level is not None or not self.blocks:
            kind, level = kind_level or ("paragraph", 0)
            self.blocks.append([self.pos, self.pos, kind, level])
            self.lines.append(0)
            self.bold.append(True)
            self.linked.append(True)

    def word(self, w: Word) -> None:
        self.words.append([self.pos, self.pos + len(w.text), w.page,
                           round(w.x0, 1), round(w.top, 1), round(w.x1, 1), round(w.bottom, 1)])
        self.put(w.text)
        if self.blocks:
            self.blocks[-1][1] = self.pos

    def drop_hyphen(self) -> None:
        self.parts[-1] = self.parts[-1][:-1]
        self.pos -= 1
        self.words[-1][1] -= 1
        if self.blocks and self.blocks[-1][1] > self.pos:
            self.blocks[-1][1] = self.pos

    def line(self, unit: Unit) -> None:
        if self.blocks:
            self.lines[-1] += 1
            self.bold[-1] = self.bold[-1] and all(c.bold for c in unit.cells)
            self.linked[-1] = self.linked[-1] and all(w.link or structure.is_list_marker(w.text)
                                                      for c in unit.cells for w in c.words)
        for i, cell in enumerate(unit.cells):
            if i:
                self.put("\t")
            for j, w in enumerate(cell.words):
                if j:
                    self.put(" ")
                self.word(w)


def _ends_paragraph(prev: Unit, nxt: Unit) -> bool:
    """Whether a paragraph ends between two consecutive body lines."""
    last, first = prev.cells[-1], nxt.cells[0]
    if prev.kind == nxt.kind == "heading" and prev.page == nxt.page and abs(last.size - first.size) < 0.5:
        return not (0 <= first.top - last.bottom < 0.6 * last.size)  # a heading set on two lines
    if prev.kind != "body" or nxt.kind != "body" or is_bullet_line(first.text):
        return True
    short = last.x1 < prev.column_right - 0.15 * prev.column_width
    if short and last.text.endswith(_SENTENCE_END):
        return True
    # A line ending before 60% of the column is no line break of running text (the next word
    # would have fitted), so a capital after it starts a paragraph ("PRAGMA x=1;" then "The ...").
    if last.x1 < prev.column_right - 0.4 * prev.column_width and first.text[:1].isupper():
        return True
    if prev.page == nxt.page and prev.column == nxt.column:
        gap = first.top - last.bottom
        # Paragraph spacing: more space than between the other lines of the column (when there
        # are enough of them to tell), else more than 0.6 of a line.
        wide = gap > prev.line_gap + 0.25 * last.size if prev.line_gap is not None else gap > 0.6 * (last.bottom - last.top)
        return wide or gap < -0.5 * last.size or first.x0 > last.x0 + 2 * last.size
    return False  # a paragraph that runs on into the next column or page


def _hyphenated(prev: Unit, nxt: Unit, vocabulary: set[str]) -> str | None:
    """How to join a line ending in a hyphen to the next: "drop" the hyphen (a word broken by
    hyphenation), "keep" it without a space (a compound the document also writes with a hyphen
    mid-line, "write-ahead"), or None (no hyphenation here)."""
    end, start = prev.cells[-1].words[-1].text, nxt.cells[0].words[0].text
    # A lowercase continuation, or capitals continuing capitals ("DATA-" "BASE").
    continues = start[:1].islower() or (end[:-1].isupper() and start[:1].isupper())
    if not (len(end) > 2 and end.endswith(_HYPHENS) and end[-2].isalpha() and continues):
        return None
    compound = _bare(end + start)
    return "keep" if compound in vocabulary and _bare(end[:-1] + start) not in vocabulary else "drop"


def _bare(word: str) -> str:
    return word.strip(".,;:!?()[]\"'\u201c\u201d\u2018\u2019").lower()


def _join(out: "_Writer", prev: Unit, nxt: Unit, vocabulary: set[str]) -> None:
    """Join two lines of one paragraph: a space, or undo the hyphenation of a word."""
    how = _hyphenated(prev, nxt, vocabulary)
    if how == "drop":
        out.drop_hyphen()
    elif how is None:
        out.put(" ")


def _mark_bold(pages: list[PageWords]) -> None:
    """Bold against the document's body weight as well as absolutely: PDFium reads the font weight a PDF declares,
    and Chromium's printed pages declare 340 for regular and 415 for bold text, where TeX's read 345 and 545."""
    weights = [w.weight for p in pages for s in p.segments for w in s.words if w.weight > 0 for _ in w.text]
    if not weights:
        return
    bold_from = min(BOLD_WEIGHT, RELATIVE_BOLD * statistics.median(weights))
    for p in pages:
        for s in p.segments:
            s.bold = all(w.weight >= bold_from for w in s.words)


def _retag_blocks(out: _Writer, text: str) -> None:
    """Paragraphs and list items that are titles or contents entries by what is known only once they are written:
    one bold line at body size that reads as a title (``structure.is_run_in_heading``: "Embedded devices and the
    internet of things" over its paragraph) is a heading a level below the last heading; one whose every word links
    to a place in the document is a contents entry, like the HTML rule (``index/loaders.py``)."""
    level = 0
    for b, lines, bold, linked in zip(out.blocks, out.lines, out.bold, out.linked):
        if b[2] == structure.HEADING:
            level = b[3]
        elif b[2] not in (structure.PARAGRAPH, structure.LIST_ITEM) or not lines:
            continue
        elif linked:
            b[2], b[3] = structure.TOC, 0
        elif lines == 1 and bold and structure.is_run_in_heading(text[b[0] : b[1]]):
            b[2], b[3] = structure.HEADING, min(6, level + 1)


def assemble(pages: list[PageWords]) -> tuple[str, dict]:
    _drop_running_lines(pages)
    sizes = [w.size for p in pages for s in p.segments for w in s.words for _ in w.text]
    body_size = statistics.median(sizes) if sizes else 10.0
    _mark_bold(pages)
    for p in pages:
        _mark_footnotes(p, body_size)
    # Words written whole somewhere in the document tell a compound ("write-ahead") from a word
    # that hyphenation broke ("infor-mation"). A line's last word is not whole, so it is left out.
    vocabulary = {_bare(w.text) for p in pages for s in p.segments for w in s.words[:-1]}
    out = _Writer()
    laid_out = [_page_units(p, body_size) for p in pages]
    listings = listing_pages([units for units, _ in laid_out if units])
    tagger = BlockTagger(heading_levels([u for units, _ in laid_out for u in units]), listings)
    prev: Unit | None = None
    # Footnotes and tables that interrupt a paragraph are floats: written after that paragraph ends.
    floats: list[Unit] = []

    def write_floats() -> None:
        before: Unit | None = None
        for unit in floats:
            starts_note = bool(re.match(r"^[\d*\u2020\u2021]", unit.cells[0].text))
            if before is None or before.kind != unit.kind or (unit.kind == "footnote" and starts_note):
                out.put("\n\n")
                out.start_block(tagger.kind_of(unit))
            elif unit.kind == "table":
                out.put("\n")
                out.start_block(tagger.kind_of(unit))
            else:
                _join(out, before, unit, vocabulary)
            out.line(unit)
            before = unit
        floats.clear()

    for units, notes in laid_out:
        for unit in units:
            # A table amid a sentence (text set around it) waits for the paragraph's end.
            if (unit.kind == "table" and prev is not None and prev.kind == "body"
                    and not prev.cells[-1].text.endswith(_SENTENCE_END)):
                floats.append(unit)
                continue
            if prev is None:
                out.start_block(tagger.kind_of(unit))
            elif _ends_paragraph(prev, unit) or unit.page in listings or prev.page in listings:  # a listing: a line each
                write_floats()
                out.put("\n" if prev.kind == unit.kind == "table" else "\n\n")
                out.start_block(tagger.kind_of(unit))
            else:
                _join(out, prev, unit, vocabulary)
            out.line(unit)
            prev = unit
        floats.extend(notes)
    write_floats()
    text = "".join(out.parts)
    _retag_blocks(out, text)
    # Footnotes written first (an empty first page of body text) leave a leading break.
    lead = len(text) - len(text.lstrip("\n"))
    if lead:
        text = text[lead:]
        for w in (*out.words, *out.blocks):
            w[0] = max(0, w[0] - lead)
            w[1] = max(0, w[1] - lead)
    out.words.sort(key=lambda w: w[0])
    blocks = sorted((b for b in out.blocks if b[1] > b[0]), key=lambda b: b[0])
    return text, {"kind": "pdf", "page_sizes": [[round(p.width, 1), round(p.height, 1)] for p in pages],
                  "words": out.words, "blocks": blocks}
