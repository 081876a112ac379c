"""Typeset a real public-domain document with groff into a two-column PDF, for ``citeqa eval ingest --pdf``.

    apt-get install groff sqlite3-doc          # gropdf, and SQLite's documentation (public domain)
    python -m eval.groff_pdf /usr/share/doc/sqlite3/atomiccommit.html /tmp/atomiccommit
    python -m eval ingest --pdf /tmp/atomiccommit.pdf --pdf-source /tmp/atomiccommit.txt

Nothing can be downloaded here, so the "real" PDF is made by a real typesetter rather than taken
from the web: groff -ms justifies and hyphenates the text itself, sets two columns, a running
header and a "Page N" footer. The source is an HTML page of SQLite's documentation (Debian's
sqlite3-doc, dedicated to the public domain). Its visible text (index.loaders.html_to_visible_text)
from the first section on is the ground truth, written beside the PDF as ``.txt``, one paragraph
a line, so the suite can count the sentences that extraction kept whole.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

from index.loaders import html_to_visible_text

PREAMBLE = [".ds LH {title}", ".ds CH", ".ds RH SQLite documentation", ".ds CF Page %", ".nr PS 10", ".nr VS 12",
            ".hy 14", ".2C"]


def _escape(line: str) -> str:
    line = line.replace("\\", "\\e")
    return "\\&" + line if line.startswith((".", "'")) else line


def paragraphs(html: str) -> tuple[str, list[str]]:
    """(title, body paragraphs from the first numbered section on; the table of contents is skipped)."""
    text = html_to_visible_text(html)
    paras = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    first = next((p for p in paras if re.match(r"^1\. \S", p)), None)
    # The first section's heading is listed in the table of contents, then starts the body.
    starts = [i for i, p in enumerate(paras) if p == first]
    return paras[0], paras[starts[1] if len(starts) > 1 else 0 :]


def typeset(html_path: Path, out_stem: Path) -> tuple[Path, Path]:
    title, paras = paragraphs(html_path.read_text(encoding="utf-8"))
    ms = [line.format(title=title) for line in PREAMBLE]
    for p in paras:
        heading = re.match(r"^\d+(\.\d+)*\. \S", p) and len(p) < 90 and not p.endswith(".")
        ms += [".SH" if heading else ".PP", _escape(p)]
    pdf, txt = out_stem.with_suffix(".pdf"), out_stem.with_suffix(".txt")
    # -k: preconv reads the UTF-8 input (typographic quotes, arrows) for groff.
    result = subprocess.run(["groff", "-k", "-ms", "-Tpdf", "-P-pa4"], input=("\n".join(ms) + "\n").encode("utf-8"),
                            capture_output=True, check=True)
    pdf.write_bytes(result.stdout)
    txt.write_text("\n\n".join(paras), encoding="utf-8")
    return pdf, txt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("html", type=Path)
    p.add_argument("out_stem", type=Path, help="writes OUT_STEM.pdf and OUT_STEM.txt")
    args = p.parse_args(argv)
    pdf, txt = typeset(args.html, args.out_stem)
    print(f"{pdf}\n{txt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
