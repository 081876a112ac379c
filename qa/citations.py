"""Citation markers in model output: find them in the formats small models actually write.

Accepted: ``[1]``, ``[1, 2]``, ``[1][2]``, ``[Source 1]``, ``[Sentence 3]``, ``[1-3]``. A marker at
the start of a sentence ("... Pompeo. [2] Next") belongs to the sentence before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.sentences import split_sentences

_MARKER = re.compile(
    r"\[\s*(?:(?:source|sentence|sent\.?|doc(?:ument)?|ref)\s*)?"
    r"(\d{1,4}(?:\s*(?:,|;|and|-|\u2013)\s*(?:(?:source|sentence)\s*)?\d{1,4})*)\s*\]",
    re.IGNORECASE,
)


@dataclass
class AnswerSentence:
    text: str  # without markers
    markers: list[int] = field(default_factory=list)  # valid sentence numbers, in order, no repeats
    trailing: str = " "


def _numbers(group: str, n_max: int) -> list[int]:
    out: list[int] = []
    for a, b in re.findall(r"(\d+)\s*(?:[-\u2013]\s*(\d+))?", group):
        lo, hi = int(a), int(b) if b else int(a)
        if hi < lo or hi - lo > 10:
            hi = lo
        out.extend(range(lo, hi + 1))
    return [n for n in out if 1 <= n <= n_max]


def parse_markers(raw: str, n_max: int) -> list[AnswerSentence]:
    spans = split_sentences(raw)
    if not spans:
        return []
    owners: list[list[int]] = [[] for _ in spans]
    for m in _MARKER.finditer(raw):
        i = next((k for k, sp in enumerate(spans) if sp.start <= m.start() < sp.end), len(spans) - 1)
        head = _MARKER.sub("", raw[spans[i].start : m.start()]).strip()
        if not head and i > 0:
            i -= 1  # "... claim. [2]" : the marker closes the previous sentence
        for n in _numbers(m.group(1), n_max):
            if n not in owners[i]:
                owners[i].append(n)
    out = []
    for sp, nums in zip(spans, owners):
        text = _MARKER.sub("", raw[sp.start : sp.end])
        text = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
        if text:
            out.append(AnswerSentence(text, nums))
        elif out:
            out[-1].markers.extend(n for n in nums if n not in out[-1].markers)
    if out:
        out[-1].trailing = ""
    return out
