"""Throw hostile PDF and DOCX files at the indexer and check each gives an answerable document or
one clear IngestError with the index left byte-identical.

    python tests/tools/fuzz_files.py --count 200 --seed 1

The files are generated deterministically from --seed: valid PDFs and DOCX files with bytes
overwritten, cut off or duplicated; encrypted and text-less (scanned) PDFs; zip bombs; zips that
are no Word document; Office's encrypted container; random bytes. They go through
``Assistant.add_paths`` into a persistent index (the same call the chat's upload makes; uploads
cannot be driven through the server's public API), in this process. Outcomes:
- added: indexed, and every sentence record is an exact span whose location names real pages;
- error: an IngestError naming the file, and the index directory byte-identical to before;
- crashed: any other exception, or an error that changed the index, or a record out of bounds.
Prints one JSON line; exits 0 only when nothing crashed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

TEXT = ("The lighthouse keeper of Greyport is Oswald Brightwater. He lights the lamp at dusk. "
        "Ships pass the headland at night.")


def _pdf(pages: int) -> bytes:
    from eval.pdf_fixtures import flow_pdf

    with tempfile.TemporaryDirectory() as tmp:
        flow_pdf("\n\n".join([TEXT] * pages * 12), Path(tmp) / "x.pdf", columns=2, hyphenate=True)
        return (Path(tmp) / "x.pdf").read_bytes()


def _docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Greyport", 1)
    for _ in range(5):
        d.add_paragraph(TEXT)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _special(kind: str) -> bytes:
    from eval.pdf_fixtures import encrypted_pdf, scanned_pdf

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "x.pdf"
        (encrypted_pdf if kind == "encrypted" else scanned_pdf)(f)
        return f.read_bytes()


def _bomb(size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<w:document>" + b"A" * size)
    return buf.getvalue()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.choice(("flip", "cut", "dup", "zero"))
        i = rng.randrange(len(out))
        if op == "flip":
            out[i] ^= 1 << rng.randrange(8)
        elif op == "cut":
            del out[i:]
            if not out:
                out = bytearray(b"%")
        elif op == "dup":
            out[i:i] = out[i : i + rng.randint(1, 2000)]
        else:
            out[i : i + rng.randint(1, 500)] = bytes(rng.randint(1, 500))
    return bytes(out)


def generate(count: int, seed: int) -> list[tuple[str, str, bytes]]:
    """(kind, file name, bytes) for ``count`` hostile files."""
    rng = random.Random(seed)
    pdf, docx_bytes = _pdf(2), _docx()
    fixed = [("encrypted", "locked.pdf", _special("encrypted")), ("scanned", "scan.pdf", _special("scanned")),
             ("zip_bomb", "bomb.docx", _bomb(300 * 1024 * 1024)), ("not_word", "zip.docx", _bomb(100)),
             ("ole", "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000)),
             ("random", "noise.pdf", rng.randbytes(5000)), ("random", "noise.docx", rng.randbytes(5000)),
             ("valid", "ok.pdf", pdf), ("valid", "ok.docx", docx_bytes)]
    cases = fixed[:count]
    while len(cases) < count:
        n = len(cases)
        if n % 2:
            cases.append(("mutated_pdf", f"m{n}.pdf", _mutate(rng, pdf)))
        else:
            cases.append(("mutated_docx", f"m{n}.docx", _mutate(rng, docx_bytes)))
    return cases


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(path).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def run_case(a, idx: Path, folder: Path, kind: str, name: str, data: bytes) -> tuple[str, str]:
    from index.locations import location_of
    from qa import IngestError

    f = folder / name
    f.write_bytes(data)
    before = _digest(idx)
    try:
        a.add_paths([f])
    except IngestError as exc:
        if name not in str(exc) or _digest(idx) != before:
            return "crashed", f"unclear error or changed index: {exc}"
        return "error", str(exc)
    except Exception as exc:  # noqa: BLE001 - anything else is what this script looks for
        return "crashed", f"{type(exc).__name__}: {exc}"
    finally:
        f.unlink(missing_ok=True)
    entry = a.corpus.documents.get(name)
    if entry is None:
        return "crashed", "added without error but not in the corpus"
    n_pages = len((entry.locations or {}).get("page_sizes", [])) or None
    for r in a.corpus.records:
        if r.doc_id != name:
            continue
        if not 0 <= r.start < r.end <= len(entry.text):
            return "crashed", f"record out of bounds: {r}"
        loc = location_of(entry, r.start, r.end)
        if loc is not None and n_pages and not all(1 <= p <= n_pages for p in loc.pages):
            return "crashed", f"location names a page that does not exist: {loc.pages}"
    a.remove(name)
    return "added", ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    from qa import Assistant

    t0 = time.monotonic()
    cases = generate(args.count, args.seed)
    outcomes: Counter = Counter()
    by_kind: dict[str, Counter] = {}
    crashes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="citeqa-fuzz-files-") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        base = tmp / "base.txt"
        base.write_text("Copper conducts electricity well.", encoding="utf-8")
        a = Assistant.open(paths=[base], index_dir=tmp / "idx")
        for kind, name, data in cases:
            outcome, detail = run_case(a, tmp / "idx", tmp / "in", kind, name, data)
            outcomes[outcome] += 1
            by_kind.setdefault(kind, Counter())[outcome] += 1
            if outcome == "crashed" and len(crashes) < 10:
                crashes.append(f"{name}: {detail}")
    print(json.dumps({"seed": args.seed, "files": len(cases), "added": outcomes["added"], "errors": outcomes["error"],
                      "crashes": outcomes["crashed"], "seconds": round(time.monotonic() - t0, 1),
                      "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())}, "crash_examples": crashes}))
    return 0 if outcomes["crashed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
