"""Question-time models: an ONNX graph exported from the real torch model, run by ONNX Runtime.

A server answers before torch or transformers is imported: this module needs only ``onnxruntime``,
``tokenizers`` and NumPy. The graphs are exported once per machine (``index/onnx_export.py`` for the
question encoder, ``qa/relevance/model.py`` for the relevance model), at set-up by ``python -m
qa.warm_caches`` or on first use, into ``<cache_dir>/<name>-<key>/``:

- ``model.onnx``: inputs ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the tokenizer makes
  them), int64, axes (batch, sequence) dynamic; one float32 output;
- ``tokenizer.json``: the tokenizer the torch model was fed with (``tokenizers`` format);
- ``runtime.json``: ``max_length`` and the truncation strategy to set on it.

``key`` is a digest of the source files' contents (weights, configs, tokenizer) and ``EXPORT_VERSION``, so
new weights get a new graph; the directory appears whole (renamed into place) or not at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EXPORT_VERSION = 2  # bump when an exporter changes what it writes: cached graphs are named after it
GRAPH_FILE, TOKENIZER_FILE, RUNTIME_FILE = "model.onnx", "tokenizer.json", "runtime.json"
_DIGESTS_FILE = "digests.json"
_digest_lock = threading.Lock()


class OnnxRuntimeError(RuntimeError):
    """ONNX Runtime is missing or cannot run a cached graph (there is no other question-time runtime)."""


def _file_sha256(path: Path, memo: dict[str, str]) -> str:
    """SHA-256 of a file's bytes, remembered by (path, size, mtime) so a start does not re-read 90 MB."""
    st = path.stat()
    stamp = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    if stamp not in memo:
        with open(path, "rb") as f:
            memo[stamp] = hashlib.file_digest(f, "sha256").hexdigest()
    return memo[stamp]


def content_key(cache_dir: Path, sources: Iterable[Path], extra: str = "") -> str:
    """A digest of the contents of ``sources`` (files, or directories: every file under them but README.md),
    ``extra`` and ``EXPORT_VERSION``."""
    files: list[tuple[str, Path]] = []
    for src in sources:
        src = Path(src)
        if src.is_dir():
            files += [(p.relative_to(src).as_posix(), p) for p in sorted(src.rglob("*"))
                      if p.is_file() and p.name != "README.md"]
        else:
            files.append((src.name, src))
    memo_path = Path(cache_dir) / _DIGESTS_FILE
    with _digest_lock:
        try:
            memo = json.loads(memo_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            memo = {}
        before = len(memo)
        h = hashlib.sha256(f"{EXPORT_VERSION}:{extra}".encode())
        for name, path in files:
            h.update(f"{name}:{_file_sha256(path, memo)}\n".encode())
        if len(memo) != before:
            try:
                _write_atomic(memo_path, json.dumps(memo, indent=0).encode())
            except OSError:  # an unwritable cache costs a re-read at the next start, nothing else
                pass
    return h.hexdigest()[:20]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cached_graph(cache_dir: Path, name: str, key: str, export: Callable[[Path], None]) -> Path:
    """``<cache_dir>/<name>-<key>``, made by ``export(tmp_dir)`` if it is not there yet (then renamed into
    place whole). Older graphs of the same ``name`` are removed (each holds a copy of the weights)."""
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{name}-{key}"
    if (target / GRAPH_FILE).exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
    try:
        export(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / GRAPH_FILE).exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process exported the same graph meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in cache_dir.glob(f"{name}-*"):
        if old != target and old.name[len(name) + 1:].isalnum():
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return target


def write_runtime_files(out_dir: Path, tokenizer_json: str, max_length: int, truncation: str) -> None:
    """The tokenizer and its settings beside an exported graph (called by the exporters)."""
    (Path(out_dir) / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
    (Path(out_dir) / RUNTIME_FILE).write_text(json.dumps({"max_length": int(max_length), "truncation": truncation}),
                                              encoding="utf-8")


class OnnxModel:
    """An exported graph and its tokenizer: ``run_texts`` / ``run_pairs`` tokenise, pad and run a batch.

    One intra-op thread by default: concurrent questions already run on separate threads, and on the shared 2-core
    machine a second spinning thread per call cost more than it gave under load.
    ``InferenceSession.run`` is safe to call from several threads at once."""

    def __init__(self, graph_dir: Path) -> None:
        graph_dir = Path(graph_dir)
        settings = json.loads((graph_dir / RUNTIME_FILE).read_text(encoding="utf-8"))
        self._open(graph_dir / GRAPH_FILE, graph_dir / TOKENIZER_FILE, int(settings["max_length"]),
                   settings["truncation"], 1, "; delete that directory and it is exported again")

    @classmethod
    def from_files(cls, graph: Path, tokenizer: Path, max_length: int, truncation: str, threads: int = 1) -> "OnnxModel":
        """A graph and a ``tokenizers`` file given one by one (a committed graph, the packaged model's tokenizer)."""
        model = cls.__new__(cls)
        model._open(Path(graph), Path(tokenizer), max_length, truncation, threads, "")
        return model

    def _open(self, graph: Path, tokenizer: Path, max_length: int, truncation: str, threads: int, hint: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise OnnxRuntimeError("questions are encoded by ONNX Runtime, which is not installed "
                                   "(pip install onnxruntime)") from exc
        from tokenizers import Tokenizer

        self.graph_dir = graph.parent
        self.max_length = max_length
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length, strategy=truncation)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # notes about unused initialisers are not the user's business
        try:
            self.session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise OnnxRuntimeError(f"ONNX Runtime cannot load {graph}: {exc}{hint}") from exc
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.output_dim = self.session.get_outputs()[0].shape[-1]

    def _run(self, encodings) -> np.ndarray:
        n = max(len(e.ids) for e in encodings)
        arrays = {name: np.zeros((len(encodings), n), dtype=np.int64) for name in self.inputs}
        for i, e in enumerate(encodings):
            m = len(e.ids)
            arrays["input_ids"][i, :m] = e.ids
            arrays["attention_mask"][i, :m] = 1
            if "token_type_ids" in arrays:
                arrays["token_type_ids"][i, :m] = e.type_ids
        return self.session.run(None, arrays)[0]

    def run_texts(self, texts: list[str]) -> np.ndarray:
        return self._run(self.tokenizer.encode_batch(texts))

    def run_pairs(self, first: str, seconds: list[str]) -> np.ndarray:
        """One run per pair: padding a batch to its longest pair costs more than it saves on one thread."""
        return np.concatenate([self._run([e]) for e in self.tokenizer.encode_batch([(first, s) for s in seconds])])
