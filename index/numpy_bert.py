"""A BERT encoder forward pass in NumPy, for questions and a few sentences at a time.

Why: ``citeqa serve`` must answer its first question within 10 s of starting on 2 cores. Importing
sentence-transformers (torch, transformers, scikit-learn, scipy.stats, sympy via torch.distributed)
took 9.5 s of that budget on this machine (``python -X importtime``, 2026-12-01), while a question is
one short sequence through 6 small layers: NumPy does it in milliseconds with nothing to import but
``tokenizers`` and ``safetensors``. Batch indexing keeps sentence-transformers (``index/embedder.py``);
``tests/test_numpy_bert.py`` checks the two give the same vectors.

Only the layout the packaged all-MiniLM-L6-v2 uses is accepted (BERT, absolute positions, GELU,
mean pooling, L2 normalisation); ``load_numpy_bert`` returns None for anything else, so the caller
falls back to torch rather than computing something subtly different.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Modules of a sentence-transformers directory that this forward pass reproduces exactly.
_ST_MODULES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
               "sentence_transformers.models.Normalize")


@dataclass(frozen=True)
class BertShape:
    layers: int
    heads: int
    eps: float
    max_length: int


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
         -0.82215223, 0.17087277)
_GELU_ROWS = 32  # rows per chunk: the temporaries stay in cache (3x faster than whole arrays, measured)


def _gelu_chunk(x: np.ndarray) -> np.ndarray:
    z = np.abs(x)
    z *= np.float32(1.0 / np.sqrt(2.0))
    np.minimum(z, np.float32(9.0), out=z)  # erfc(9) ~ 4e-37: beyond it, no denormals, same result
    t = z * np.float32(0.5)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(_ERFC[9])
    for c in _ERFC[8:0:-1]:  # Horner, in place
        poly += np.float32(c)
        poly *= t
    poly += np.float32(_ERFC[0])
    np.square(z, out=z)
    np.subtract(poly, z, out=z)
    np.exp(z, out=z)
    z *= t  # erfc(|x| / sqrt 2)
    z *= np.float32(0.5)
    z *= x  # 0.5 x erfc
    return np.where(x >= 0, x - z, z)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, 0.5 x (1 + erf(x / sqrt 2)), written with erfc so that the error of the
    approximation (Numerical Recipes' erfcc, fractional error < 1.2e-7) is relative, i.e. at float32
    rounding level. Not scipy.special.erf: importing it cost 0.31 s of the first question."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty_like(flat)
    for i in range(0, len(flat), _GELU_ROWS):
        out[i: i + _GELU_ROWS] = _gelu_chunk(flat[i: i + _GELU_ROWS])
    return out.reshape(x.shape)


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w.T + b`` for ``w`` stored (out, in), as ``(w @ x.T).T``: OpenBLAS multiplies this shape
    faster, 0.63-0.69x the time of ``x @ w_in_out`` for 8-80 tokens and 0.87x at 320 (measured on this
    machine, alternated in one run, 2026-12-01). The sum is made C-ordered for the row-wise steps."""
    return np.add((w @ x.T).T, b, order="C")


def single_thread_numpy_blas() -> None:
    """Run NumPy's own BLAS on one thread in this process (faiss's and torch's are left alone).

    Measured 2026-12-01 on this 2-core machine under the load of one other job: a question through
    MiniLM took 267 ms with OpenBLAS's 2 spinning threads and 28 ms on one. The matrices here are a
    few dozen rows, too small to split, and concurrent users already run on separate threads."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # comes with scikit-learn; without it, keep OpenBLAS's default
        return
    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and "numpy" in str(lib.filepath):
            lib.set_num_threads(1)


class NumpyBert:
    """Token states of a BERT encoder (``weights`` named as in a Hugging Face ``BertModel``)."""

    def __init__(self, weights: dict[str, np.ndarray], shape: BertShape, tokenizer) -> None:
        self.shape = shape
        self.tokenizer = tokenizer
        w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self._emb = (w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"],
                     w["embeddings.token_type_embeddings.weight"],
                     w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = []
        for i in range(shape.layers):
            p = f"encoder.layer.{i}."
            # Weights kept as (out, in), the layout _linear multiplies fastest; q, k, v as one (3d, d)
            # matrix: one matmul instead of three.
            qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")])
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self._layers.append((
                np.ascontiguousarray(qkv_w), qkv_b,
                np.ascontiguousarray(w[p + "attention.output.dense.weight"]), w[p + "attention.output.dense.bias"],
                w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                np.ascontiguousarray(w[p + "intermediate.dense.weight"]), w[p + "intermediate.dense.bias"],
                np.ascontiguousarray(w[p + "output.dense.weight"]), w[p + "output.dense.bias"],
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
            ))

    def states(self, ids: np.ndarray, type_ids: np.ndarray) -> np.ndarray:
        """Final token states (n, hidden) of one sequence."""
        return self.packed_states([ids], [type_ids])

    def packed_states(self, ids: list[np.ndarray], type_ids: list[np.ndarray]) -> np.ndarray:
        """Final token states of several sequences, concatenated (sum of lengths, hidden).

        Packed, not padded: the linear layers, GELU and layer norms run once over every real token
        (no padding rows: a 70-token pair among 30-40-token ones made 38% of a padded batch waste),
        and attention runs per sequence, so no token ever sees another sequence."""
        word, pos, typ, ln_w, ln_b = self._emb
        lengths = [len(x) for x in ids]
        all_ids, all_types = np.concatenate(ids), np.concatenate(type_ids)
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = _layer_norm(word[all_ids] + pos[positions] + typ[all_types], ln_w, ln_b, self.shape.eps)
        d = x.shape[-1]
        h = self.shape.heads
        hd = d // h
        scale = np.float32(1.0 / np.sqrt(hd))
        bounds = np.cumsum([0] + lengths)
        for qkv_w, qkv_b, ao_w, ao_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b in self._layers:
            qkv = _linear(x, qkv_w, qkv_b)
            ctx = np.empty_like(x)
            for i in range(len(lengths)):
                lo, hi = bounds[i], bounds[i + 1]
                part = qkv[lo:hi].reshape(hi - lo, 3, h, hd).transpose(1, 2, 0, 3)  # (3, heads, n, hd)
                q, k, v = part[0], part[1], part[2]
                scores = (q @ k.transpose(0, 2, 1)) * scale
                scores = np.exp(scores - scores.max(-1, keepdims=True))
                scores /= scores.sum(-1, keepdims=True)
                ctx[lo:hi] = (scores @ v).transpose(1, 0, 2).reshape(hi - lo, d)
            x = _layer_norm(x + _linear(ctx, ao_w, ao_b), ln1_w, ln1_b, self.shape.eps)
            x = _layer_norm(x + _linear(_gelu(_linear(x, in_w, in_b)), out_w, out_b), ln2_w, ln2_b, self.shape.eps)
        return x

    def mean_pooled_pairs(self, first: str, seconds: list[str]) -> np.ndarray:
        """Mean-pooled states of ``first [SEP] second`` for each second (one packed forward pass)."""
        encs = self.tokenizer.encode_batch([(first, s) for s in seconds])
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encs]
        states = self.packed_states(ids, [np.asarray(e.type_ids, dtype=np.int64) for e in encs])
        bounds = np.cumsum([0] + [len(x) for x in ids])
        return np.stack([states[bounds[i]: bounds[i + 1]].mean(0) for i in range(len(ids))])

    def encode_ids(self, ids, type_ids=None) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        type_ids = np.zeros_like(ids) if type_ids is None else np.asarray(type_ids, dtype=np.int64)
        return self.states(ids, type_ids)

    def mean_pooled(self, text: str) -> np.ndarray:
        """Mean of the token states of ``text``."""
        enc = self.tokenizer.encode(text)
        return self.encode_ids(enc.ids, enc.type_ids).mean(0)


def read_bert(model_dir: Path, max_length: int, layers: int | None = None,
              weights: dict[str, np.ndarray] | None = None,
              truncate_pair: str = "longest_first") -> NumpyBert | None:
    """A NumpyBert over the Hugging Face BERT in ``model_dir`` (None if it is not a plain BERT)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    cfg_path, weights_path, tok_path = (model_dir / "config.json", model_dir / "model.safetensors",
                                        model_dir / "tokenizer.json")
    if not (cfg_path.exists() and tok_path.exists() and (weights is not None or weights_path.exists())):
        return None
    cfg = json.loads(cfg_path.read_text())
    if (cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu"
            or cfg.get("position_embedding_type", "absolute") != "absolute"):
        return None
    if weights is None:
        weights = load_file(str(weights_path))
    tokenizer = Tokenizer.from_file(str(tok_path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, strategy=truncate_pair)
    n_layers = int(cfg["num_hidden_layers"]) if layers is None else layers
    shape = BertShape(layers=n_layers, heads=int(cfg["num_attention_heads"]),
                      eps=float(cfg.get("layer_norm_eps", 1e-12)), max_length=max_length)
    return NumpyBert(weights, shape, tokenizer)


class NumpySentenceEncoder:
    """Normalised mean-pooled embeddings, as the sentence-transformers model in the same directory."""

    def __init__(self, bert: NumpyBert, dim: int) -> None:
        self.bert = bert
        self.dim = dim

    def encode_one(self, text: str) -> np.ndarray:
        v = self.bert.mean_pooled(text)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def load_numpy_bert(model_dir: str | Path) -> NumpySentenceEncoder | None:
    """The NumPy twin of a sentence-transformers directory, or None if its layout is not the one above."""
    root = Path(model_dir)
    try:
        modules = json.loads((root / "modules.json").read_text())
        pooling = json.loads((root / "1_Pooling" / "config.json").read_text())
        st_cfg = json.loads((root / "sentence_bert_config.json").read_text())
    except (OSError, ValueError):
        return None
    if tuple(m.get("type") for m in modules) != _ST_MODULES or modules[0].get("path") not in ("", None):
        return None
    modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode")}
    if [k for k, v in modes.items() if v] != ["pooling_mode_mean_tokens"] or st_cfg.get("do_lower_case"):
        return None
    bert = read_bert(root, int(st_cfg.get("max_seq_length", 256)))
    if bert is None:
        return None
    single_thread_numpy_blas()
    return NumpySentenceEncoder(bert, int(pooling["word_embedding_dimension"]))
