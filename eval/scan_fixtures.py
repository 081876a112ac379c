"""Generate scanned pages whose text is known, so OCR can be checked against it.

``scan_pages`` draws paragraphs of a source text onto page images (Pillow, DejaVu Serif from
Debian's fonts-dejavu-core or matplotlib's DejaVu Sans), in one or two columns, then degrades them
like a scan: a small rotation and a Gaussian blur. It returns the page images and, per page, the
text drawn on it in reading order (the reference for the character error rate). ``image_pdf``
saves pages as an image-only PDF (no text layer), ``mixed_pdf`` one typeset text page then
scanned pages.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

A4_IN = (8.27, 11.69)
_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclass
class Scan:
    pages: list[Image.Image] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # per page: the words drawn, paragraphs separated by "\n\n"
    dpi: int = 200


def _font(size_px: int) -> ImageFont.FreeTypeFont:
    for path in _FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size_px)
    from eval.pdf_fixtures import _font_path

    return ImageFont.truetype(_font_path(), size_px)


def scan_pages(text: str, dpi: int = 200, columns: int = 1, rotate: float = 1.5, blur: float = 0.8,
               size_pt: float = 10.0, headline: str | None = None, max_pages: int = 50) -> Scan:
    """Draw ``text`` (paragraphs separated by blank lines) onto A4 pages; see the module doc.
    ``headline``: a first line in twice the size across the columns."""
    width, height = int(A4_IN[0] * dpi), int(A4_IN[1] * dpi)
    margin, gutter = int(0.8 * dpi), int(0.3 * dpi)
    col_w = (width - 2 * margin - (columns - 1) * gutter) // columns
    font = _font(round(size_pt * dpi / 72))
    leading = round(size_pt * 1.4 * dpi / 72)
    scan = Scan(dpi=dpi)
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    lines: list[tuple[str, bool]] = []  # (line, last line of its paragraph)
    for para in paragraphs:
        line = ""
        for word in para.split():
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > col_w:
                lines.append((line, False))
                line = word
            else:
                line = candidate
        lines.append((line, True))
    while lines and len(scan.pages) < max_pages:
        image = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(image)
        drawn: list[str] = []
        top = margin
        if headline and not scan.pages:
            big = _font(round(2 * size_pt * dpi / 72))
            draw.text((margin, top), headline, font=big, fill=0)
            drawn.append(headline + "\n\n")
            top += 3 * leading
        for col in range(columns):
            x, y = margin + col * (col_w + gutter), top
            while lines and y + leading <= height - margin:
                line, last = lines.pop(0)
                draw.text((x, y), line, font=font, fill=0)
                drawn.append(line + ("\n\n" if last else " "))
                y += leading + (leading // 2 if last else 0)
        image = image.rotate(rotate, resample=Image.BICUBIC, fillcolor=255)
        scan.pages.append(image.filter(ImageFilter.GaussianBlur(blur)) if blur else image)
        scan.texts.append("".join(drawn).strip())
    return scan


def image_pdf(pages: list[Image.Image], path: Path, dpi: int) -> None:
    """An image-only PDF: each page one JPEG at ``dpi``, no text layer."""
    pages[0].convert("RGB").save(path, "PDF", resolution=dpi, save_all=True,
                                 append_images=[p.convert("RGB") for p in pages[1:]])


def mixed_pdf(text_page: str, scanned: list[Image.Image], path: Path, dpi: int) -> None:
    """Page 1 typeset with a text layer (fpdf2), then the scanned pages as images only."""
    from eval.pdf_fixtures import PAGE_H, PAGE_W, new_pdf

    pdf = new_pdf()
    pdf.add_page()
    pdf.set_xy(56, 56)
    pdf.multi_cell(PAGE_W - 112, 13, text_page)
    for image in scanned:
        pdf.add_page()
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="JPEG", quality=90)
        pdf.image(buf, x=0, y=0, w=PAGE_W, h=PAGE_H)
    pdf.output(str(path))


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over the reference length, whitespace runs counted as one space."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))
