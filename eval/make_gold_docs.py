"""Build eval/gold_docs.jsonl: the project's own gold questions about real technical documents.

The documents are four pages of SQLite's documentation (``eval/docs/sqlite``, copied from Debian's
``sqlite3-doc``; SQLite and its documentation are in the public domain): the limits page, the FAQ, the
"appropriate uses" page and the locking page. None of it was written here. Their answers often sit under a
heading, a list item's head ("Maximum Number Of Columns", "(9) What is the maximum size of a VARCHAR?") or
after a lead-in ending in ":", the shape of issue #28's misses on real manuals.

Evidence is written as exact quotes of each document's indexed text (``index.loaders.load_file``); offsets
are computed here and verified, never typed. ``python -m eval.make_gold_docs`` writes the file, ``--check``
only verifies it; ``--pdf`` does the same for the pages printed to PDF (``eval/docs/sqlite_pdf``,
``eval/gold_docs_pdf.jsonl``). Asked with ``python -m eval seed --config eval/configs/docs-sqlite.json`` (or
``docs-sqlite-pdf.json``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from eval.make_gold_seed import locate, verify

DOCS = Path(__file__).resolve().parent / "docs" / "sqlite"
OUT = Path(__file__).resolve().parent / "gold_docs.jsonl"
# The same pages printed to PDF by Chromium (``--pdf``): the questions and quotes are the same; a quote is found in
# the PDF's text with any run of white space standing for the page's (line breaks fall elsewhere).
PDF_DOCS = DOCS.parent / "sqlite_pdf"
PDF_OUT = OUT.with_name("gold_docs_pdf.jsonl")

QUESTIONS: list[dict] = [
    # --- limits.html: each limit is a list item whose head names it
    {"doc": "limits.html", "q": "How many tables can a join contain at most?", "a": ["64"], "kind": "how",
     "ev": ["SQLite does not support joins containing more than 64 tables."]},
    {"doc": "limits.html", "q": "What is the default maximum number of columns?", "a": ["2000"], "kind": "how",
     "ev": ["The default setting for SQLITE_MAX_COLUMN is 2000."]},
    {"doc": "limits.html", "q": "What does SQLITE_MAX_COLUMN set an upper bound on?", "kind": "what",
     "a": ["The number of columns in a table", "The number of columns in an index"],
     "ev": ["The number of columns in a table", "The number of columns in an index"]},
    {"doc": "limits.html", "q": "How many databases can be attached at the same time by default?", "a": ["10"],
     "kind": "how", "ev": ["The number of simultaneously attached databases is limited to SQLITE_MAX_ATTACHED which is "
                           "set to 10 by default."]},
    {"doc": "limits.html", "q": "How large can an SQLite database be?", "kind": "how",
     "a": ["281 terabytes", "1.4e+14 bytes"],
     "ev": ["this translates into a maximum database size of approximately 1.4e+14 bytes (281 terabytes"]},
    {"doc": "limits.html", "q": "What is the default limit on the length of a string or BLOB?", "kind": "how",
     "a": ["1 billion", "1,000,000,000"],
     "ev": ["The default value of this macro is 1 billion (1 thousand million or 1,000,000,000)."]},
    {"doc": "limits.html", "q": "Why is the depth of trigger recursion limited?", "kind": "why",
     "a": ["to prevent a statement involving recursive triggers from using an unbounded amount of memory"],
     "ev": ["SQLite limits the depth of recursion of triggers in order to prevent a statement involving recursive "
            "triggers from using an unbounded amount of memory."]},
    # --- faq.html: each answer is a list item whose head is the question
    {"doc": "faq.html", "q": "How do I create an AUTOINCREMENT field?", "kind": "how",
     "a": ["A column declared INTEGER PRIMARY KEY will autoincrement", "INTEGER PRIMARY KEY"],
     "ev": ["Short answer: A column declared INTEGER PRIMARY KEY will autoincrement."]},
    {"doc": "faq.html", "q": "In which types can content be stored?", "kind": "what",
     "a": ["INTEGER, REAL, TEXT, BLOB, or as NULL", "INTEGER, REAL, TEXT, BLOB"],
     "ev": ["Content can be stored as INTEGER, REAL, TEXT, BLOB, or as NULL."]},
    {"doc": "faq.html", "q": "What is the maximum size of a VARCHAR in SQLite?", "kind": "what",
     "a": ["SQLite does not enforce the length of a VARCHAR", "does not enforce the length"],
     "ev": ["SQLite does not enforce the length of a VARCHAR."]},
    {"doc": "faq.html", "q": "How can I shrink the database file after deleting a lot of data?", "kind": "how",
     "a": ["run the VACUUM command", "VACUUM"],
     "ev": ["If you delete a lot of data and want to shrink the database file, run the VACUUM command."]},
    {"doc": "faq.html", "q": "What does SQLite return by default when the file is locked by another process?",
     "kind": "what", "a": ["SQLITE_BUSY"],
     "ev": ["When SQLite tries to access a file that is locked by another process, the default behavior is to return "
            "SQLITE_BUSY."]},
    {"doc": "faq.html", "q": "Why should database files not be kept on NFS?", "kind": "why",
     "a": ["fcntl() file locking is broken on many NFS implementations"],
     "ev": ["This is because fcntl() file locking is broken on many NFS implementations."]},
    {"doc": "faq.html", "q": "How must SQLite be compiled to be thread-safe?", "kind": "how",
     "a": ["with the SQLITE_THREADSAFE preprocessor macro set to 1", "SQLITE_THREADSAFE"],
     "ev": ["SQLite must be compiled with the SQLITE_THREADSAFE preprocessor macro set to 1."]},
    # --- whentouse.html: each use is a list item whose head names it
    {"doc": "whentouse.html", "q": "Why does SQLite suit embedded devices?", "kind": "why",
     "a": ["requires no administration"],
     "ev": ["Because an SQLite database requires no administration, it works well in devices that must operate without "
            "expert human support."]},
    {"doc": "whentouse.html", "q": "How many writers can SQLite allow at once?", "kind": "how",
     "a": ["one writer", "one"],
     "ev": ["SQLite supports an unlimited number of simultaneous readers, but it will only allow one writer at any "
            "instant in time."]},
    {"doc": "whentouse.html", "q": "Why is SQLite a good database engine for teaching SQL?", "kind": "why",
     "a": ["simple to setup and use"],
     "ev": ["Because it is simple to setup and use (installation is trivial: just copy the sqlite3 or sqlite3.exe "
            "executable to the target machine and run it) SQLite makes a good database engine for use in teaching "
            "SQL."]},
    # --- lockingv3.html: numbered sections, a table of states after a lead-in, bullet lists after lead-ins
    {"doc": "lockingv3.html", "q": "Which locking states can a database file be in?", "kind": "what",
     "a": ["UNLOCKED", "SHARED", "RESERVED", "PENDING", "EXCLUSIVE"],
     "ev": ["UNLOCKED\tNo locks are held on the database.", "SHARED\tThe database may be read but not written."]},
    {"doc": "lockingv3.html", "q": "Which lock does the pager module not track?", "kind": "what", "a": ["PENDING"],
     "ev": ["A PENDING lock is always just a temporary stepping stone on the path to an EXCLUSIVE lock and so the "
            "pager module does not track PENDING locks."]},
    {"doc": "lockingv3.html", "q": "For what reasons might rollback journals be deleted?", "kind": "why",
     "a": ["An administrator might be cleaning up after an OS crash or power failure",
           "rename the database file but fail to also rename its associated journal",
           "Filesystem corruption following a power failure"],
     "ev": ["An administrator might be cleaning up after an OS crash or power failure, see the journal file, think it "
            "is junk, and delete it.",
            "Someone (or some process) might rename the database file but fail to also rename its associated journal.",
            "Filesystem corruption following a power failure might cause the journal to be renamed or deleted."]},
    {"doc": "lockingv3.html", "q": "Does the BEGIN command acquire any locks?", "kind": "yesno",
     "a": ["no", "does not acquire any locks"],
     "ev": ["Note that the BEGIN command does not acquire any locks on the database."]},
    {"doc": "lockingv3.html", "q": "When is a SHARED lock acquired after a BEGIN command?", "kind": "when",
     "a": ["when the first SELECT statement is executed", "the first SELECT statement"],
     "ev": ["After a BEGIN command, a SHARED lock will be acquired when the first SELECT statement is executed."]},
    # --- not in these documents
    {"q": "Who wrote SQLite?", "kind": "unanswerable"},
    {"q": "Which TCP port does the SQLite server listen on?", "kind": "unanswerable"},
    {"q": "What is the maximum number of indexes on one table?", "kind": "unanswerable"},
    {"q": "In which version was write-ahead logging introduced?", "kind": "unanswerable"},
]


def texts(folder: Path, suffix: str = ".html") -> dict[str, str]:
    """Each document's indexed text, by document id (its file name, as ``Assistant.open`` names it)."""
    from index.loaders import load_file

    return {p.name: load_file(p).text for p in sorted(folder.glob("*" + suffix))}


def locate_loosely(text: str, quote: str) -> tuple[int, int]:
    """The one place of ``quote`` in ``text``, white space matching any white space."""
    found = list(re.finditer(r"\s+".join(map(re.escape, quote.split())), text))
    if len(found) != 1:
        raise ValueError(f"quote found {len(found)} times: {quote!r}")
    return found[0].span()


def build(docs: dict[str, str], suffix: str = ".html") -> list[dict]:
    rows = []
    for n, spec in enumerate(QUESTIONS, 1):
        evidence = []
        for quote in spec.get("ev", []):
            doc = spec["doc"].removesuffix(".html") + suffix
            text = docs[doc]
            start, end = locate(text, quote) if suffix == ".html" else locate_loosely(text, quote)
            evidence.append({"doc": doc, "text": text[start:end], "start": start, "end": end})
        rows.append({"id": f"docs-{n:02d}", "question": spec["q"], "answers": spec.get("a", []),
                     "answerable": bool(spec.get("a")), "evidence": evidence, "kind": spec["kind"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pdf", action="store_true", help=f"the PDF versions ({PDF_DOCS.name}/ -> {PDF_OUT.name})")
    p.add_argument("--check", action="store_true", help="verify the existing file instead of writing it")
    args = p.parse_args(argv)
    folder, out, suffix = (PDF_DOCS, PDF_OUT, ".pdf") if args.pdf else (DOCS, OUT, ".html")
    docs = texts(folder, suffix)
    rows = ([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
            if args.check else build(docs, suffix))
    problems = [m for doc, text in docs.items()
                for m in verify([{**r, "evidence": [e for e in r["evidence"] if e["doc"] == doc]}
                                 for r in rows if any(e["doc"] == doc for e in r["evidence"])], text)]
    problems += [f"{r['id']}: unanswerable questions need no evidence" for r in rows
                 if not r["answerable"] and r["evidence"]]
    for msg in problems:
        print(msg, file=sys.stderr)
    if not problems and not args.check:
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} questions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
