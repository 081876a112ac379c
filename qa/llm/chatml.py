"""ChatML prompt formatting (Qwen's chat template), kept free of heavy imports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ROLES = ("system", "user", "assistant")


def _role_content(message: Any) -> tuple[str, str]:
    """Accept {"role", "content"} dicts and llama-index ChatMessage-like objects."""
    if isinstance(message, Mapping):
        role, content = message.get("role"), message.get("content")
    else:
        role, content = getattr(message, "role", None), getattr(message, "content", None)
    role = getattr(role, "value", role)  # llama-index MessageRole enum -> "user"
    if role not in ROLES:
        raise ValueError(f"chat message role must be one of {ROLES}, got {role!r}")
    return str(role), "" if content is None else str(content)


def chatml(messages: Iterable[Any], add_generation_prompt: bool = True) -> str:
    """Format messages as ChatML; by default end with an open assistant turn to complete."""
    parts = [f"{IM_START}{role}\n{content}{IM_END}\n" for role, content in map(_role_content, messages)]
    if add_generation_prompt:
        parts.append(f"{IM_START}assistant\n")
    return "".join(parts)
