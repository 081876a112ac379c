"""Word-level text helpers shared by retrieval features (tokens, stems, stopwords)."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from as into onto about over under
    is are was were be been being am do does did done doing have has had having will would shall should
    can could may might must what which who whom whose when where why how that this these those it its
    he him his she her hers they them their theirs we us our you your i me my mine not no yes so than too
    very just also there here any some all each every both either neither such one ones s t""".split()
)
_stemmer = Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stemmer.stemWord(word)


def content_stems(text: str) -> list[str]:
    """Stems of the non-stopword words, in order, duplicates removed."""
    seen: dict[str, None] = {}
    for w in words(text):
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(stem(w), None)
    return list(seen)
