"""Every knob of citeqa in one typed object: defaults, then the environment, then explicit arguments.

``Settings.from_env()`` reads the ``CITEQA_*`` variables once; everything else receives the object
(``Assistant.open(settings=...)``) instead of reading the environment or module globals, so a
benchmark changes behaviour by passing other settings (e.g. ``replace(s, retrieval="bm25")``).

Fitted model parameters (the support model's weights in qa/support.py and qa/verify.py) are not
settings: they come with the numbers that justify them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal

RETRIEVALS = ("hybrid", "bm25", "dense")
BACKENDS = ("faiss", "milvus")

# Environment variable -> field. Read only by Settings.from_env().
ENV = {
    "CITEQA_HOME": "home",
    "CITEQA_INDEX_DIR": "index_dir",
    "CITEQA_CACHE": "cache_dir",
    "CITEQA_EMBED_MODEL": "embed_model",
    "CITEQA_LLM_PATH": "llm_path",
    "CITEQA_LLM_THREADS": "llm_threads",
    "CITEQA_LLM_MAX_TOKENS": "llm_max_tokens",
    "CITEQA_BACKEND": "backend",
    "CITEQA_MILVUS_URI": "milvus_uri",
    "CITEQA_MILVUS_TOKEN": "milvus_token",
    "CITEQA_MILVUS_COLLECTION": "milvus_collection",
    "CITEQA_MILVUS_TIMEOUT": "milvus_timeout_s",
    "CITEQA_MILVUS_TEXT_CACHE": "milvus_text_cache_chars",
    "CITEQA_RELEVANCE": "relevance",
    "CITEQA_RUNTIME": "runtime",
    "CITEQA_RAY_ADDRESS": "ray_address",
}


def _is_ray_address(address: str) -> bool:
    """auto, ray://HOST:PORT or HOST:PORT (Ray's own forms; reachability is checked when it is used)."""
    return address == "auto" or re.fullmatch(r"(ray://)?(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}", address) is not None


def _default_home() -> Path:
    return Path.home() / ".cache" / "citeqa"


@dataclass(frozen=True)
class Settings:
    # --- where things live
    home: Path = None  # type: ignore[assignment]  # default index lives here (~/.cache/citeqa)
    index_dir: Path = None  # type: ignore[assignment]  # default: <home>/index
    cache_dir: Path = None  # type: ignore[assignment]  # joined GGUF model, built wheels (~/.cache/citeqa)
    # --- index backend (index/backend.py). "faiss": files in index_dir (the default). "milvus": sentence
    # records, vectors and document texts live in Milvus (index/milvus/), so several servers share one index;
    # index_dir then only keeps this machine's own files (LLM state, chat uploads).
    backend: Literal["faiss", "milvus"] = "faiss"
    # A local file path (e.g. "./citeqa-milvus.db") starts Milvus Lite in this process; "http://host:19530"
    # talks to a Milvus server or cluster. None = <home>/milvus.db.
    milvus_uri: str | None = None
    milvus_token: str | None = None  # "user:password" or an API key, for a server with authentication
    milvus_collection: str = "citeqa"  # prefix of the collections: <name>_sentences, _documents, _manifest
    # Every call to the engine gives up after this long: an unreachable server is an error, never a hang.
    milvus_timeout_s: float = 10.0
    # The engine's dense index: FLAT is exact (answers identical to FAISS's flat index below 200k
    # sentences); HNSW is approximate and much faster on a cluster with millions of sentences.
    milvus_index: Literal["FLAT", "HNSW"] = "FLAT"
    # Document texts stay in Milvus; a server keeps the recently read ones, up to this many characters
    # (index/milvus/entries.py). 16M characters hold a few thousand news articles.
    milvus_text_cache_chars: int = 16_000_000
    # Embed the sentences of `index add` on a Ray cluster (index/ray_embedder.py; `pip install 'citeqa[ray]'`):
    # "auto" = the cluster in RAY_ADDRESS or one started on this machine, else a local one started for the
    # command; "ray://host:10001" or "host:6379" = that cluster. None = no Ray (the default: on one machine
    # plain encoding is faster). Questions are never embedded through Ray.
    ray_address: str | None = None

    # --- models
    # A sentence-transformers directory; None = the packaged all-MiniLM-L6-v2; "squad-tuned" = it plus the LoRA
    # adapter trained here for question -> answer-sentence search (index/tuned_embedder.py; not the default:
    # it retrieves better but answers no better, index/embedder_weights/MODEL_CARD.md).
    embed_model: str | None = None
    llm_path: str | None = None  # any GGUF instruct model; None = the pinned Qwen
    llm_chat_template: str | None = None  # a Jinja chat template for the LLM; None = the model file's own
    # 2 = both cores. Under heavy CPU contention (load average ~14) 1 thread ran a 136+20-token request
    # 2-2.6x faster than 2 (ggml's threads spin at barriers waiting for a descheduled peer).
    llm_threads: int = 2
    llm_max_tokens: int = 256  # per LLM call unless the call says otherwise
    llm_context_window: int = 4096

    # What runs the small BERTs of each question (the question encoder, the relevance model): "onnx" = ONNX
    # Runtime over a graph built from the same weights (index/onnx_bert.py: same outputs to 1e-5, about half
    # the time; the graph is cached in <cache_dir>/onnx), "numpy" = the NumPy forward pass. Without
    # onnxruntime installed, "onnx" falls back to NumPy with a warning.
    runtime: Literal["onnx", "numpy"] = "onnx"

    # --- retrieval (qa/retrieval.py)
    retrieval: Literal["hybrid", "bm25", "dense"] = "hybrid"  # one side only is a benchmark baseline
    top_k: int = 20
    rrf_k: int = 60

    # --- relevance (qa/support.py, qa/relevance): "model" = the trained cross-encoder reads the best
    # ``rerank_top`` candidates and is combined with the hand features; "features" = hand features only
    # (the benchmark baseline, and what runs when the model files are missing). "model" is the default since
    # the gate below made it cheap: held-out SQuAD answer in citations 0.79 vs 0.72, false abstention 0.06 vs
    # 0.13; own seed gold false abstention 0.01 vs 0.08, at the cost of unanswerable questions answered
    # (abstained 0.58 vs 0.83) and citation precision 0.87 vs 0.91 (qa/relevance/weights/MODEL_CARD.md).
    relevance: Literal["model", "features"] = "model"
    rerank_top: int = 6
    # The model reads a question's candidates only when the hand features' best probability is below this:
    # above it their choice stands (a confident answer). Chosen on the calibration articles as the gate with
    # the best top-1 (``python -m eval.calibrate_relevance ... --gates``, table in qa/support.py): the model
    # then runs for 57% of held-out SQuAD questions and 37% of the seed gold set, at no loss of quality.
    # 0 = never, above 1 (e.g. 1.01) = every question.
    relevance_gate: float = 0.4

    # --- evidence selection (qa/evidence.py)
    # Abstain when the best sentence's support probability is below this; None = the threshold fitted
    # with the support model on SQuAD v2 (qa/support.py ABSTAIN_BELOW).
    abstain_below: float | None = None
    max_sentences: int = 3
    # A further sentence is quoted only when it supports the answer as well as the best one (a near tie).
    # Tuned on the project's own gold set (eval/gold_seed.jsonl), not on the shared dev set: margin 0
    # gave citation precision/recall 0.907/0.889, margin 0.15 0.851/0.911.
    second_sentence_margin: float = 0.02

    # --- LLM answer mode (qa/modes/generative.py)
    full_corpus_max_chars: int = 9000  # ~2,300 tokens: the whole corpus fits the context with room to answer
    retrieved_sentences: int = 6  # larger corpora: these retrieved sentences,
    # and the sentences before and after the best this many of them. Measured on SQuAD-A test articles, open
    # corpus, 2 samples of 40 questions (`citeqa eval squad ... --split test --limit 40 --mode generative`,
    # seeds 0 and 1, run through a wrapper that set this value; 2026-12-02): neighbours of all 6: answer in citations 0.889 / 0.750, prompt 2,619 / 2,586
    # characters; of the best 2: 0.889 / 0.800, 1,866 / 1,841 characters (about 190 tokens, ~2.8 s, fewer to
    # read per question); of the best 3: 0.889 on seed 0; of none (last stop): 0.778 on seed 0.
    neighbours_for: int = 2
    answer_max_tokens: int = 80  # ~14 tokens/s: a short answer is the only way to stay near 3 s
    history_turns: int = 4
    # The user turn names the best retrieved sentences: a dozen tokens that, on the seed article, turned
    # most of the 1.5B model's "NOT IN DOCUMENTS" replies to answerable questions into answers.
    hinted_sentences: int = 3
    # Quote the best sentence instead of a draft that cites only sentences below the threshold when its support
    # is at least this (the probability's midpoint, not a tuned value). A refusal or a draft citing nothing
    # falls back to the quotes whenever they answer, whatever their support (qa/grounding.quote_instead).
    quote_best_from: float = 0.5

    @property
    def onnx_cache_dir(self) -> Path:
        """Where this machine's ONNX graphs of the question-time models live (index/onnx_bert.py)."""
        return Path(self.cache_dir) / "onnx"

    def __post_init__(self) -> None:
        home = Path(self.home).expanduser() if self.home else _default_home()
        object.__setattr__(self, "home", home)
        object.__setattr__(self, "index_dir", Path(self.index_dir).expanduser() if self.index_dir else home / "index")
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser() if self.cache_dir else _default_home())
        if self.milvus_uri is None:
            object.__setattr__(self, "milvus_uri", str(home / "milvus.db"))
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if not self.milvus_collection.replace("_", "a").isalnum() or not self.milvus_collection[:1].isalpha():
            raise ValueError(f"milvus_collection must be letters, digits and _ starting with a letter, "
                             f"got {self.milvus_collection!r}")
        if self.milvus_index not in ("FLAT", "HNSW"):
            raise ValueError(f"milvus_index must be FLAT or HNSW, got {self.milvus_index!r}")
        if not self.milvus_timeout_s > 0:
            raise ValueError("milvus_timeout_s must be positive")
        if self.milvus_text_cache_chars < 0:
            raise ValueError("milvus_text_cache_chars must be at least 0")
        if self.ray_address is not None and not _is_ray_address(self.ray_address):
            raise ValueError(f"ray_address must be auto, ray://HOST:PORT or HOST:PORT, got {self.ray_address!r}")
        if self.runtime not in ("onnx", "numpy"):
            raise ValueError(f"runtime must be 'onnx' or 'numpy', got {self.runtime!r}")
        if self.relevance not in ("model", "features"):
            raise ValueError(f"relevance must be 'model' or 'features', got {self.relevance!r}")
        if self.retrieval not in RETRIEVALS:
            raise ValueError(f"retrieval must be one of {', '.join(RETRIEVALS)}, got {self.retrieval!r}")
        if self.llm_threads < 1 or self.llm_max_tokens < 1 or self.top_k < 1 or not 1 <= self.max_sentences \
                or self.rerank_top < 1:
            raise ValueError("llm_threads, llm_max_tokens, top_k, max_sentences and rerank_top must be at least 1")
        if self.neighbours_for < 0:
            raise ValueError("neighbours_for must be at least 0")
        if not (isinstance(self.relevance_gate, (int, float)) and self.relevance_gate >= 0):
            raise ValueError(f"relevance_gate must be a probability threshold >= 0, got {self.relevance_gate!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Defaults, then ``CITEQA_*`` variables (empty ones are ignored), then ``overrides``."""
        env = os.environ if env is None else env
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for var, name in ENV.items():
            raw = env.get(var, "").strip()
            if not raw:
                continue
            if types[name] == "int":
                try:
                    values[name] = int(raw)
                except ValueError:
                    raise ValueError(f"{var} must be a whole number, got {raw!r}") from None
            elif types[name] == "float":
                try:
                    values[name] = float(raw)
                except ValueError:
                    raise ValueError(f"{var} must be a number, got {raw!r}") from None
            else:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)
