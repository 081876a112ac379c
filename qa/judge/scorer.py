"""The judge at answer time: the committed int8 ONNX cross-encoder run by ONNX Runtime (no torch import).

``qa/judge/weights/`` holds ``model.int8.onnx`` (inputs input_ids, attention_mask, token_type_ids; output one logit
per pair), ``config.json`` (``max_length``, ``base_tokenizer``: the packaged model whose ``tokenizer.json`` it was
trained with, ``platt_a`` / ``platt_b``: the calibration) and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from index.model_dirs import DEFAULT_MODEL, base_model_dir
from index.onnx_runtime import OnnxModel, OnnxRuntimeError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
GRAPH_FILE, CONFIG_FILE = "model.int8.onnx", "config.json"
CONFIG_KEYS = {"max_length", "base_tokenizer", "platt_a", "platt_b"}


class JudgeError(RuntimeError):
    """The judge's weights are missing or unreadable."""


def read_config(weights_dir: Path) -> dict:
    path = Path(weights_dir) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JudgeError(f"judge weights missing: no {path} (train them with python -m training.judge)") from exc
    except (OSError, ValueError) as exc:
        raise JudgeError(f"judge config {path} is unreadable: {exc}") from exc
    missing = CONFIG_KEYS - set(config) if isinstance(config, dict) else CONFIG_KEYS
    if missing:
        raise JudgeError(f"judge config {path} lacks {sorted(missing)}")
    if config["base_tokenizer"] != DEFAULT_MODEL:
        raise JudgeError(f"judge config {path}: tokenizer {config['base_tokenizer']!r} is not the packaged "
                         f"{DEFAULT_MODEL!r}")
    return config


class JudgeScorer:
    """``probabilities(question, units)``: the calibrated probability that each unit answers the question."""

    def __init__(self, weights_dir: str | Path | None = None, threads: int = 1) -> None:
        wdir = Path(weights_dir) if weights_dir else WEIGHTS_DIR
        self.config = read_config(wdir)
        graph = wdir / GRAPH_FILE
        if not graph.is_file():
            raise JudgeError(f"judge weights missing: no {graph} (train them with python -m training.judge)")
        max_length = int(self.config["max_length"])
        try:
            self.model = OnnxModel.from_files(graph, base_model_dir() / "tokenizer.json", max_length, "only_second",
                                              threads)
        except OnnxRuntimeError as exc:
            raise JudgeError(f"judge weights {graph} are corrupt or unreadable: {exc}") from exc
        # Only the unit is truncated, so a question longer than the window would be an error there: questions
        # are first cut to half the window with an untruncating copy of the tokenizer.
        self.question_tokens = max_length // 2
        self._question_tokenizer = type(self.model.tokenizer).from_str(self.model.tokenizer.to_str())
        self._question_tokenizer.no_truncation()

    def fit_question(self, question: str) -> str:
        offsets = self._question_tokenizer.encode(question, add_special_tokens=False).offsets
        return question if len(offsets) <= self.question_tokens else question[: offsets[self.question_tokens - 1][1]]

    def logits(self, question: str, units: list[str]) -> np.ndarray:
        """The raw logit per unit (higher = more likely to answer)."""
        if not units:
            return np.zeros(0, dtype=np.float32)
        return self.model.run_pairs(self.fit_question(question), list(units)).reshape(-1).astype(np.float32)

    def probabilities(self, question: str, units: list[str]) -> np.ndarray:
        z = self.logits(question, units).astype(np.float64)
        return 1.0 / (1.0 + np.exp(-(self.config["platt_a"] * z + self.config["platt_b"])))


_LOADED: dict[tuple[str, int], JudgeScorer] = {}
_LOAD_LOCK = threading.Lock()


def scorer_for(settings) -> JudgeScorer:
    """The process's judge for a ``qa.settings.Settings`` (committed weights, ``settings.judge.threads``)."""
    key = (str(WEIGHTS_DIR), int(settings.judge.threads))
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = JudgeScorer(None, key[1])
        return _LOADED[key]
