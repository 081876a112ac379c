"""The model's own chat template: chat messages -> the prompt text the model was trained on, and the
prompt's cacheable prefix.

The template is the GGUF file's ``tokenizer.chat_template`` (or ``Settings.llm.chat_template``), rendered
by llama-cpp-python's ``Jinja2ChatFormatter``, as its own chat completion does. The prefix of a prompt
whose first message is a system message is everything before the first user message's content: the
system message (citeqa's instructions and numbered sentences) plus the template's markers around it. It
is found by rendering the conversation with a sentinel as that content and cutting at the sentinel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jinja2
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

log = logging.getLogger(__name__)

_SENTINEL = "CITEQA7f3aUSERCONTENTe91b"  # no whitespace at its ends: templates that trim content keep it
_PROBE_SYSTEM = "CITEQA7f3aSYSTEMPROBEe91b"

Message = Mapping[str, str]


class ChatTemplateError(ValueError):
    """The chat template cannot render citeqa's messages."""


@dataclass(frozen=True)
class ChatPrompt:
    text: str  # the whole prompt, ending with the open assistant turn
    prefix: str | None  # its fixed beginning worth caching; None when the template allows none


class ChatTemplate:
    """A Jinja chat template with the model's BOS/EOS texts.

    ``render`` leaves out a leading BOS text when the tokenizer adds BOS itself (``bos_added``), as
    llama.cpp's own chat code does, so the prompt never starts with two BOS tokens.
    """

    def __init__(self, template: str, bos_token: str = "", eos_token: str = "", bos_added: bool = False) -> None:
        try:
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token,
                                                  add_generation_prompt=True)
            self._closing = Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token,
                                                add_generation_prompt=False)
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(f"the chat template is not valid Jinja: {exc}") from exc
        self.template = template
        self.bos_token, self.eos_token = bos_token, eos_token
        self._strip_bos = bos_added and bool(bos_token)
        self._warned = False
        self.system_role = self._has_system_role()
        self.stops = tuple(dict.fromkeys(s for s in (self._end_of_turn(), eos_token) if s))

    def _raw(self, messages: Sequence[Message], formatter: Jinja2ChatFormatter | None = None) -> str:
        try:
            return (formatter or self._formatter)(messages=[dict(m) for m in messages]).prompt
        except (jinja2.TemplateError, ValueError, TypeError, KeyError) as exc:  # raise_exception() gives ValueError
            raise ChatTemplateError(f"the chat template cannot render these messages: {exc}") from exc

    def _has_system_role(self) -> bool:
        # Some templates raise on a system message (Gemma 1/2), some drop it silently: both get it folded.
        try:
            text = self._raw([{"role": "system", "content": _PROBE_SYSTEM}, {"role": "user", "content": _SENTINEL}])
        except ChatTemplateError:
            return False
        return _PROBE_SYSTEM in text

    def _end_of_turn(self) -> str:
        """What the template writes after an assistant message (``<|im_end|>``, ``<end_of_turn>``, ...)."""
        try:
            text = self._raw([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _SENTINEL}],
                             self._closing)
        except ChatTemplateError:
            return ""
        return text.split(_SENTINEL, 1)[1].strip() if _SENTINEL in text else ""

    def _fold(self, messages: Sequence[Message]) -> list[Message]:
        """A leading system message goes into the first user message when the template has no system role."""
        if self.system_role or not messages or messages[0].get("role") != "system":
            return list(messages)
        system, rest = messages[0]["content"], list(messages[1:])
        if rest and rest[0].get("role") == "user":
            return [{"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}, *rest[1:]]
        return [{"role": "user", "content": system}, *rest]

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text for messages ({"role", "content"} mappings), ending with the open assistant turn."""
        text = self._raw(self._fold(messages))
        if self._strip_bos and text.startswith(self.bos_token):
            text = text[len(self.bos_token):]
        return text

    def prefix(self, system: str) -> str | None:
        """The fixed beginning of every prompt [system, user ...], or None (with a warning) if there is none."""
        return _prefix(self, system)

    def prompt(self, messages: Sequence[Message]) -> ChatPrompt:
        """The rendered prompt, and its prefix when the first message is a system message."""
        text = self.render(messages)
        prefix = None
        if len(messages) > 1 and messages[0].get("role") == "system" and messages[1].get("role") == "user":
            prefix = self.prefix(messages[0]["content"])
            if prefix is not None and not text.startswith(prefix):
                if not self._warned:
                    log.warning("the chat template renders the instructions differently with another question: "
                                "such prompts are read without prefix caching")
                    self._warned = True
                prefix = None
        return ChatPrompt(text, prefix)


@lru_cache(maxsize=8)
def _prefix(template: ChatTemplate, system: str) -> str | None:
    # Cached: the whole-corpus system message is the same for every question.
    text = template.render([{"role": "system", "content": system}, {"role": "user", "content": _SENTINEL}])
    head, found, _ = text.partition(_SENTINEL)
    if not found or system.strip() not in head:
        log.warning("the chat template does not put the instructions before the question's text: "
                    "prompts are read without prefix caching")
        return None
    return head
