"""Measure candidate PDF text libraries on the generated known-layout PDFs (how index/pdf.py was chosen).

    pip install pypdf==7.1.0 pdfminer.six==20260107 pdfplumber==0.11.10   # candidates, not dependencies
    python -m eval.pdf_libraries [--pages 50] [--pdf F.pdf --pdf-source F.txt]   # F: eval/groff_pdf.py

For each library that is installed: seconds and pages/s on a two-column, hyphenated PDF of about
--pages pages, and the share of the source's sentences found whole (whitespace-normalised) in
its plain text output on that PDF, on the two-column page with a table and footnotes, and on
--pdf (typeset from --pdf-source) when given. Whether a
library gives character boxes (needed for page highlights) is a fact of its API, printed with it.
Prints one JSON line per library.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path


def _pypdf(data: bytes) -> str:
    import pypdf

    return "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def _pdfminer(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def _pdfplumber(data: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return "\n".join(p.extract_text() or "" for p in pdf.pages)


def _pdfium_raw(data: bytes) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def _citeqa(data: bytes) -> str:
    from index.pdf import extract_pdf

    return extract_pdf(data, "x.pdf")[0]


LIBRARIES = {  # name: (function, licence, character boxes from the API)
    "pypdf 7.1.0": (_pypdf, "BSD-3-Clause", False),
    "pdfminer.six 20260107": (_pdfminer, "MIT", True),
    "pdfplumber 0.11.10": (_pdfplumber, "MIT", True),
    "pypdfium2 5.15.2, text in content order": (_pdfium_raw, "Apache-2.0 / BSD-3-Clause", True),
    "citeqa index/pdf.py (pypdfium2 + own reading order)": (_citeqa, "Apache-2.0 / BSD-3-Clause", True),
}


def whole_sentences(text: str, source: str) -> float:
    from eval.suites.ingest import sentence_texts

    flat = " ".join(text.split())
    sents = [" ".join(s.split()) for _, _, s in sentence_texts("src", source)]
    return sum(1 for s in sents if s in flat) / len(sents)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=50)
    p.add_argument("--pdf", type=Path, default=None, help="a real PDF typeset from --pdf-source")
    p.add_argument("--pdf-source", type=Path, default=None)
    args = p.parse_args(argv)
    from eval.pdf_fixtures import flow_pdf
    from eval.suites.ingest import FOOTNOTES, SEED, TABLE

    source = SEED.read_text(encoding="utf-8")
    long_text = source
    while len(long_text) < args.pages * 3_900:
        long_text += "\n\n" + source
    with tempfile.TemporaryDirectory() as tmp:
        long_drawn = flow_pdf(long_text, Path(tmp) / "long.pdf", columns=2, hyphenate=True)
        flow_pdf(source, Path(tmp) / "table.pdf", columns=2, hyphenate=True, table=TABLE, footnotes=FOOTNOTES)
        long_pdf, table_pdf = (Path(tmp) / "long.pdf").read_bytes(), (Path(tmp) / "table.pdf").read_bytes()
    for name, (fn, licence, boxes) in LIBRARIES.items():
        try:
            t0 = time.perf_counter()
            text = fn(long_pdf)
            seconds = time.perf_counter() - t0
        except ImportError:
            print(json.dumps({"library": name, "installed": False}))
            continue
        row = {"library": name, "licence": licence, "char_boxes": boxes, "pages": long_drawn.pages,
               "seconds": round(seconds, 2), "pages_per_s": round(long_drawn.pages / seconds, 1),
               "whole_sentences_two_columns": round(whole_sentences(text, long_text), 3),
               "whole_sentences_table_footnotes": round(whole_sentences(fn(table_pdf), source), 3)}
        if args.pdf and args.pdf_source:
            row["whole_sentences_real_pdf"] = round(whole_sentences(fn(args.pdf.read_bytes()),
                                                                    args.pdf_source.read_text(encoding="utf-8")), 3)
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
