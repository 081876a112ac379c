"""Instant answer first, then the LLM's: the quoted answer (milliseconds) is yielded as an Answer
before the LLM starts, then the LLM's deltas, then the final Answer.

The final Answer is the LLM's when it passed the checks; when the LLM abstains or its draft is
unsupported, the quoted answer stays, with a note saying why. Without a usable LLM the quoted answer
is final, with the reason as its note.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from qa.evidence import Evidence
from qa.modes.extractive import ExtractiveMode
from qa.modes.generative import GenerativeMode
from qa.types import Answer

KEPT_NOTE = "The language model found no supported answer; the quoted sentences stand."


class CombinedMode:
    name = "combined"

    def __init__(self, quoted: ExtractiveMode, generative: GenerativeMode | None, unavailable_reason: str = "") -> None:
        self.quoted = quoted
        self.generative = generative
        self.unavailable_reason = unavailable_reason

    def stream(self, ev: Evidence) -> Iterator[str | Answer]:
        quoted = self.quoted.answer(ev)
        yield quoted
        if ev.abstains:
            yield quoted  # nothing to write about: the LLM is not asked
            return
        if self.generative is None:
            yield replace(quoted, note=f"No written answer: {self.unavailable_reason}.")
            return
        final = None
        for item in self.generative.stream(ev):
            if isinstance(item, Answer):
                final = item
            else:
                yield item
        if final is None or final.abstained:
            final = replace(quoted, note=KEPT_NOTE, timings_ms={**quoted.timings_ms, **(final.timings_ms if final else {})})
        yield final
