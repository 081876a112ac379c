"""The NumPy twin of the packaged MiniLM gives the sentence-transformers vectors, and a fast answer
from an existing index never imports torch (what keeps `citeqa serve`'s cold start short)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embedder import Embedder, default_model_path
from index.numpy_bert import _gelu, load_numpy_bert

REPO = Path(__file__).resolve().parents[1]

TEXTS = [
    "Why was the trip cancelled?",
    "Who sent the letter?",
    "x",
    "",
    "   ",
    "A much longer sentence that goes on and on. " * 60,  # over 256 tokens: truncated the same way
    "Ünïcode — “quotes”, CJK 北京 and an emoji 🚀; numbers 1,024.5 and e-mail a@b.org",
    "<script>alert(1)</script> [SEP] [CLS] [MASK]",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_numpy_twin_matches_sentence_transformers(embedder):
    twin = load_numpy_bert(default_model_path())
    assert twin is not None and twin.dim == 384
    reference = embedder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    for text, ref in zip(TEXTS, reference):
        vec = twin.encode_one(text)
        assert vec.dtype == np.float32 and vec.shape == (384,)
        assert np.abs(vec - ref).max() < 1e-5, text
    # and the embedder's question path is the twin
    assert embedder.query_encoder is not None
    assert np.abs(embedder.encode_query(TEXTS[0]) - reference[0]).max() < 1e-5


def test_gelu_matches_exact_erf():
    import torch

    x = np.linspace(-12, 12, 200_001, dtype=np.float32)
    exact = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    assert np.abs(_gelu(x) - exact).max() < 3e-6


def test_other_layouts_fall_back_to_torch(tmp_path):
    """A model directory the twin cannot reproduce exactly (here: CLS pooling) gets no twin."""
    src = Path(default_model_path())
    dst = tmp_path / "cls-model"
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).symlink_to(f)
    (dst / "1_Pooling").mkdir()
    cfg = json.loads((src / "1_Pooling" / "config.json").read_text())
    cfg.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (dst / "1_Pooling" / "config.json").write_text(json.dumps(cfg))
    assert load_numpy_bert(src) is not None
    assert load_numpy_bert(dst) is None
    assert load_numpy_bert(tmp_path / "missing") is None


def test_fast_answer_from_existing_index_does_not_import_torch(tmp_path):
    from qa import Assistant

    Assistant.open(paths=[REPO / "seeds"], index_dir=tmp_path)  # builds the index (torch) in this process
    code = (
        "import sys, json\n"
        "from qa import Assistant, Settings\n"
        f"a = Assistant.open(settings=Settings.from_env(index={{'dir': {str(tmp_path)!r}}}))\n"
        "ans = a.ask('Why was the trip cancelled?', mode='extractive')\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'cites': len(ans.citations),"
        " 'exact': all(c.text == a.document_text(c.doc_id)[c.start:c.end] for c in ans.citations)}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"torch": False, "cites": result["cites"], "exact": True}
    assert result["cites"] >= 1
