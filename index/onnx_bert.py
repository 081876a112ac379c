"""The NumPy BERT's forward pass run by ONNX Runtime: the same weights, about half the time.

Why: a question's encoding was most of retrieval's time at scale (17 of 30 ms end to end at 1M
sentences, ``citeqa eval scale``), and the relevance model read 6 (question, sentence) pairs in ~110 ms
through NumPy, whose small matrix products run far from the CPU's speed. ONNX Runtime runs the same
graph in about half the time on one thread (figures in the README, measured on this machine) and
imports in 0.2 s, so the cold start is kept.

The graph is built here from ``NumpyBert``'s own arrays (no torch export), so it is the same model by
construction; ``tests/test_onnx_bert.py`` checks the outputs agree. It is cached per machine (building
it needs the onnx package, whose import alone takes 1.4 s). Without onnxruntime, with
``Settings.runtime = "numpy"``, or if ONNX Runtime fails to start, the NumPy forward pass is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import numpy as np

from index.numpy_bert import NumpyBert

log = logging.getLogger(__name__)

OPSET = 17  # LayerNormalization is a standard op from 17 on
GRAPH_VERSION = 1  # bump when _graph changes: cached files are named after it


def onnxruntime_available() -> bool:
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None and find_spec("onnx") is not None


def _graph(bert: NumpyBert) -> bytes:
    """An ONNX model: (ids, types, positions, attention bias, token mask) -> mean-pooled states (B, d)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = iter(range(1_000_000))

    def const(arr: np.ndarray, name: str | None = None) -> str:
        name = name or f"c{next(counter)}"
        inits.append(numpy_helper.from_array(np.require(arr, requirements="C"), name))  # keeps 0-d scalars 0-d
        return name

    def op(kind: str, inputs: list[str], **attrs) -> str:
        out = f"t{next(counter)}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(x: str, w: np.ndarray, b: np.ndarray) -> str:
        # NumpyBert keeps weights as (out, in); MatMul wants (in, out).
        return op("Add", [op("MatMul", [x, const(np.ascontiguousarray(w.T))]), const(b)])

    eps = float(bert.shape.eps)

    def layer_norm(x: str, w: np.ndarray, b: np.ndarray) -> str:
        return op("LayerNormalization", [x, const(w), const(b)], axis=-1, epsilon=eps)

    word, pos, typ, ln_w, ln_b = bert._emb
    d = word.shape[1]
    h = bert.shape.heads
    hd = d // h
    x = op("Add", [op("Add", [op("Gather", [const(word), "ids"]), op("Gather", [const(pos), "positions"])]),
                   op("Gather", [const(typ), "types"])])
    x = layer_norm(x, ln_w, ln_b)
    split_shape = const(np.array([0, 0, 3, h, hd], dtype=np.int64))
    merge_shape = const(np.array([0, 0, d], dtype=np.int64))
    scale = const(np.array(1.0 / np.sqrt(hd), dtype=np.float32))
    which = [const(np.array(i, dtype=np.int64)) for i in range(3)]
    half, one, root2 = (const(np.array(v, dtype=np.float32)) for v in (0.5, 1.0, np.sqrt(2.0)))
    for qkv_w, qkv_b, ao_w, ao_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b in bert._layers:
        qkv = op("Transpose", [op("Reshape", [linear(x, qkv_w, qkv_b), split_shape])], perm=[2, 0, 3, 1, 4])
        q, k, v = (op("Gather", [qkv, i], axis=0) for i in which)  # each (B, heads, T, hd)
        scores = op("Add", [op("Mul", [op("MatMul", [q, op("Transpose", [k], perm=[0, 1, 3, 2])]), scale]), "bias"])
        ctx = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        ctx = op("Reshape", [op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        x = layer_norm(op("Add", [x, linear(ctx, ao_w, ao_b)]), ln1_w, ln1_b)
        f = linear(x, in_w, in_b)
        gelu = op("Mul", [op("Mul", [f, half]), op("Add", [one, op("Erf", [op("Div", [f, root2])])])])
        x = layer_norm(op("Add", [x, linear(gelu, out_w, out_b)]), ln2_w, ln2_b)
    summed = op("ReduceSum", [op("Mul", [x, "mask"]), const(np.array([1], dtype=np.int64))], keepdims=0)
    counts = op("ReduceSum", ["mask", const(np.array([1], dtype=np.int64))], keepdims=0)
    nodes.append(helper.make_node("Div", [summed, counts], ["pooled"]))

    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["B", "T"]) for n in ("ids", "types", "positions")]
    floats = [helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["B", 1, 1, "T"]),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["B", "T", 1])]
    out = helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["B", d])
    graph = helper.make_graph(nodes, "citeqa_bert", ints + floats, [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by every onnxruntime that knows opset 17
    return model.SerializeToString()


class OnnxBert:
    """``mean_pooled`` and ``mean_pooled_pairs`` of a ``NumpyBert``, computed by ONNX Runtime.

    One intra-op thread: concurrent questions already run on separate threads, and on this 2-core
    machine a second spinning thread per call cost more than it gave under load (see
    ``index/numpy_bert.single_thread_numpy_blas``). ``InferenceSession.run`` is safe to call from
    several threads at once."""

    def __init__(self, bert: NumpyBert, cache_dir: Path | None = None, sources: tuple[Path, ...] = (),
                 name: str = "bert") -> None:
        import onnxruntime as ort

        self.tokenizer = bert.tokenizer
        self.shape = bert.shape
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's business
        self.name = name
        self.cache_path = None if cache_dir is None else Path(cache_dir) / f"{name}-{graph_key(bert, sources)}.onnx"
        self.session = self._session(bert, opts, ort)

    def _session(self, bert: NumpyBert, opts, ort):
        """From the cached graph file when there is a good one (no ``import onnx``: 1.4 s), else built now
        and cached for the next start. A damaged or unwritable cache costs time, never an answer."""
        path = self.cache_path
        if path is not None and path.exists():
            try:
                return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types for a bad file
                log.warning("rebuilding the damaged ONNX cache file %s: %s", path, exc)
        graph = _graph(bert)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_bytes(graph)
                os.replace(tmp, path)  # whole files only: another process may be reading it
                for old in path.parent.glob(f"{self.name}-*.onnx"):  # graphs of weights since replaced: ~90 MB each
                    if old != path:
                        old.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot cache the ONNX graph in %s (%s); it is rebuilt at each start", path.parent, exc)
        return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    def _run(self, encodings) -> np.ndarray:
        n = max(len(e.ids) for e in encodings)
        b = len(encodings)
        ids = np.zeros((b, n), dtype=np.int64)
        types = np.zeros((b, n), dtype=np.int64)
        mask = np.zeros((b, n), dtype=np.float32)
        for i, e in enumerate(encodings):
            m = len(e.ids)
            ids[i, :m], types[i, :m], mask[i, :m] = e.ids, e.type_ids, 1.0
        positions = np.ascontiguousarray(np.broadcast_to(np.arange(n, dtype=np.int64), (b, n)))
        bias = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]  # padding gets no attention
        return self.session.run(None, {"ids": ids, "types": types, "positions": positions,
                                       "bias": bias, "mask": mask[:, :, None]})[0]

    def mean_pooled(self, text: str) -> np.ndarray:
        return self._run([self.tokenizer.encode(text)])[0]

    def mean_pooled_pairs(self, first: str, seconds: list[str]) -> np.ndarray:
        if not seconds:
            return np.zeros((0, self.session.get_outputs()[0].shape[-1]), dtype=np.float32)
        # One pair per run: padding a batch to its longest pair cost more than it saved (6 seed sentences:
        # 87 ms one by one, 108 ms padded; NumPy's packed pass 126 ms).
        return np.stack([self._run([e])[0] for e in self.tokenizer.encode_batch([(first, s) for s in seconds])])


def graph_key(bert: NumpyBert, sources: tuple[Path, ...] = ()) -> str:
    """Names the graph by what went into it: the builder's version, the shape, and the files the weights
    were read from (path, size, modification time: 10 us) or, without ``sources``, every weight's bytes
    (0.18 s for MiniLM: a tenth of what the cache saves)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{GRAPH_VERSION}:{OPSET}:{bert.shape}".encode())
    if sources:
        for src in sources:
            st = Path(src).stat()
            h.update(f"{Path(src).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()
    for arr in (*bert._emb, *(a for layer in bert._layers for a in layer)):
        h.update(str(arr.shape).encode())
        h.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return h.hexdigest()


def fastest_bert(bert: NumpyBert, runtime: str = "onnx", cache_dir: Path | None = None,
                 sources: tuple[Path, ...] = (), name: str = "bert") -> NumpyBert | OnnxBert:
    """``bert`` run by ONNX Runtime when asked for and installed, else ``bert`` itself (NumPy).
    ``sources``: the files its weights came from, which name the cached graph (see ``graph_key``)."""
    if runtime != "onnx":
        return bert
    if not onnxruntime_available():
        log.warning("onnxruntime is not installed: questions run through the slower NumPy forward pass")
        return bert
    try:
        return OnnxBert(bert, cache_dir, sources, name)
    except Exception as exc:  # noqa: BLE001 - any failure of the faster path leaves the NumPy one, which works
        log.warning("ONNX Runtime could not start (%s): questions run through the NumPy forward pass", exc)
        return bert
