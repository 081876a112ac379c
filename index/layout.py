"""Recognise the parts of a document that are not body text, without changing any offset.

Newspaper exports carry debris that must not pollute answers: photo-caption markers
(``?? NAME / AGENCY ??``), a caption printed twice, an all-capitals pull quote repeating a
sentence, and footer lines ("Newspapers in English"). Their header (publication, headline,
deck, byline) and dateline become metadata, each kept with its exact span so that a question
such as "Who wrote the article?" can be answered with a citation of the byline.

The result is a list of labelled regions of the original text; only regions labelled ``body``
are split into sentences, metadata regions become one record each, debris is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BODY = "body"
META_KINDS = ("publication", "headline", "deck", "byline", "dateline", "photo_credit")

_CAPTION_MARKER = re.compile(r"\?\?\s*[^?\n]{1,120}?\s*\?\?")
_BYLINE = re.compile(r"^(?:[-\u2013\u2014]\s*|By\s+)(?P<rest>\S.*)$")
# The place, then a bullet, dash or colon; in OCR text the bullet may be read as other symbols ("«°")
# or dropped, so an all-capitals place followed by a capitalised word also counts.
_DATELINE = re.compile(r"^(?:(?P<place>[A-Z][A-Z .,'\u2019-]{1,40}?)\s*(?:\u2022|\u2014|\u2013|--|-|:|[^\w\s.,'\u2019-]{1,3})\s+\S"
                       r"|(?P<bare>[A-Z]{2,}(?:[ -][A-Z]{2,}){0,3})(?=\s+[A-Z][a-z]))")
_FOOTERS = re.compile(
    r"^(?:Newspapers (?:in|from) \w+|PressReader|Printed and distributed by .*|Copyright .*|\u00a9.*|All rights reserved\.?)$",
    re.IGNORECASE,
)
HEADER_MAX_LINES = 6
HEADER_LINE_MAX_CHARS = 140
# Captions printed twice and pull quotes are found by comparing lines: quadratic if done naively, so
# sets and C string search are used, within budgets; a document that would exceed them is not a
# newspaper export and its lines stay body text.
CAPTION_MAX_LOOKUPS = 5_000_000  # body lines x distinct caption lengths
PULL_QUOTE_MAX_SCAN = 200_000_000  # candidate lines x characters of all body lines


@dataclass(frozen=True, slots=True)
class Region:
    start: int
    end: int
    kind: str


@dataclass
class Layout:
    regions: list[Region]
    metadata: dict[str, str] = field(default_factory=dict)


def _lines(text: str) -> list[tuple[int, int]]:
    """Non-blank lines as stripped (start, end) spans."""
    out = []
    for m in re.finditer(r"[^\n]+", text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


def _is_all_caps(s: str) -> bool:
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) >= 0.9 * len(letters)


def _looks_like_paragraph(line: str) -> bool:
    return len(line) > HEADER_LINE_MAX_CHARS or bool(re.search(r"[.!?][\"\u201d\u2019]?\s+\S", line))


def analyze(text: str) -> Layout:
    lines = _lines(text)
    kinds: dict[int, str] = {}
    extra: list[Region] = []
    metadata: dict[str, str] = {}

    # Header: short lines before the first paragraph; newspaper metadata only if a byline is among them.
    header: list[int] = []
    for i, (s, e) in enumerate(lines[:HEADER_MAX_LINES]):
        if _looks_like_paragraph(text[s:e]):
            break
        header.append(i)
    byline_at = next((i for i in header if _BYLINE.match(text[lines[i][0] : lines[i][1]])), None)
    if byline_at is not None:
        before = header[:byline_at]
        names = {3: ("publication", "headline", "deck"), 2: ("headline", "deck"), 1: ("headline",)}
        for i, kind in zip(before[-3:], names.get(min(len(before), 3), ())):
            kinds[i] = kind
        bs, be = lines[byline_at]
        m = _BYLINE.match(text[bs:be])
        assert m is not None
        rest_start = bs + m.start("rest")
        extra.append(Region(rest_start, be, "byline"))
        kinds[byline_at] = "byline"
        author, agency = split_byline(text[rest_start:be])
        metadata["author"] = author
        if agency:
            metadata["agency"] = agency
    elif header and len(lines) > 1 and not text[lines[0][0] : lines[0][1]].rstrip().endswith((".", "?", "!")):
        kinds[0] = "headline"
    for i, kind in kinds.items():
        if kind != "byline":
            metadata[kind] = text[lines[i][0] : lines[i][1]]

    body_lines = [i for i in range(len(lines)) if i not in kinds]
    if body_lines:
        s, e = lines[body_lines[0]]
        m = _DATELINE.match(text[s:e])
        if m and byline_at is not None:
            group = "place" if m.group("place") else "bare"
            metadata["dateline"] = m.group(group).strip()
            # Its own record (overlapping the first sentence) so "where was it filed?" can cite it.
            extra.append(Region(s + m.start(group), s + m.start(group) + len(metadata["dateline"]), "dateline"))

    # Captions: the marker is debris; the caption text itself is a photo caption, not article text.
    caption_texts: list[str] = []
    for i in body_lines:
        s, e = lines[i]
        line = text[s:e]
        m = _CAPTION_MARKER.search(line)
        if m:
            kinds[i] = "caption"
            caption_texts.append(_norm(line[m.end() :]))
            credit = re.search(r"\?\?\s*(.*?)\s*\?\?", line[m.start() : m.end()])
            if credit and credit.group(1):
                cs = s + m.start() + credit.start(1)
                extra.append(Region(cs, cs + len(credit.group(1)), "photo_credit"))
                metadata.setdefault("photo_credit", credit.group(1))
    by_length: dict[int, set[str]] = {}  # a line is a duplicate when it ends with a caption text
    for c in caption_texts:
        if c:
            by_length.setdefault(len(c), set()).add(c)
    if by_length and len(by_length) * len(body_lines) <= CAPTION_MAX_LOOKUPS:
        for i in body_lines:
            if i in kinds:
                continue
            n = _norm(text[lines[i][0] : lines[i][1]])
            if any(length <= len(n) and n[len(n) - length :] in texts for length, texts in by_length.items()):
                kinds[i] = "caption_duplicate"

    # Pull quotes: an all-capitals line that repeats text found in another line.
    normalised = {i: _norm(text[lines[i][0] : lines[i][1]]) for i in body_lines if i not in kinds}
    candidates = [i for i, n in normalised.items()
                  if _is_all_caps(text[lines[i][0] : lines[i][1]]) and len(n.split()) >= 4]
    if candidates:
        # Lines joined by newlines (which no normalised line contains): the candidate occurs once as
        # its own line, so a second occurrence is inside another line.
        joined = "\n".join(normalised.values())
        if len(candidates) * len(joined) <= PULL_QUOTE_MAX_SCAN:
            for i in candidates:
                if joined.count(normalised[i]) > 1:
                    kinds[i] = "pull_quote"

    # Footer: known export footers among the last lines.
    for i in range(max(0, len(lines) - 5), len(lines)):
        if i not in kinds and _FOOTERS.match(text[lines[i][0] : lines[i][1]]):
            kinds[i] = "footer"

    regions = [Region(s, e, kinds.get(i, BODY)) for i, (s, e) in enumerate(lines) if kinds.get(i) != "byline"]
    regions.extend(extra)
    regions.sort(key=lambda r: r.start)
    return Layout(_merge_body(text, regions), metadata)


def _merge_body(text: str, regions: list[Region]) -> list[Region]:
    """Adjacent body lines form one region again, so hard-wrapped sentences stay whole."""
    out: list[Region] = []
    for r in regions:
        if out and r.kind == BODY and out[-1].kind == BODY:
            out[-1] = Region(out[-1].start, r.end, BODY)
        else:
            out.append(r)
    return out


def split_byline(rest: str) -> tuple[str, str]:
    """'JOSH ROGIN The Washington Post' -> ('Josh Rogin', 'The Washington Post'); 'Jane Doe, Reuters' too."""
    if "," in rest:
        author, agency = rest.split(",", 1)
        return author.strip(), agency.strip()
    words = rest.split()
    caps = 0
    while caps < len(words) and words[caps].isupper() and len(words[caps]) > 1:
        caps += 1
    if 0 < caps < len(words):
        return " ".join(w.capitalize() for w in words[:caps]), " ".join(words[caps:])
    return rest.strip(), ""


def index_text_for(kind: str, span_text: str, metadata: dict[str, str]) -> str:
    """What we embed and match for a metadata record (the citation still points at ``span_text``)."""
    if kind == "byline":
        who = metadata.get("author", span_text)
        agency = metadata.get("agency")
        return (f"Article author (who wrote the article, the reporter): written by {who}"
                + (f", who works for the news organisation {agency}" if agency else "") + ".")
    if kind == "headline":
        return f"Headline, title of the article: {span_text}"
    if kind == "deck":
        return f"Subheadline of the article: {span_text}"
    if kind == "dateline":
        return f"Dateline: the story was filed from (reported from) the city {span_text.title()}."
    if kind == "photo_credit":
        return f"Photo credit (who took the photograph, picture): {span_text}"
    if kind == "publication":
        return f"Published in the newspaper {span_text}."
    return span_text
