"""The page a PDF or scanned-image citation is on: an image of the page with the cited span boxed.

The image is rendered here on the server (PDFium, under ``index.pdfium.PDFIUM_LOCK``; a PNG, JPEG or
TIFF scan is the image itself, scaled down) from the document's own source file and sent inline as
a ``data:`` JPEG, so nothing is fetched from anywhere else. The boxes come from the stored word map
(``index.locations``) and are placed in percent of the page, so they stay on the words at any panel
width.

When the source file is gone or changed since it was indexed, the page cannot be drawn from the
stored text alone: the panel then says which page it is and shows the page's text with the span
marked. Document text is untrusted and goes through ``render.esc`` like everywhere else.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from index.locations import location_of
from ui.render import esc

RENDER_SCALE = 1.5  # 108 dpi: readable in the side panel, ~100 KB per page as JPEG
JPEG_QUALITY = 80
# Inline, so the page view needs no change to the app's stylesheet.
_BOX_STYLE = "position:absolute;background:rgba(255,200,0,.35);outline:2px solid #d99a00;"


def page_html(entry, start: int, end: int, stale: bool = False) -> str:
    """HTML for the page of ``text[start:end]`` of a corpus entry; "" when it has no pages."""
    loc = None if stale else location_of(entry, start, end)
    if loc is None or not loc.pages:
        return ""
    page = loc.pages[0]
    width, height = entry.locations["page_sizes"][page - 1]
    boxes = "".join(
        f'<div class="cq-page-box" style="{_BOX_STYLE}left:{x0 / width * 100:.2f}%;top:{top / height * 100:.2f}%;'
        f'width:{(x1 - x0) / width * 100:.2f}%;height:{(bottom - top) / height * 100:.2f}%"></div>'
        for p, x0, top, x1, bottom in loc.boxes if p == page)
    image = _page_image(entry, page)
    more = f" (continues on page {loc.pages[-1]})" if len(loc.pages) > 1 else ""
    head = (f'<div class="cq-page-head">Page <b class="cq-page-number">{page}</b> of {len(entry.locations["page_sizes"])}'
            f"{esc(more)}</div>")
    if image is None:
        return (f'<div class="cq-page cq-page-text">{head}<div class="cq-warn">The original PDF is no longer where it was '
                f'indexed, so the page is shown as text.</div><div class="cq-page-words">{_page_text(entry, page, start, end)}'
                "</div></div>")
    return (f'<div class="cq-page">{head}<div class="cq-page-frame" style="position:relative;line-height:0">'
            f'<img class="cq-page-img" alt="page {page}" src="data:image/jpeg;base64,{image}" style="width:100%">'
            f"{boxes}</div></div>")


def _page_image(entry, page: int) -> str | None:
    """Base64 JPEG of one page of the entry's source file (PDF or image), None when the file is not the one indexed."""
    import pypdfium2 as pdfium

    from index.pdfium import PDFIUM_LOCK

    path = Path(entry.source or "")
    try:
        st = path.stat()
        if (st.st_size, st.st_mtime_ns) != (entry.source_size, entry.source_mtime_ns):
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if getattr(entry, "format", None) == "image":  # a scan: the image itself, the boxes are on its pixels
        from index.errors import IngestError
        from index.ocr import image_page

        try:
            image = image_page(data, path.name, page)
        except IngestError:
            return None
        width = round(RENDER_SCALE * entry.locations["page_sizes"][page - 1][0])  # as a PDF page would be
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)))
    else:
        with PDFIUM_LOCK:
            try:
                pdf = pdfium.PdfDocument(data)
                try:
                    image = pdf[page - 1].render(scale=RENDER_SCALE).to_pil().convert("RGB")
                finally:
                    pdf.close()
            except (pdfium.PdfiumError, IndexError):
                return None
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _page_text(entry, page: int, start: int, end: int) -> str:
    """The words of one page in text order, the cited ones marked."""
    words = [w for w in entry.locations["words"] if w[2] == page]
    if not words:
        return ""
    lo, hi = words[0][0], words[-1][1]
    text = entry.text
    s, e = max(start, lo), min(end, hi)
    return (f"{esc(text[lo:s])}<mark class=\"cq-hl cq-active\">{esc(text[s:e])}</mark>{esc(text[e:hi])}"
            if s < e else esc(text[lo:hi]))
