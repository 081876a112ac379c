"""Public result types of the QA API."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    doc_id: str
    n_sentences: int
    n_chars: int
    source: str
    metadata: dict[str, str]
