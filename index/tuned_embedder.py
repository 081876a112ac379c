"""The question-tuned sentence embedder: the packaged all-MiniLM-L6-v2 plus a LoRA adapter trained here.

The adapter (``index/embedder_weights/``, 1.3 MB in float16; trained by ``python -m index.train_embedder``,
data and figures in its ``MODEL_CARD.md``) is folded into the base weights once per cache directory and written
as an ordinary sentence-transformers directory in the cache, named by the adapter's SHA-256. Everything
that reads a model directory (sentence-transformers for indexing, the NumPy and ONNX question encoders)
then reads it unchanged. Folding is arithmetic, not training: W += (alpha / rank) * B @ A.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "embedder_weights"
NAME_PREFIX = "all-MiniLM-L6-v2+citeqa-squad-"  # the index manifest's embedder name: portable, names the adapter


def adapter_sha256(weights_dir: Path = WEIGHTS_DIR) -> str:
    """Of the weights' bytes and the config's content (canonical JSON: a CRLF checkout names the same adapter)."""
    config = json.loads((weights_dir / "adapter_config.json").read_text(encoding="utf-8"))
    h = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    h.update((weights_dir / "adapter.safetensors").read_bytes())
    return h.hexdigest()


def model_name(weights_dir: Path = WEIGHTS_DIR) -> str:
    return NAME_PREFIX + adapter_sha256(weights_dir)[:12]


def merged_weights(base: dict[str, np.ndarray], adapter: dict[str, np.ndarray], config: dict) -> dict[str, np.ndarray]:
    """Base weights with every adapted linear layer's B @ A folded in (float32)."""
    scale = float(config["alpha"]) / float(config["rank"])
    out = dict(base)
    for module in config["modules"]:
        key = f"{module}.weight"
        a = adapter[f"{module}.lora_a"].astype(np.float32)
        b = adapter[f"{module}.lora_b"].astype(np.float32)
        if key not in out or out[key].shape != (b.shape[0], a.shape[1]):
            raise ValueError(f"the embedder adapter does not fit the base model at {module}")
        out[key] = (out[key].astype(np.float32) + scale * (b @ a)).astype(np.float32)
    return out


def materialise(models_dir: Path, base_dir: str | Path | None = None, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """The merged model directory in ``models_dir`` (written once, atomically; later calls return it)."""
    from safetensors.numpy import load_file, save_file

    from index.embedder import default_model_path

    target = Path(models_dir) / model_name(weights_dir)
    if (target / "model.safetensors").exists():
        return target
    base = Path(base_dir or default_model_path())
    config = json.loads((weights_dir / "adapter_config.json").read_text(encoding="utf-8"))
    weights = merged_weights(load_file(str(base / "model.safetensors")), load_file(str(weights_dir / "adapter.safetensors")),
                             config)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".merge-", dir=target.parent))
    try:
        for item in base.iterdir():
            if item.name == "model.safetensors":
                continue
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        try:
            os.rename(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (target / "model.safetensors").exists():
                raise
            # another process merged it meanwhile: theirs is the same bytes
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
