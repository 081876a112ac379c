"""Sentence splitting with exact character offsets into the original text.

Every returned span satisfies ``text[start:end] == sentence`` by construction: we only ever
compute boundaries, never rewrite text. Spans are ordered, disjoint, carry no surrounding
whitespace, and together cover every non-whitespace character of the text.

A rule-based splitter (rather than pysbd/nltk) because both of those normalise or lose
offsets on curly quotes and repeated sentences, and we need offsets that are exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Abbreviations after which a period does not end a sentence (lower-cased, without the dot).
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al approx dept est fig gen gov sen rep
    rev capt col lt sgt cmdr adm maj pres supt inc ltd co corp bros no nos vol pp ch sec art
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun u.s u.k u.n
    a.m p.m ph.d b.a m.a d.c l.a""".split()
)
# Words that usually start a sentence: after a dotted acronym ("the U.S. The ...") they signal a boundary.
SENTENCE_STARTERS = frozenset(
    "the a an he she it they we i this that these those but and so yet however in on at".split()
)
MAX_SENTENCE_CHARS = 800  # longer runs (no punctuation) are cut at whitespace so embeddings stay meaningful

_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*")
_OPENERS = "\"'\u201c\u2018([\u00bf\u00a1"
_BULLET_LINE = re.compile(r"^\s*(?:[-*\u2022#>]|\d+[.)])\s")
_LINE_ENDS_SENTENCE = re.compile(r"[.!?:;\u2026\"'\u201d\u2019)\]]\s*$")
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentence spans (exact offsets into ``text``)."""
    spans: list[Span] = []
    for block_start, block_end in _blocks(text):
        for line_start, line_end in _logical_lines(text, block_start, block_end):
            for s, e in _sentences_in(text, line_start, line_end):
                spans.extend(_cap_length(text, s, e))
    return spans


def _blocks(text: str) -> list[tuple[int, int]]:
    """Paragraphs separated by blank lines: always hard boundaries."""
    out, pos = [], 0
    for m in _BLANK_LINES.finditer(text):
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, len(text)))
    return out


def _logical_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Single newlines end a sentence unless the text is hard-wrapped mid-sentence.

    A newline is kept as a boundary after a line that ends like a sentence, after a short line
    (a heading or caption), or before a bullet/heading line; otherwise the lines are one run.
    """
    out: list[tuple[int, int]] = []
    run_start = start
    pos = start
    while True:
        nl = text.find("\n", pos, end)
        if nl < 0:
            break
        line = text[pos:nl]
        nxt_end = text.find("\n", nl + 1, end)
        nxt = text[nl + 1 : end if nxt_end < 0 else nxt_end]
        nxt_lower = nxt.lstrip()[:1].islower()
        if (
            _LINE_ENDS_SENTENCE.search(line)
            or (len(line.strip()) < 40 and not nxt_lower)
            or _BULLET_LINE.match(nxt)
            or not line.strip()
        ):
            out.append((run_start, nl))
            run_start = nl + 1
        pos = nl + 1
    out.append((run_start, end))
    return out


def _sentences_in(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    seg_start = start
    for m in _END.finditer(text, start, end):
        stop = m.end()
        if stop >= end:
            break
        if not text[stop].isspace():
            continue
        nxt = stop
        while nxt < end and text[nxt].isspace():
            nxt += 1
        if nxt >= end:
            break
        if not _starts_sentence(text[nxt]):
            continue
        if text[m.start()] == "." and m.end() - m.start() == 1 and not _period_ends(text, m.start(), nxt, end):
            continue
        out.append((seg_start, stop))
        seg_start = nxt
    out.append((seg_start, end))
    return [t for t in (strip_span(text, s, e) for s, e in out) if t is not None]


def _starts_sentence(ch: str) -> bool:
    return ch.isupper() or ch.isdigit() or ch in _OPENERS or (not ch.isalpha() and not ch.islower())


def _period_ends(text: str, dot: int, nxt: int, end: int) -> bool:
    """Is the single period at ``dot`` a sentence end? Handles abbreviations and initials."""
    ws = dot
    while ws > 0 and not text[ws - 1].isspace() and text[ws - 1] not in _OPENERS:
        ws -= 1
    word = text[ws:dot]
    low = word.lower()
    if not word:
        return True
    if len(word) == 1 and word.isupper():  # an initial: "J. Smith"
        return False
    if low in ABBREVIATIONS or ("." in word and low.replace(".", "").isalpha() and len(low) <= 6):
        # "U.S." / "Dr." : a boundary only when a typical sentence opener follows a dotted acronym
        if "." in word:
            m = re.match(r"[A-Za-z]+", text[nxt:end])
            return bool(m and m.group(0).lower() in SENTENCE_STARTERS and text[nxt].isupper())
        return False
    return True


def strip_span(text: str, s: int, e: int) -> tuple[int, int] | None:
    """(s, e) without the whitespace at either end; None when nothing else is left."""
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return (s, e) if s < e else None


def _cap_length(text: str, s: int, e: int) -> list[Span]:
    spans: list[Span] = []
    while e - s > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", s + MAX_SENTENCE_CHARS // 2, s + MAX_SENTENCE_CHARS)
        if cut < 0:
            cut = s + MAX_SENTENCE_CHARS
        piece = strip_span(text, s, cut)
        if piece:
            spans.append(Span(*piece))
        rest = strip_span(text, cut, e)
        if rest is None:
            return spans
        s, e = rest
    spans.append(Span(s, e))
    return spans
