"""Recognise document sentences that try to instruct the assistant (prompt injection).

Document text is data. The LLM mode states that in its system prompt, but a small model still
obeys "ignore previous instructions ..." found among the sentences (seen in
tests/integration/test_generative.py), so such sentences are not shown to the model at all. They stay in
the index and can still be found and cited by the extractive mode.
"""

from __future__ import annotations

import re

_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instructions?|prompts?|rules?|context|everything)\b"
    r"|\b(?:you are now|act as|pretend to be|from now on,? you)\b"
    r"|\b(?:system prompt|developer mode|jailbreak)\b"
    r"|\b(?:answer|reply|respond)\b[^.]{0,30}\b(?:every|all|any)\b[^.]{0,20}\b(?:questions?|requests?)\b[^.]{0,20}\bwith\b"
    r"|<\|im_(?:start|end)\|>",
    re.IGNORECASE,
)


def looks_like_instruction(text: str) -> bool:
    return bool(_INSTRUCTION.search(text))
