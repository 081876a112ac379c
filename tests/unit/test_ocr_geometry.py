"""Geometry and text rules of OCR'd pages that need no Tesseract: levelling boxes and back, OCR datelines."""

from __future__ import annotations

import pytest

from index.layout import analyze
from index.ocr import Deskew, _Turn


@pytest.mark.parametrize("degrees", [-2.0, -0.4, 1.5, 3.0])
def test_boxes_turned_back_land_where_pillow_put_them(degrees):
    from PIL import Image

    # A black square drawn on a page, the page turned like Image.rotate: _Turn moves its centre the same way.
    page = Image.new("L", (600, 800), 255)
    page.paste(0, (400, 100, 420, 120))
    turned = page.rotate(degrees, resample=Image.NEAREST, fillcolor=255)
    x0, top, x1, bottom = turned.point(lambda v: 255 - v).getbbox()
    levelled = _Turn(degrees, 300, 400).box(400, 100, 420, 120)
    assert levelled == pytest.approx((x0, top, x1, bottom), abs=1.5)
    # Deskew undoes the levelling of a page that was turned by ``degrees``.
    deskew = Deskew()
    deskew.add(1, {"skew": degrees, "width": 600, "height": 800})
    loc_map = deskew.apply({"words": [[0, 4, 1, *levelled]]})
    assert loc_map["words"][0][3:] == pytest.approx([400, 100, 420, 120], abs=0.1)


@pytest.mark.parametrize("first", ["WASHINGTON \u2022 Last Thursday, he left.", "WASHINGTON \u00ab\u00b0 Last Thursday, he left.",
                                   "WASHINGTON Last Thursday, he left."])
def test_dateline_of_ocr_text(first):
    text = f"National Post\n\nU.S., North Korea in a stalemate\n\n- JOSH ROGIN The Washington Post\n\n{first} More text here."
    assert analyze(text).metadata["dateline"] == "WASHINGTON"


@pytest.mark.parametrize("first", ["U.S. Secretary of State Mike Pompeo left.", "NASA said it would launch."])
def test_no_dateline_in_ordinary_first_lines(first):
    text = f"National Post\n\nU.S., North Korea in a stalemate\n\n- JOSH ROGIN The Washington Post\n\n{first} More text here."
    assert "dateline" not in analyze(text).metadata
