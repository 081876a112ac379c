"""What the ``scale`` and ``backends`` suites and ``eval/scale_corpus.py`` share, so that none of them imports
another for it: the synthetic sentences and vectors, an embedder handing out precomputed vectors, and the
resident memory of this process."""

from __future__ import annotations

import numpy as np


class SyntheticSentences:
    """Deterministic synthetic 'sentences' (bags of word ids) and their projected vectors."""

    def __init__(self, dim: int, seed: int, vocab: int = 30_000, topics: int = 400, topic_words: int = 300) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim, self.vocab, self.topics = dim, vocab, topics
        ranks = np.arange(1, vocab + 1, dtype=np.float64)
        self.background = (1.0 / ranks) / (1.0 / ranks).sum()  # Zipf over the whole vocabulary
        self.topic_vocab = np.stack([self.rng.choice(vocab, topic_words, replace=False) for _ in range(topics)])
        tr = np.arange(1, topic_words + 1, dtype=np.float64) ** -0.8
        self.topic_p = tr / tr.sum()
        tp = np.arange(1, topics + 1, dtype=np.float64) ** -0.5
        self.topic_prior = tp / tp.sum()
        # "hashed bag of words": word id -> one of 2^16 buckets, then a fixed Gaussian projection;
        # IDF-like weights so frequent words count less, as in real sentence embeddings.
        self.buckets = 1 << 16
        self.bucket_of = self.rng.integers(0, self.buckets, vocab)
        self.weight = np.log(1.0 + 1.0 / (self.background * 50)).astype(np.float32)
        self.projection = (self.rng.standard_normal((self.buckets, dim)) / np.sqrt(dim)).astype(np.float32)

    def sentences(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(word ids, offsets) of n sentences: sentence i is words[offsets[i]:offsets[i+1]]."""
        lengths = self.rng.integers(6, 31, n)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        total = int(offsets[-1])
        topic = np.repeat(self.rng.choice(self.topics, n, p=self.topic_prior), lengths)
        from_topic = self.rng.random(total) < 0.6
        words = self.rng.choice(self.vocab, total, p=self.background)
        picks = self.rng.choice(self.topic_vocab.shape[1], total, p=self.topic_p)
        words[from_topic] = self.topic_vocab[topic[from_topic], picks[from_topic]]
        return words, offsets

    def vectors(self, words: np.ndarray, offsets: np.ndarray, chunk: int = 100_000) -> np.ndarray:
        from scipy import sparse

        n = len(offsets) - 1
        out = np.empty((n, self.dim), dtype=np.float32)
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            lo, hi = offsets[s], offsets[e]
            bow = sparse.csr_matrix((self.weight[words[lo:hi]], self.bucket_of[words[lo:hi]], offsets[s:e + 1] - lo),
                                    shape=(e - s, self.buckets), dtype=np.float32)
            bow.sum_duplicates()
            v = np.asarray(bow @ self.projection, dtype=np.float32)
            v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            out[s:e] = v
        return out

    def queries(self, words: np.ndarray, offsets: np.ndarray, nq: int) -> np.ndarray:
        """Questions 'about' corpus sentences: half of a sentence's words plus three other words."""
        n = len(offsets) - 1
        qw, qo = [], [0]
        for i in self.rng.choice(n, nq, replace=False):
            w = words[offsets[i]:offsets[i + 1]]
            keep = w[self.rng.random(len(w)) < 0.5] if len(w) > 2 else w
            extra = self.rng.choice(self.vocab, 3, p=self.background)
            qw.append(np.concatenate([keep, extra]))
            qo.append(qo[-1] + len(qw[-1]))
        return self.vectors(np.concatenate(qw), np.asarray(qo))


class PrecomputedEmbedder:
    """Hands out precomputed vectors in order (ingestion is timed without the model call)."""

    def __init__(self, name: str, vectors: np.ndarray, queries: np.ndarray) -> None:
        self.name, self.dim, self.vectors, self.queries, self.at = name, vectors.shape[1], vectors, queries, 0

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        out = self.vectors[self.at : self.at + len(texts)]
        self.at += len(texts)
        return out

    def rewind(self) -> None:
        self.at = 0


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
