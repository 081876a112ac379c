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


def export_cross_encoder(model_dir: str | Path, out_file: Path, int8: bool = True) -> None:
    """The judge's CrossEncoder (``training.judge.judge_model``) saved in ``model_dir`` as (input_ids, attention_mask,
    token_type_ids) -> ``logit`` (batch,), written to ``out_file``; with ``int8`` its weights (the embedding
    Gather included, which holds a third of them) are quantized dynamically to QInt8 by ONNX Runtime."""
    hub_offline()
    import tempfile

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers.cross_encoder import CrossEncoder
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    ce = CrossEncoder(str(model_dir), device="cpu", local_files_only=True)
    if ce.num_labels != 1 or len(ce) != 3:
        raise ValueError(f"{model_dir}: a judge is encoder, mean pooling, one-logit layer; this model is {ce}")
    encoder, head = ce[0].model.eval(), ce[2].linear.eval()

    class Logit(torch.nn.Module):
        """The CrossEncoder's forward, written out so the graph has no library control flow: the encoder's
        token states, their mean over the attention mask (sentence-transformers' Pooling "mean"), the head."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.head = encoder, head

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(pooled)[:, 0]

    sample = ce.tokenizer(["Where is the answer?", "Who?"], ["It is here, in this sentence.", "Ann."], padding=True,
                          return_tensors="pt")
    example = {k: sample[k] for k in INPUTS}
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        export_graph(Logit(), example, "logit", Path(tmp))
        if int8:
            quantize_dynamic(Path(tmp) / GRAPH_FILE, out_file, weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul", "Gather", "Gemm"])
        else:
            (Path(tmp) / GRAPH_FILE).replace(out_file)
