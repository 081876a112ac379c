"""Generate test PDFs whose layout is known, so extraction can be checked against the source text.

``flow_pdf`` typesets paragraphs of a source text (word wrap, optional hyphenation of long words
at line ends) into one or two columns per page, with a running header and a page-number footer
on every page, optional footnotes in small print and an optional table. It returns, for every
word it drew, the source offsets and the page, so a test knows on which page each sentence is.

Uses fpdf2 (LGPL-3.0, test/eval only) with the DejaVu Sans font that matplotlib ships (so curly
quotes and dashes of the seed article are drawn and extracted as themselves).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PAGE_W, PAGE_H = 595.0, 842.0  # A4 in points
MARGIN = 56.0
GUTTER = 22.0
BODY_SIZE = 10.0
LEADING = 13.0
HEADER = "Journal of Generated Documents \u2014 Test Edition"


@dataclass
class Drawn:
    """What was drawn where: (source start, source end, page) for every word of the source text."""

    words: list[tuple[int, int, int]] = field(default_factory=list)
    pages: int = 0
    footnotes: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)

    def page_of(self, start: int, end: int) -> set[int]:
        return {p for s, e, p in self.words if s < end and e > start}


def _font_path() -> str:
    try:
        import matplotlib
    except ImportError:  # Debian's copy of the same font
        return "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


def new_pdf():
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(PAGE_W, PAGE_H))
    pdf.set_auto_page_break(False)
    pdf.add_font("dejavu", "", _font_path())
    pdf.set_font("dejavu", size=BODY_SIZE)
    return pdf


def flow_pdf(text: str, path: Path, columns: int = 1, hyphenate: bool = False, footnotes: dict[int, str] | None = None,
             table: list[list[str]] | None = None, header: bool = True) -> Drawn:
    """Typeset ``text`` (paragraphs separated by blank lines) into ``path``; see the module doc."""
    pdf = new_pdf()
    drawn = Drawn(table_rows=[list(r) for r in table or []])
    col_w = (PAGE_W - 2 * MARGIN - (columns - 1) * GUTTER) / columns
    state = {"col": columns, "y": 0.0, "page": 0}
    footnotes = dict(footnotes or {})

    def new_frame() -> None:
        state["col"] += 1
        if state["col"] >= columns:
            new_page()
        state["y"] = MARGIN + 20

    def new_page() -> None:
        pdf.add_page()
        state["page"] += 1
        state["col"] = 0
        drawn.pages = state["page"]
        if header:
            pdf.set_font("dejavu", size=8)
            pdf.text(MARGIN, MARGIN - 20, HEADER)
            pdf.text(PAGE_W / 2 - 10, PAGE_H - MARGIN + 24, f"Page {state['page']}")
        note = footnotes.pop(state["page"], None)
        if note:
            pdf.set_font("dejavu", size=7)
            pdf.text(MARGIN, PAGE_H - MARGIN - 4, note)
            drawn.footnotes.append(note)
        if state["page"] == 1 and table:  # at the page bottom, so the text runs on around it
            state["table_top"] = PAGE_H - MARGIN - 30 - len(table) * (LEADING + 4)
            _draw_table(pdf, table, state["table_top"])
        pdf.set_font("dejavu", size=BODY_SIZE)

    def bottom_limit() -> float:
        if state["page"] == 1 and table:
            return state["table_top"] - LEADING - 4
        return PAGE_H - MARGIN - 24  # room for a footnote line

    def x_of_column() -> float:
        return MARGIN + state["col"] * (col_w + GUTTER)

    new_frame()
    space = pdf.get_string_width(" ")
    for para in re.finditer(r"[^\n]+", text):  # every source line is a paragraph
        words = [(m.start() + para.start(), m.end() + para.start(), m.group()) for m in re.finditer(r"\S+", para.group())]
        line: list[tuple[int, int, str]] = []
        width = 0.0
        i = 0
        while i < len(words):
            s, e, w = words[i]
            ww = pdf.get_string_width(w)
            if line and width + space + ww > col_w:
                room = col_w - width - space - pdf.get_string_width("-")
                cut = _hyphen_cut(pdf, w, room) if hyphenate else 0
                if cut:
                    line.append((s, s + cut, w[:cut] + "-"))
                    words[i] = (s + cut, e, w[cut:])
                _draw_line(pdf, line, x_of_column(), state, drawn, space)
                line, width = [], 0.0
                if state["y"] > bottom_limit():
                    new_frame()
                continue
            width += (space if line else 0) + ww
            line.append((s, e, w))
            i += 1
        if line:
            _draw_line(pdf, line, x_of_column(), state, drawn, space)
        state["y"] += LEADING * 0.8  # paragraph space
        if state["y"] > bottom_limit():
            new_frame()
    pdf.output(str(path))
    return drawn


def _hyphen_cut(pdf, word: str, room: float) -> int:
    """Where to split a long lowercase-continuing word so its first part fits in ``room``; 0 for no split."""
    if len(word) < 8 or not word.isalpha():
        return 0
    for cut in range(len(word) - 3, 2, -1):
        if pdf.get_string_width(word[:cut]) <= room and word[cut].islower():
            return cut
    return 0


def _draw_line(pdf, line: list[tuple[int, int, str]], x: float, state: dict, drawn: Drawn, space: float) -> None:
    state["y"] += LEADING
    for s, e, w in line:
        pdf.text(x, state["y"], w)
        x += pdf.get_string_width(w) + space
        drawn.words.append((s, e, state["page"]))


def _draw_table(pdf, rows: list[list[str]], top: float) -> None:
    """A ruled table across the page."""
    col_w = (PAGE_W - 2 * MARGIN) / len(rows[0])
    pdf.set_font("dejavu", size=BODY_SIZE)
    y = top
    for row in rows:
        for j, cell in enumerate(row):
            pdf.rect(MARGIN + j * col_w, y, col_w, LEADING + 4)
            pdf.text(MARGIN + j * col_w + 4, y + LEADING, cell)
        y += LEADING + 4


def scanned_pdf(path: Path) -> None:
    """A page with only a drawing and no text, like a scan without OCR."""
    pdf = new_pdf()
    pdf.add_page()
    pdf.rect(100, 100, 300, 400, style="F")
    pdf.output(str(path))


def encrypted_pdf(path: Path, text: str = "A secret report.") -> None:
    pdf = new_pdf()
    pdf.set_encryption(owner_password="owner", user_password="user")
    pdf.add_page()
    pdf.text(MARGIN, 100, text)
    pdf.output(str(path))
