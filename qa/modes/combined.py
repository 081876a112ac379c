"""Instant answer first, then the LLM's: the quoted answer (milliseconds) is yielded as an Answer
before the LLM starts, then the LLM's deltas, then the final Answer.

The final Answer is the LLM's when every sentence of its draft passed the claim check (qa/verify.py). The
quoted answer stays when the LLM abstains or its draft is unsupported, with a note saying why; and when only
part of the draft is supported, the draft is less precise than the quotes: the quotes stay the answer and
the draft is shown in the note, labelled as a summary of them (docs/decisions/0223-combined-keeps-precise-quotes.md).
Without a usable LLM the quoted answer is final, with the reason as its note.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from qa.evidence import Evidence
from qa.modes.extractive import ExtractiveMode
from qa.modes.generative import GenerativeMode
from qa.types import Answer

KEPT_NOTE = "The language model found no supported answer; the quoted sentences stand."
SUMMARY_LABEL = "Summary by the language model, less precise than the quotes (not every sentence is backed by them):"
_MARKERS = re.compile(r"\s*\[\d+\]")


def summary_note(draft: Answer) -> str:
    """The note that shows a partly unsupported draft as a summary of the quotes (its markers removed)."""
    return f"{SUMMARY_LABEL} {_MARKERS.sub('', draft.text).strip()}"


class CombinedMode:
    name = "combined"

    def __init__(self, quoted: ExtractiveMode, generative: GenerativeMode | None, unavailable_reason: str = "") -> None:
        self.quoted = quoted
        self.generative = generative
        self.unavailable_reason = unavailable_reason

    def stream(self, ev: Evidence, chat: str | None = None) -> Iterator[str | Answer]:
        quoted = self.quoted.answer(ev)
        yield quoted
        if ev.abstains:
            yield quoted  # nothing to write about: the LLM is not asked
            return
        if self.generative is None:
            yield replace(quoted, note=f"No written answer: {self.unavailable_reason}.")
            return
        final = None
        for item in self.generative.stream(ev, chat=chat):
            if isinstance(item, Answer):
                final = item
            else:
                yield item
        timings = {**quoted.timings_ms, **(final.timings_ms if final else {})}
        if final is None or final.abstained:
            final = replace(quoted, note=KEPT_NOTE, timings_ms=timings)
        elif final.mode == "generative" and final.unsupported:
            final = replace(quoted, note=summary_note(final), timings_ms=timings)
        yield final
