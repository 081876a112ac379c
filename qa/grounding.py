"""From the LLM's draft to a checked answer: markers -> exact spans, each answer sentence checked
against what it cites (qa/verify.py), and the decisions that follow (abstain, or quote instead)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from index.corpus import CorpusView
from index.layout import META_KINDS
from qa.citations import AnswerSentence, parse_markers
from qa.evidence import Evidence, citation, with_antecedents
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

    Why: the support check compares meaning and words, it cannot see negation (no NLI weights are
    available offline), and the 1.5B model's verdicts were wrong on 3 of 5 own-gold yes/no questions
    even without being asked for one ("Yes, officials declined to say how the letter was
    transmitted"). The claim after the verdict is what gets checked and cited; the user reads the
    cited sentence. A bare "Yes. [1]" becomes the quoted sentence it cites.
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
        # The claim is judged together with its question, as in eval/calibrate_support.py: an
        # answer like "PWNED" is then not "supported" by a sentence that merely contains the word.
        supported = checker.check(f"{question} {sent.text}", rows, candidate_rows, view, sent.text)
        numbers = []
        for row, score in with_antecedents(view, question, supported):  # "They both believe…": cite who, first
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
        # documents (on the own gold set these were made-up answers to unanswerable questions,
        # e.g. "Andrew Kim has worked at the CIA for several years."). The draft stays
        # inspectable in ``unsupported``.
        return Answer(ABSTAIN_UNSUPPORTED_TEXT, True, [], "generative", ev.question, ev.standalone, g.unsupported, timings)
    return Answer(g.text, False, g.citations, "generative", ev.question, ev.standalone, g.unsupported, timings)


# The model's answer is replaced by the extractive answer (quotes of the chosen sentences, ``mode="extractive"``)
#  - when the model refused, or no sentence of its draft is supported, and the extractive mode answers: the LLM
#    mode never abstains where the quotes answer. Until 2026-12-01 this also needed the best sentence's support
#    to reach ``Settings.llm.quote_best_from`` (0.5); on the own gold set (83 q, relevance model on) the LLM mode then
#    abstained on 2 follow-ups the quotes got right ("Which network did she talk to?", "How did he announce
#    that?"). The price: where the fast mode wrongly answers an unanswerable question, a right refusal is
#    overruled too ("When will Pompeo reschedule his trip?"); unanswerable abstention on that set stayed 0.58. Or
#  - when everything the draft cites is a body sentence that support rates below the abstention threshold for
#    this question, and the best sentence more likely than not answers it (support >= quote_best_from = 0.5,
#    the probability's midpoint, not a tuned value): the model copied a neighbouring sentence ("The State
#    Department argues..." for "What could such a declaration negatively impact?"; 2 of 41 answerable own-gold
#    questions, both replaced by the right sentence). The claim-vs-source check in qa/verify.py cannot catch
#    these: the draft repeats its source word for word.
# Tried and not kept (2026-12-02): quoting whenever the best sentence's support is >= 0.5 and the draft cites none
# of the chosen sentences (whatever their support). Own gold, LLM mode: 3 wrong drafts replaced by right quotes
# (success 0.855 -> 0.892, citation P/R 0.855/0.868 -> 0.895/0.908). But on held-out questions the model was the
# better judge where they disagreed: shared seed dev 1 right draft replaced by a wrong quote (0.905 -> 0.857);
# SQuAD-A test articles (150 q, open corpus; the rule applied to the LLM and fast modes' runs of the same questions,
# a replay that matched the real run exactly on own gold) 7 fired: 3 right drafts lost, 1 wrong draft mended, 3 wrong either
# way (answer in citations 0.768 -> 0.744).
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
