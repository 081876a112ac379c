"""The question-tuned sentence embedder: the packaged all-MiniLM-L6-v2 plus a peft LoRA adapter trained here.

Adapter layout (``index/embedder_weights/``, written by the training command with peft's ``save_pretrained``):
- ``adapter_config.json``: a ``peft.LoraConfig`` (``peft_type`` LORA) for a ``transformers`` ``BertModel``: the
  ``BertModel`` inside the sentence-transformers model (``model[0].model``), all 6 layers, ``target_modules``
  the six linear layers of each block (attention.self.query/key/value, attention.output.dense,
  intermediate.dense, output.dense);
- ``adapter_model.safetensors``: its tensors, keys ``base_model.model.encoder.layer.N.<module>.lora_A.weight`` /
  ``lora_B.weight`` (float16 or float32);
- ``MODEL_CARD.md`` and ``metrics.json`` (the training run's record). ``save_pretrained``'s README.md is not kept.

The adapter is merged into the base weights once per cache directory (``PeftModel.from_pretrained(...)
.merge_and_unload()``) and the result saved as an ordinary sentence-transformers directory named by the
adapter's SHA-256, which everything that reads a model directory (batch encoding, the ONNX export of the
question encoder) then reads unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from index.model_dirs import default_model_path, hub_offline

WEIGHTS_DIR = Path(__file__).resolve().parent / "embedder_weights"
ADAPTER_FILE, ADAPTER_CONFIG_FILE = "adapter_model.safetensors", "adapter_config.json"
NAME_PREFIX = "all-MiniLM-L6-v2+citeqa-squad-"  # the index manifest's embedder name: portable, names the adapter


def adapter_sha256(weights_dir: Path = WEIGHTS_DIR) -> str:
    """Of the weights' bytes and the config's content (canonical JSON: a CRLF checkout names the same adapter)."""
    try:
        config = json.loads((weights_dir / ADAPTER_CONFIG_FILE).read_text(encoding="utf-8"))
        weights = (weights_dir / ADAPTER_FILE).read_bytes()
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"no readable peft adapter in {weights_dir} ({exc})") from exc
    h = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    h.update(weights)
    return h.hexdigest()


def model_name(weights_dir: Path = WEIGHTS_DIR) -> str:
    return NAME_PREFIX + adapter_sha256(weights_dir)[:12]


def merged_model(base_dir: str | Path | None = None, weights_dir: Path = WEIGHTS_DIR):
    """The sentence-transformers model of ``base_dir`` (default: the packaged MiniLM) with the adapter merged in."""
    hub_offline()
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    st = SentenceTransformer(str(base_dir or default_model_path()), device="cpu")
    st[0].model = PeftModel.from_pretrained(st[0].model, str(weights_dir)).merge_and_unload()
    return st


def materialise(models_dir: Path, base_dir: str | Path | None = None, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """The merged model directory in ``models_dir`` (written once, atomically; later calls return it)."""
    target = Path(models_dir) / model_name(weights_dir)
    if (target / "modules.json").exists():
        return target
    st = merged_model(base_dir, weights_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".merge-", dir=target.parent))
    try:
        st.save(str(tmp), create_model_card=False)
        try:
            os.rename(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (target / "modules.json").exists():
                raise
            # another process merged it meanwhile: theirs is the same model
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
