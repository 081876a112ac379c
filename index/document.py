"""A parsed document: its exact text and its sentence records (offsets into that text)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields

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
    return ParsedDocument(doc_id, text, text_sha256(text), source, format, lay.metadata, locations=locations,
                          sentences=records)
