"""citeqa: answers about your documents, every claim backed by an exact cited span.

    from qa import Assistant
    a = Assistant.open()
    ans = a.ask("Why was the trip cancelled?")
"""

from index.errors import (
    CiteqaError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IngestError,
    QuestionError,
    UnknownDocumentError,
)
from qa.assistant import Assistant
from qa.question import MAX_QUESTION_CHARS, clean_question
from qa.types import Answer, Citation, DocumentInfo

__all__ = [
    "Answer", "Assistant", "Citation", "CiteqaError", "DocumentInfo", "IndexCorruptError", "IndexLockedError",
    "IndexMismatchError", "IngestError", "MAX_QUESTION_CHARS", "QuestionError", "UnknownDocumentError",
]
