"""The geometry types of a PDF page's text: words, line segments, placed units, pages.

Their own module so that reading (``index/pdf.py``, ``index/ocr.py``), layout (``index/pdf_layout.py``)
and block tagging (``index/pdf_structure.py``) share them without importing each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Word:
    text: str
    page: int
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    weight: int = 0  # PDFium's font weight of its first character (400 regular, 700 bold); 0 unknown (OCR)
    link: bool = False  # inside a link to a place in the same document (a clickable contents entry)


BOLD_WEIGHT = 500  # TeX's bold Computer Modern (CMBX) reads as 545, its regular (CMR) as 345


@dataclass
class Segment:
    """Words on one line with no wide gap between them."""

    words: list[Word]
    kind: str = "body"  # body | footnote
    # Computed once: the layout steps read them many times.
    x0: float = field(init=False)
    x1: float = field(init=False)
    top: float = field(init=False)
    bottom: float = field(init=False)
    size: float = field(init=False)
    text: str = field(init=False)
    bold: bool = field(init=False)  # every word is set in a bold font

    def __post_init__(self) -> None:
        self.x0, self.x1 = self.words[0].x0, self.words[-1].x1
        self.top, self.bottom = min(w.top for w in self.words), max(w.bottom for w in self.words)
        self.size = max(w.size for w in self.words)
        self.text = " ".join(w.text for w in self.words)
        self.bold = all(w.weight >= BOLD_WEIGHT for w in self.words)


@dataclass
class Unit:
    """What is placed in the text as one line: a text line, or a table row of several cells."""

    cells: list[Segment]
    page: int
    column: int
    column_right: float
    column_width: float
    line_gap: float | None = None  # the usual space between two lines of this column and page
    kind: str = "body"  # body | table | heading | footnote


@dataclass
class PageWords:
    number: int
    width: float
    height: float
    segments: list[Segment] = field(default_factory=list)
