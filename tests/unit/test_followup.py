"""qa/followup.condense: follow-up questions made standalone from the chat history, without an LLM."""

import pytest

from qa.followup import condense, referents


def turn(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


@pytest.mark.parametrize("history, question, standalone", [
    # he / him -> the answer of a "who" question, cut at its first comma
    (turn("Who sent Pompeo the secret letter?", "Kim Yong Chol, vice chairman of the Central Committee."),
     "When did he send it?", "When did Kim Yong Chol send the secret letter?"),
    # X of "Who is X?"
    (turn("Who is Sarah Huckabee Sanders?", "The White House Press Secretary."),
     "Which network did she talk to?", "Which network did Sarah Huckabee Sanders talk to?"),
    # the first name of the previous question, else of its answer; never a name the follow-up already uses
    (turn("What was a huge reversal for the president?", "That Trump acknowledged the talks were not going well."),
     "What had he and Pompeo claimed until then?", "What had Trump and Pompeo claimed until?"),
    (turn("With whom did Trump hold the Singapore summit?", "Kim Jong Un."),
     "What has Trump been exchanging with him privately?", "What has Trump been exchanging with Kim Jong Un privately?"),
    # it / its -> the previous question's first noun phrase (the verb after "did <subject>" is left out)
    (turn("What did the secret letter convince Pompeo and Trump of?", "That the visit was not likely to succeed."),
     "Are its exact contents known?", "Are the secret letter's exact contents known?"),
    # "Which N ...?": it -> "the N", not the answer's words (they lead back to the sentence already quoted)
    (turn("Which trip was Pompeo preparing for?", "His fourth trip to Pyongyang."), "Who called it off?",
     "Who called the trip off?"),
    # them -> the last plural noun phrase (the held-out example of issue #13 has this shape)
    (turn("What did Mattis say about joint military exercises?", "No plans to suspend more of them."),
     "Why had some of them been suspended earlier?", "Why had some of joint military exercises been suspended earlier?"),
    # ... also when the answer is a quoted sentence (the extractive mode's): its lead is a clause, not a referent
    (turn("What did Mattis say about joint military exercises?",
          "Mattis announced Tuesday, in another indication that the diplomatic thaw between Washington and Pyongyang "
          "has stalled, that the Pentagon has no plans to suspend any more exercises."),
     "Why had some of them been suspended earlier?", "Why had some of joint military exercises been suspended earlier?"),
    (turn("Who said the talks had stalled?", "Mattis announced Tuesday, in another indication that the diplomatic "
          "thaw between Washington and Pyongyang has stalled, that the Pentagon has no plans to suspend any more exercises."),
     "Why did he say so?", "Why did Mattis say so?"),
    # there -> the answer of a "where" question
    (turn("Where was Pompeo on Friday afternoon?", "In the room when Trump tweeted."),
     "Who else was not there?", "Who else was not In the room?"),
    # possessives keep their 's
    (turn("Who was opposed to the trip from the start?", "John Bolton, the national security adviser."),
     "Who shares his opposition?", "Who shares John Bolton's opposition?"),
])
def test_referring_words_are_replaced(history, question, standalone):
    assert condense(question, history) == standalone


def test_pronouns_carried_over_several_turns():
    history = turn("Who is Andrew Kim?", "A top CIA Asia official.") + turn("Where was he spotted?", "The West Wing.")
    assert condense("Whom has he accompanied to Pyongyang?", history) == "Whom has Andrew Kim accompanied to Pyongyang?"


@pytest.mark.parametrize("history, question", [
    # "that" as a demonstrative pronoun stands for a whole statement: the previous question is prepended
    (turn("Why did Trump cancel Pompeo's trip?", "He felt no progress was made."), "How did he announce that?"),
    # no plural noun phrase for "they": prepended
    (turn("Who sent a secret letter to Pompeo?", "Kim Yong Chol."), "Why did they call it off?"),
    # almost no content words and no referring word: prepended
    (turn("Who received the secret letter?", "Pompeo."), "And when?"),
])
def test_unresolved_follow_ups_fall_back_to_the_previous_question(history, question):
    assert condense(question, history) == f"{history[0]['content']} {question}"


@pytest.mark.parametrize("question", ["Who received the secret letter from Kim Yong Chol?",
                                      "Is there a peace treaty?",  # existential "there": not a reference
                                      "Did officials say that the letter was belligerent?"])  # conjunction "that"
def test_standalone_questions_are_unchanged(question):
    history = turn("Who is Andrew Kim?", "A top CIA Asia official.")
    assert condense(question, history) in (question, f"Who is Andrew Kim? {question}")
    assert condense(question, []) == question


def test_referents_of_a_turn():
    refs = referents("Where did Mattis talk to reporters about the joint military exercises?", "At the Pentagon.")
    assert refs["person"].split(" | ")[0] == "Mattis" and refs["place"] == "At the Pentagon"  # candidates, in order
    assert refs["plural"] == "joint military exercises"
