"""`citeqa --ray auto|ADDRESS index add`: sentences embedded with Ray Data on a real local Ray cluster.

Each Ray encode starts its actors (torch import and model load in each): ~15-20 s on 2 cores, so the
Ray tests are slow. Ray is stopped when the module ends."""

import importlib.util
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, SEED, gold_questions
from index.embedder import get_embedder
from index.sentences import split_sentences
from qa.settings import Settings

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="the [ray] extra is not installed (pip install 'citeqa[ray]')")


def _seed_sentences(limit: int = 50) -> list[str]:
    texts = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        texts += [text[s.start : s.end] for s in split_sentences(text)]
    return texts[:limit]


# ---------------------------------------------------------------- no cluster needed
def test_settings_ray_address():
    assert Settings.from_env({}).index.ray_address is None
    assert Settings.from_env({"CITEQA_RAY_ADDRESS": "auto"}).index.ray_address == "auto"
    assert Settings.from_env({"RAY_ADDRESS": "10.0.0.5:6379"}).index.ray_cluster == "10.0.0.5:6379"  # Ray's own
    for ok in ("ray://head.internal:10001", "10.0.0.5:6379", "[::1]:6379"):
        assert Settings(index={"ray_address": ok}).index.ray_address == ok
    for bad in ("yes", "ray://head", "http://x:1 y"):
        with pytest.raises(ValueError, match="index.ray_address: must be auto"):
            Settings(index={"ray_address": bad})


def test_ray_is_imported_only_when_asked_for():
    code = ("import sys, qa.cli, qa.assistant, index.embedder, qa.rebuild; "
            "sys.exit('ray' in sys.modules or 'index.ray_embedder' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_ray_not_installed_is_one_clear_error(monkeypatch):
    from index.errors import RayUnavailableError
    from index.ray_embedder import RayEmbedder

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(RayUnavailableError, match=r"pip install 'citeqa\[ray\]'"):
        RayEmbedder(get_embedder(), "auto").encode(["One sentence."])


def test_questions_never_go_through_ray(seed_assistant):
    from index.ray_embedder import RayEmbedder
    from qa import Assistant

    class NoRay(RayEmbedder):
        def connect(self):
            raise AssertionError("a question reached Ray")

    emb = NoRay(seed_assistant.embedder, "auto")
    a = Assistant(seed_assistant.corpus, emb, settings=seed_assistant.settings)
    q = gold_questions()[0]["question"]
    got, want = a.ask(q, mode="extractive"), seed_assistant.ask(q, mode="extractive")
    assert (got.text, got.citations) == (want.text, want.citations)
    assert np.array_equal(emb.encode_query(q), seed_assistant.embedder.encode_query(q))


@needs_ray
def test_unreachable_address_is_a_quick_clear_error():
    from index.errors import RayUnavailableError
    from index.ray_embedder import RayEmbedder

    t0 = time.monotonic()
    with pytest.raises(RayUnavailableError, match="cannot reach the Ray cluster at 127.0.0.1:9"):
        RayEmbedder(get_embedder(), "127.0.0.1:9").encode(["One sentence."])
    assert time.monotonic() - t0 < 10
    with pytest.raises(RayUnavailableError, match="not a Ray address"):
        RayEmbedder(get_embedder(), "ray://nowhere").encode(["One sentence."])


@needs_ray
def test_cli_unreachable_address(tmp_path, capsys):
    from qa.cli import main

    doc = tmp_path / "a.txt"
    doc.write_text("Ray was not there. Nothing was embedded.", encoding="utf-8")
    t0 = time.monotonic()
    rc = main(["--ray", "ray://127.0.0.1:9", "--index-dir", str(tmp_path / "ix"), "index", "add", str(doc)])
    err = capsys.readouterr().err
    # A new index starts from the seed article: its batch is the first to need Ray, so the error comes first.
    assert rc == 2 and time.monotonic() - t0 < 30
    assert err.startswith("citeqa: error: cannot reach the Ray cluster at ray://127.0.0.1:9") and err.count("\n") == 1
    assert not (tmp_path / "ix").exists() or not any((tmp_path / "ix").glob("gen-*"))  # nothing was saved


# ---------------------------------------------------------------- a real local cluster


@pytest.fixture(scope="module")
def ray_embedder():
    import ray

    from index.ray_embedder import RayEmbedder

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RAY_ADDRESS", raising=False)  # "auto" must not find a developer's remote cluster
        emb = RayEmbedder(get_embedder(), "auto", num_cpus=2)
        emb.connect()
        try:
            yield emb
        finally:
            emb.close()
            ray.shutdown()  # also when "auto" joined a cluster that was already running
    assert not ray.is_initialized()


@needs_ray
@pytest.mark.slow
def test_ray_encode_equals_local_encode_in_order(ray_embedder, monkeypatch):
    import index.ray_embedder as mod

    texts = _seed_sentences()
    assert len(texts) >= 30
    monkeypatch.setattr(mod, "RAY_BATCH", 8)  # several blocks over 2 actors, so order is really at stake
    got = ray_embedder.encode(texts)
    want = get_embedder().encode(texts)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(texts), ray_embedder.dim)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert ray_embedder.encode([]).shape == (0, ray_embedder.dim)


@needs_ray
@pytest.mark.slow
def test_cli_ray_index_add_gives_the_same_answers(ray_embedder, tmp_path, capsys, monkeypatch):
    """FAISS and Milvus (Lite) indexes built with `--ray auto` answer and cite as one built without Ray."""
    from qa import Assistant
    from qa.cli import main

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CITEQA_RAY_ADDRESS", raising=False)
    doc = tmp_path / "docs" / "article.txt"
    doc.parent.mkdir()
    shutil.copy(SEED, doc)
    runs = {"plain": [], "ray": ["--ray", "auto"],
            "ray-milvus": ["--ray", "auto", "--backend", "milvus", "--uri", str(tmp_path / "m.db")]}
    opened = {}
    for name, extra in runs.items():
        index_dir = tmp_path / f"index-{name}"
        assert main([*extra, "--index-dir", str(index_dir), "index", "add", str(doc)]) == 0
        assert "sentences embedded" in capsys.readouterr().out
        backend = {"backend": "milvus", "uri": str(tmp_path / "m.db")} if "milvus" in name else {}
        opened[name] = Assistant.open(index_dir=index_dir, settings=Settings(), **backend)
    plain = opened.pop("plain")
    np.testing.assert_allclose(opened["ray"].corpus.store.vectors, plain.corpus.store.vectors, atol=1e-5, rtol=0)
    for name, with_ray in opened.items():
        assert [d.doc_id for d in with_ray.documents()] == [d.doc_id for d in plain.documents()], name
        for item in gold_questions()[:8]:
            a = plain.ask(item["question"], mode="extractive")
            b = with_ray.ask(item["question"], mode="extractive")
            assert (b.text, b.abstained, b.citations) == (a.text, a.abstained, a.citations), (name, item["question"])


@needs_ray
@pytest.mark.slow
def test_a_model_only_this_machine_has_reaches_the_workers(ray_embedder, tmp_path):
    """The question-tuned model is folded into this machine's cache: a worker node has no such directory. Its
    files go through the object store, so actors load it even once the directory is gone here."""
    from index.embedder import TUNED_MODEL
    from index.ray_embedder import RayEmbedder

    local = get_embedder(TUNED_MODEL, models_dir=tmp_path / "embedders")
    texts = _seed_sentences(12)
    want = local.encode(texts)
    emb = RayEmbedder(local, "auto")
    np.testing.assert_allclose(emb.encode(texts[:4]), want[:4], atol=1e-5, rtol=0)
    shutil.rmtree(local.model_path)  # as on a node that never had it: the next actors read only what was sent
    got = emb.encode(texts)
    emb.close()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert not np.allclose(got, get_embedder().encode(texts), atol=1e-3)  # the tuned model, not the packaged one
