"""The lexical side of an index: BM25 over the sentence rows, and stem document frequencies.

BM25 is bm25s, called exactly as llama-index's ``BM25Retriever`` calls it (same tokenizer, stop
words, Snowball stemmer and defaults), so rankings are the same, but without a ``TextNode`` per
sentence: BM25 costs its sparse matrix alone, rows are corpus rows, and the index is saved with the
index generation and memory-mapped at open (docs/decisions/0050-bm25-through-bm25s.md).

``LexicalIndex`` also counts how many sentences contain each content stem (``index.text``), for the
IDF-weighted coverage feature of the relevance scoring (``qa/support.py``). A sentence's own stems
are computed when it is a candidate (``stems_of``), not kept for every row (memory).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.text import content_stems

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # BM25Retriever's
INDEX_STOPWORDS = "en"  # BM25Retriever(language="en") for the corpus ...
QUERY_STOPWORDS = "english"  # ... and bm25s.tokenize's default for the query (BM25Retriever passes none)
_STATS_FILE = "stems.json"


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25_tokens(texts: list[str], stopwords: str) -> list[list[str]]:
    """The terms bm25s indexes (or queries) for each text: also what the Milvus backend stores."""
    import bm25s

    out = bm25s.tokenize(texts, stopwords=stopwords, stemmer=_stemmer(), token_pattern=TOKEN_PATTERN,
                         return_ids=False, show_progress=False)
    return [list(t) for t in out]


@lru_cache(maxsize=4096)
def stems_of(text: str) -> frozenset[str]:
    return frozenset(content_stems(text))


class SentenceStems:
    """Stem document frequencies kept up to date as sentences come and go (the Milvus backend: its
    corpus cannot re-read every text after each change, the texts stay in the engine)."""

    def __init__(self, n: int = 0, df: dict[str, int] | None = None) -> None:
        self.n, self.df = n, dict(df or {})

    def add(self, texts: list[str], sign: int = 1) -> None:
        df = self.df
        for t in texts:
            for stem in content_stems(t):  # each stem once per sentence
                c = df.get(stem, 0) + sign
                if c:
                    df[stem] = c
                else:
                    del df[stem]
        self.n += sign * len(texts)

    @staticmethod
    def counts(texts: list[str]) -> dict[str, int]:
        """stem -> number of these sentences holding it (what a Milvus document head stores)."""
        s = SentenceStems()
        s.add(texts)
        return s.df

    def add_counts(self, n: int, df: dict[str, int], sign: int = 1) -> None:
        """Add (``sign`` -1: take away) the counts of ``n`` sentences, as ``counts`` gave them."""
        own = self.df
        for stem, c in df.items():
            total = own.get(stem, 0) + sign * int(c)
            if total:
                own[stem] = total
            else:
                own.pop(stem, None)
        self.n += sign * n

    def changed(self, added: list[str], removed_n: int, removed_df: dict[str, int]) -> "SentenceStems":
        """A new object (views taken before a change keep theirs): ``added`` sentences counted in, and
        the counts of ``removed_n`` sentences taken away."""
        out = SentenceStems(self.n, self.df)
        out.add_counts(removed_n, removed_df, -1)
        out.add(added)
        return out

    def index(self) -> "LexicalIndex":
        return LexicalIndex(self.n, self.df, None, with_bm25=False)


class LexicalIndex:
    def __init__(self, n: int, df: dict[str, int], bm25=None, with_bm25: bool = True) -> None:
        self.n = n
        self.df = df
        self.with_bm25 = with_bm25  # False: the Milvus engine ranks; bm25 is then None
        self.bm25 = bm25  # also None when not one sentence has an indexable word

    # ---------------------------------------------------------------- building
    @classmethod
    def build(cls, texts: list[str], with_bm25: bool = True) -> "LexicalIndex":
        stems = SentenceStems()
        stems.add(texts)
        bm25 = cls._build_bm25(texts) if with_bm25 and texts else None
        return cls(stems.n, stems.df, bm25, with_bm25)

    @staticmethod
    def _build_bm25(texts: list[str]):
        import bm25s

        tokens = bm25s.tokenize(texts, stopwords=INDEX_STOPWORDS, stemmer=_stemmer(), token_pattern=TOKEN_PATTERN,
                                show_progress=False)
        bm25 = bm25s.BM25()
        try:
            bm25.index(tokens, show_progress=False)
        except ValueError:
            return None  # not one word in the whole corpus (only emoji, punctuation, stop words)
        return bm25

    # ---------------------------------------------------------------- persistence
    def save(self, directory: Path) -> list[Path]:
        """Write into ``directory`` (created); returns the files written, for the manifest's checksums."""
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / _STATS_FILE, "w", encoding="utf-8") as fh:
            json.dump({"n": self.n, "df": self.df, "with_bm25": self.with_bm25, "bm25": self.bm25 is not None}, fh,
                      ensure_ascii=False)
        if self.bm25 is not None:
            self.bm25.save(str(directory / "bm25"), show_progress=False)
        return sorted(p for p in directory.rglob("*") if p.is_file())

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> "LexicalIndex":
        """Raises OSError/ValueError/KeyError on damaged files (the caller turns them into IndexCorruptError)."""
        import bm25s

        stats = json.loads((directory / _STATS_FILE).read_text(encoding="utf-8"))
        bm25 = None
        if stats["bm25"]:
            bm25 = bm25s.BM25.load(str(directory / "bm25"), mmap=mmap, show_progress=False)
        return cls(int(stats["n"]), {str(k): int(v) for k, v in stats["df"].items()}, bm25, bool(stats["with_bm25"]))

    # ---------------------------------------------------------------- asking
    def idf(self, stem: str) -> float:
        return math.log((self.n + 1) / (self.df.get(stem, 0) + 0.5))

    def search(self, query: str, k: int) -> list[int]:
        """Rows with a positive BM25 score, best first (equal scores: lower row first), at most k.

        bm25s scores the rows; the top k are chosen here among the rows its postings list for the query
        terms (BM25 scores are positive exactly there), not by ``BM25.retrieve``, whose ``argpartition``
        over every row dominated a query's time at a million sentences (decision 0050)."""
        if self.bm25 is None or k <= 0:
            return []
        tokens = bm25_tokens([query], QUERY_STOPWORDS)[0]
        ids = self.bm25.get_tokens_ids(tokens) if tokens else []
        if not ids:
            return []  # only stop words, or words no sentence has
        scores = np.asarray(self.bm25.get_scores_from_ids(ids))
        if self.bm25.nonoccurrence_array is not None:  # a BM25 variant that scores every row: scan them all
            rows = np.flatnonzero(scores > 0)
        else:
            indptr, indices = self.bm25.scores["indptr"], self.bm25.scores["indices"]
            rows = np.concatenate([indices[indptr[t]: indptr[t + 1]] for t in ids]).astype(np.int64)
            # A row is listed at most once per query term, so the k best distinct rows are among the
            # k * len(ids) best listings: keep every listing scoring at least the (k * len(ids))-th best.
            m = k * len(ids)
            if len(rows) > m:
                vals = scores[rows]
                rows = rows[vals >= np.partition(vals, len(vals) - m)[len(vals) - m]]
            rows = np.unique(rows)
            rows = rows[scores[rows] > 0]  # as the scan: a listed row whose terms add up to nothing is no match
        if len(rows) > k:
            kth = np.partition(scores[rows], len(rows) - k)[len(rows) - k]
            rows = rows[scores[rows] >= kth]  # ties at the k-th score all stay, for the row order below
        order = np.lexsort((rows, -scores[rows]))
        return [int(r) for r in rows[order][:k]]
