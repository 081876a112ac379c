"""Grounding of LLM drafts without the LLM: markers → exact spans, support checks, the final decision.

Drafts are written by hand here so that each rule is exercised deterministically; the real model's
behaviour is covered by tests/test_generative.py.
"""
from qa.generative import ABSTAIN_UNSUPPORTED_TEXT, GenerativeAnswerer, grounded_answer
from qa.verify import SupportChecker, quotes_value


def _row_of(assistant, predicate) -> int:
    corpus = assistant.corpus
    return next(r for r in range(len(corpus.records)) if predicate(corpus.records[r], corpus.record_text(r)))


def test_quotes_value_needs_the_whole_short_value() -> None:
    assert quotes_value("The story was filed in WASHINGTON [1].", "WASHINGTON")
    assert quotes_value("It was written by Jane Doe.", "Jane  Doe")  # spacing and case do not matter
    assert not quotes_value("It was filed in Washingtonville.", "WASHINGTON")  # whole words only
    assert not quotes_value("It was written by Jane.", "Jane Doe")
    long_value = "one two three four five six seven eight nine"
    assert not quotes_value(f"It says {long_value}.", long_value)  # long values need the support model
    assert not quotes_value("anything", "")


def test_a_quoted_dateline_supports_the_answer_but_the_question_alone_does_not(seed_assistant) -> None:
    corpus = seed_assistant.corpus
    dateline = _row_of(seed_assistant, lambda rec, text: rec.kind == "dateline")
    assert corpus.record_text(dateline) == "WASHINGTON"
    checker = SupportChecker(seed_assistant.embedder)
    question = "From which city was the story filed?"
    good = "The story was filed in Washington."
    assert [r for r, _ in checker.check(f"{question} {good}", [dateline], [], corpus, good).supported] == [dateline]
    # The value must be in the answer sentence, not just in the question.
    question_quoting = "Was the story filed in Washington?"
    wrong = "It was filed in Seoul."
    verdict = checker.check(f"{question_quoting} {wrong}", [dateline], [], corpus, wrong)
    assert all(score < 1.0 for _, score in verdict.supported)


def test_a_draft_with_no_supported_sentence_becomes_an_abstention(seed_assistant) -> None:
    answerer = GenerativeAnswerer()
    question = "Why was the trip cancelled?"
    letter = _row_of(seed_assistant, lambda rec, text: "secret letter to Pompeo" in text)
    ctx = answerer.context_for(seed_assistant, [letter])
    n = ctx.rows.index(letter) + 1
    made_up = f"The printer on the third floor ran out of toner [{n}]."
    text, citations, unsupported = answerer.ground(seed_assistant, question, made_up, ctx, [letter])
    assert citations == [] and len(unsupported) == 1 and "printer" in unsupported[0], (text, unsupported)
    final = grounded_answer(question, question, text, citations, unsupported, {})
    assert final.abstained and final.citations == [] and final.text == ABSTAIN_UNSUPPORTED_TEXT
    assert final.unsupported == unsupported  # the draft stays inspectable


def test_a_supported_draft_keeps_exact_citations(seed_assistant) -> None:
    answerer = GenerativeAnswerer()
    question = "Why was the trip cancelled?"
    letter = _row_of(seed_assistant, lambda rec, text: "secret letter to Pompeo" in text)
    ctx = answerer.context_for(seed_assistant, [letter])
    n = ctx.rows.index(letter) + 1
    draft = (f"The trip was cancelled after a North Korean official sent Pompeo a secret letter [{n}]. "
             f"The printer on the third floor ran out of toner [{n}].")
    text, citations, unsupported = answerer.ground(seed_assistant, question, draft, ctx, [letter])
    final = grounded_answer(question, question, text, citations, unsupported, {})
    assert not final.abstained and len(final.citations) == 1
    c = final.citations[0]
    assert c.text == seed_assistant.document_text(c.doc_id)[c.start:c.end] and "secret letter" in c.text
    assert final.text.startswith("The trip was cancelled") and "[1]" in final.text
    assert len(final.unsupported) == 1 and "printer" in final.unsupported[0]  # flagged, not cited
