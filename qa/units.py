"""What the judge reads: candidate units built from retrieved sentences.

A unit is one sentence, or a sentence together with the sentence it introduces (a lead-in such as
"The reasons are:" and the sentence holding them). A unit is one contiguous span of its document,
from the start of its first sentence to the end of its last, so it is cited as one exact span.
"""

from __future__ import annotations

from dataclasses import dataclass

from index.corpus import CorpusView
from qa.retrieval import Hit


@dataclass(frozen=True, slots=True)
class Unit:
    first: int  # corpus row of its first sentence
    last: int  # corpus row of its last sentence (== first for one sentence)
    hit: Hit  # the retrieved sentence the unit was built from


def introduces(view: CorpusView, row: int) -> int | None:
    """The row that ``row`` introduces, or None. Until the documents carry their structure, a sentence
    ending in ":" introduces the next sentence of its document."""
    if not view.record_text(row).rstrip().endswith(":"):
        return None
    return view.neighbours(row)[1]


def candidate_units(view: CorpusView, hits: list[Hit], limit: int) -> list[Unit]:
    """At most ``limit`` units in the retriever's order: each hit as a sentence, followed by the pair it
    forms with what it introduces or with the sentence that introduces it."""
    out: list[Unit] = []
    seen: set[tuple[int, int]] = set()
    for h in hits:
        prev = view.neighbours(h.row)[0]
        pairs = [(h.row, h.row)]
        if (nxt := introduces(view, h.row)) is not None:
            pairs.append((h.row, nxt))
        if prev is not None and introduces(view, prev) == h.row:
            pairs.append((prev, h.row))
        for first, last in pairs:
            if (first, last) in seen:
                continue
            seen.add((first, last))
            out.append(Unit(first, last, h))
            if len(out) == limit:
                return out
    return out


def unit_text(view: CorpusView, unit: Unit) -> str:
    """The unit's exact span of its document."""
    first, last = view.records[unit.first], view.records[unit.last]
    return view.documents[first.doc_id].text[first.start:last.end]
