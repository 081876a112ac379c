"""One PDFium handle for the whole process: PDFium is not thread-safe, so every call into it holds
``PDFIUM_LOCK`` (text extraction, OCR rendering of scanned pages, the chat's page view).
"""

from __future__ import annotations

import threading

from index.errors import IngestError

PDFIUM_LOCK = threading.Lock()


def open_pdf(data: bytes, name: str):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code in (pdfium.raw.FPDF_ERR_PASSWORD, pdfium.raw.FPDF_ERR_SECURITY):
            raise IngestError(f"{name}: the PDF is encrypted (password protected); save an unprotected copy and add that") from None
        raise IngestError(f"{name}: not a readable PDF (damaged or not a PDF file)") from None
