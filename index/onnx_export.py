"""Export a torch model to ONNX for the question-time runtime (``index/onnx_runtime.py``).

Imported only to export (set-up, or the first start after the weights changed): it imports torch.
``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript) traces the real model with symbolic batch and
sequence sizes; the TorchScript exporter (``dynamo=False``) is deprecated and would bake the shape checks
of transformers' attention code into the graph (docs/decisions/0001-onnx-export.md).
"""

from __future__ import annotations

from pathlib import Path

from index.model_dirs import hub_offline
from index.onnx_runtime import GRAPH_FILE, write_runtime_files

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 18


def export_graph(module, example: dict, output_name: str, out_dir: Path) -> None:
    """``module(**example)`` -> one tensor, written to ``out_dir/model.onnx`` (weights inside, one file) with
    the batch and sequence axes of every input dynamic."""
    import torch

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    names = list(example)
    module = module.eval()
    with torch.no_grad():
        torch.onnx.export(module, (), str(Path(out_dir) / GRAPH_FILE), kwargs=example, input_names=names,
                          output_names=[output_name], dynamic_shapes={n: {0: batch, 1: seq} for n in names},
                          dynamo=True, opset_version=OPSET, optimize=True, external_data=False, verbose=False)


def tokenizer_json(hf_tokenizer) -> str:
    """The ``tokenizers`` form of a Hugging Face fast tokenizer, without the padding or truncation a call left set."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tok.no_padding()
    tok.no_truncation()
    return tok.to_str()


def export_sentence_encoder(model_dir: str | Path, out_dir: Path) -> None:
    """The sentence-transformers model in ``model_dir`` as (input_ids, attention_mask[, token_type_ids]) ->
    ``sentence_embedding``, L2-normalised as ``encode(normalize_embeddings=True)`` returns it."""
    hub_offline()
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    st = SentenceTransformer(str(model_dir), device="cpu").eval()
    tokenizer = st.tokenizer
    if tokenizer is None or not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{model_dir}: questions need a model with a fast (tokenizers) tokenizer")

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                features["token_type_ids"] = token_type_ids
            return torch.nn.functional.normalize(self.st(features)["sentence_embedding"], p=2, dim=1)

    sample = tokenizer(["Where is the answer?", "two"], padding=True, return_tensors="pt")
    example = {k: sample[k] for k in INPUTS if k in sample}
    export_graph(Encoder(), example, "sentence_embedding", out_dir)
    write_runtime_files(out_dir, tokenizer_json(tokenizer), st.max_seq_length, "longest_first")
