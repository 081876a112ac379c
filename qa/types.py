"""Public result types of the QA API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from index.locations import Location


@dataclass(frozen=True, slots=True)
class Citation:
    """An exact span of a document: ``text == Assistant.document_text(doc_id)[start:end]``."""

    doc_id: str
    start: int
    end: int
    text: str
    score: float  # support of the answer by this span, 0..1
    location: Location | None = None  # page(s) and boxes (PDF), heading and paragraph (DOCX); None for plain text

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; the location fields are flat and empty (None, []) when the document has no layout."""
        loc = self.location or Location()
        return {"doc_id": self.doc_id, "start": self.start, "end": self.end, "text": self.text, "score": self.score,
                "page": loc.page, "pages": list(loc.pages),
                "boxes": [dict(zip(("page", "x0", "top", "x1", "bottom"), box)) for box in loc.boxes],
                "section": loc.section, "paragraph": loc.paragraph, "where": loc.describe()}


@dataclass
class Answer:
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    mode: str = "extractive"
    question: str = ""
    standalone_question: str = ""  # the question after resolving references to the chat history
    unsupported: list[str] = field(default_factory=list)  # answer sentences no cited span supports
    timings_ms: dict[str, float] = field(default_factory=dict)
    note: str = ""  # why the answer is not what the requested mode would give (e.g. the LLM draft was replaced)

    def to_dict(self) -> dict[str, Any]:
        """The one JSON shape of an answer (``citeqa ask --json``, the MCP ``ask`` tool); timings are left out."""
        return {"question": self.question, "standalone_question": self.standalone_question, "mode": self.mode,
                "text": self.text, "abstained": self.abstained, "note": self.note, "unsupported": list(self.unsupported),
                "citations": [c.to_dict() for c in self.citations]}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    doc_id: str
    n_sentences: int  # indexed units: sentences, headings, table rows
    n_chars: int
    source: str
    metadata: dict[str, str]
    # rows left out of the index by reason (contents, index pages, dot leaders, page numbers, ...);
    # None for documents indexed before they were counted
    skipped: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "n_sentences": self.n_sentences, "n_chars": self.n_chars,
                "source": self.source, "metadata": dict(self.metadata),
                "skipped": None if self.skipped is None else dict(self.skipped)}
