"""The training commands' CI slices: each trains a few steps on the shared SQuAD file as a user would, writes
peft's adapter (plus the relevance model's head and config), and resumes from its last checkpoint."""

import json
import shutil

import numpy as np
import pytest

from conftest import peft_changes_the_encoder, run_training


@pytest.mark.slow
def test_relevance_training_runs_end_to_end_and_resumes(tmp_path):
    """python -m training.relevance writes peft's adapter, the head and config.json; peft loads the adapter onto
    the cut MiniLM and it changes the encoder; a run resumes from its last checkpoint."""
    out = tmp_path / "w"
    metrics = run_training("training.relevance", out, "--limit", "40", "--steps", "6", "--batch", "8",
                           "--save-every", "3", timeout=600)
    for f in ("adapter_model.safetensors", "adapter_config.json", "head.safetensors", "config.json", "metrics.json",
              "MODEL_CARD.md"):
        assert (out / f).exists(), f
    assert metrics["training"]["steps"] == 6 and metrics["training"]["resumed_from"] is None
    config = json.loads((out / "config.json").read_text())
    assert set(config) == {"layers", "max_length", "platt_a", "platt_b"} and config["layers"] == 4
    from safetensors.numpy import load_file

    head = load_file(str(out / "head.safetensors"))
    assert set(head) == {"weight", "bias"} and head["weight"].shape == (1, 384)
    assert peft_changes_the_encoder(out, layers=4) > 1e-4
    shutil.rmtree(out / "checkpoints" / "checkpoint-6")
    resumed = run_training("training.relevance", out, "--limit", "40", "--steps", "6", "--batch", "8",
                           "--save-every", "3", "--resume", timeout=600)
    assert resumed["training"]["resumed_from"].endswith("checkpoint-3") and resumed["training"]["steps"] == 6
    assert (out / "checkpoints" / "checkpoint-6").exists() and peft_changes_the_encoder(out, layers=4) > 1e-4
    from qa.relevance import RelevanceModel
    from qa.relevance.scorer import RelevanceScorer

    pair = ("Who?", ["Ann did.", "Nothing."])
    assert RelevanceModel.load(out).score(*pair).shape == (2,)
    np.testing.assert_allclose(RelevanceScorer.load(out, tmp_path / "onnx").logits(*pair),
                               RelevanceModel.load(out).logits(*pair), atol=1e-5)


@pytest.mark.slow
def test_embedder_training_runs_end_to_end_and_resumes(tmp_path):
    """python -m training.embedder writes a peft adapter that changes the MiniLM; a run resumes from a checkpoint."""
    out = tmp_path / "w"
    args = ("--limit", "24", "--batch", "8", "--steps", "4", "--eval-every", "2")
    metrics = run_training("training.embedder", out, *args)
    assert metrics["steps"] == 4 and metrics["test_open_corpus"]["tuned"]["n"] == 24
    assert [h["step"] for h in metrics["history"]] == [0, 2, 4] and metrics["kept_step"] in (2, 4)
    assert "with this adapter" in (out / "MODEL_CARD.md").read_text()
    assert peft_changes_the_encoder(out) > 1e-4
    shutil.rmtree(out / "checkpoints" / "checkpoint-4")
    resumed = run_training("training.embedder", out, *args, "--resume")
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["steps"] == 4
    assert [h["step"] for h in resumed["history"]] == [2, 4] and peft_changes_the_encoder(out) > 1e-4
    from index.tuned_embedder import merged_model  # the written peft adapter merges into the base

    assert merged_model(weights_dir=out).encode(["Who?"], normalize_embeddings=True).shape == (1, 384)


@pytest.mark.slow
def test_judge_training_runs_end_to_end_and_resumes(tmp_path):
    """python -m training.judge trains the CrossEncoder a few steps, writes the int8 ONNX (under the 25 MB cap),
    config.json and its figures; the int8 graph gives the fp32 torch model's logits; a run resumes from its last
    checkpoint."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    from qa.judge import JudgeScorer

    out = tmp_path / "j"
    args = ("--limit", "40", "--max-steps", "6", "--batch", "8", "--save-every", "3")
    metrics = run_training("training.judge", out, *args, timeout=900)
    for f in ("model.int8.onnx", "config.json", "metrics.json", "MODEL_CARD.md", "model/config.json"):
        assert (out / f).exists(), f
    assert metrics["training"]["steps"] == 6 and metrics["training"]["resumed_from"] is None
    assert metrics["size_bytes"] <= 25 * 1024 * 1024 and 0 <= metrics["test"]["top1"] <= 1
    assert {c["threshold"] for c in metrics["test"]["curve"]} >= {0.1, 0.5, 0.9}
    pairs = [("Who designed the bridge?", "The bridge was designed by Ingrid Sato."),
             ("Who designed the bridge?", "The river freezes over in most winters."),
             ("When was the lighthouse lit?", "The lighthouse was first lit in 1874, after six years of work.")]
    fp32 = CrossEncoder(str(out / "model"), local_files_only=True).predict(
        pairs, activation_fn=torch.nn.Identity(), convert_to_numpy=True)
    judge = JudgeScorer(out)
    int8 = [judge.logits(q, [u])[0] for q, u in pairs]
    # int8 weights move a logit by a few hundredths at most (the delivered model's figure is in decision 0200)
    np.testing.assert_allclose(int8, fp32, atol=0.1)
    shutil.rmtree(out / "checkpoints" / "checkpoint-6")
    resumed = run_training("training.judge", out, *args, "--resume", timeout=900)
    assert resumed["training"]["resumed_from"].endswith("checkpoint-3") and resumed["training"]["steps"] == 6
    assert (out / "checkpoints" / "checkpoint-6").exists()
