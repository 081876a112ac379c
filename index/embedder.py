"""Sentence embeddings from a local sentence-transformers model (never a hub download).

Batches of sentences (indexing) go through ``SentenceTransformer.encode`` directly rather than a
llama-index embedding wrapper: index build throughput is measured as a ratio to this exact call, and a
wrapper would re-batch texts one node at a time. Questions go through the same model exported to ONNX
(``index/onnx_runtime.py``), so a server answers before torch is imported.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.model_dirs import DEFAULT_MODEL, TUNED_MODEL, default_cache_dir, default_model_path, hub_offline
from index.onnx_runtime import OnnxModel, cached_graph, content_key

__all__ = ["DEFAULT_MODEL", "TUNED_MODEL", "Embedder", "default_model_path", "embedder_for",
           "get_embedder", "hub_offline", "question_encoder"]


def question_encoder(model_path: str | Path, cache_dir: Path | None = None) -> OnnxModel:
    """The sentence-transformers model in ``model_path`` as an ONNX graph (exported on first use; see
    ``index/onnx_runtime.py``): ``run_texts`` gives its normalised embeddings."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    model_path = Path(model_path)
    if not model_path.is_dir():
        raise FileNotFoundError(f"the embedding model directory {model_path} does not exist")

    def export(out_dir: Path) -> None:
        from index.onnx_export import export_sentence_encoder

        export_sentence_encoder(model_path, out_dir)

    name = "encoder-" + "".join(c if c.isalnum() else "_" for c in model_path.name)[:60]
    return OnnxModel(cached_graph(cache_dir, name, content_key(cache_dir, [model_path]), export))


class Embedder:
    """Normalised float32 embeddings; ``name`` and ``dim`` go into the index manifest.

    ``cache_dir``: where the question encoder's graph is cached (None: ``model_dirs.default_cache_dir()``);
    ``models_dir``: where the question-tuned model is merged (needed for ``TUNED_MODEL``)."""

    def __init__(self, model_path: str | None = None, cache_dir: Path | None = None,
                 models_dir: Path | None = None, batch_size: int = 64) -> None:
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
        self.query_encoder = question_encoder(self.model_path, cache_dir)
        self.dim = int(self.query_encoder.output_dim)

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
        """One question, through ONNX Runtime (no lock: a session may run on several threads at once)."""
        return np.ascontiguousarray(self.query_encoder.run_texts([text])[0], dtype=np.float32)


@lru_cache(maxsize=4)
def get_embedder(model_path: str | None = None, ray_address: str | None = None, cache_dir: Path | None = None,
                 models_dir: Path | None = None, batch_size: int = 64, ray_cluster: str | None = None) -> Embedder:
    """One model per process: loading takes seconds, encoding a question milliseconds.

    With ``ray_address`` (Settings.index.ray_address; ``ray_cluster`` is where "auto" looks first), batches are
    embedded on that Ray cluster and questions by the same local model (index/ray_embedder.py; Ray imported only then)."""
    if ray_address:
        from index.ray_embedder import RayEmbedder

        local = get_embedder(model_path, None, cache_dir, models_dir, batch_size)
        return RayEmbedder(local, ray_address, cluster=ray_cluster)  # type: ignore[return-value]
    return Embedder(model_path, cache_dir, models_dir, batch_size)


def embedder_for(settings) -> Embedder:
    """The process's embedder for a ``qa.settings.Settings``: its model, Ray address, batch size and caches."""
    ix, cache = settings.index, Path(settings.cache_dir)
    return get_embedder(ix.embed_model, ix.ray_address, cache / "onnx", cache / "embedders", ix.batch_size,
                        ix.ray_cluster)
