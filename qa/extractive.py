"""The fast answer mode: the best supporting sentences, quoted verbatim, each with a citation."""

from __future__ import annotations

import re
from dataclasses import replace

from index.corpus import Corpus
from index.locations import location_of
from qa.support import ABSTAIN_BELOW, Scored, answer_type, names_someone
from qa.types import Citation

MAX_SENTENCES = 3
# A further sentence is quoted only when it supports the answer as well as the best one (a near
# tie). Tuned on the project's own gold set (eval/gold_seed.jsonl, 51 questions), not on the
# shared dev set: margin 0 gave citation precision/recall 0.907/0.889, margin 0.15 0.851/0.911.
SECOND_SENTENCE_MARGIN = 0.02
ABSTAIN_TEXT = "I could not find the answer to that in the documents."
META_LABELS = {"byline": "Byline", "headline": "Headline", "deck": "Subheadline", "publication": "Publication",
               "dateline": "Dateline", "photo_credit": "Photo credit"}


def select(scored: list[Scored], threshold: float = ABSTAIN_BELOW, margin: float = SECOND_SENTENCE_MARGIN) -> list[Scored]:
    """The 0–3 sentences to cite; empty means abstain."""
    if not scored or scored[0].probability < threshold:
        return []
    top = scored[0].probability
    chosen = [scored[0]]
    for s in scored[1:]:
        if len(chosen) == MAX_SENTENCES:
            break
        if s.probability >= max(threshold, top - margin):
            chosen.append(s)
    return chosen


# A sentence whose subject is a pronoun ("They both believe that North Korea should go first.")
# does not name anyone: for a who-question the names are in the sentence before it.
_PRONOUN_SUBJECT = re.compile(r"^[\s\"'\u201c\u2018]*(?:They|He|She|Both|The two|The pair)\b")


def antecedent(corpus: Corpus, question: str, row: int) -> int | None:
    """For a who-question, the sentence before ``row`` when ``row`` names nobody itself (its subject
    is a pronoun) and that sentence is in the same paragraph and holds a name; else None.
    On the own gold set (eval/gold_seed.jsonl) applying this to every kind of question added 3
    citations of which 1 was gold evidence; restricted to who-questions, 1 of 1."""
    if answer_type(question) != "name" or not _PRONOUN_SUBJECT.match(corpus.record_text(row)):
        return None
    prev, _ = corpus.neighbours(row)
    if prev is None:
        return None
    rec, prec = corpus.records[row], corpus.records[prev]
    same_paragraph = "\n" not in corpus.documents[rec.doc_id].text[prec.end : rec.start]
    if prec.kind == rec.kind and same_paragraph and names_someone(corpus.record_text(prev)):
        return prev
    return None


def with_antecedents(corpus: Corpus, question: str, chosen: list[Scored]) -> list[Scored]:
    out = list(chosen)
    rows = {s.hit.row for s in chosen}
    for s in chosen:
        prev = antecedent(corpus, question, s.hit.row)
        if prev is not None and prev not in rows:
            # Cited with the score of the sentence it completes: it is quoted for the same answer.
            out.append(replace(s, hit=replace(s.hit, row=prev)))
            rows.add(prev)
    return out


def citation_for(corpus: Corpus, s: Scored) -> Citation:
    rec = corpus.records[s.hit.row]
    text = corpus.documents[rec.doc_id].text[rec.start : rec.end]
    return Citation(rec.doc_id, rec.start, rec.end, text, round(s.probability, 4),
                    location_of(corpus.documents[rec.doc_id], rec.start, rec.end))


def compose(corpus: Corpus, chosen: list[Scored]) -> tuple[str, list[Citation]]:
    # Quote in document order so the answer reads like the source.
    chosen = sorted(chosen, key=lambda s: (corpus.records[s.hit.row].doc_id, corpus.records[s.hit.row].start))
    citations = [citation_for(corpus, s) for s in chosen]
    parts = []
    for n, (s, c) in enumerate(zip(chosen, citations), 1):
        label = META_LABELS.get(corpus.records[s.hit.row].kind)
        parts.append(f"{label}: {c.text} [{n}]" if label else f"{c.text} [{n}]")
    return " ".join(parts), citations
