"""PDF text layer -> document text plus a word map (page and box of every word).

Library: pypdfium2 (PDFium, Apache-2.0/BSD-3; a binary wheel, no system packages). It gives each
character with its box and font size, fast (see eval/README.md "PDF and DOCX ingestion" for the
measurement against pypdf, pdfminer.six and pdfplumber), and renders pages for the chat's page view.
This module reads the words and their boxes; PDFium lists them in content-stream order, which is
not reading order, so ``index/pdf_layout.py`` rebuilds the reading order from their geometry.
Pages without text but with an image (scans) are read by OCR (``index/ocr.py``).

PDFium is not thread-safe, so every call into it holds ``index.pdfium.PDFIUM_LOCK``.
"""

from __future__ import annotations

from index.errors import IngestError
from index.pdf_layout import assemble, segments
from index.pdf_words import PageWords, Word
from index.pdfium import PDFIUM_LOCK, open_pdf

MAX_PDF_PAGES = 2_000  # a book; more takes minutes to embed on 2 cores
MAX_PDF_CHARS = 5_000_000  # about the 10 MB text limit of other documents
MAX_LINKS_PER_PAGE = 1_000  # a contents page has a few hundred; a hostile page's millions would cost minutes
_UNMAPPED = "\ufffc"  # stands for a glyph PDFium reads as a C1 control code, until the word is known


def extract_pdf(data: bytes, name: str) -> tuple[str, dict]:
    """(text, location map) of a PDF, or IngestError saying why not."""
    import pypdfium2 as pdfium

    pages: list[PageWords] = []
    with PDFIUM_LOCK:
        pdf = open_pdf(data, name)
        try:
            n_pages = len(pdf)
            if n_pages > MAX_PDF_PAGES:
                raise IngestError(f"{name}: {n_pages:,} pages is over the limit of {MAX_PDF_PAGES:,} pages per PDF; split it")
            chars = 0
            scanned: list[int] = []  # pages that are images without text: read by OCR
            for i in range(n_pages):
                try:
                    page = pdf[i]
                    width, height = page.get_size()
                    words = _page_words(page, i + 1, height)
                    _mark_links(words, _in_document_links(pdf, page, height))
                    if not words and _has_image(page):
                        scanned.append(i + 1)
                    page.close()
                except pdfium.PdfiumError:
                    raise IngestError(f"{name}: page {i + 1} of the PDF is damaged and cannot be read") from None
                chars += sum(len(w.text) for w in words)
                if chars > MAX_PDF_CHARS:
                    raise IngestError(f"{name}: over {MAX_PDF_CHARS:,} characters of text (limit per document); split it")
                pages.append(PageWords(i + 1, width, height, segments(words)))
        finally:
            pdf.close()
    if scanned:
        from index.ocr import read_scanned_pdf  # only scans load Tesseract

        return read_scanned_pdf(data, name, pages, scanned)
    if not any(p.segments for p in pages):
        raise IngestError(f"{name}: the PDF has no text layer and no scanned page images, so it holds no text to read")
    return assemble(pages)


def _in_document_links(pdf, page, height: float) -> list[tuple[float, float, float, float]]:
    """Boxes (x0, top, x1, bottom; top-left origin) of the page's links to a place in the same PDF: a clickable
    table of contents, which may have no "Contents" heading (a web page printed to PDF)."""
    import ctypes

    import pypdfium2.raw as raw

    pos, link, rect, out = ctypes.c_int(0), raw.FPDF_LINK(), raw.FS_RECTF(), []
    while len(out) < MAX_LINKS_PER_PAGE and raw.FPDFLink_Enumerate(page, ctypes.byref(pos), ctypes.byref(link)):
        action = raw.FPDFLink_GetAction(link)
        goto = bool(action) and raw.FPDFAction_GetType(action) == raw.PDFACTION_GOTO
        inside = goto or bool(raw.FPDFLink_GetDest(pdf, link))
        if inside and raw.FPDFLink_GetAnnotRect(link, ctypes.byref(rect)):
            out.append((rect.left, height - rect.top, rect.right, height - rect.bottom))
    return out


def _mark_links(words: list[Word], boxes: list[tuple[float, float, float, float]]) -> None:
    """Mark the words whose centre lies in one of the boxes (one array comparison per page, not a loop per pair)."""
    if not words or not boxes:
        return
    import numpy as np

    b = np.asarray(boxes, dtype=np.float32)
    x = np.array([(w.x0 + w.x1) / 2 for w in words], dtype=np.float32)[:, None]
    y = np.array([(w.top + w.bottom) / 2 for w in words], dtype=np.float32)[:, None]
    inside = ((b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3])).any(axis=1)
    for w, hit in zip(words, inside):
        w.link = bool(hit)


def _has_image(page) -> bool:
    import pypdfium2.raw as raw

    return any(True for _ in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=3))


def _page_words(page, number: int, height: float) -> list[Word]:
    """The page's words with their boxes (top-left origin), in PDFium's character order."""
    import ctypes

    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    words: list[Word] = []
    chars: list[str] = []
    box = [0.0, 0.0, 0.0, 0.0]  # x0, top, x1, bottom of the word being read
    size, weight = 0.0, 0
    last = (0.0, 0.0, 0.0)  # left, right, vertical centre of the previous character
    rect = raw.FS_RECTF()
    get_box, get_size = raw.FPDFText_GetLooseCharBox, raw.FPDFText_GetFontSize
    get_weight = raw.FPDFText_GetFontWeight
    try:
        n = textpage.count_chars()
        buf = (ctypes.c_ushort * (n + 1))()
        raw.FPDFText_GetText(textpage, 0, n, buf)  # all characters in one call: one UTF-16 unit each
        for i, code in enumerate(buf[:n]):
            ch = "-" if code in (0x02, 0xFFFE) else chr(code)  # PDFium marks a line-end hyphen as 0x02
            if 0x80 <= code <= 0x9F:  # a glyph without a Unicode mapping (TeX's cmsy bullet reads as 0x88)
                ch = _UNMAPPED
            if ch.isspace() or not ch.isprintable() or not get_box(textpage, i, rect):
                if chars:
                    words.append(Word("".join(chars), number, box[0], box[1], box[2], box[3], size, weight))
                    chars = []
                continue
            top, bottom = height - rect.top, height - rect.bottom
            centre = (top + bottom) / 2
            if chars and (abs(centre - last[2]) > 0.5 * size or rect.left - last[1] > 0.2 * size
                          or rect.left < last[0] - 0.5 * size):  # a new line, a gap, or a jump back
                words.append(Word("".join(chars), number, box[0], box[1], box[2], box[3], size, weight))
                chars = []
            if not chars:
                size = get_size(textpage, i) or (rect.top - rect.bottom)
                weight = max(0, get_weight(textpage, i))  # -1 when PDFium cannot tell
                box = [rect.left, top, rect.right, bottom]
            else:
                box = [min(box[0], rect.left), min(box[1], top), max(box[2], rect.right), max(box[3], bottom)]
            chars.append(ch)
            last = (rect.left, rect.right, centre)
        if chars:
            words.append(Word("".join(chars), number, box[0], box[1], box[2], box[3], size, weight))
    finally:
        textpage.close()
    # An unmapped glyph standing alone (an itemize bullet) is a bullet; inside a word it is dropped, as before.
    out = []
    for w in words:
        if w.text == _UNMAPPED:
            w.text = "\u2022"
        elif _UNMAPPED in w.text:
            w.text = w.text.replace(_UNMAPPED, "")
            if not w.text:
                continue
        out.append(w)
    return out
