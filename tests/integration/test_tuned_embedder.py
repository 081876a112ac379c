"""The question-tuned embedder (index/tuned_embedder.py): the committed adapter folds into the packaged
MiniLM offline, every encoder of the merged model agrees, it ranks answers above distractors,
and an index records it (training: e2e/test_training.py)."""

from pathlib import Path

import numpy as np
import pytest

from conftest import CASES


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    from index.embedder import TUNED_MODEL, Embedder

    return Embedder(TUNED_MODEL, cache_dir=tmp_path_factory.mktemp("onnx"), models_dir=tmp_path_factory.mktemp("embedders"))


def test_adapter_is_small_and_folds_in_offline(tuned):
    from index.tuned_embedder import WEIGHTS_DIR, model_name

    assert sum(f.stat().st_size for f in WEIGHTS_DIR.iterdir()) <= 5 * 1024 * 1024
    assert tuned.name == model_name() and tuned.name.startswith("all-MiniLM-L6-v2+citeqa-squad-")
    assert Path(tuned.model_path, "model.safetensors").exists() and tuned.dim == 384
    # A second merge into the same directory returns the first one's files unchanged.
    from index.tuned_embedder import materialise

    before = Path(tuned.model_path, "model.safetensors").stat().st_mtime_ns
    assert materialise(Path(tuned.model_path).parent) == Path(tuned.model_path)
    assert Path(tuned.model_path, "model.safetensors").stat().st_mtime_ns == before
    assert sorted(p.name for p in WEIGHTS_DIR.iterdir()) == ["MODEL_CARD.md", "adapter_config.json",
                                                            "adapter_model.safetensors", "metrics.json"]


def test_question_encoder_matches_sentence_transformers_and_differs_from_the_base(tuned):
    from index.embedder import get_embedder

    texts = [q for q, _, _ in CASES]
    batch = tuned.encode(texts)
    for t, v in zip(texts, batch):
        np.testing.assert_allclose(tuned.encode_query(t), v, atol=1e-5)  # the ONNX export of the merged model
    base = get_embedder().encode(texts)
    assert np.all(np.sum(base * batch, axis=1) < 0.999)  # the adapter changed the vectors


@pytest.mark.parametrize("question,answer,distractor", CASES)
def test_answer_ranks_above_distractor(tuned, question, answer, distractor):
    q = tuned.encode_query(question)
    a, d = tuned.encode([answer, distractor])
    assert float(q @ a) > float(q @ d), question


def test_an_index_records_the_tuned_embedder_and_refuses_the_other(tmp_path):
    from qa import Assistant, IndexMismatchError, Settings

    (tmp_path / "a.txt").write_text("The ferry leaves at noon. Tickets cost nine euros at the harbour.", encoding="utf-8")
    settings = Settings.from_env(index={"embed_model": "squad-tuned"}, cache_dir=tmp_path / "cache")
    a = Assistant.open(paths=[tmp_path / "a.txt"], index_dir=tmp_path / "idx", settings=settings)
    ans = a.ask("How much does a ticket cost?", mode="extractive")
    assert ans.citations and "nine euros" in ans.citations[0].text
    assert ans.citations[0].text == a.document_text("a.txt")[ans.citations[0].start : ans.citations[0].end]
    with pytest.raises(IndexMismatchError, match="citeqa-squad"):
        Assistant.open(index_dir=tmp_path / "idx", settings=Settings.from_env())


def test_the_relevance_combination_is_the_one_fitted_for_each_embedder(tuned):
    """The tuned embedder's cosines need their own fit (qa/fitted/relevance.json, by embedder name); it must name
    the committed adapter, or a retrained adapter would silently use a fit made for other vectors."""
    from index.embedder import get_embedder
    from qa import Settings
    from qa.evidence import EvidenceFinder
    from qa.support import RELEVANCE_ABSTAIN_BELOW, RELEVANCE_FITS, RELEVANCE_WEIGHTS

    assert tuned.name in RELEVANCE_FITS
    mine = EvidenceFinder(Settings.from_env(), tuned)
    fit = RELEVANCE_FITS[tuned.name]
    assert (mine.model_weights, mine.model_threshold) == (fit.weights, fit.threshold)
    assert mine.model_weights != RELEVANCE_WEIGHTS
    base = EvidenceFinder(Settings.from_env(), get_embedder())
    assert (base.model_weights, base.model_threshold) == (RELEVANCE_WEIGHTS, RELEVANCE_ABSTAIN_BELOW)


def test_merging_equals_the_adapter_applied_unmerged():
    """peft's merge_and_unload computes what the adapter's LoRA layers compute in training."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    from index.embedder import default_model_path
    from index.tuned_embedder import WEIGHTS_DIR, merged_model

    texts = [q for q, _, _ in CASES] + [a for _, a, _ in CASES]
    unmerged = SentenceTransformer(default_model_path(), device="cpu")
    unmerged[0].model = PeftModel.from_pretrained(unmerged[0].model, str(WEIGHTS_DIR)).eval()
    want = unmerged.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(merged_model().encode(texts, normalize_embeddings=True), want, atol=1e-5)
