"""Validation and normalisation of user questions."""

from __future__ import annotations

import re

from index.errors import QuestionError

MAX_QUESTION_CHARS = 2000  # longer input is almost certainly a pasted document, not a question
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_question(question: object) -> str:
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    # Lone surrogates (from broken clients) cannot be encoded anywhere downstream: replace them.
    text = question.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub(" ", text).strip()
    if not text:
        raise QuestionError("the question is empty; type a question about the documents")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
            "Ask a shorter question, or add long text as a document instead"
        )
    return text


def clean_history(history: object) -> list[dict[str, str]]:
    """Accept [{'role': 'user'|'assistant', 'content': str}, ...]; ignore anything else in a turn."""
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise QuestionError("history must be a list of {'role': ..., 'content': ...} turns")
    turns = []
    for turn in history:
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise QuestionError("each history turn must be a dict with role 'user' or 'assistant' and a content")
        content = turn.get("content")
        if not isinstance(content, str):
            content = str(content) if content is not None else ""
        # Lone surrogates would reach the tokenizer through the standalone question: replace them, as in questions.
        content = content[: MAX_QUESTION_CHARS * 2].encode("utf-8", "replace").decode("utf-8")
        turns.append({"role": turn["role"], "content": content})
    return turns
