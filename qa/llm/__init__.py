"""Local LLM runtime: the GGUF model file (model_file), ChatML prompts (chatml) and the
process-wide llama.cpp instance with prefix caching (runtime).

Nothing is imported eagerly: ``python -m qa.llm.model_file`` must not find its own module
pre-imported, and llama_cpp / llama-index load only with qa.llm.runtime.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelFileError": "qa.llm.model_file",
    "model_path": "qa.llm.model_file",
    "chatml": "qa.llm.chatml",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qa.llm' has no attribute {name!r}")
