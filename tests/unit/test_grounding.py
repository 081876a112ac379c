"""Grounding of LLM drafts without the LLM: markers → exact spans, support checks, the final decision.

Drafts are written by hand here so that each rule is exercised deterministically; the real model's
behaviour is covered by tests/integration/test_generative.py.
"""
from conftest import ScriptedLLM, scripted_assistant as _scripted
from qa.citations import parse_markers
from qa.grounding import ABSTAIN_UNSUPPORTED_TEXT, QUOTED_NOTE, drop_verdict, ground, grounded_answer
from qa.prompt import build_context, instructions
from qa.verify import SupportChecker, quotes_value


def _row_of(assistant, predicate) -> int:
    corpus = assistant.corpus
    return next(r for r in range(len(corpus.records)) if predicate(corpus.records[r], corpus.record_text(r)))


def _ground(assistant, question: str, row_text: str, draft: str):
    """Ground ``draft`` as the LLM's output; ``{n}`` in it is the prompt number of the sentence containing
    ``row_text``. Returns (row, text, citations, unsupported)."""
    row = _row_of(assistant, lambda rec, text: row_text in text)
    view = assistant.corpus.view()
    ctx = build_context(view, assistant.settings, [row])
    g = ground(SupportChecker(assistant.embedder), view, question, draft.format(n=ctx.rows.index(row) + 1), ctx, [row])
    assert [assistant.corpus.record_text(r) for r in g.rows] == [c.text for c in g.citations]
    return row, g


def _final(assistant, question: str, g):
    return grounded_answer(assistant.evidence(question), g, {})


def test_quotes_value_needs_the_whole_short_value() -> None:
    assert quotes_value("The story was filed in WASHINGTON [1].", "WASHINGTON")
    assert quotes_value("It was written by Jane Doe.", "Jane  Doe")  # spacing and case do not matter
    assert not quotes_value("It was filed in Washingtonville.", "WASHINGTON")  # whole words only
    assert not quotes_value("It was written by Jane.", "Jane Doe")
    assert quotes_value("It is credited to Seongjoon Cho / Bloomberg Files.", "SEONGJOON CHO / BLOOMBERG FILES")
    # Part of a longer name is not the value: the dateline does not back a wrong newspaper name.
    assert not quotes_value("The Washington Post published the article.", "WASHINGTON")
    assert quotes_value("Filed in Washington. The Post ran it.", "WASHINGTON")
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
    assert [r for r, _ in checker.check(f"{question} {good}", [dateline], [], corpus.view(), good)] == [dateline]
    # The value must be in the answer sentence, not just in the question.
    question_quoting = "Was the story filed in Washington?"
    wrong = "It was filed in Seoul."
    verdict = checker.check(f"{question_quoting} {wrong}", [dateline], [], corpus.view(), wrong)
    assert all(score < 1.0 for _, score in verdict)


def test_a_draft_with_no_supported_sentence_becomes_an_abstention(seed_assistant) -> None:
    question = "Why was the trip cancelled?"
    _, g = _ground(seed_assistant, question, "secret letter to Pompeo",
                   "The printer on the third floor ran out of toner [{n}].")
    assert g.citations == [] and len(g.unsupported) == 1 and "printer" in g.unsupported[0], g
    final = _final(seed_assistant, question, g)
    assert final.abstained and final.citations == [] and final.text == ABSTAIN_UNSUPPORTED_TEXT
    assert final.unsupported == g.unsupported  # the draft stays inspectable


def test_a_supported_draft_keeps_exact_citations(seed_assistant) -> None:
    question = "Why was the trip cancelled?"
    _, g = _ground(
        seed_assistant, question, "secret letter to Pompeo",
        "The trip was cancelled after a North Korean official sent Pompeo a secret letter [{n}]. "
        "The printer on the third floor ran out of toner [{n}].")
    final = _final(seed_assistant, question, g)
    assert not final.abstained and len(final.citations) == 1
    c = final.citations[0]
    assert c.text == seed_assistant.document_text(c.doc_id)[c.start:c.end] and "secret letter" in c.text
    assert final.text.startswith("The trip was cancelled") and "[1]" in final.text
    assert len(final.unsupported) == 1 and "printer" in final.unsupported[0]  # flagged, not cited


def test_drop_verdict_keeps_the_claim_and_its_markers() -> None:
    def quote(n: int) -> str:
        return f"sentence {n}"

    def got(raw: str):
        return [(s.text, s.markers) for s in drop_verdict(parse_markers(raw, 5), quote)]

    assert got("Yes, officials declined to say. [1]") == [("Officials declined to say.", [1])]
    assert got("no, he was not [3].") == [("He was not.", [3])]
    assert got("No. [2] Bolton was opposed. [1]") == [("Bolton was opposed.", [2, 1])]  # bare verdict: markers move on
    assert got("Yes. [4]") == [("\u201csentence 4\u201d", [4])]  # only a verdict: quote what it cites
    assert got("Yes.") == []
    # "No" and "Yes" that are words of the claim stay.
    assert got("No plans were made [1].") == [("No plans were made.", [1])]
    assert got("Nobody knows [1].") == [("Nobody knows.", [1])]
    assert got("Yesterday he left [1].") == [("Yesterday he left.", [1])]
    assert got("He said yes [1].") == [("He said yes.", [1])]


def test_a_verdict_is_dropped_from_a_grounded_answer(seed_assistant) -> None:
    row, g = _ground(
        seed_assistant, "Did officials say how the letter was transmitted?", "how the letter was transmitted",
        "Yes, officials declined to say how the letter was transmitted [{n}].")
    text, citations, unsupported = g.text, g.citations, g.unsupported
    assert text.startswith("Officials declined to say how the letter was transmitted") and "[1]" in text, text
    assert [c.text for c in citations] == [seed_assistant.corpus.record_text(row)] and unsupported == []


def test_refusal_or_unsupported_draft_quotes_a_confident_sentence_instead_of_abstaining(seed_assistant):
    question = "Who was in the room with Trump when he tweeted that the trip was cancelled?"
    for reply in ("NOT IN DOCUMENTS", "The printer in the West Wing ran out of paper [2]."):
        ans = _scripted(seed_assistant, reply).ask(question, mode="generative")
        assert not ans.abstained and ans.mode == "extractive", (reply, ans.text)
        assert [c.text for c in ans.citations] == [
            next(t for t in map(seed_assistant.corpus.record_text, range(len(seed_assistant.corpus.records)))
                 if t.startswith("White House Press Secretary Sarah Huckabee Sanders told CNN"))]
        assert ans.text == f"{ans.citations[0].text} [1]"
    # Even where the best sentence is a weak match (support < 0.5), a refusal gives the quotes when they answer at
    # all: the LLM mode never abstains where the fast mode answers (qa/grounding.quote_instead). This question is
    # unanswerable and a known miss of the fast mode (gold-42), so the refusal was right here: the price of the rule.
    weak = "When will Pompeo reschedule his trip to Pyongyang?"
    quotes = seed_assistant.ask(weak, mode="extractive")
    ans = _scripted(seed_assistant, "NOT IN DOCUMENTS").ask(weak, mode="generative")
    assert seed_assistant.evidence(weak).scored[0].probability < 0.5
    assert (ans.abstained, ans.citations) == (quotes.abstained, quotes.citations)


def test_draft_resting_only_on_a_non_answering_sentence_is_replaced_by_the_best_sentence(seed_assistant):
    corpus = seed_assistant.corpus
    ctx = build_context(corpus.view(), seed_assistant.settings, [])  # the whole-corpus prompt: numbers are stable
    assert ctx.whole_corpus
    number = {corpus.record_text(r): n for n, r in enumerate(ctx.rows, 1)}
    state_dept = next(t for t in number if t.startswith("The State Department argues"))
    mattis = next(t for t in number if t.startswith("Mattis believes that issuing such a declaration"))
    question = "What could a declaration issued without thinking through all implications negatively impact?"
    # The 1.5B model's real mistake on this question: it copied the sentence after the right one.
    ans = _scripted(seed_assistant, f"{state_dept} [{number[state_dept]}]").ask(question, mode="generative")
    assert ans.mode == "extractive" and [c.text for c in ans.citations] == [mattis], ans.text
    assert ans.note == QUOTED_NOTE
    # The same for the article's first sentence, which starts where the dateline "WASHINGTON" starts.
    first = next(t for t in number if t.startswith("WASHINGTON • Last Thursday"))
    ans = _scripted(seed_assistant, f"{first} [{number[first]}]").ask(question, mode="generative")
    assert ans.mode == "extractive" and [c.text for c in ans.citations] == [mattis], ans.text
    # Citing the right sentence keeps the model's own words.
    ans = _scripted(seed_assistant, f"It could negatively impact U.S.-South Korean military preparedness [{number[mattis]}].").ask(question, mode="generative")
    assert ans.mode == "generative" and [c.text for c in ans.citations] == [mattis]
    assert ans.text.startswith("It could negatively impact")
    # A metadata value quoted whole is kept even where retrieval rates the line low for the question.
    byline = next(t for t in number if t.startswith("JOSH ROGIN"))
    ans = _scripted(seed_assistant, f"Josh Rogin The Washington Post wrote it [{number[byline]}].").ask("Which reporter wrote that Pompeo received the letter from Kim Yong Chol?",
                             mode="generative")
    assert ans.mode == "generative" and [c.text for c in ans.citations] == [byline], ans.text


def test_cli_prints_the_checked_answer_when_the_draft_was_changed(tmp_path, monkeypatch, capsys):
    from qa import cli
    from qa.llm.local import LocalLLM

    monkeypatch.setattr(LocalLLM, "stream", lambda self, prompt, **kw: ScriptedLLM("NOT IN DOCUMENTS").stream(prompt, **kw))
    question = "Who was in the room with Trump when he tweeted that the trip was cancelled?"
    assert cli.main(["ask", question, "--mode", "generative", "--index-dir", str(tmp_path / "idx")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "NOT IN DOCUMENTS"  # the streamed draft
    assert out[1].startswith("Checked answer: White House Press Secretary Sarah Huckabee Sanders told CNN")
    assert out[2] == f"({QUOTED_NOTE})"
    assert out[3].startswith("[1] national_post_us_north_korea_stalemate.txt:")


def test_a_large_corpus_prompt_shows_the_neighbours_of_the_best_retrieved_sentences_only(seed_assistant) -> None:
    view = seed_assistant.corpus.view()
    settings = seed_assistant.settings.with_(llm={"full_corpus_max_chars": 0, "neighbours_for": 2,
                                                 "evidence_sentences": 6})  # as if the corpus were large
    picks = list(range(len(view.records)))[6:40:7]  # 5 sentences far apart, best first
    ctx = build_context(view, settings, picks)
    around = {n for r in picks[:2] for n in view.neighbours(r) if n is not None}
    assert not ctx.whole_corpus and len(around) == 4
    starts = [view.records[r].start for r in ctx.rows]
    assert set(ctx.rows) == set(picks) | around and starts == sorted(starts)  # one document: in its order
    assert all(" ".join(view.record_text(r).split()) in ctx.evidence for r in ctx.rows)
    assert ctx.prefix == instructions() and view.record_text(picks[0]) not in ctx.prefix  # the same for every question
