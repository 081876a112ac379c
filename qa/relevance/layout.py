"""The files of a relevance model directory (``weights/`` or a training command's ``--out``): peft's adapter
over the packaged MiniLM's first ``layers`` layers, the linear head and a small config. The answer path
(``scorer.py``), the torch module (``model.py``) and the trainer (``training/relevance.py``) share these."""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ADAPTER_FILE, ADAPTER_CONFIG_FILE = "adapter_model.safetensors", "adapter_config.json"
HEAD_FILE, CONFIG_FILE = "head.safetensors", "config.json"
CONFIG_KEYS = ("layers", "max_length", "platt_a", "platt_b")


class RelevanceError(RuntimeError):
    pass


def read_config(weights_dir: Path) -> dict:
    """``config.json`` of a weights directory, checked to hold ``CONFIG_KEYS`` and the model's files."""
    try:
        config = json.loads((Path(weights_dir) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RelevanceError(f"cannot read the relevance model in {weights_dir}: {exc}") from exc
    missing = [k for k in CONFIG_KEYS if k not in config]
    missing += [f for f in (ADAPTER_FILE, ADAPTER_CONFIG_FILE, HEAD_FILE) if not (Path(weights_dir) / f).is_file()]
    if missing:
        raise RelevanceError(f"the relevance model in {weights_dir} lacks {', '.join(missing)}")
    return config


# Every linear layer of the kept blocks gets a LoRA delta: attention (query, key, value, output) and feed-forward.
LORA_TARGETS = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense"]
