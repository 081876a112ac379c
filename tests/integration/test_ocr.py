"""OCR of scanned PDFs and images (index/ocr.py) with the real Tesseract, on scans generated from known text.

The scans (eval/scan_fixtures.py) are drawn from the seed article with Pillow, rotated ~1.5-2 degrees,
blurred and saved at 200 dpi, so the OCR text can be compared with what was drawn, character by character.
"""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from pathlib import Path

import pytest
from conftest import SEED

from eval.scan_fixtures import char_error_rate, image_pdf, mixed_pdf, scan_pages
from index import ocr
from index.document import parse_document
from index.errors import IngestError
from index.loaders import load_bytes, load_file
from index.locations import location_of

CER_BOUND = 0.02
PARAS = SEED.read_text(encoding="utf-8").split("\n\n")
BODY = "\n\n".join(PARAS[5:9])  # four paragraphs of running text: one page in one column


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A fresh OCR cache per test (the ONNX graphs stay in the shared cache)."""
    monkeypatch.setattr(ocr, "cache_dir", lambda: tmp_path / "cache" / "ocr")


def _entry(loaded):
    return type("Entry", (), {"locations": loaded.locations, "text": loaded.text})()


def _check_spans_and_boxes(loaded, pages: set[int]) -> None:
    """Every sentence record is an exact span located on a page, its boxes inside that page."""
    entry = _entry(loaded)
    seen = set()
    records = parse_document("d", loaded.text).sentences
    assert records
    for r in records:
        assert loaded.text[r.start : r.end].strip()
        loc = location_of(entry, r.start, r.end)
        assert loc is not None and loc.boxes, loaded.text[r.start : r.end]
        for page, x0, top, x1, bottom in loc.boxes:
            width, height = loaded.locations["page_sizes"][page - 1]
            assert 0 <= x0 < x1 <= width and 0 <= top < bottom <= height
        seen.update(loc.pages)
    assert seen == pages


def test_scanned_pdf_reads_like_a_text_pdf(tmp_path):
    scan = scan_pages(BODY, dpi=200, rotate=1.5, blur=0.8, max_pages=1)
    path = tmp_path / "scan.pdf"
    image_pdf(scan.pages, path, 200)
    loaded = load_file(path)
    assert loaded.format == "pdf"
    assert char_error_rate(scan.texts[0], loaded.text) < CER_BOUND
    assert loaded.locations["kind"] == "pdf" and len(loaded.locations["page_sizes"]) == 1
    width, height = loaded.locations["page_sizes"][0]
    assert abs(width - 595) < 2 and abs(height - 842) < 2  # A4 in points, like PDFium's own page size
    _check_spans_and_boxes(loaded, {1})
    # The boxes are where the words are: "Pompeo" opens the page at the top left margin (0.8 in = 58 pt).
    start = loaded.text.index("Pompeo")
    (page, x0, top, x1, bottom), = location_of(_entry(loaded), start, start + 6).boxes
    assert page == 1 and 40 < x0 < 75 and 40 < top < 90 and x1 - x0 > 20


def test_png_rotated_two_degrees(tmp_path):
    scan = scan_pages(BODY, dpi=200, rotate=-2.0, blur=0.8, max_pages=1)
    path = tmp_path / "photo.png"
    scan.pages[0].save(path, dpi=(200, 200))
    loaded = load_file(path)
    assert loaded.format == "image"
    assert char_error_rate(scan.texts[0], loaded.text) < CER_BOUND
    _check_spans_and_boxes(loaded, {1})
    # The boxes are turned back onto the slanted page: the crop at a word's box reads as that word,
    # for words at both ends of lines (where the slant moves them most).
    import tesserocr

    entry = _entry(loaded)
    px = 200 / 72
    for word in ("Pompeo", "Chol,", "Privately,", "backsliding."):
        start = loaded.text.index(word)
        (_, x0, top, x1, bottom), = location_of(entry, start, start + len(word)).boxes
        crop = scan.pages[0].crop((int(x0 * px) - 4, int(top * px) - 4, int(x1 * px) + 4, int(bottom * px) + 4))
        read = tesserocr.image_to_text(crop, path=str(ocr.tessdata_dir()) + "/", psm=tesserocr.PSM.SINGLE_WORD)
        assert read.strip().rstrip(".,") == word.rstrip(".,")  # a lone word's last dot is read either way


def test_two_column_scan_keeps_reading_order(tmp_path):
    scan = scan_pages("\n\n".join(PARAS[2:]), dpi=200, columns=2, rotate=1.5, blur=0.8, headline=PARAS[1], max_pages=1)
    path = tmp_path / "columns.png"
    scan.pages[0].save(path, dpi=(200, 200))
    loaded = load_file(path)
    # A column read across, or in the wrong order, would put most of the text out of place.
    assert char_error_rate(scan.texts[0], loaded.text) < CER_BOUND
    # The newspaper layout rules read the OCR text like the seed: headline and byline become metadata.
    doc = parse_document("columns.png", loaded.text)
    assert doc.metadata.get("author") == "Josh Rogin"
    assert doc.metadata.get("headline", "").startswith("U.S., North Korea in a stalemate")
    assert doc.metadata.get("dateline") == "WASHINGTON"  # whether OCR read its bullet as "•", "«°" or nothing


def test_mixed_pdf_reads_text_page_and_ocrs_scanned_page(tmp_path):
    typed = " ".join(PARAS[9].split())
    scan = scan_pages(BODY, dpi=200, rotate=1.5, blur=0.8, max_pages=1)
    path = tmp_path / "mixed.pdf"
    mixed_pdf(typed, scan.pages, path, 200)
    loaded = load_file(path)
    assert len(loaded.locations["page_sizes"]) == 2
    flat = " ".join(loaded.text.split())
    assert flat.startswith(typed)  # the text layer, exactly
    assert char_error_rate(scan.texts[0], flat[len(typed):]) < CER_BOUND
    _check_spans_and_boxes(loaded, {1, 2})


def test_multipage_tiff_is_pages(tmp_path):
    scan = scan_pages("\n\n".join(PARAS[5:]), dpi=200, rotate=1.0, blur=0.6, size_pt=14, max_pages=2)
    assert len(scan.pages) == 2
    path = tmp_path / "pages.tiff"
    scan.pages[0].save(path, save_all=True, append_images=scan.pages[1:], dpi=(200, 200), compression="tiff_deflate")
    loaded = load_file(path)
    assert len(loaded.locations["page_sizes"]) == 2
    assert char_error_rate("\n\n".join(scan.texts), loaded.text) < CER_BOUND
    _check_spans_and_boxes(loaded, {1, 2})
    # The page view shows the second TIFF page itself for a citation on page 2.
    import base64
    import io

    from PIL import Image, ImageChops

    from ui.page_view import _page_image

    st = path.stat()
    entry = type("Entry", (), {"locations": loaded.locations, "text": loaded.text, "format": "image", "source": str(path),
                               "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns})()
    shown = Image.open(io.BytesIO(base64.b64decode(_page_image(entry, 2)))).convert("L")
    def differing(page: Image.Image) -> int:  # pixels differing by more than JPEG noise
        return sum(ImageChops.difference(shown, page.resize(shown.size)).histogram()[40:])

    assert differing(scan.pages[1]) < 0.01 * shown.width * shown.height < differing(scan.pages[0])


def test_jpeg_photo_stored_sideways_is_read_upright(tmp_path):
    """A phone photo is often stored turned, with an EXIF orientation saying how to show it."""
    from PIL import Image

    scan = scan_pages(BODY, dpi=200, rotate=0.5, blur=0.6, max_pages=1)
    stored = scan.pages[0].rotate(90, expand=True)  # orientation 6: turn 90 degrees clockwise to show
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.jpg"
    stored.convert("RGB").save(path, quality=90, exif=exif, dpi=(200, 200))
    loaded = load_file(path)
    assert char_error_rate(scan.texts[0], loaded.text) < CER_BOUND
    width, height = loaded.locations["page_sizes"][0]
    assert height > width  # the page as shown: portrait
    _check_spans_and_boxes(loaded, {1})


def test_cache_by_file_hash_skips_tesseract(tmp_path, monkeypatch):
    scan = scan_pages(BODY, dpi=200, max_pages=1)
    path = tmp_path / "scan.pdf"
    image_pdf(scan.pages, path, 200)
    calls = []
    real = ocr.recognize
    monkeypatch.setattr(ocr, "recognize", lambda *a, **k: calls.append(1) or real(*a, **k))
    t = time.perf_counter()
    first = load_file(path)
    first_s = time.perf_counter() - t
    assert calls == [1]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in (tmp_path / "cache" / "ocr").iterdir() if p.name.startswith(digest)]
    copy = tmp_path / "again.pdf"  # the same bytes under another name: still a hit
    copy.write_bytes(path.read_bytes())
    t = time.perf_counter()
    second = load_file(copy)
    assert calls == [1] and time.perf_counter() - t < first_s / 3
    assert (second.text, second.locations) == (first.text, first.locations)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_bomb(side: int = 60_000) -> bytes:
    """A ~60 KB PNG whose header says 60,000 x 60,000 grey pixels (3.6 gigapixels) of zeros."""
    row = b"\x00" + bytes(side)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(50)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))


def _truncated_png(tmp_path: Path) -> bytes:
    scan = scan_pages(BODY, dpi=100, max_pages=1)
    scan.pages[0].save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    return data[: len(data) // 2]


BAD_IMAGES = [  # (file name, bytes maker, words the message must hold)
    ("bomb.png", lambda tmp: _png_bomb(), "megapixels"),
    ("cut.png", _truncated_png, "damaged"),
    ("noise.jpg", lambda tmp: bytes(range(256)) * 20, "not a readable image"),
    ("empty.png", lambda tmp: b"", "not a readable image"),
]


@pytest.mark.parametrize("name,make,msg", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_bad_images_give_one_clear_error_and_change_nothing(tmp_path, name, make, msg):
    from test_hostile_input import assert_refused_and_unchanged

    assert "\n" not in assert_refused_and_unchanged(tmp_path, name, make(tmp_path), msg)


def test_page_limit_refuses_before_any_ocr(tmp_path, monkeypatch):
    scan = scan_pages("\n\n".join(PARAS[5:]), dpi=100, size_pt=14, max_pages=3)
    path = tmp_path / "book.pdf"
    image_pdf(scan.pages, path, 100)
    monkeypatch.setattr(ocr, "MAX_OCR_PAGES", len(scan.pages) - 1)
    monkeypatch.setattr(ocr, "recognize", lambda *a, **k: pytest.fail("OCR ran over the page limit"))
    with pytest.raises(IngestError, match="over the OCR limit"):
        load_file(path)


def test_pixel_limit_of_a_plain_large_image(monkeypatch):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (2000, 1500), 255).save(buf, format="PNG")
    monkeypatch.setattr(ocr, "MAX_OCR_PIXELS", 1_000_000)
    with pytest.raises(IngestError, match=r"big.png: the image is 2,000 × 1,500 pixels \(3 megapixels\)"):
        load_bytes(buf.getvalue(), "big.png", ".png")


def test_scanned_pdf_answers_with_citation_on_the_right_page(tmp_path):
    """End to end: a two-page scan in an Assistant; the answer's citation is on page 2, with boxes, and the
    chat's page view shows that page with them."""
    from qa import Assistant
    from ui.page_view import page_html

    scan = scan_pages("\n\n".join(PARAS[5:]), dpi=200, rotate=1.5, blur=0.8, size_pt=14, max_pages=2)
    assert len(scan.pages) == 2 and "Mattis" in scan.texts[1] and "Mattis" not in scan.texts[0]
    path = tmp_path / "scan.pdf"
    image_pdf(scan.pages, path, 200)
    a = Assistant.open(paths=[path], index_dir=tmp_path / "idx")
    answer = a.ask("Who is the Defence Secretary?", mode="extractive")
    assert answer.citations
    top = answer.citations[0]
    assert "Mattis" in top.text and top.location is not None and top.location.pages == (2,) and top.location.boxes
    assert a.document_text("scan.pdf")[top.start : top.end] == top.text
    html = page_html(a.corpus.document("scan.pdf"), top.start, top.end)
    assert "data:image/jpeg;base64," in html and "cq-page-box" in html and 'class="cq-page-number">2<' in html


def test_image_page_view_shows_the_image_with_boxes(tmp_path):
    from qa import Assistant
    from ui.page_view import page_html

    scan = scan_pages(BODY, dpi=200, rotate=1.5, max_pages=1)
    path = tmp_path / "page.png"
    scan.pages[0].save(path, dpi=(200, 200))
    a = Assistant.open(paths=[path], index_dir=tmp_path / "idx")
    entry = a.corpus.document("page.png")
    text = a.document_text("page.png")
    start = text.index("Kim Yong Chol")
    html = page_html(entry, start, start + len("Kim Yong Chol"))
    assert "data:image/jpeg;base64," in html and html.count("cq-page-box") == 1


def test_eval_ingest_ocr_figures(tmp_path):
    """`citeqa eval ingest`'s OCR part on a sample of the gold questions: CER, speed, cached re-read, questions."""
    import argparse

    from eval.suites.ingest import OCR_HEADLINE, ocr_figures

    m, rows = ocr_figures(tmp_path / "scans", argparse.Namespace(limit=6, seed=0))
    assert m["cer"] < CER_BOUND and m["cer_max"] < CER_BOUND
    assert m["pages_per_s"] > 0 and m["cached_s_max"] < min(f["seconds"] for f in m["files"]) / 3
    for key in ("seed_scan_pdf", "seed_scan_png"):
        assert m[key]["questions_on_scan"] > 0 and m[key]["citations_located"] == 1.0
    assert rows and all(r["suite_part"] in ("seed_scan_pdf", "seed_scan_png") for r in rows)
    assert all(k.split(".", 1)[1].split(".")[0] in m for k in OCR_HEADLINE)


def _small_scans() -> dict[str, bytes]:
    import io

    scan = scan_pages(BODY, dpi=60, size_pt=20, rotate=1.0, blur=0, max_pages=2)
    out = {}
    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif")):
        buf = io.BytesIO()
        extra = {"save_all": True, "append_images": scan.pages[1:]} if fmt == "TIFF" else {}
        scan.pages[0].save(buf, format=fmt, **extra)
        out[suffix] = buf.getvalue()
    return out


SMALL_SCANS = _small_scans()


def test_damaged_images_index_or_raise_an_ingest_error():
    """Real PNG, JPEG and TIFF files with bytes overwritten or cut off: read, or one clear IngestError."""
    import random

    rng = random.Random(29)
    for n in range(36):
        suffix = (".png", ".jpg", ".tif")[n % 3]
        data = bytearray(SMALL_SCANS[suffix])
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            if rng.random() < 0.2:
                del data[i:]
                if not data:
                    break
            else:
                data[i : i + 4] = rng.randbytes(4)
        try:
            loaded = load_bytes(bytes(data), f"damaged{suffix}", suffix)
        except IngestError as exc:
            assert f"damaged{suffix}" in str(exc) and "\n" not in str(exc)
            continue
        entry = _entry(loaded)
        for r in parse_document("d", loaded.text).sentences:
            loc = location_of(entry, r.start, r.end)
            assert loc is not None and all(p >= 1 for p in loc.pages)
