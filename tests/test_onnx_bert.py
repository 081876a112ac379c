"""ONNX Runtime runs the same BERTs as the NumPy forward pass (question encoder and relevance model), from a
graph cached per machine that survives damage and unwritable places."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from index.embedder import Embedder, default_model_path, embedder_for
from index.numpy_bert import NumpyBert, load_numpy_bert
from index.onnx_bert import OnnxBert, fastest_bert
from qa.relevance.scorer import RelevanceScorer
from qa.settings import Settings

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["Why was the trip cancelled?", "x", "", "A much longer sentence that goes on and on. " * 60,
         "Ünïcode — “quotes”, CJK 北京 and an emoji 🚀", "<script>alert(1)</script> [SEP] [CLS] [MASK]"]
PAIRS = ("What was the tone of the letter?",
         ["The letter was sufficiently belligerent, officials said.", "Mattis announced Tuesday.", "x",
          "A very long sentence about rivers and the sea. " * 40])


@pytest.fixture(scope="module")
def twin():
    return load_numpy_bert(default_model_path())


def test_encoder_matches_numpy_and_sentence_transformers(twin, tmp_path):
    onnx = OnnxBert(twin.bert, tmp_path)
    reference = Embedder(runtime="numpy").model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    for text, ref in zip(TEXTS, reference):
        v = onnx.mean_pooled(text)
        v = v / np.linalg.norm(v)
        assert v.shape == (384,) and v.dtype == np.float32
        assert np.abs(v - ref).max() < 1e-5, text
        assert np.abs(v - twin.encode_one(text)).max() < 1e-5, text


def test_relevance_logits_match_numpy(tmp_path):
    numpy_scorer = RelevanceScorer.load(runtime="numpy")
    onnx_scorer = RelevanceScorer.load(runtime="onnx", cache_dir=tmp_path)
    assert isinstance(numpy_scorer.bert, NumpyBert) and isinstance(onnx_scorer.bert, OnnxBert)
    np.testing.assert_allclose(onnx_scorer.logits(*PAIRS), numpy_scorer.logits(*PAIRS), atol=1e-4)
    assert onnx_scorer.logits("Anything?", []).shape == (0,)
    assert onnx_scorer.bert.mean_pooled_pairs("Anything?", []).shape == (0, 384)
    # the scorer's question cut still applies in front of the ONNX graph
    long_q = "why " * 300 + "?"
    np.testing.assert_allclose(onnx_scorer.logits(long_q, PAIRS[1][:2]), numpy_scorer.logits(long_q, PAIRS[1][:2]),
                               atol=1e-4)


def test_settings_choose_the_runtime(tmp_path):
    assert isinstance(Embedder(runtime="numpy").query_encoder.bert, NumpyBert)
    e = embedder_for(Settings(cache_dir=tmp_path))
    assert isinstance(e.query_encoder.bert, OnnxBert)
    assert list((tmp_path / "onnx").glob("encoder-*.onnx"))


def test_cached_graph_is_reused_rebuilt_when_damaged_and_optional(twin, tmp_path, caplog, monkeypatch):
    first = OnnxBert(twin.bert, tmp_path, name="t")
    files = list(tmp_path.glob("t-*.onnx"))
    assert files == [first.cache_path]
    expected = first.mean_pooled(TEXTS[0])

    # reused: the second start builds nothing (building needs the onnx package)
    import index.onnx_bert as ob

    monkeypatch.setattr(ob, "_graph", lambda bert: (_ for _ in ()).throw(AssertionError("rebuilt")))
    np.testing.assert_allclose(OnnxBert(twin.bert, tmp_path, name="t").mean_pooled(TEXTS[0]), expected, atol=1e-6)
    monkeypatch.undo()

    # damaged (a half-written or overwritten file): rebuilt with a warning, same answers
    first.cache_path.write_bytes(b"not an onnx graph")
    with caplog.at_level(logging.WARNING, logger="index.onnx_bert"):
        again = OnnxBert(twin.bert, tmp_path, name="t")
    assert "damaged" in caplog.text
    np.testing.assert_allclose(again.mean_pooled(TEXTS[0]), expected, atol=1e-6)
    assert first.cache_path.stat().st_size > 1_000_000

    # unwritable cache (a file where the folder should be): built in memory, still answers
    blocker = tmp_path / "blocked"
    blocker.write_text("a file, not a folder")
    np.testing.assert_allclose(OnnxBert(twin.bert, blocker / "onnx", name="t").mean_pooled(TEXTS[0]), expected,
                               atol=1e-6)


def test_a_failing_onnx_runtime_leaves_numpy(twin, tmp_path, monkeypatch, caplog):
    import onnxruntime

    def broken(*args, **kwargs):
        raise RuntimeError("no such CPU feature")

    monkeypatch.setattr(onnxruntime, "InferenceSession", broken)
    with caplog.at_level(logging.WARNING, logger="index.onnx_bert"):
        bert = fastest_bert(twin.bert, "onnx", tmp_path)
    assert bert is twin.bert and "NumPy" in caplog.text


def test_replaced_weights_get_a_new_graph_and_the_old_one_goes(twin, tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"v1")
    a = OnnxBert(twin.bert, tmp_path / "c", (src,), name="enc")
    os.utime(src, ns=(1, 1))  # a new file at the same path: different modification time
    b = OnnxBert(twin.bert, tmp_path / "c", (src,), name="enc")
    assert a.cache_path != b.cache_path
    assert sorted((tmp_path / "c").glob("enc-*.onnx")) == [b.cache_path]


def test_concurrent_questions_get_their_own_answers(twin, tmp_path):
    onnx = fastest_bert(twin.bert, "onnx", tmp_path)
    expected = {t: onnx.mean_pooled(t) for t in TEXTS}
    errors: list[str] = []

    def ask(text: str) -> None:
        for _ in range(5):
            if np.abs(onnx.mean_pooled(text) - expected[text]).max() > 1e-6:
                errors.append(text)

    threads = [threading.Thread(target=ask, args=(t,)) for t in TEXTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_warm_start_does_not_import_onnx(tmp_path):
    """After the set-up's ``python -m qa.warm_caches``, a server reads the graphs: only onnxruntime is imported."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "CITEQA_CACHE": str(tmp_path)}
    warm = subprocess.run([sys.executable, "-m", "qa.warm_caches"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "onnx").glob("*.onnx")) == ["encoder", "relevance"]
    code = ("import sys\nfrom index.embedder import embedder_for\nfrom qa.relevance.scorer import get_scorer\n"
            "from qa.settings import Settings\ns = Settings.from_env()\ne = embedder_for(s)\n"
            "g = get_scorer(None, s.runtime, s.cache_dir / 'onnx')\n"
            "print(type(e.query_encoder.bert).__name__, type(g.bert).__name__, 'onnx' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["OnnxBert", "OnnxBert", "False"]
