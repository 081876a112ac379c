"""citeqa: answers about your documents, every claim backed by an exact cited span.

    from qa import Assistant
    a = Assistant.open()
    ans = a.ask("Why was the trip cancelled?")

Names are imported on first use (PEP 562), so light modules (``qa.settings``, ``qa.modes``,
``qa.llm.model_file``) do not pull in FAISS, llama-index or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Answer": "qa.types", "Citation": "qa.types", "DocumentInfo": "qa.types",
    "Assistant": "qa.assistant", "Evidence": "qa.evidence", "Settings": "qa.settings",
    "LLMUnavailableError": "qa.llm.local", "MAX_QUESTION_CHARS": "qa.question", "clean_question": "qa.question",
    "CiteqaError": "index.errors", "IndexCorruptError": "index.errors", "IndexLockedError": "index.errors",
    "IndexMismatchError": "index.errors", "IngestError": "index.errors", "QuestionError": "index.errors",
    "UnknownDocumentError": "index.errors", "IndexUnavailableError": "index.errors",
    "IndexChangedError": "index.errors", "RayUnavailableError": "index.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
