"""Scanned pages -> words with boxes, read by Tesseract, for the reading order of ``index/pdf_layout.py``.

Engine: Debian's Tesseract data (``tesseract-ocr-eng``, installed by ``.ci/setup``) through tesserocr,
which calls the library in-process (a binary wheel with its own libtesseract; choice and timings in
docs/decisions/0215-ocr-binding.md). Each page gives words with boxes in points (top-left origin,
like PDFium's) and the page's skew; ``page_words`` turns one page into the ``PageWords`` that
``assemble`` reads, so OCR text and its location map are built exactly like a PDF's text layer.

A slightly rotated scan has slanted lines, which Tesseract reads less well and the line grouping of
``pdf_layout`` would cut apart: the page is turned level about its centre before OCR, and
``Deskew`` puts the boxes of the finished location map back where the words are on the page.

Results are cached by the file's SHA-256 under ``<cache>/ocr/``, so adding the same scan again
does not run Tesseract. Images are refused above ``MAX_OCR_PIXELS`` per page before they are
decoded (decompression bombs), scans above ``MAX_OCR_PAGES`` pages before any page is read.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from index.errors import IngestError
from index.pdf_words import PageWords, Segment, Word

OCR_DPI = 300  # scanned PDF pages whose image resolution is unknown are rendered at this resolution ...
MIN_OCR_DPI, MAX_OCR_DPI = 150, 400  # ... the others at their image's own, within these bounds
OCR_LANG = "eng"
MAX_OCR_PAGES = 500  # about 10 minutes of OCR on one core
MAX_OCR_PIXELS = 60_000_000  # per page: an A3 page at 600 dpi; each costs a byte in memory, more in Tesseract
MIN_SKEW, MAX_SKEW = 0.05, 15.0  # degrees: less is level; more is no scan of a page but a photo or a drawing
MIN_CONFIDENCE = 10.0  # words Tesseract is less sure of than this are specks and smudges, not text
DEFAULT_IMAGE_DPI = 300  # an image without a resolution is taken to be a 300 dpi scan (for its page size)
_CACHE_FORMAT = 2
_API_LOCK = threading.Lock()  # one Tesseract instance per process: not thread-safe, costly to load
_api = None


def cache_dir() -> Path:
    """``$CITEQA_CACHE/ocr`` (default ``~/.cache/citeqa/ocr``), beside the ONNX graph cache."""
    from index.model_dirs import default_cache_dir

    return default_cache_dir().parent / "ocr"


def tessdata_dir() -> Path:
    """Where Tesseract's language data is: ``$TESSDATA_PREFIX``, else Debian's location."""
    candidates = [Path(os.environ["TESSDATA_PREFIX"])] if os.environ.get("TESSDATA_PREFIX") else []
    candidates += sorted(Path("/usr/share/tesseract-ocr").glob("*/tessdata"), reverse=True)
    candidates.append(Path("/usr/share/tessdata"))
    for path in candidates:
        if (path / f"{OCR_LANG}.traineddata").is_file():
            return path
    raise IngestError(f"OCR needs Tesseract's language data ({OCR_LANG}.traineddata), which is not installed: "
                      f"install Debian's tesseract-ocr and tesseract-ocr-{OCR_LANG} (bash .ci/setup does)")


def _engine():
    global _api
    if _api is None:
        try:
            import tesserocr
        except ImportError:
            raise IngestError("OCR needs the tesserocr package: pip install the project's dependencies "
                              "(bash .ci/setup)") from None
        _api = tesserocr.PyTessBaseAPI(path=str(tessdata_dir()) + "/", lang=OCR_LANG, psm=tesserocr.PSM.AUTO)
    return _api


def engine_version() -> str:
    try:
        import tesserocr
    except ImportError:
        raise IngestError("OCR needs the tesserocr package: pip install the project's dependencies "
                          "(bash .ci/setup)") from None
    return tesserocr.tesseract_version().split()[1]


def recognize(image, dpi: float) -> dict:
    """One page: {"width", "height" (points), "skew" (degrees the page was turned to level it), "words":
    [[text, x0, top, x1, bottom, confidence, line, size], ...]} with boxes in points on the levelled page,
    ``line`` the number of Tesseract's text line and ``size`` its font size (baseline to ascender)."""
    from PIL import Image
    from tesserocr import RIL, iterate_level

    image = _grey(image)
    scale = 72.0 / dpi
    words: list[list] = []
    with _API_LOCK:
        api = _engine()
        api.SetImage(image)
        api.SetSourceResolution(max(1, round(dpi)))
        # Tesseract's layout analysis finds the skew, but misses whole lines of a page turned a few
        # degrees clockwise: the page is levelled first, and the boxes are turned back later (Deskew).
        layout = api.AnalyseLayout()
        skew = math.degrees(layout.Orientation()[3]) if layout is not None else 0.0
        if abs(skew) < MIN_SKEW or abs(skew) > MAX_SKEW:
            skew = 0.0
        if skew:
            api.SetImage(image.rotate(skew, resample=Image.BICUBIC, fillcolor=255))
            api.SetSourceResolution(max(1, round(dpi)))
        api.Recognize()
        line, base, row = -1, None, None
        for it in iterate_level(api.GetIterator(), RIL.WORD):
            if it.IsAtBeginningOf(RIL.TEXTLINE):
                line += 1
                base, row = it.Baseline(RIL.TEXTLINE), it.RowAttributes()
            text = (it.GetUTF8Text(RIL.WORD) or "").strip()
            conf = it.Confidence(RIL.WORD)
            box = it.BoundingBox(RIL.WORD)
            if not text or box is None or conf < MIN_CONFIDENCE:
                continue
            x0, top, x1, bottom = box
            size = bottom - top
            if base and row and row.get("row_height", 0) > 0:
                # Like a PDF's character boxes, every word of a line spans ascender to descender, so the
                # space between lines does not depend on which letters a line happens to have.
                (bx0, by0), (bx1, by1) = base
                y = by0 + (by1 - by0) * ((x0 + x1) / 2 - bx0) / (bx1 - bx0) if bx1 != bx0 else by0
                size = row["row_height"]
                top, bottom = y - size, y - min(row.get("descenders", 0), 0)
            words.append([text, round(x0 * scale, 2), round(top * scale, 2), round(x1 * scale, 2),
                          round(bottom * scale, 2), round(conf, 1), max(line, 0), round(size * scale, 2)])
        api.Clear()
    return {"width": round(image.width * scale, 2), "height": round(image.height * scale, 2),
            "skew": round(skew, 3), "words": words}


def _grey(image):
    """8-bit grey on white: transparent parts of an image become white paper."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image if image.mode == "L" else image.convert("L")


def page_words(record: dict, number: int) -> PageWords:
    """One OCR'd page as ``PageWords`` (boxes on the levelled page), one segment per Tesseract text line:
    its layout analysis has already parted the columns, and a gap where it dropped a smudge or a bullet
    must not cut a line into table cells."""
    lines: dict[int, list[Word]] = {}
    for text, x0, top, x1, bottom, _conf, line, size in record["words"]:
        lines.setdefault(line, []).append(Word(text, number, x0, top, x1, bottom, size))
    segs = [Segment(sorted(words, key=lambda w: w.x0)) for words in lines.values()]
    return PageWords(number, record["width"], record["height"], segs)


class _Turn:
    """Rotation of points by ``degrees`` counter-clockwise (as seen) about a centre (y pointing down)."""

    def __init__(self, degrees: float, cx: float, cy: float) -> None:
        rad = math.radians(degrees)
        self.cos, self.sin, self.cx, self.cy = math.cos(rad), math.sin(rad), cx, cy

    def box(self, x0: float, top: float, x1: float, bottom: float) -> tuple[float, float, float, float]:
        """The box moved with its centre; its size is kept (a word is short: its own slant is negligible).
        ``_Turn(d)`` maps a point as Pillow's ``Image.rotate(d)`` moves it."""
        mx, my = (x0 + x1) / 2 - self.cx, (top + bottom) / 2 - self.cy
        nx = self.cx + mx * self.cos + my * self.sin
        ny = self.cy - mx * self.sin + my * self.cos
        hw, hh = (x1 - x0) / 2, (bottom - top) / 2
        return nx - hw, ny - hh, nx + hw, ny + hh


class Deskew:
    """Puts the word boxes of a location map back on the slanted page (undoes ``recognize``'s levelling)."""

    def __init__(self) -> None:
        self.turns: dict[int, _Turn] = {}

    def add(self, number: int, record: dict) -> None:
        if record["skew"]:
            self.turns[number] = _Turn(-record["skew"], record["width"] / 2, record["height"] / 2)

    def apply(self, loc_map: dict) -> dict:
        for row in loc_map.get("words", []):
            turn = self.turns.get(row[2])
            if turn is not None:
                row[3:7] = [round(v, 1) for v in turn.box(*row[3:7])]
        return loc_map


class OcrCache:
    """OCR results of one file by page number, stored under the file's SHA-256 and the engine's settings."""

    def __init__(self, data: bytes, dpi: float, directory: Path | None = None) -> None:
        key = f"{hashlib.sha256(data).hexdigest()}-{OCR_LANG}-{dpi:g}-{engine_version()}-{_CACHE_FORMAT}"
        self.path = (directory or cache_dir()) / f"{key}.json"
        try:
            self.pages: dict[str, dict] = json.loads(self.path.read_text(encoding="utf-8"))["pages"]
        except (OSError, ValueError, KeyError, TypeError):
            self.pages = {}
        self.dirty = False

    def get(self, number: int) -> dict | None:
        return self.pages.get(str(number))

    def put(self, number: int, record: dict) -> None:
        self.pages[str(number)] = record
        self.dirty = True

    def save(self) -> None:
        """Best effort: a cache that cannot be written only costs the next OCR run."""
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"pages": self.pages}, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:
            pass


def ocr_pages(name: str, numbers: list[int], render: Callable[[int], tuple[object, float]], cache: OcrCache
              ) -> dict[int, dict]:
    """OCR records of the pages ``numbers`` (1-based); ``render(n)`` gives (image, dpi) of a page that is
    not cached. Progress per page goes to stderr (a tqdm bar the UI's upload progress also shows)."""
    from tqdm import tqdm

    if len(numbers) > MAX_OCR_PAGES:
        raise IngestError(f"{name}: {len(numbers):,} scanned pages is over the OCR limit of {MAX_OCR_PAGES:,} pages "
                          f"per document; split it")
    records: dict[int, dict] = {}
    todo = [n for n in numbers if cache.get(n) is None]
    if todo:
        try:
            tessdata_dir()
        except IngestError as exc:
            raise IngestError(f"{name}: {exc}") from None
    bar = tqdm(total=len(todo), desc=f"OCR {name}", unit="page", file=sys.stderr, dynamic_ncols=True,
               mininterval=1.0, disable=len(todo) < 2)
    try:
        for n in numbers:
            record = cache.get(n)
            if record is None:
                image, dpi = render(n)
                try:
                    record = recognize(image, dpi)
                except RuntimeError as exc:  # tesserocr's report of an image Tesseract cannot take
                    raise IngestError(f"{name}: OCR failed on page {n} ({exc})") from None
                cache.put(n, record)
                bar.update(1)
            records[n] = record
    finally:
        bar.close()
        cache.save()  # pages done so far are kept even when a later one fails
    return records


def _check_pixels(name: str, size: tuple[int, int], page: int | None = None) -> None:
    w, h = size
    if w * h > MAX_OCR_PIXELS:
        where = f"page {page} of the image" if page else "the image"
        raise IngestError(f"{name}: {where} is {w:,} × {h:,} pixels ({w * h / 1e6:.0f} megapixels), over the limit of "
                          f"{MAX_OCR_PIXELS / 1e6:.0f} megapixels per page; scale it down (300 dpi is enough for OCR)")


def open_image(data: bytes, name: str):
    """The image file opened (not yet decoded), or IngestError: not an image, or a decompression bomb."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "TIFF"))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise IngestError(f"{name}: the image is too large to read (over {MAX_OCR_PIXELS / 1e6:.0f} megapixels "
                              f"per page, or a decompression bomb); scale it down") from None
        except Exception:  # Pillow's decoders raise many kinds (OSError, SyntaxError, KeyError...) on bad bytes
            raise IngestError(f"{name}: not a readable image (damaged, empty, or not a PNG, JPEG or TIFF file)") from None
    _check_pixels(name, image.size)
    return image


def page_count(image, name: str) -> int:
    """Pages of an opened image (TIFF frames), within MAX_OCR_PAGES."""
    try:
        count = int(getattr(image, "n_frames", 1))
    except Exception:  # a TIFF whose later page directories are damaged
        raise IngestError(f"{name}: the image is damaged (its list of pages cannot be read)") from None
    if count > MAX_OCR_PAGES:
        raise IngestError(f"{name}: {count:,} pages is over the OCR limit of {MAX_OCR_PAGES:,} pages per document; split it")
    return count


def image_frames(data: bytes, name: str) -> Iterator[tuple[int, object, float]]:
    """(page number, decoded page image, dpi) of an image file; multi-page TIFF gives each page."""
    from PIL import Image, ImageOps

    image = open_image(data, name)
    count = page_count(image, name)
    for i in range(count):
        try:
            image.seek(i)
            _check_pixels(name, image.size, i + 1 if count > 1 else None)
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                frame = ImageOps.exif_transpose(image)  # a phone photo stored sideways is shown upright
                frame.load()
        except IngestError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise IngestError(f"{name}: the image is too large to read (a decompression bomb)") from None
        except Exception:  # as in open_image: any decoder error of damaged bytes
            where = f"page {i + 1} of the image" if count > 1 else "the image"
            raise IngestError(f"{name}: {where} is damaged and cannot be decoded") from None
        yield i + 1, frame, _dpi(image)


def _dpi(image) -> float:
    dpi = image.info.get("dpi")
    try:
        x = float(dpi[0]) if dpi else 0.0
    except (TypeError, ValueError, IndexError):
        x = 0.0
    return x if 50 <= x <= 2400 else DEFAULT_IMAGE_DPI


def image_page(data: bytes, name: str, number: int):
    """Page ``number`` of an image file as shown to the reader (upright, RGB), for the page view."""
    from PIL import ImageOps

    image = open_image(data, name)
    if not 1 <= number <= page_count(image, name):
        raise IngestError(f"{name}: has no page {number}")
    try:
        image.seek(number - 1)
        _check_pixels(name, image.size, number)
        return ImageOps.exif_transpose(image).convert("RGB")
    except IngestError:
        raise
    except Exception:  # as in image_frames
        raise IngestError(f"{name}: page {number} of the image is damaged and cannot be decoded") from None


def extract_image(data: bytes, name: str) -> tuple[str, dict]:
    """(text, location map) of a PNG, JPEG or TIFF scan: the same map as a PDF's (pages, word boxes)."""
    from index.pdf_layout import assemble

    cache = OcrCache(data, 0)
    numbers = list(range(1, page_count(open_image(data, name), name) + 1))
    frames = image_frames(data, name)

    def render(n: int):
        for m, frame, dpi in frames:  # pages are asked for in order; cached ones are skipped over
            if m == n:
                return frame, dpi
        raise IngestError(f"{name}: has no page {n}")

    records = ocr_pages(name, numbers, render, cache)
    return assemble_ocr(name, [(n, records[n]) for n in numbers], assemble)


def assemble_ocr(name: str, records: list[tuple[int, dict]], assemble) -> tuple[str, dict]:
    deskew = Deskew()
    pages = []
    for n, record in records:
        deskew.add(n, record)
        pages.append(page_words(record, n))
    if not any(p.segments for p in pages):
        raise IngestError(f"{name}: no text was found in the image, even by OCR")
    text, loc_map = assemble(pages)
    return text, deskew.apply(loc_map)


def read_scanned_pdf(data: bytes, name: str, pages: list[PageWords], scanned: list[int]) -> tuple[str, dict]:
    """(text, location map) of a PDF whose pages ``scanned`` (1-based) are images without text: those are
    rendered at ``OCR_DPI`` and OCR'd, the others keep the words of their text layer."""
    from index.pdfium import PDFIUM_LOCK, open_pdf
    from index.pdf_layout import assemble

    cache = OcrCache(data, OCR_DPI)

    def render(n: int):
        size = pages[n - 1]
        with PDFIUM_LOCK:
            pdf = open_pdf(data, name)
            try:
                page = pdf[n - 1]
                # At the scan's own resolution (upsampling a 200 dpi scan to 300 blurs it and costs time),
                # and a huge page (a poster) at less, so that it stays within MAX_OCR_PIXELS.
                dpi = min(max(_scan_dpi(page) or OCR_DPI, MIN_OCR_DPI), MAX_OCR_DPI)
                scale = min(dpi / 72, math.sqrt(MAX_OCR_PIXELS / max(1.0, size.width * size.height)))
                image = page.render(scale=scale, grayscale=True).to_pil()
            finally:
                pdf.close()
        return image, scale * 72

    records = ocr_pages(name, scanned, render, cache)
    deskew = Deskew()
    for n, record in records.items():
        deskew.add(n, record)
        ocr_page = page_words(record, n)
        # The map keeps the PDF's page size: the rendered image is that page, so points are points.
        pages[n - 1].segments = ocr_page.segments
    if not any(p.segments for p in pages):
        raise IngestError(f"{name}: the PDF has no text layer, and OCR found no text on its scanned pages")
    text, loc_map = assemble(pages)
    return text, deskew.apply(loc_map)


def _scan_dpi(page) -> float | None:
    """The resolution of the largest image on a PDF page, as placed on the page (pixels per inch)."""
    import pypdfium2.raw as raw

    best: tuple[float, float] | None = None  # (area in points, dpi)
    for obj in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        width_px, _ = obj.get_px_size()
        area = (right - left) * (top - bottom)
        if right - left > 1 and width_px and (best is None or area > best[0]):
            best = (area, width_px / ((right - left) / 72))
    return best[1] if best else None
