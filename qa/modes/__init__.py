"""Answer modes: components that turn ``qa.evidence.Evidence`` into an ``Answer``.

A mode has a ``name`` and ``stream(evidence) -> Iterator[str | Answer]`` (text deltas, then the final
Answer, always last). Modes never see the Assistant or its locks. A new mode is one file here plus
its line in ``qa.assistant.Assistant._make_mode`` and its name in ``MODES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from qa.evidence import Evidence
    from qa.types import Answer

MODES = ("extractive", "generative", "combined")


class AnswerMode(Protocol):
    name: str

    def stream(self, ev: "Evidence") -> Iterator["str | Answer"]: ...
