"""The answer pipeline: one evidence step, modes as components, the combined (quotes first) mode.
The LLM's reply is scripted here (tests/conftest.py ScriptedLLM); the real model has its own tests."""

from conftest import ScriptedLLM, scripted_assistant

from qa import Answer, Assistant
from qa.modes.combined import KEPT_NOTE
from qa.modes.extractive import ExtractiveMode


def test_every_mode_answers_from_one_evidence_step(seed_assistant) -> None:
    ev = seed_assistant.evidence("Who sent the letter?")
    assert ev.chosen and ev.scored and ev.standalone == "Who sent the letter?"
    assert [row for row, _ in ev.chosen][0] == ev.scored[0].hit.row
    quoted = ExtractiveMode().answer(ev)  # a mode needs nothing but the Evidence
    asked = seed_assistant.ask("Who sent the letter?", mode="extractive")
    assert (quoted.text, quoted.citations) == (asked.text, asked.citations)
    assert [c.text for c in quoted.citations] == [ev.corpus.record_text(r) for r, _ in sorted(
        ev.chosen, key=lambda rs: ev.corpus.records[rs[0]].start)]
    # A follow-up's standalone question names what "he" and "it" stand for (qa/followup.py).
    hist = [{"role": "user", "content": "Who received the secret letter?"}, {"role": "assistant", "content": "Pompeo."}]
    assert seed_assistant.evidence("When did he receive it?", hist).standalone == "When did Pompeo receive the secret letter?"


def test_combined_yields_the_quoted_answer_first_then_the_written_one(seed_assistant) -> None:
    question = "Why was the trip cancelled?"
    ev = seed_assistant.evidence(question)
    row = ev.scored[0].hit.row
    a = scripted_assistant(seed_assistant, "placeholder")
    n = a._mode("generative").context(ev).rows.index(row) + 1
    a._llm.reply = f"The trip was cancelled after a secret letter from North Korea [{n}]."
    items = list(a.stream(question, mode="combined"))
    answers = [i for i in items if isinstance(i, Answer)]
    assert isinstance(items[0], Answer) and len(answers) == 2 and items[-1] is answers[-1]
    quoted, final = answers
    assert quoted.mode == "extractive" and quoted.citations == seed_assistant.ask(question, mode="extractive").citations
    assert [i for i in items if isinstance(i, str)] == [a._llm.reply]  # the deltas come between the two
    assert final.mode == "generative" and not final.abstained and final.text.startswith("The trip was cancelled")
    for c in final.citations:
        assert c.text == seed_assistant.document_text(c.doc_id)[c.start:c.end]


def test_combined_keeps_the_quotes_when_the_model_has_no_supported_answer(seed_assistant) -> None:
    question = "Why was the trip cancelled?"
    answers = [i for i in scripted_assistant(seed_assistant, "The printer ran out of toner [1].").stream(
        question, mode="combined") if isinstance(i, Answer)]
    quoted, final = answers
    assert not final.abstained and final.citations == quoted.citations and final.note
    assert final.note in (KEPT_NOTE,) or "best-supported sentence is quoted" in final.note


def test_combined_does_not_ask_the_llm_when_nothing_is_found(seed_assistant) -> None:
    a = scripted_assistant(seed_assistant, "anything")
    answers = [i for i in a.stream("Who won the 1998 football World Cup?", mode="combined") if isinstance(i, Answer)]
    assert len(answers) == 2 and all(x.abstained and not x.citations for x in answers)
    assert a._llm.prompts == []


def test_combined_without_an_llm_quotes_and_says_why(seed_assistant, tmp_path) -> None:
    bad = tmp_path / "none.gguf"
    a = Assistant(seed_assistant.corpus, seed_assistant.embedder,
                  settings=seed_assistant.settings.with_(llm={"path": str(bad)}))
    assert a.default_mode == "extractive" and not a.llm_available()[0]
    final = a.ask("Who sent the letter?", mode="combined")
    assert not final.abstained and final.citations and final.note.startswith("No written answer: ")


def test_a_mode_holds_no_lock_while_the_llm_writes(seed_assistant) -> None:
    """A document added while the LLM writes neither waits for it nor changes what the answer cites."""
    a = Assistant.from_texts({"a.txt": "Lemons are yellow. Limes are green."}, llm=ScriptedLLM("Lemons are yellow [1]."))
    stream = a.stream("What colour are lemons?", mode="generative")
    first = next(stream)  # the LLM has started; the evidence snapshot is taken
    a.add_texts({"b.txt": "Bananas are yellow too."})  # would deadlock if the answer held the read lock
    final = [first, *stream][-1]
    assert isinstance(final, Answer) and [c.text for c in final.citations] == ["Lemons are yellow."]


def test_llm_mode_quotes_where_the_model_refuses_but_the_quotes_answer(seed_assistant) -> None:
    """A refusal or an unsupported draft never turns a question the fast mode answers into an abstention."""
    question = "Who sent the letter?"
    quotes = seed_assistant.ask(question, mode="extractive")
    assert not quotes.abstained
    for reply in ("I cannot answer that from the documents.", "Bananas grow on the moon [1]."):
        final = scripted_assistant(seed_assistant, reply).ask(question, mode="generative")
        assert not final.abstained and final.citations == quotes.citations and final.note, (reply, final.text)
    # ... and where the quotes abstain too, the LLM mode abstains.
    off_topic = scripted_assistant(seed_assistant, "I cannot answer that.").ask("Who won the 1998 football World Cup?",
                                                                              mode="generative")
    assert off_topic.abstained and not off_topic.citations
