"""The trained relevance cross-encoder at answer time: its ONNX export run by ONNX Runtime (no torch import).

``qa/relevance/model.py`` is the torch model (training, export; its docstring describes the weights' layout);
the graph is exported from it once per machine into ``<cache_dir>/relevance-<key>/`` (``index/onnx_runtime.py``),
keyed by the contents of the base model and of the weights. ``tests/integration/test_relevance.py`` checks both give
the same logits.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from index.model_dirs import base_model_dir, default_cache_dir
from index.onnx_runtime import OnnxModel, cached_graph, content_key
from qa.relevance.layout import (ADAPTER_CONFIG_FILE, ADAPTER_FILE, CONFIG_FILE, CONFIG_KEYS, HEAD_FILE,  # noqa: F401
                                 WEIGHTS_DIR, RelevanceError, read_config)

class RelevanceScorer:
    """``logits(question, sentences)``: how strongly each sentence answers the question (higher = more)."""

    def __init__(self, model: OnnxModel, config: dict) -> None:
        self.model = model
        self.config = config
        # The pair tokenizer truncates only the sentence, so a question longer than the whole window is an
        # error there ("Sequence to truncate too short"): questions are cut to half the window first, with
        # their own untruncated tokenizer (a copy: the shared one's settings must not change under threads).
        self.question_tokens = int(config["max_length"]) // 2
        self._question_tokenizer = type(model.tokenizer).from_str(model.tokenizer.to_str())
        self._question_tokenizer.no_truncation()

    @classmethod
    def load(cls, weights_dir: str | Path | None = None, cache_dir: Path | None = None) -> "RelevanceScorer":
        """The weights in ``weights_dir`` (default: the committed ones); their graph cached in ``cache_dir``
        (default: ``index.model_dirs.default_cache_dir()``), exported first if it is not there."""
        wdir = Path(weights_dir) if weights_dir else WEIGHTS_DIR
        config = read_config(wdir)
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

        def export(out_dir: Path) -> None:
            from qa.relevance.model import export_onnx

            export_onnx(wdir, out_dir)

        key = content_key(cache_dir, [base_model_dir(), wdir / ADAPTER_FILE, wdir / ADAPTER_CONFIG_FILE,
                                      wdir / HEAD_FILE, wdir / CONFIG_FILE])
        return cls(OnnxModel(cached_graph(cache_dir, "relevance", key, export)), config)

    def logits(self, question: str, sentences: list[str]) -> np.ndarray:
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        return self.model.run_pairs(self.fit_question(question), sentences).astype(np.float32)

    def fit_question(self, question: str) -> str:
        """The question, cut after its first ``question_tokens`` tokens (training questions were all shorter)."""
        offsets = self._question_tokenizer.encode(question, add_special_tokens=False).offsets
        return question if len(offsets) <= self.question_tokens else question[: offsets[self.question_tokens - 1][1]]


_LOADED: dict[str, RelevanceScorer] = {}
_LOAD_LOCK = threading.Lock()


def get_scorer(weights_dir: str | Path | None = None, cache_dir: Path | None = None) -> RelevanceScorer:
    """One scorer per weights directory, cache directory and process."""
    key = f"{Path(weights_dir).resolve() if weights_dir else WEIGHTS_DIR}:{cache_dir}"
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = RelevanceScorer.load(weights_dir, cache_dir)
        return _LOADED[key]


def scorer_for(settings) -> RelevanceScorer:
    """The process's scorer for a ``qa.settings.Settings``: the committed weights, graphs in its cache directory."""
    return get_scorer(None, Path(settings.cache_dir) / "onnx")
