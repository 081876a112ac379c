"""The question-time runtime (index/onnx_runtime.py): graphs exported from the real models give their outputs,
are cached by the contents of their sources, and a server answers without importing torch or transformers."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SEED
from index.embedder import get_embedder

TEXTS = ["When did the Normans conquer England?", "x", "", "  spaced   out  ", "Ünïcödé café naïve — “quotes” 1,234.5",
         "A very long sentence about rivers and the sea. " * 60]


def test_question_encoder_equals_sentence_transformers():
    embedder = get_embedder()
    reference = embedder.encode(TEXTS)
    for text, want in zip(TEXTS, reference):
        got = embedder.encode_query(text)
        assert got.dtype == np.float32 and got.shape == (embedder.dim,)
        np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(embedder.query_encoder.run_texts(TEXTS), reference, atol=1e-5)  # padded batch


def test_relevance_graph_equals_the_torch_model():
    from qa.relevance import RelevanceModel
    from qa.relevance.scorer import get_scorer

    torch_model, scorer = RelevanceModel.load(), get_scorer()
    sentences = ["The Norman conquest of England began in 1066.", "Norman arches are round.", "x",
                 "A very long sentence about rivers and the sea. " * 40]
    for question in ("When did the Normans conquer England?", "Which river?"):
        np.testing.assert_allclose(scorer.logits(question, sentences), torch_model.logits(question, sentences), atol=1e-5)


def test_graphs_are_cached_by_content_and_replaced_when_the_weights_change(tmp_path):
    from qa.relevance.scorer import WEIGHTS_DIR, RelevanceScorer

    weights = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, weights)
    cache = tmp_path / "onnx"
    first = RelevanceScorer.load(weights, cache)
    graphs = sorted(cache.glob("relevance-*"))
    assert len(graphs) == 1 and (graphs[0] / "model.onnx").exists()
    stamp = (graphs[0] / "model.onnx").stat().st_mtime_ns
    again = RelevanceScorer.load(weights, cache)  # read, not exported again
    assert (graphs[0] / "model.onnx").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.logits("Who?", ["Ann did."]), first.logits("Who?", ["Ann did."]))
    # Other content under the same path and times: a new key, a new graph, the old one removed.
    head = weights / "head.safetensors"
    st = head.stat()
    from safetensors.numpy import load_file, save_file

    h = load_file(str(head))
    h["bias"] = h["bias"] + np.float32(1.0)
    save_file(h, str(head))
    os.utime(head, ns=(st.st_atime_ns, st.st_mtime_ns))
    if head.stat().st_size == st.st_size:  # same size and mtime: only the bytes tell them apart
        (cache / "digests.json").unlink()
    moved = RelevanceScorer.load(weights, cache)
    assert [p.name for p in cache.glob("relevance-*")] != [graphs[0].name] and len(list(cache.glob("relevance-*"))) == 1
    np.testing.assert_allclose(moved.logits("Who?", ["Ann did."]), first.logits("Who?", ["Ann did."]) + 1.0, atol=1e-5)


def test_missing_onnxruntime_or_a_damaged_graph_is_a_clear_error(monkeypatch, tmp_path):
    from index.onnx_runtime import OnnxModel, OnnxRuntimeError

    graph_dir = Path(get_embedder().query_encoder.graph_dir)
    damaged = tmp_path / "damaged"
    shutil.copytree(graph_dir, damaged)
    (damaged / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(OnnxRuntimeError, match="cannot load"):
        OnnxModel(damaged)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(OnnxRuntimeError, match="pip install onnxruntime"):
        OnnxModel(graph_dir)


def test_a_server_answers_its_first_question_without_torch_or_transformers(tmp_path):
    """Once the graphs are exported (set-up: qa.warm_caches), a fresh process answers from them alone."""
    from index.embedder import embedder_for
    from qa.relevance.scorer import scorer_for
    from qa.settings import Settings

    from qa import Assistant

    (tmp_path / "docs").mkdir()
    shutil.copy(SEED, tmp_path / "docs" / "seed.txt")
    settings = Settings.from_env()
    embedder_for(settings), scorer_for(settings)  # exported here if the machine's cache lacks them
    Assistant.open(paths=[tmp_path / "docs" / "seed.txt"], index_dir=tmp_path / "idx", settings=settings)  # indexing uses torch
    code = ("import sys\nfrom qa import Assistant, Settings\n"
            f"a = Assistant.open(index_dir={str(tmp_path / 'idx')!r}, "
            "settings=Settings.from_env(judge={'relevance': 'model', 'relevance_gate': 1.01}))\n"
            "ans = a.ask('Why was the trip cancelled?', mode='extractive')\n"
            "assert ans.citations and 'relevance' in ans.timings_ms, ans\n"
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'peft') if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_index_package_has_no_import_circle():
    modules = {f"index.{p.stem}": p for p in (ROOT / "index").glob("*.py")}
    graph = {m: {i for i in _imports(p) if i in modules} for m, p in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in graph[start])

    assert [m for m in graph if reaches(m, m, set())] == []
