"""Resolve a follow-up question against the chat history, without an LLM.

"When did he receive it?" after "Who received the secret letter?" cannot be retrieved on its
own: its only content word is "receive". When a question leans on earlier turns (pronouns,
"there", "then", or almost no content words), the previous question is prepended so retrieval
sees what "he" and "it" stand for. The previous answer is left out: it names the subject again
but also drags retrieval back to the sentence already quoted.
"""

from __future__ import annotations

from index.text import content_stems, words

_REFERRING = frozenset("he she it they him her them his hers its their theirs this that these those there then".split())


def needs_history(question: str) -> bool:
    return any(w in _REFERRING for w in words(question)) or len(content_stems(question)) <= 1


def condense(question: str, history: list[dict[str, str]]) -> str:
    if not history or not needs_history(question):
        return question
    last_user = next((t["content"] for t in reversed(history) if t["role"] == "user" and t["content"].strip()), "")
    return f"{last_user.strip()} {question}" if last_user.strip() else question
