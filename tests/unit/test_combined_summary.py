"""The combined mode keeps the quotes when the draft is less precise than they are (docs/decisions/0223)."""

from conftest import scripted_assistant

from qa import Answer
from qa.modes.combined import SUMMARY_LABEL


def test_a_partly_unsupported_draft_becomes_a_summary_of_the_quotes(seed_assistant) -> None:
    question = "Why was the trip cancelled?"
    ev = seed_assistant.evidence(question)
    row = ev.scored[0].hit.row
    a = scripted_assistant(seed_assistant, "placeholder")
    n = a._mode("generative").context(ev).rows.index(row) + 1
    a._llm.reply = (f"The trip was cancelled after a secret letter from North Korea [{n}]. "
                    f"The printer in the embassy ran out of toner [{n}].")
    answers = [i for i in a.stream(question, mode="combined") if isinstance(i, Answer)]
    quoted, final = answers
    written = a.ask(question, mode="generative")
    assert written.unsupported  # the claim check rejects the second sentence
    assert final.text == quoted.text and final.citations == quoted.citations and final.mode == "extractive"
    assert final.note.startswith(SUMMARY_LABEL) and "secret letter" in final.note and "[" not in final.note


def test_a_fully_supported_draft_stays_the_answer(seed_assistant) -> None:
    question = "Why was the trip cancelled?"
    ev = seed_assistant.evidence(question)
    row = ev.scored[0].hit.row
    a = scripted_assistant(seed_assistant, "placeholder")
    n = a._mode("generative").context(ev).rows.index(row) + 1
    a._llm.reply = f"The trip was cancelled after a secret letter from North Korea [{n}]."
    final = a.ask(question, mode="combined")
    assert final.mode == "generative" and not final.unsupported and not final.note
