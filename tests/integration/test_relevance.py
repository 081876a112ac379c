"""The learned relevance model: committed weights load offline, rank sensibly, and run the same through ONNX Runtime
(training: e2e/test_training.py)."""

import json

import numpy as np
import pytest

from conftest import CASES


@pytest.fixture(scope="module")
def model():
    from qa.relevance import RelevanceModel

    return RelevanceModel.load()


@pytest.mark.parametrize("question,answer,distractor", CASES)
def test_answer_ranks_above_distractor(model, question, answer, distractor):
    p = model.score(question, [distractor, answer])
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    assert p[1] > p[0], (question, p)


def test_unrelated_sentence_scores_low(model):
    p = model.score("How many people died in the fire?", ["The recipe needs two cups of flour and an egg."])
    assert p[0] < 0.1, p


def test_empty_and_batching(model):
    assert model.score("Anything?", []).shape == (0,)
    sents = [f"Sentence number {i} about rivers." for i in range(70)]  # more than one internal batch
    p = model.score("Which river?", sents)
    assert p.shape == (70,)
    np.testing.assert_allclose(p[:3], model.score("Which river?", sents[:3]), atol=1e-5)


def test_weights_are_small():
    from qa.relevance.model import WEIGHTS_DIR

    assert sum(f.stat().st_size for f in WEIGHTS_DIR.iterdir()) <= 5 * 1024 * 1024


def test_committed_weights_are_a_peft_adapter_and_a_head():
    """The layout of qa/relevance/model.py's docstring: peft's files, head.safetensors, config.json."""
    from peft import LoraConfig
    from safetensors.numpy import load_file

    from qa.relevance.model import LORA_TARGETS, WEIGHTS_DIR

    config = json.loads((WEIGHTS_DIR / "config.json").read_text())
    assert set(config) == {"layers", "max_length", "platt_a", "platt_b"}
    lora = LoraConfig.from_pretrained(str(WEIGHTS_DIR))
    assert lora.peft_type.value == "LORA" and set(lora.target_modules) == set(LORA_TARGETS)
    keys = set(load_file(str(WEIGHTS_DIR / "adapter_model.safetensors")))
    assert len(keys) == 2 * len(LORA_TARGETS) * config["layers"]
    assert "base_model.model.encoder.layer.0.attention.self.query.lora_A.weight" in keys
    head = load_file(str(WEIGHTS_DIR / "head.safetensors"))
    assert head["weight"].shape == (1, 384) and head["bias"].shape == (1,)


@pytest.fixture(scope="module")
def scorer():
    from qa.relevance.scorer import RelevanceScorer

    return RelevanceScorer.load()


def test_answer_time_scorer_matches_torch_model(model, scorer):
    """The answer-time scorer (ONNX Runtime, no torch) computes the training model's logits."""
    for question, answer, distractor in CASES:
        sents = [answer, distractor, "x", "A very long sentence about rivers and the sea. " * 40]
        np.testing.assert_allclose(scorer.logits(question, sents), model.logits(question, sents), atol=1e-5)
    assert scorer.logits("Anything?", []).shape == (0,)


def test_evidence_uses_the_model_when_asked(seed_text):
    """relevance="model": the best hand-feature candidates carry the model's logit and the order it
    gives; relevance="features": none do. Both cite a real span of the document."""
    from qa import Assistant, Settings

    a = Assistant.from_texts({"seed": seed_text}, settings=Settings.from_env(judge={"relevance": "model", "rerank_top": 4,
                                                                                         "relevance_gate": 1.01}))
    ev = a.evidence("Why was the trip cancelled?")
    logits = [s.relevance for s in ev.scored]
    assert all(z is not None for z in logits[:4]) and all(z is None for z in logits[4:])
    probs = [s.probability for s in ev.scored]
    assert probs == sorted(probs, reverse=True)
    assert ev.chosen and all(a.document_text("seed")[c.start:c.end] == c.text
                             for c in a.ask("Why was the trip cancelled?", mode="extractive").citations)
    b = Assistant(a.corpus, a.embedder, settings=a.settings.with_(judge={"relevance": "features"}))
    assert all(s.relevance is None for s in b.evidence("Why was the trip cancelled?").scored)


def test_questions_longer_than_the_window_are_cut_not_refused():
    """The pair tokenizer truncates only the sentence: a question past the 128-token window must be cut first
    (hostile input reached this as 'Sequence to truncate too short')."""
    from qa.relevance.scorer import get_scorer

    scorer = get_scorer()
    long_q = "Why are lemons sour? " * 120
    cut = scorer.fit_question(long_q)
    assert long_q.startswith(cut) and len(scorer._question_tokenizer.encode(cut, add_special_tokens=False).ids) \
        == scorer.question_tokens
    z = scorer.logits(long_q, ["Lemons are sour because of citric acid.", "word " * 400])
    assert z.shape == (2,) and np.isfinite(z).all()
    assert scorer.fit_question("Why are lemons sour?") == "Why are lemons sour?"


def test_model_reads_only_questions_the_features_are_unsure_of(seed_text):
    """The gate: the model runs when the hand features' best probability is below relevance_gate, and
    then the model's own abstention threshold applies; at or above it the features' choice stands."""
    from qa import Assistant, Settings

    question = "Why was the trip cancelled?"
    a = Assistant.from_texts({"seed": seed_text}, settings=Settings.from_env(judge={"relevance": "features"}))
    hand = a.evidence(question)
    best = hand.scored[0].probability
    for gate, runs in ((best + 1e-6, True), (best, False)):
        b = Assistant(a.corpus, a.embedder, settings=a.settings.with_(judge={"relevance": "model", "relevance_gate": gate}))
        ev = b.evidence(question)
        assert (ev.scored[0].relevance is not None) is runs
        assert ev.abstain_below == (b._finder.model_threshold if runs else b._finder.threshold)
        assert ("relevance" in b.ask(question, mode="extractive").timings_ms) is runs
        if not runs:
            assert [s.hit.row for s in ev.scored] == [s.hit.row for s in hand.scored] and ev.chosen == hand.chosen
    with pytest.raises(ValueError, match="relevance_gate"):
        Settings.from_env(judge={"relevance_gate": -0.1})


def test_missing_model_falls_back_to_features(seed_text, monkeypatch, tmp_path):
    import qa.relevance.scorer as scorer_mod
    from qa import Assistant, Settings

    monkeypatch.setattr(scorer_mod, "WEIGHTS_DIR", tmp_path / "nothing-here")
    monkeypatch.setattr(scorer_mod, "_LOADED", {})
    a = Assistant.from_texts({"seed": seed_text}, settings=Settings.from_env(judge={"relevance": "model"}))
    ev = a.evidence("Why was the trip cancelled?")
    assert ev.scored and all(s.relevance is None for s in ev.scored)
    assert a.ask("Why was the trip cancelled?", mode="extractive").citations


def test_gate_table_of_the_calibration_script_follows_the_products_rule():
    """training.calibrate_relevance.evaluate_gated: at or above the gate the hand features rank and abstain with their
    own threshold; below it the combination with the model's logit does, with its threshold."""
    from training.calibrate_relevance import evaluate_gated

    def cand(support, relevance, gold):
        return {"cosine": 0.5, "coverage": 0.5, "type_ok": 1.0, "support": support, "relevance": relevance, "gold": gold}

    weights = {"bias": 0.0, "cosine": 0.0, "coverage": 0.0, "type_ok": 0.0, "relevance": 1.0}  # the model alone
    rows = [  # the hand features prefer the wrong sentence, the model the right one
        {"answerable": True, "cands": [cand(0.3, -2.0, False), cand(0.2, 2.0, True)]},
        {"answerable": False, "cands": [cand(0.05, -3.0, False)]},
    ]
    never = evaluate_gated(rows, weights, 0.0, model_threshold=0.5, hand_threshold=0.1)
    assert never["model_runs"] == 0 and never["top1"] == 0.0 and never["true_abstention"] == 1.0
    always = evaluate_gated(rows, weights, 1.01, model_threshold=0.5, hand_threshold=0.1)
    assert always["model_runs"] == 1.0 and always["top1"] == 1.0 and always["false_abstention"] == 0.0
    assert always["true_abstention"] == 1.0  # sigmoid(-3) < 0.5
    between = evaluate_gated(rows, weights, 0.25, model_threshold=0.5, hand_threshold=0.1)
    assert between["model_runs"] == 0.5 and between["top1"] == 0.0  # the answerable one is confident: hand decides
