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


# ------------------------------------------------------------------ a texinfo-like software manual
MANUAL_HEADINGS = [("1 Introduction", 1), ("1.1 Thread safety", 2), ("2 Invoking lztool", 1), ("2.1 Options", 2),
                   ("3 Library functions", 1)]
MANUAL_OPTIONS = [("-b, --benchmark", "perform a benchmark on decoding"),
                  ("-c, --stdout", "write to standard output and keep the input files"),
                  ("-d, --decompress", "decompress the named files; the compressed file is removed unless the "
                                       "option --keep is given as well"),
                  ("-h, --help", "display this help and exit"),
                  ("-q, --quiet", "suppress all warnings")]
MANUAL_PROPERTIES = [("Thread-safety.", "No global variables are used; every function keeps its state in the "
                                        "lz_stream structure given to it."),
                     ("Streaming.", "Data is compressed in blocks of any size, so a pipe works as well as a file.")]
MANUAL_LEAD_IN = "The library has the following properties:"
MANUAL_TOC = [("1 Introduction", 2), ("1.1 Thread safety", 2), ("2 Invoking lztool", 3), ("2.1 Options", 3),
              ("3 Library functions", 3), ("Concept index", 4)]
MANUAL_INDEX = [("benchmark", 3), ("compression level", 3), ("decompression", 3), ("global variables", 2),
                ("lz_decode", 3), ("options", 3), ("pipes", 2), ("standard output", 3), ("streaming", 2),
                ("thread safety", 2)]
MANUAL_SIGNATURE = "int lz_decode (lz_stream *strm, int flags)"


@dataclass
class Manual:
    """What ``manual_pdf`` drew: its structure, for tests to check the extracted blocks against."""

    pages: int
    headings: list[tuple[str, int]]
    options: list[tuple[str, str]]
    properties: list[tuple[str, str]]
    lead_in: str
    toc_lines: int
    index_lines: int
    signature: str
    # sentence (or its start) -> the section path it is under
    sections: dict[str, str] = field(default_factory=dict)


def manual_pdf(path: Path) -> Manual:
    """A texinfo-style manual: a title page; contents with dot leaders; chapters and sections with
    numbered headings; a lead-in ":" and a bulleted list whose items have a head and an indented
    body; an option table (option in a monospaced font, description wrapped in a second column);
    a function signature with its category set flush right (``@deffn``); a two-column concept index
    with dot leaders; a page number at the foot of every page."""
    from fpdf import FPDF

    mono = str(Path(_font_path()).with_name("DejaVuSansMono.ttf"))
    pdf = FPDF(unit="pt", format=(PAGE_W, PAGE_H))
    pdf.set_auto_page_break(False)
    pdf.add_font("dejavu", "", _font_path())
    pdf.add_font("mono", "", mono)
    state = {"y": MARGIN, "page": 0}
    right = PAGE_W - MARGIN
    sections: dict[str, str] = {}
    path_now: list[tuple[int, str]] = []

    def new_page() -> None:
        pdf.add_page()
        state["page"] += 1
        state["y"] = MARGIN + 10
        pdf.set_font("dejavu", size=9)
        number = str(state["page"])
        pdf.text(PAGE_W / 2 - pdf.get_string_width(number) / 2, PAGE_H - MARGIN + 24, number)

    def words_in(text: str, x: float, width: float, font: str = "dejavu", size: float = BODY_SIZE,
                 lead: float = LEADING, first_x: float | None = None) -> None:
        pdf.set_font(font, size=size)
        space = pdf.get_string_width(" ")
        line: list[str] = []
        lx = x if first_x is None else first_x
        for w in text.split():
            if line and pdf.get_string_width(" ".join(line + [w])) > width - (lx - x):
                state["y"] += lead
                pdf.text(lx, state["y"], " ".join(line))
                line, lx = [], x
            line.append(w)
        if line:
            state["y"] += lead
            pdf.text(lx, state["y"], " ".join(line))
        del space

    def heading(text: str, level: int) -> None:
        size = {1: 16, 2: 13}[level]
        state["y"] += 10
        words_in(text, MARGIN, right - MARGIN, size=size, lead=size + 4)
        state["y"] += 6
        while path_now and path_now[-1][0] >= level:
            path_now.pop()
        path_now.append((level, text))

    def para(text: str, x: float = MARGIN) -> None:
        words_in(text, x, right - x)
        state["y"] += LEADING * 0.7
        for sentence in re.split(r"(?<=[.:])\s+", text):
            sections[sentence] = " > ".join(t for _, t in path_now)

    def leaders(title: str, number: int, x: float) -> None:
        pdf.set_font("dejavu", size=BODY_SIZE)
        state["y"] += LEADING + 2
        pdf.text(x, state["y"], title)
        end = x + pdf.get_string_width(title) + 6
        num = str(number)
        nx = right - pdf.get_string_width(num)
        dots = ""
        while pdf.get_string_width(dots + " .") < nx - end - 8:
            dots += " ."
        pdf.text(end, state["y"], dots.strip())
        pdf.text(nx, state["y"], num)

    # page 1: title
    new_page()
    pdf.set_font("dejavu", size=24)
    pdf.text(MARGIN, 200, "The lztool Manual")
    pdf.set_font("dejavu", size=12)
    pdf.text(MARGIN, 230, "Compressing data in streams, version 1.4")
    # page 2: contents
    new_page()
    heading("Table of Contents", 1)
    path_now.clear()
    for title, number in MANUAL_TOC:
        leaders(title, number, MARGIN + (12 if "." in title.split()[0] else 0))
    # page 3: chapter 1
    new_page()
    heading(*MANUAL_HEADINGS[0])
    para("lztool compresses and decompresses data in the lz format. This manual describes the command-line "
         "tool and the library that it is built on.")
    heading(*MANUAL_HEADINGS[1])
    para(MANUAL_LEAD_IN)
    for head, body in MANUAL_PROPERTIES:
        pdf.set_font("dejavu", size=BODY_SIZE)
        state["y"] += LEADING
        pdf.text(MARGIN + 10, state["y"], "\u2022")
        pdf.text(MARGIN + 22, state["y"], head)
        state["y"] += 3
        words_in(body, MARGIN + 22, right - MARGIN - 22)
        state["y"] += 4
        sections[head] = sections[body] = " > ".join(t for _, t in path_now)
    state["y"] += 6
    para("Programs that share one lz_stream between threads must lock it themselves.")
    # page 4: chapter 2 with the option table
    new_page()
    heading(*MANUAL_HEADINGS[2])
    para("Usage: lztool [option]... [file]...")
    heading(*MANUAL_HEADINGS[3])
    para("The options are:")
    desc_x = MARGIN + 130
    for option, description in MANUAL_OPTIONS:
        pdf.set_font("mono", size=BODY_SIZE)
        pdf.text(MARGIN, state["y"] + LEADING, option)
        words_in(description, desc_x, right - desc_x)
        state["y"] += 4
        sections[option] = " > ".join(t for _, t in path_now)
    state["y"] += 6
    para("Options may be given in any order.")
    # page 5: a function in texinfo's @deffn style
    new_page()
    heading(*MANUAL_HEADINGS[4])
    pdf.set_font("mono", size=BODY_SIZE)
    state["y"] += LEADING
    pdf.text(MARGIN, state["y"], MANUAL_SIGNATURE)
    pdf.set_font("dejavu", size=BODY_SIZE)
    pdf.text(right - pdf.get_string_width("[Function]"), state["y"], "[Function]")
    state["y"] += 4
    para("Decodes the next block of the stream and returns the number of bytes written, or a negative "
         "error code.", x=MARGIN + 24)
    # page 6: the index, two columns
    new_page()
    heading("Concept index", 1)
    path_now.clear()
    top = state["y"]
    half = len(MANUAL_INDEX) // 2
    col_w = (right - MARGIN - GUTTER) / 2
    for k, (term, number) in enumerate(MANUAL_INDEX):
        if k == half:
            state["y"] = top
        x0 = MARGIN if k < half else MARGIN + col_w + GUTTER
        pdf.set_font("dejavu", size=BODY_SIZE)
        state["y"] += LEADING + 2
        pdf.text(x0, state["y"], term)
        num = str(number)
        nx = x0 + col_w - pdf.get_string_width(num)
        end = x0 + pdf.get_string_width(term) + 6
        dots = ""
        while pdf.get_string_width(dots + " .") < nx - end - 8:
            dots += " ."
        pdf.text(end, state["y"], dots.strip())
        pdf.text(nx, state["y"], num)
    pdf.output(str(path))
    return Manual(state["page"], MANUAL_HEADINGS, MANUAL_OPTIONS, MANUAL_PROPERTIES, MANUAL_LEAD_IN,
                  len(MANUAL_TOC), len(MANUAL_INDEX), MANUAL_SIGNATURE, sections)
