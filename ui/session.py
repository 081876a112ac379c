"""The per-browser-session chat state, typed. Gradio keeps one value per session (``gr.State``);
handlers never mutate it in place, they return a new one (``dataclasses.replace``), so an answer
that finishes after "New chat" cannot write into the new chat. ``owner`` names whose saved chats
these are (``ui/chat_store.py``); empty for API clients, whose chats are not saved."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pending:
    """The question being answered."""

    question: str
    mode: str  # "extractive" or "generative" (quotes first, then the LLM's written answer)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    since: float = field(default_factory=time.time)
    turn: int | None = None  # index of the provisional turn holding the quoted answer, once shown


@dataclass(frozen=True)
class Session:
    turns: tuple[dict, ...] = ()  # {"question", "answer": answer record} or {"question", "error"}
    pending: Pending | None = None
    chat_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    owner: str = ""  # "user:<name>" with --auth, else "browser:<id>"; "" = not saved
    title: str = ""  # set from the first question when the chat is first saved, or by renaming
    created: float = 0.0  # when first saved (0: not yet)

    def history(self, upto: int | None = None) -> list[dict[str, str]]:
        return history_of(self.turns[:upto] if upto is not None else self.turns)


def history_of(turns) -> list[dict[str, str]]:
    """The chat history in the QA API's format; failed and provisional turns are left out."""
    out: list[dict[str, str]] = []
    for t in turns:
        if t.get("error") or t.get("provisional"):
            continue
        out.append({"role": "user", "content": t["question"]})
        out.append({"role": "assistant", "content": t["answer"]["text"]})
    return out
