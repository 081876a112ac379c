"""A parsed document: its exact text and its sentence records (offsets into that text)."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, fields

from index import layout, structure
from index.sentences import split_sentences, strip_span


@dataclass(frozen=True, slots=True)
class SentenceRecord:
    """One retrievable unit: a body sentence or a metadata line (byline, headline, ...).

    ``index_text`` is what gets embedded and matched when it differs from the span text
    (metadata lines get a descriptive phrase, table rows their header cells); citations always use
    ``start``/``end``. The structure (``index/structure.py``) when the loader knew it, else None/0/-1:
    ``block`` the kind of block the row is in, ``section`` its section path ("2 Usage > 2.1 Options"),
    ``level`` the heading level or list depth, ``block_start`` where its block starts (rows of one
    block share it).
    """

    doc_id: str
    start: int
    end: int
    kind: str = layout.BODY
    index_text: str | None = None
    block: str | None = None
    section: str | None = None
    level: int = 0
    block_start: int = -1


@dataclass
class DocumentEntry:
    """A document of the corpus (what documents.json stores)."""

    doc_id: str
    text: str
    sha256: str
    source: str = ""
    format: str = "text"
    metadata: dict[str, str] = field(default_factory=dict)
    source_size: int = -1  # fingerprint of the file it came from, to notice changes cheaply
    source_mtime_ns: int = -1
    # Where each span is in the original file (index.locations); None for plain text and for
    # documents saved before PDF/DOCX support (documents.json without the field).
    locations: dict | None = None
    # Rows left out of the index, by reason (table of contents, dot leaders, page numbers, ...);
    # None for documents of indexes saved before they were counted.
    skipped: dict[str, int] | None = None

    @property
    def n_chars(self) -> int:
        return len(self.text)


@dataclass
class ParsedDocument(DocumentEntry):
    """A document as read from its file, with its sentence records: what ``Corpus.add`` takes."""

    sentences: list[SentenceRecord] = field(default_factory=list)

    def entry(self, source_size: int = -1, source_mtime_ns: int = -1) -> DocumentEntry:
        kept = {f.name: getattr(self, f.name) for f in fields(DocumentEntry)}
        return DocumentEntry(**{**kept, "source_size": source_size, "source_mtime_ns": source_mtime_ns})


def indexed_texts(doc_text: str, records) -> list[str]:
    """What each record is embedded and matched by: its index text, else its span of the document."""
    return [r.index_text or doc_text[r.start : r.end] for r in records]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def parse_document(doc_id: str, text: str, source: str = "", format: str = "text",
                   locations: dict | None = None) -> ParsedDocument:
    """The document's records: newspaper metadata lines (index/layout.py) and, in its body, one
    record per sentence, heading or table row, with the block structure of ``locations["blocks"]``
    when the loader knew it (index/structure.py). Junk rows are counted in ``skipped``, not indexed."""
    lay = layout.analyze(text)
    rows = _Rows(doc_id, text, (locations or {}).get("blocks") or [])
    records: list[SentenceRecord] = []
    for region in lay.regions:
        span = (region.start, region.end) if region.kind == layout.BODY else rows.not_metadata(region)
        if span is not None:
            records.extend(rows.body(*span))
            if region.kind == "byline":
                for key in ("author", "agency"):
                    lay.metadata.pop(key, None)
        elif region.kind in layout.META_KINDS:
            span_text = text[region.start : region.end]
            records.append(rows.record(region.start, region.end, region.kind,
                                       layout.index_text_for(region.kind, span_text, lay.metadata)))
    return ParsedDocument(doc_id, text, text_sha256(text), source, format, lay.metadata, locations=locations,
                          skipped=dict(rows.skipped), sentences=records)


# A list item is never a byline (a Markdown "- Oil the hinge." looks like a dash byline to the newspaper layout).
_NOT_TITLES = frozenset({structure.TABLE_HEADER, structure.TABLE_ROW, structure.CODE, structure.LIST_ITEM}) | structure.SKIPPED


class _Rows:
    """Records of body text, block by block."""

    def __init__(self, doc_id: str, text: str, blocks: list[list]) -> None:
        self.doc_id, self.text, self.blocks = doc_id, text, blocks
        self.starts = [b[0] for b in blocks]
        self.sections = structure.section_paths(blocks, text)
        self.headers: dict[int, list[str]] = {}  # block number -> header cells of its table
        header: list[str] | None = None
        for i, (s, e, kind, *_) in enumerate(blocks):
            if kind == structure.TABLE_HEADER:
                header = structure.cells(text[s:e])
            elif kind == structure.TABLE_ROW and header:
                self.headers[i] = header
            elif kind != structure.FURNITURE:
                header = None
        self.skipped: Counter[str] = Counter()
        # Blocks from the second heading on: inside a section, not the title's head of the document.
        heads = [i for i, b in enumerate(blocks) if b[2] == structure.HEADING]
        self.in_section = [len(heads) > 1 and i >= heads[1] for i in range(len(blocks))]

    def _block_at(self, offset: int) -> int:
        """The number of the block containing (or last starting before) ``offset``, -1 before any."""
        return bisect.bisect_right(self.starts, offset) - 1

    def not_metadata(self, region: layout.Region) -> tuple[int, int] | None:
        """The span to read as body text when a line the newspaper layout takes for a title or a
        byline is a table row, a list item, code or a skipped block (the structure knows better): the whole
        block, as the byline's span leaves out its dash. None for real metadata."""
        i = self._block_at(region.end - 1)  # the block the line overlaps (its markup, "## ", may precede it)
        if region.kind not in ("publication", "headline", "deck", "byline") or i < 0:
            return None
        start, end, kind = self.blocks[i][:3]
        # Inside a section (from the document's second heading on) a line is no headline, deck or byline.
        if region.start < end and start < region.end and (kind in _NOT_TITLES or self.in_section[i]):
            return min(start, region.start), max(end, region.end)
        return None

    def record(self, start: int, end: int, kind: str = layout.BODY, index_text: str | None = None) -> SentenceRecord:
        i = self._block_at(start)
        if i < 0:
            return SentenceRecord(self.doc_id, start, end, kind, index_text)
        bs, be, block, level, *_ = self.blocks[i]
        section = self.sections[i] or None
        if start >= be:  # text after the block, in no block: its section still holds
            return SentenceRecord(self.doc_id, start, end, kind, index_text, None, section)
        return SentenceRecord(self.doc_id, start, end, kind, index_text, block, section, level, bs)

    def body(self, start: int, end: int) -> list[SentenceRecord]:
        out: list[SentenceRecord] = []
        pos = start
        i = max(self._block_at(start), 0)
        while pos < end:
            if i < len(self.blocks) and self.blocks[i][1] <= pos:
                i += 1
                continue
            if i >= len(self.blocks) or self.blocks[i][0] >= end:  # no block here: plain sentences
                out.extend(self._sentences(pos, end, markup=bool(self.blocks)))
                break
            bs, be, kind = self.blocks[i][:3]
            if bs > pos:
                out.extend(self._sentences(pos, bs, markup=True))
                pos = bs
            piece_end = min(be, end)
            if kind in structure.SKIPPED:
                self.skipped[kind] += sum(1 for line in self.text[pos:piece_end].splitlines() if line.strip())
            elif kind in structure.WHOLE:
                out.extend(self._whole(i, pos, piece_end))
            else:
                rows = self._sentences(pos, piece_end)
                if kind == structure.LIST_ITEM and len(rows) > 1 and structure.is_list_marker(
                        self.text[rows[0].start : rows[0].end]):
                    rows[:2] = [self.record(rows[0].start, rows[1].end)]  # "1." + "Maximum Number Of Columns"
                out.extend(rows)
            pos = piece_end
            i += 1
        return out

    def _whole(self, i: int, start: int, end: int) -> list[SentenceRecord]:
        stripped = strip_span(self.text, start, end)
        if stripped is None:
            return []
        s, e = stripped
        span = self.text[s:e]
        reason = structure.junk_reason(span)
        if reason:
            self.skipped[reason] += 1
            return []
        kind = self.blocks[i][2]
        index_text = None
        if kind in (structure.TABLE_ROW, structure.TABLE_HEADER):
            index_text = structure.row_index_text(span, self.headers.get(i))
            index_text = None if index_text == span else index_text
        return [self.record(s, e, layout.BODY, index_text)]

    def _sentences(self, start: int, end: int, markup: bool = False) -> list[SentenceRecord]:
        """Sentence records of a stretch; ``markup``: text between blocks, whose lone symbols are
        the source's markup (Markdown bullets and ``#``), not rows of the document."""
        out = []
        for s, e in self._without_toc_lines(start, end):
            for sp in split_sentences(self.text[s:e]):
                span = self.text[s + sp.start : s + sp.end]
                reason = structure.junk_reason(span)
                if reason:
                    if not (markup and reason == "symbols"):
                        self.skipped[reason] += 1
                else:
                    out.append(self.record(s + sp.start, s + sp.end))
        return out

    def _without_toc_lines(self, start: int, end: int) -> list[tuple[int, int]]:
        """The stretch split around lines of a table of contents (dot leaders and a page number),
        which are counted as skipped."""
        chunk = self.text[start:end]
        if not structure.has_dot_leaders(chunk):
            return [(start, end)]
        out, pos = [], start
        for m in re.finditer(r"[^\n]+", chunk):
            if structure.is_toc_line(m.group()):
                self.skipped[structure.TOC] += 1
                out.append((pos, start + m.start()))
                pos = start + m.end()
        out.append((pos, end))
        return [(s, e) for s, e in out if e > s]

