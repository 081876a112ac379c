"""Suite ``ingest``: PDF and DOCX ingestion, measured against documents whose layout is known.

1. Generated PDFs of the seed article (``eval/pdf_fixtures.py``): one column; two columns with a
   table and footnotes; a 50-page two-column document. All have a running header, a page-number
   footer and words hyphenated at line ends. For each: pages/s and characters/s of extraction,
   source sentences cut or glued (a sentence of the .txt that is not one sentence of the PDF's
   text), header/footer debris left in the text, and whether the page of every sentence is the
   page it was drawn on. Spans: every sentence record's text must equal ``text[start:end]``.
2. A DOCX of the seed article (headings from its title lines): characters/s, spans, sections.
3. The seed gold questions (``eval/gold_seed.jsonl``) against the .txt and against the one-column
   PDF, extractive mode: citation precision/recall of both (gold evidence mapped onto the PDF
   text by its words) and the share of PDF citations whose page is right.
4. ``--pdf FILE ...``: real PDFs without ground truth: speed, pages, characters, exact spans.
5. Structure (``eval/doc_fixtures.py``): a texinfo-style manual as PDF, Markdown, HTML and DOCX, with
   a contents page (dot leaders), numbered headings, a lead-in list, an option table, a function
   signature, an index and page numbers: units right (table rows whole with their header, section
   paths, list heads and lead-ins introducing their blocks, heading levels) and junk rows indexed
   (should be 0), with the rows skipped per reason and the manual PDF's pages per second.
6. OCR (``index/ocr.py``) of scans generated from the seed article (``eval/scan_fixtures.py``: rotated,
   blurred, 200 dpi): character error rate against the drawn text, pages per second (no cache) and the
   time of a cached re-read; then the seed gold questions on a two-column image-only PDF and on a PNG of
   its first page (gold evidence found in the OCR text by fuzzy alignment): citation precision/recall,
   and the share of citations that carry a page and boxes.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from eval import metrics
from eval.metrics import Span
from eval.suites.base import SuiteResult, headline, make_row, progress, sample, warm_up

DESCRIPTION = ("PDF/DOCX ingestion: speed, reading order, debris, exact spans, pages of seed-gold citations; "
               "structure (units right, junk rows) of a manual in PDF/Markdown/HTML/DOCX")
EVAL_DIR = Path(__file__).resolve().parent.parent
SEED = EVAL_DIR.parent / "seeds" / "national_post_us_north_korea_stalemate.txt"
GOLD = EVAL_DIR / "gold_seed.jsonl"
TABLE = [["Meeting", "Place", "Outcome"], ["June 12 summit", "Singapore", "joint statement"],
         ["Fourth Pompeo trip", "Pyongyang", "cancelled"]]
FOOTNOTES = {1: "1 Officials spoke on condition of anonymity.", 2: "2 The letter itself has not been published."}
OCR_HEADLINE = ("ocr.cer", "ocr.cer_max", "ocr.pages_per_s", "ocr.cached_s_max",
                "ocr.seed_scan_pdf.citation_precision_micro", "ocr.seed_scan_pdf.citation_recall_micro",
                "ocr.seed_scan_pdf.citations_located", "ocr.seed_scan_png.citation_precision_micro",
                "ocr.seed_scan_png.citation_recall_micro")
HEADLINE = ("generated_pages", "pages_per_s", "chars_per_s", "sentences_cut_or_glued", "debris_lines_left",
            "sentence_pages_right", "spans_exact", "docx_chars_per_s", "docx_spans_exact",
            "seed_txt.citation_precision_micro", "seed_txt.citation_recall_micro",
            "seed_pdf.citation_precision_micro", "seed_pdf.citation_recall_micro", "seed_pdf.citation_pages_right",
            "structure_units_right", "structure_junk_rows", "manual_pdf_pages_per_s")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pdf", type=Path, nargs="*", default=[], help="real PDFs to time and check")
    p.add_argument("--pdf-source", type=Path, nargs="*", default=[],
                   help="for each --pdf, the text it was typeset from (eval/groff_pdf.py), to count whole sentences")
    p.add_argument("--fifty-pages", type=int, default=50, help="pages of the long generated PDF")
    p.add_argument("--no-ocr", action="store_true", help="skip the OCR figures (scans, ~1-3 s per page on 2 cores)")
    p.add_argument("--ocr-gold", type=Path, default=GOLD,
                   help="seed gold questions asked of the scans (e.g. ../shared/eval/seed_dev.jsonl, held out)")


class Normalised:
    """A text with whitespace runs collapsed to one space, and the map back to original offsets."""

    def __init__(self, text: str) -> None:
        out, index = [], []
        for m in re.finditer(r"\S+", text):
            if out:
                out.append(" ")
                index.append(m.start())
            out.append(m.group())
            index.extend(range(m.start(), m.end()))
        self.text, self.index = "".join(out), index

    def find(self, needle: str, near: float = 0.0) -> tuple[int, int] | None:
        """Original (start, end) of ``needle`` (normalised), the occurrence closest to ``near`` (0..1)."""
        needle = " ".join(needle.split())
        if not needle:
            return None
        hits = [m.start() for m in re.finditer(re.escape(needle), self.text)]
        if not hits:
            return None
        i = min(hits, key=lambda h: abs(h / max(1, len(self.text)) - near))
        return self.index[i], self.index[i + len(needle) - 1] + 1


def sentence_texts(doc_id: str, text: str) -> list[tuple[int, int, str]]:
    from index.document import parse_document

    return [(r.start, r.end, text[r.start : r.end]) for r in parse_document(doc_id, text).sentences]


def check_pdf(path: Path, source: str, drawn) -> dict[str, Any]:
    """Extraction figures of one generated PDF against the source text it was drawn from."""
    from index.locations import location_of
    from index.pdf import extract_pdf

    data = path.read_bytes()
    t0 = time.perf_counter()
    text, loc_map = extract_pdf(data, path.name)
    seconds = time.perf_counter() - t0
    entry = type("Entry", (), {"locations": loc_map})()
    pdf_sentences = {" ".join(s.split()) for _, _, s in sentence_texts("pdf", text)}
    src_sentences = sentence_texts("src", source)
    cut = [s for _, _, s in src_sentences if " ".join(s.split()) not in pdf_sentences]
    norm = Normalised(text)
    pages_right = pages_total = 0
    wrong_pages = []
    for s, e, sent in src_sentences:
        span = norm.find(sent, s / max(1, len(source)))
        loc = location_of(entry, *span) if span else None
        pages_total += 1
        if loc and set(loc.pages) == drawn.page_of(s, e):
            pages_right += 1
        else:
            wrong_pages.append(sent[:80])
    debris = [line for line in text.splitlines() if "Journal of Generated Documents" in line or re.fullmatch(r"Page \d+", line)]
    records = sentence_texts("pdf", text)
    exact = sum(1 for s, e, t in records if text[s:e] == t and location_of(entry, s, e) is not None)
    return {
        "file": path.name, "pages": drawn.pages, "seconds": round(seconds, 4), "pages_per_s": round(drawn.pages / seconds, 1),
        "chars_per_s": round(len(text) / seconds), "chars": len(text), "source_sentences": len(src_sentences),
        "sentences_cut_or_glued": len(cut), "cut_examples": cut[:5], "debris_lines_left": len(debris),
        "sentence_pages_right": pages_right, "sentence_pages_total": pages_total, "wrong_page_examples": wrong_pages[:5],
        "spans_exact": exact / max(1, len(records)),
        "table_rows_found": sum(1 for row in drawn.table_rows if "\t".join(row) in text.splitlines()),
        "footnotes_as_paragraphs": sum(1 for n in drawn.footnotes if f"\n\n{n}" in text or text.startswith(n)),
    }


def check_real_pdf(path: Path, source: Path | None = None) -> dict[str, Any]:
    from index.loaders import load_file
    from index.locations import location_of

    t0 = time.perf_counter()
    loaded = load_file(path)
    seconds = time.perf_counter() - t0
    entry = type("Entry", (), {"locations": loaded.locations})()
    records = sentence_texts("real", loaded.text)
    located = sum(1 for s, e, _ in records if location_of(entry, s, e) is not None)
    pages = len(loaded.locations["page_sizes"])
    spanning = sum(1 for s, e, _ in records if (loc := location_of(entry, s, e)) and len(loc.pages) > 1)
    out = {"file": path.name, "pages": pages, "seconds": round(seconds, 3), "pages_per_s": round(pages / seconds, 1),
           "chars_per_s": round(len(loaded.text) / seconds), "chars": len(loaded.text), "sentences": len(records),
           "sentences_located": located, "sentences_across_pages": spanning}
    if source is not None:
        pdf_sentences = {" ".join(t.split()) for _, _, t in records}
        src = [" ".join(t.split()) for _, _, t in sentence_texts("src", source.read_text(encoding="utf-8"))]
        cut = [t for t in src if t not in pdf_sentences]
        out.update(source_sentences=len(src), sentences_cut_or_glued=len(cut), cut_examples=cut[:5])
    return out


def seed_docx(path: Path, source: str) -> None:
    import docx

    d = docx.Document()
    for n, line in enumerate(line for line in source.splitlines() if line.strip()):
        if n in (0, 1):  # the publication and the headline
            d.add_heading(line, level=n + 1)
        else:
            d.add_paragraph(line)
    d.save(str(path))


def check_docx(path: Path, source: str) -> dict[str, Any]:
    from index.docx import extract_docx
    from index.locations import location_of

    data = path.read_bytes()
    t0 = time.perf_counter()
    text, loc_map = extract_docx(data, path.name)
    seconds = time.perf_counter() - t0
    entry = type("Entry", (), {"locations": loc_map})()
    records = sentence_texts("docx", text)
    exact = sum(1 for s, e, t in records if text[s:e] == t and location_of(entry, s, e) is not None)
    src = {" ".join(s.split()) for _, _, s in sentence_texts("src", source)}
    cut = sum(1 for _, _, s in records if " ".join(s.split()) not in src)
    return {"seconds": round(seconds, 4), "chars_per_s": round(len(text) / seconds), "chars": len(text),
            "spans_exact": exact / max(1, len(records)), "sentences_not_in_source": cut,
            "sections": loc_map["sections"]}


def check_manuals(folder: Path) -> dict[str, Any]:
    """Units right and junk rows of the generated manual in every format, and the PDF's pages/s."""
    from eval.doc_fixtures import check_structure, write_manuals
    from index.loaders import load_file

    paths = write_manuals(folder)
    per_format = {fmt: check_structure(p) for fmt, p in paths.items()}
    t0 = time.perf_counter()
    pages = len(load_file(paths["pdf"]).locations["page_sizes"])
    seconds = time.perf_counter() - t0
    return {"formats": per_format,
            "units_right": sum(f["units_right"] for f in per_format.values()) / sum(f["units_checked"] for f in per_format.values()),
            "junk_rows": sum(f["junk_records"] for f in per_format.values()),
            "pdf_pages_per_s": round(pages / seconds, 1)}


def seed_questions(pdf: Path, drawn, args) -> tuple[dict, dict, list[dict]]:
    """(metrics of the .txt, metrics of the PDF, PDF rows): the seed gold set on both."""
    from eval.suites.seed import load_gold
    from qa import Assistant

    source = SEED.read_text(encoding="utf-8")
    gold = sample(load_gold(GOLD), args.limit, args.seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="citeqa-eval-ingest-") as tmp:
        for kind, path in (("txt", SEED), ("pdf", pdf)):
            a = Assistant.open(paths=[path], index_dir=Path(tmp) / kind)
            warm_up(a, "extractive")
            text = a.document_text(path.name)
            norm = Normalised(text)
            rows = []
            for g in progress(gold, total=len(gold), desc=f"seed {kind}"):
                answer = a.ask(g["question"], history=_history(g), mode="extractive")
                evidence = []
                for ev in g["evidence"]:
                    if kind == "txt":
                        evidence.append(Span(path.name, ev["start"], ev["end"]))
                    elif (span := norm.find(source[ev["start"] : ev["end"]], ev["start"] / len(source))):
                        evidence.append(Span(path.name, *span))
                row = make_row(a, qid=g["id"], kind=g["kind"], question=g["question"], answers=g["answers"],
                               answerable=bool(g["answerable"]), evidence=evidence, answer=answer,
                               latency_ms=0.0, first_token_ms=None)
                if kind == "pdf":
                    src_norm = Normalised(source)
                    for c, rc in zip(answer.citations, row["citations"]):
                        src_span = src_norm.find(c.text, c.start / max(1, len(text)))
                        expected = drawn.page_of(*src_span) if src_span else set()
                        rc["pages"] = list(c.location.pages) if c.location else []
                        rc["page_right"] = bool(c.location) and set(c.location.pages) == expected
                rows.append(row)
            results[kind] = (metrics.aggregate(rows), rows)
    pdf_cites = [c for r in results["pdf"][1] for c in r["citations"]]
    results["pdf"][0]["citation_pages_right"] = sum(c["page_right"] for c in pdf_cites) / max(1, len(pdf_cites))
    return results["txt"][0], results["pdf"][0], results["pdf"][1]


def _history(g: dict) -> list[dict[str, str]]:
    from eval.suites.base import history_turns

    return history_turns(g.get("history"))


def run(args: argparse.Namespace) -> SuiteResult:
    from eval.pdf_fixtures import flow_pdf

    source = SEED.read_text(encoding="utf-8")
    m: dict[str, Any] = {"pdfs": []}
    with tempfile.TemporaryDirectory(prefix="citeqa-ingest-") as tmp:
        tmp = Path(tmp)
        cases = [("one_column.pdf", source, dict(columns=1, hyphenate=True)),
                 ("two_columns_table_footnotes.pdf", source, dict(columns=2, hyphenate=True, table=TABLE, footnotes=FOOTNOTES))]
        long_text = source
        while len(long_text) < args.fifty_pages * 3_900:  # ~3,900 characters fill a two-column page
            long_text += "\n\n" + source
        cases.append(("long_two_columns.pdf", long_text, dict(columns=2, hyphenate=True,
                                                              footnotes={p: f"{p} Note on page {p}." for p in range(1, 200, 7)})))
        drawn_one = None
        for name, text, opts in cases:
            drawn = flow_pdf(text, tmp / name, **opts)
            drawn_one = drawn_one or drawn
            m["pdfs"].append(check_pdf(tmp / name, text, drawn))
        seed_docx(tmp / "seed.docx", source)
        m["docx"] = check_docx(tmp / "seed.docx", source)
        sources = list(args.pdf_source) + [None] * (len(args.pdf) - len(args.pdf_source))
        m["real_pdfs"] = [check_real_pdf(p, s) for p, s in zip(args.pdf, sources)]
        m["structure"] = check_manuals(tmp / "manuals")
        txt_m, pdf_m, rows = seed_questions(tmp / "one_column.pdf", drawn_one, args)
        if not args.no_ocr:
            m["ocr"], ocr_rows = ocr_figures(tmp / "scans", args)
            rows += ocr_rows
    pdfs = m["pdfs"]
    m.update({
        "generated_pages": sum(p["pages"] for p in pdfs),
        "pages_per_s": round(sum(p["pages"] for p in pdfs) / sum(p["seconds"] for p in pdfs), 1),
        "chars_per_s": round(sum(p["chars"] for p in pdfs) / sum(p["seconds"] for p in pdfs)),
        "sentences_cut_or_glued": sum(p["sentences_cut_or_glued"] for p in pdfs),
        "debris_lines_left": sum(p["debris_lines_left"] for p in pdfs),
        "sentence_pages_right": sum(p["sentence_pages_right"] for p in pdfs) / sum(p["sentence_pages_total"] for p in pdfs),
        "spans_exact": min(p["spans_exact"] for p in pdfs),
        "docx_chars_per_s": m["docx"]["chars_per_s"], "docx_spans_exact": m["docx"]["spans_exact"],
        "seed_txt": txt_m, "seed_pdf": pdf_m,
        "structure_units_right": m["structure"]["units_right"], "structure_junk_rows": m["structure"]["junk_rows"],
        "manual_pdf_pages_per_s": m["structure"]["pdf_pages_per_s"],
    })
    config = {"seed_article": str(SEED), "gold": str(GOLD), "ocr_gold": str(args.ocr_gold), "fifty_pages": args.fifty_pages,
              "limit": args.limit,
              "seed": args.seed, "real_pdfs": [str(p) for p in args.pdf]}
    notes = ["Generated PDFs: fpdf2 with DejaVu Sans, running header, 'Page N' footer, hyphenated line ends; "
             "the gold evidence of the .txt is mapped onto the PDF text by its words."]
    if "ocr" in m:
        notes.append("Scans: eval/scan_fixtures.py draws the seed article with Pillow (DejaVu Serif 10 pt), turns it "
                     "1.5-2 degrees, blurs it (Gaussian, radius 0.8-1.0 px) at 200 dpi; CER = Levenshtein distance / "
                     "reference length, whitespace runs as one space.")
    return SuiteResult(config, m, headline(m, HEADLINE + (OCR_HEADLINE if "ocr" in m else ())), rows, notes)


def ocr_figures(tmp: Path, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict]]:
    """OCR error rate and speed on generated scans, and the seed gold questions on two of them."""
    import os

    from eval.scan_fixtures import char_error_rate, image_pdf, scan_pages
    from index.loaders import load_file

    tmp.mkdir(parents=True, exist_ok=True)
    paras = SEED.read_text(encoding="utf-8").split("\n\n")
    article = "\n\n".join(paras[2:])  # below the publication and headline lines
    scans = {
        "scan_one_column.pdf": scan_pages(article, rotate=1.5, blur=0.8),
        "scan_two_columns.pdf": scan_pages(article, columns=2, rotate=1.5, blur=1.0, headline=paras[1]),
        "scan_page_minus2deg.png": scan_pages(article, rotate=-2.0, blur=0.8, max_pages=1),
    }
    scans["scan_two_columns_page1.png"] = scans["scan_two_columns.pdf"]
    files = []
    for name, scan in scans.items():
        path = tmp / name
        if name.endswith(".pdf"):
            image_pdf(scan.pages, path, scan.dpi)
            files.append((path, scan.texts))
        else:
            scan.pages[0].save(path, dpi=(scan.dpi, scan.dpi))
            files.append((path, scan.texts[:1]))
    out: dict[str, Any] = {"files": []}
    previous = os.environ.get("CITEQA_CACHE")
    os.environ["CITEQA_CACHE"] = str(tmp / "cache")  # an empty OCR cache: the first read runs Tesseract
    try:
        for path, texts in progress(files, total=len(files), desc="OCR scans"):
            t0 = time.perf_counter()
            loaded = load_file(path)
            seconds = time.perf_counter() - t0
            t0 = time.perf_counter()
            load_file(path)
            cached = time.perf_counter() - t0
            reference = "\n\n".join(texts)
            out["files"].append({"file": path.name, "pages": len(texts), "seconds": round(seconds, 2),
                                 "pages_per_s": round(len(texts) / seconds, 3), "cached_s": round(cached, 4),
                                 "chars": len(reference), "cer": round(char_error_rate(reference, loaded.text), 5)})
    finally:
        if previous is None:
            os.environ.pop("CITEQA_CACHE", None)
        else:
            os.environ["CITEQA_CACHE"] = previous
    f = out["files"]
    out["cer"] = sum(x["cer"] * x["chars"] for x in f) / sum(x["chars"] for x in f)
    out["cer_max"] = max(x["cer"] for x in f)
    out["pages_per_s"] = round(sum(x["pages"] for x in f) / sum(x["seconds"] for x in f), 3)
    out["cached_s_max"] = max(x["cached_s"] for x in f)
    rows: list[dict] = []
    for key, name in (("seed_scan_pdf", "scan_two_columns.pdf"), ("seed_scan_png", "scan_two_columns_page1.png")):
        out[key], key_rows = ocr_seed_questions(tmp / name, tmp / f"index-{key}", args)
        rows += [dict(r, suite_part=key) for r in key_rows]
    return out, rows


def ocr_seed_questions(path: Path, index_dir: Path, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """The seed gold questions whose evidence is on the scan, asked of it; the gold evidence is found in
    the OCR text by fuzzy alignment (OCR errors allowed)."""
    from rapidfuzz import fuzz

    from eval.suites.seed import load_gold
    from qa import Assistant

    source = SEED.read_text(encoding="utf-8")
    gold = sample(load_gold(getattr(args, "ocr_gold", GOLD)), args.limit, args.seed)
    a = Assistant.open(paths=[path], index_dir=index_dir)
    warm_up(a, "extractive")
    text = a.document_text(path.name)
    rows, located, cited = [], 0, 0
    for g in progress(gold, total=len(gold), desc=f"seed {path.name}"):
        evidence, missing = [], False
        for ev in g["evidence"]:
            needle = source[ev["start"] : ev["end"]]
            hit = fuzz.partial_ratio_alignment(needle, text, score_cutoff=90)
            if hit is None:
                missing = True  # evidence not on this scan (a page left out)
            else:
                evidence.append(Span(path.name, hit.dest_start, hit.dest_end))
        if missing:
            continue
        answer = a.ask(g["question"], history=_history(g), mode="extractive")
        rows.append(make_row(a, qid=g["id"], kind=g["kind"], question=g["question"], answers=g["answers"],
                             answerable=bool(g["answerable"]), evidence=evidence, answer=answer,
                             latency_ms=0.0, first_token_ms=None))
        cited += len(answer.citations)
        located += sum(1 for c in answer.citations if c.location and c.location.pages and c.location.boxes)
    figures = metrics.aggregate(rows)
    figures["citations_located"] = located / max(1, cited)
    figures["questions_on_scan"] = len(rows)
    return figures, rows
