"""Learned relevance judge: a MiniLM cross-encoder that reads (question, sentence) together; the torch module
that training and the ONNX export use (answer time runs the export: ``qa/relevance/scorer.py``).

The packaged all-MiniLM-L6-v2 encoder, cut to its first ``layers`` layers, reads
``[CLS] question [SEP] sentence [SEP]`` (the sentence truncated to ``max_length`` tokens, never the question);
its token states are mean-pooled and a linear head gives a logit. A Platt scaling fitted on the calibration
articles turns the logit into a probability.

Weights layout (``qa/relevance/weights/``; a training run writes the same files into its ``--out``):
- ``adapter_config.json`` + ``adapter_model.safetensors``: a peft LoRA adapter as ``PeftModel.save_pretrained``
  writes it for a ``transformers`` ``BertModel`` holding the first ``layers`` layers of the packaged MiniLM
  (``base_encoder``): ``target_modules`` = ``LORA_TARGETS``, keys
  ``base_model.model.encoder.layer.N.<module>.lora_A.weight`` / ``lora_B.weight`` (float16 or float32);
- ``head.safetensors``: the linear head, ``weight`` (1, hidden) and ``bias`` (1,);
- ``config.json``: ``layers``, ``max_length``, ``platt_a``, ``platt_b``;
- ``metrics.json`` and ``MODEL_CARD.md``: the training run's record.
Loading merges the adapter into the base weights (``merge_and_unload``): a plain forward pass, no LoRA layers.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from index.model_dirs import base_model_dir, hub_offline
from qa.relevance.layout import (ADAPTER_CONFIG_FILE, ADAPTER_FILE, CONFIG_FILE, HEAD_FILE, LORA_TARGETS,  # noqa: F401
                                 WEIGHTS_DIR, read_config)


def base_encoder(layers: int):
    """The packaged MiniLM's ``BertModel``, first ``layers`` layers, no pooler (mean pooling is used instead)."""
    hub_offline()
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the dropped layers' weights are reported as unused: that is the point
    try:
        return BertModel.from_pretrained(str(base_model_dir()), num_hidden_layers=layers, add_pooling_layer=False)
    finally:
        hf_logging.set_verbosity(verbosity)


def lora_config(rank: int = 16, alpha: float = 32, dropout: float = 0.1):
    """The adapter's ``peft.LoraConfig`` (what training creates and ``save_pretrained`` writes)."""
    hub_offline()
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(LORA_TARGETS), bias="none")


class CrossEncoder(nn.Module):
    """``encoder`` (a ``BertModel``, or a peft model around one while training) -> mean pooling -> ``head`` -> logit."""

    def __init__(self, encoder: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)


def new_head(hidden: int) -> nn.Linear:
    """The head as training starts it: small random weights, zero bias."""
    head = nn.Linear(hidden, 1)
    nn.init.zeros_(head.bias)
    nn.init.normal_(head.weight, std=0.02)
    return head


def build_cross_encoder(weights_dir: str | Path | None = None) -> CrossEncoder:
    """The trained model from a weights directory (layout above): base + peft adapter merged + head."""
    from peft import PeftModel
    from safetensors.torch import load_file

    wdir = Path(weights_dir) if weights_dir else WEIGHTS_DIR
    config = read_config(wdir)
    bert = base_encoder(int(config["layers"]))
    encoder = PeftModel.from_pretrained(bert, str(wdir)).merge_and_unload()
    head = nn.Linear(bert.config.hidden_size, 1)
    head.load_state_dict({k: v.float() for k, v in load_file(str(wdir / HEAD_FILE)).items()})
    return CrossEncoder(encoder, head).eval()


def load_tokenizer():
    hub_offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base_model_dir()))


def encode_pairs(tokenizer, questions: list[str], sentences: list[str], max_length: int) -> dict[str, torch.Tensor]:
    # Truncate the sentence, never the question: the question says what to look for.
    return tokenizer(questions, sentences, truncation="only_second", max_length=max_length,
                     padding=True, return_tensors="pt")


def export_onnx(weights_dir: str | Path | None, out_dir: Path) -> None:
    """The model as an ONNX graph (input_ids, attention_mask, token_type_ids) -> ``logit``, with the tokenizer
    training used (pair truncation ``only_second``), for ``index.onnx_runtime.OnnxModel``."""
    from index.onnx_export import export_graph, tokenizer_json
    from index.onnx_runtime import write_runtime_files

    config = read_config(Path(weights_dir) if weights_dir else WEIGHTS_DIR)
    tokenizer = load_tokenizer()
    example = dict(encode_pairs(tokenizer, ["Who wrote it?", "Why?"], ["Ann wrote it in 1990.", "No."],
                                int(config["max_length"])))
    export_graph(build_cross_encoder(weights_dir), example, "logit", out_dir)
    write_runtime_files(out_dir, tokenizer_json(tokenizer), int(config["max_length"]), "only_second")


class RelevanceModel:
    """``score(question, sentences)`` -> probability that each sentence answers the question (torch; for
    training and benchmarks)."""

    def __init__(self, net: nn.Module, tokenizer, config: dict, threads: int = 1) -> None:
        self.net = net.eval()
        self.tokenizer = tokenizer
        self.config = config
        self.threads = threads
        self._lock = threading.Lock()  # one forward at a time; torch's thread count is process-wide

    @classmethod
    def load(cls, weights_dir: str | Path | None = None, threads: int = 1, quantize: bool = False) -> "RelevanceModel":
        """Offline: the packaged base MiniLM plus the adapter and head in ``weights_dir`` (default: the committed
        ones). ``quantize``: dynamic int8 linear layers (a benchmark option; the product runs float32)."""
        wdir = Path(weights_dir) if weights_dir else WEIGHTS_DIR
        net: nn.Module = build_cross_encoder(wdir)
        if quantize:
            net = torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)
        return cls(net, load_tokenizer(), {**read_config(wdir), "quantize": quantize}, threads)

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
        pipeline's sake but unused: this model was trained on the sentence alone."""
        z = self.logits(question, sentences)
        return 1.0 / (1.0 + np.exp(-(self.config["platt_a"] * z + self.config["platt_b"])))
