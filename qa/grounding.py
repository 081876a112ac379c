"""From the LLM's draft to a checked answer: markers -> exact spans, each answer sentence checked
against what it cites (qa/verify.py), and the decisions that follow (abstain, or quote instead)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from index.corpus import CorpusView
from index.layout import META_KINDS
from qa.citations import AnswerSentence, parse_markers
from qa.evidence import Evidence, citation
from qa.prompt import Context
from qa.types import Answer, Citation
from qa.verify import SupportChecker

ABSTAIN_UNSUPPORTED_TEXT = "I could not find a supported answer to that in the documents."
QUOTED_NOTE = "The model's answer could not be checked against the documents; the best-supported sentence is quoted."


class Grounded(NamedTuple):
    text: str
    citations: list[Citation]
    unsupported: list[str]  # answer sentences no cited span supports
    rows: list[int]  # corpus row of each citation, in citation order


# A leading "Yes,"/"No." verdict. "No" needs punctuation after it: "No plans were made" is a claim.
_VERDICT = re.compile(r"^(?:yes\b[\s,.:;!\u2014-]*|no\s*[,.:;!\u2014-]+\s*)", re.IGNORECASE)


def drop_verdict(sentences: list[AnswerSentence], quote_of: Callable[[int], str]) -> list[AnswerSentence]:
    """Remove a leading yes/no verdict from the draft; keep what the sources say.

    Why: the support check cannot see negation, and the small model's verdicts are often wrong; the claim
    after the verdict is what gets checked and cited (docs/decisions/0029-drop-yes-no-verdicts.md).
    A bare "Yes. [1]" becomes the quoted sentence it cites.
    """
    if not sentences or not (m := _VERDICT.match(sentences[0].text)):
        return sentences
    first, rest = sentences[0], sentences[0].text[m.end():].strip()
    if rest:
        return [AnswerSentence(rest[0].upper() + rest[1:], first.markers, first.trailing), *sentences[1:]]
    if len(sentences) > 1:
        nxt = sentences[1]
        merged = list(dict.fromkeys(first.markers + nxt.markers))
        return [AnswerSentence(nxt.text, merged, nxt.trailing), *sentences[2:]]
    if first.markers:
        return [AnswerSentence(f"\u201c{quote_of(first.markers[0])}\u201d", first.markers[:1], first.trailing)]
    return []


def ground(checker: SupportChecker, view: CorpusView, question: str, raw: str, ctx: Context,
           retrieved_rows: list[int]) -> Grounded:
    """Map the draft's markers to exact spans and check each answer sentence against what it cites;
    a sentence its marker does not support may be backed by one of the ``retrieved_rows`` shown to the
    model instead."""
    sentences = drop_verdict(parse_markers(raw, len(ctx.rows)), lambda n: view.record_text(ctx.rows[n - 1]))
    shown = set(ctx.rows)
    candidate_rows = [r for r in dict.fromkeys(retrieved_rows) if r in shown]
    citations: list[Citation] = []
    index_of: dict[int, int] = {}
    out_parts, unsupported = [], []
    for sent in sentences:
        rows = [ctx.rows[n - 1] for n in sent.markers]
        # The claim is judged together with its question, as in training/calibrate_support.py: an
        # answer like "PWNED" is then not "supported" by a sentence that merely contains the word.
        supported = checker.check(f"{question} {sent.text}", rows, candidate_rows, view, sent.text)
        numbers = []
        for row, score in supported:
            if row not in index_of:
                citations.append(citation(view, row, score))
                index_of[row] = len(citations)
            numbers.append(index_of[row])
        if not numbers and sent.text.strip():
            unsupported.append(sent.text.strip())
        marks = "".join(f"[{n}]" for n in dict.fromkeys(numbers))
        out_parts.append(f"{sent.text.rstrip()}{' ' + marks if marks else ''}{sent.trailing}")
    return Grounded("".join(out_parts).strip(), citations, unsupported, list(index_of))


def grounded_answer(ev: Evidence, g: Grounded, timings: dict[str, float]) -> Answer:
    """The LLM mode's answer from a grounded draft."""
    if not g.citations:
        # Not one sentence of the draft is backed by a passage: that is not an answer from the
        # documents (typically a made-up answer to an unanswerable question). The draft stays in ``unsupported``.
        return Answer(ABSTAIN_UNSUPPORTED_TEXT, True, [], "generative", ev.question, ev.standalone, g.unsupported, timings)
    return Answer(g.text, False, g.citations, "generative", ev.question, ev.standalone, g.unsupported, timings)


# Why these two rules, and the one not kept: docs/decisions/0025-quote-instead-of-the-draft.md.
def quote_instead(ev: Evidence, cited_rows: list[int], quote_from: float) -> bool:
    """True when nothing the model wrote is cited (a refusal, an unsupported draft) and the extractive mode
    answers; or when the best sentence answers (support >= quote_from) and every cited row is a body
    sentence below the abstention threshold for the question."""
    if not cited_rows:
        return not ev.abstains
    if not ev.scored or ev.scored[0].probability < quote_from:
        return False
    support = {s.hit.row: s.probability for s in ev.scored}
    view: CorpusView = ev.corpus
    return all(view.records[r].kind not in META_KINDS and support.get(r, 0.0) < ev.abstain_below for r in cited_rows)
