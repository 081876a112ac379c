"""The fast answer mode: the chosen sentences, quoted verbatim in document order, each cited."""

from __future__ import annotations

from collections.abc import Iterator

from qa.evidence import Evidence
from qa.types import Answer

ABSTAIN_TEXT = "I could not find the answer to that in the documents."
META_LABELS = {"byline": "Byline", "headline": "Headline", "deck": "Subheadline", "publication": "Publication",
               "dateline": "Dateline", "photo_credit": "Photo credit"}


class ExtractiveMode:
    name = "extractive"

    def answer(self, ev: Evidence, note: str = "") -> Answer:
        if ev.abstains:
            return Answer(ABSTAIN_TEXT, True, [], self.name, ev.question, ev.standalone,
                          timings_ms=ev.timings_ms(), note=note)
        view = ev.corpus
        # Quote in document order so the answer reads like the source.
        chosen = sorted(ev.chosen, key=lambda rs: (view.records[rs[0]].doc_id, view.records[rs[0]].start))
        citations = [ev.cite(row, score) for row, score in chosen]
        parts = []
        for n, ((row, _), c) in enumerate(zip(chosen, citations), 1):
            label = META_LABELS.get(view.records[row].kind)
            parts.append(f"{label}: {c.text} [{n}]" if label else f"{c.text} [{n}]")
        return Answer(" ".join(parts), False, citations, self.name, ev.question, ev.standalone,
                      timings_ms=ev.timings_ms(), note=note)

    def stream(self, ev: Evidence) -> Iterator[str | Answer]:
        answer = self.answer(ev)
        yield answer.text
        yield answer
