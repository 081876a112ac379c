"""What the judge reads: candidate units built from retrieved sentences.

A unit is one sentence, or a sentence together with what it introduces (a lead-in such as "The reasons
are:" and the list holding them, a heading and its section's first block; ``CorpusView.unit_rows``).
A unit is one contiguous span of its document, from the start of its first sentence to the end of its
last, so it is cited as one exact span.
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
    """The last row of what ``row`` introduces (a heading its section's first block, a list item's head the rest
    of the item, a lead-in ending in ":" the next block: ``CorpusView.unit_rows``), or None."""
    rows = view.unit_rows(row)
    return rows.stop - 1 if len(rows) > 1 else None


def candidate_units(view: CorpusView, hits: list[Hit], limit: int) -> list[Unit]:
    """At most ``limit`` units in the retriever's order: each hit as a sentence, followed by the unit it
    forms with what it introduces, or with the sentence just before it that introduces it."""
    out: list[Unit] = []
    seen: set[tuple[int, int]] = set()
    for h in hits:
        prev = view.neighbours(h.row)[0]
        pairs = [(h.row, h.row)]
        if (last := introduces(view, h.row)) is not None:
            pairs.append((h.row, last))
        if prev is not None and (last := introduces(view, prev)) is not None and last >= h.row:
            pairs.append((prev, last))
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

