"""The LLM the answer modes call: the process-wide local model, behind a small typed facade.

Answer modes depend on ``PromptLLM`` (stream a reply to chat messages, warm their fixed system message),
not on llama.cpp; tests and other back-ends can pass any object with those two methods. This module imports no
llama.cpp until a method is called, so checking availability stays cheap.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from index.errors import CiteqaError
from qa.settings import Settings

SETUP_HINT = ("run `bash .ci/setup` (it builds llama-cpp-python and joins the pinned model), or set CITEQA_LLM_PATH "
              "to a GGUF instruct model with a chat template")


class LLMUnavailableError(CiteqaError):
    """The LLM mode was asked for but cannot run here (llama-cpp-python or the model is missing)."""


class PromptLLM(Protocol):
    """``messages``: {"role", "content"} mappings; a leading system message is the same for many prompts and
    worth caching (``warm`` gets its content); ``persist_prefix``: it serves every question of this corpus, so
    an implementation may keep it across restarts."""

    def stream(self, messages: Sequence[Mapping[str, str]], *, max_tokens: int | None = None,
               persist_prefix: bool = False) -> Iterator[str]: ...
    # An implementation that serves several chats also takes ``chat=`` (who asks: qa/llm/queue.py).

    def warm(self, system: str, persist_prefix: bool = False) -> None: ...
    # An implementation that keeps many system messages (a large corpus's windows: qa/prompt.py) also has
    # ``prefix_ready(system) -> bool`` and ``build_prefixes(systems)`` / ``wait_prefixes(timeout)``.


def availability(settings: Settings) -> tuple[bool, str]:
    """(True, "") when llama-cpp-python and a model are installed (the pinned chunks are joined on
    first use); else (False, what is missing and how to fix it)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False, f"the LLM mode needs llama-cpp-python, which is not installed; {SETUP_HINT}"
    from qa.llm import model_file

    try:
        if settings.llm.path:
            model_file.check_gguf(settings.llm.path, "CITEQA_LLM_PATH")
        else:
            model_file.part_files()
    except model_file.ModelFileError as exc:
        return False, f"the LLM mode has no usable model: {exc}; {SETUP_HINT}"
    return True, ""


class LocalLLM:
    """The llama.cpp model of this process (qa/llm/runtime.py) as a PromptLLM, its prompts rendered with the
    model's chat template (or ``Settings.llm.chat_template``)."""

    def __init__(self, settings: Settings, state_dir: Path | None = None) -> None:
        self.settings = settings
        self.state_dir = state_dir  # where persisted prefix states live (beside the index); None: RAM only
        self._builder = None  # qa.llm.prefix_builder.PrefixBuilder, on the first build_prefixes()

    def _runtime(self):
        ok, why = availability(self.settings)
        if not ok:
            raise LLMUnavailableError(why)
        from qa.llm import runtime

        runtime.configure(self.settings)
        return runtime

    def stream(self, messages: Sequence[Mapping[str, str]], *, max_tokens: int | None = None,
               persist_prefix: bool = False, chat: str | None = None) -> Iterator[str]:
        """``chat``: who asks; a newer request of the same chat (or ``cancel(chat)``) stops this one at its next
        token with ``qa.llm.queue.Cancelled`` (the queue policy: qa/llm/queue.py)."""
        state_dir = self.state_dir if persist_prefix else None
        yield from self._runtime().stream_chat(messages, max_tokens=max_tokens, state_dir=state_dir,
                                               template=self.settings.llm.chat_template, chat=chat)

    @staticmethod
    def cancel(chat: str, reason: str = "the chat was closed") -> int:
        """Cancel ``chat``'s waiting or running request; returns how many there were."""
        if importlib.util.find_spec("llama_cpp") is None:
            return 0
        from qa.llm import runtime

        return runtime.cancel(chat, reason)

    def warm(self, system: str, persist_prefix: bool = False) -> None:
        runtime = self._runtime()
        prefix = runtime.chat_template(self.settings.llm.chat_template).prefix(system)
        if prefix is not None:
            runtime.warm_prefix(prefix, self.state_dir if persist_prefix else None)

    def prefix_ready(self, system: str) -> bool:
        """``system``'s KV state is in memory or saved beside the index: a prompt with it reads only the rest."""
        runtime = self._runtime()
        prefix = runtime.chat_template(self.settings.llm.chat_template).prefix(system)
        return prefix is not None and runtime.prefix_ready(prefix, self.state_dir)

    def build_prefixes(self, systems: Sequence[str]) -> None:
        """Read these system messages' states in the background, giving the model to any question first
        (qa/llm/prefix_builder.py); saved beside the index. Replaces an unfinished earlier build."""
        runtime = self._runtime()
        template = runtime.chat_template(self.settings.llm.chat_template)
        prefixes = [p for p in map(template.prefix, systems) if p is not None]
        if self._builder is None:
            from qa.llm.prefix_builder import PrefixBuilder

            queue = runtime.queue()
            self._builder = PrefixBuilder(
                lambda prefix, give_way: runtime.warm_prefix_in_turns(prefix, self.state_dir, give_way=give_way),
                lambda: not queue.busy() and not queue.waiting())
        self._builder.build(prefixes)

    def wait_prefixes(self, timeout: float | None = None) -> bool:
        """Block until the background build has finished; False on timeout."""
        return self._builder is None or self._builder.wait(timeout)

    @staticmethod
    def loaded() -> bool:
        """The model is in memory (the first LLM question will not wait for loading)."""
        if importlib.util.find_spec("llama_cpp") is None:
            return False
        from qa.llm import runtime

        return runtime.llm_loaded()

    @staticmethod
    def busy() -> bool:
        """A generation holds the model: a new request would wait."""
        if importlib.util.find_spec("llama_cpp") is None:
            return False
        from qa.llm import runtime

        return runtime.llm_busy()
