"""A parsed document: its exact text and its sentence records (offsets into that text)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from index import layout
from index.sentences import split_sentences


@dataclass(frozen=True, slots=True)
class SentenceRecord:
    """One retrievable unit: a body sentence or a metadata line (byline, headline, ...).

    ``index_text`` is what gets embedded and matched when it differs from the span text
    (metadata lines get a descriptive phrase); citations always use ``start``/``end``.
    """

    doc_id: str
    start: int
    end: int
    kind: str = layout.BODY
    index_text: str | None = None


@dataclass
class ParsedDocument:
    doc_id: str
    text: str
    sha256: str
    source: str = ""
    format: str = "text"
    metadata: dict[str, str] = field(default_factory=dict)
    sentences: list[SentenceRecord] = field(default_factory=list)
    locations: dict | None = None  # index.locations map (PDF pages/boxes, DOCX paragraphs), None for plain text


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def parse_document(doc_id: str, text: str, source: str = "", format: str = "text",
                   locations: dict | None = None) -> ParsedDocument:
    lay = layout.analyze(text)
    records: list[SentenceRecord] = []
    for region in lay.regions:
        if region.kind == layout.BODY:
            chunk = text[region.start : region.end]
            records.extend(
                SentenceRecord(doc_id, region.start + sp.start, region.start + sp.end)
                for sp in split_sentences(chunk)
            )
        elif region.kind in layout.META_KINDS:
            span_text = text[region.start : region.end]
            records.append(
                SentenceRecord(doc_id, region.start, region.end, region.kind,
                               layout.index_text_for(region.kind, span_text, lay.metadata))
            )
    return ParsedDocument(doc_id, text, text_sha256(text), source, format, lay.metadata, records, locations)
