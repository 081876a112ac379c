"""The learned relevance model: committed weights load offline and rank sensibly; training runs end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "eval" / "squad2_dev_A.json"


@pytest.fixture(scope="module")
def model():
    from qa.relevance import RelevanceModel

    return RelevanceModel.load()


CASES = [
    ("When did the Normans conquer England?",
     "The Norman conquest of England began in 1066, when William defeated Harold at Hastings.",
     "Norman architecture is known for its rounded arches and massive walls."),
    ("Who wrote the letter to the president?",
     "The letter to the president was written by Kim Yong Chol, a senior official.",
     "The president said he looked forward to reading the letter."),
    ("How many people died in the fire?",
     "Officials said 37 people died in the fire and dozens more were injured.",
     "The fire started in a kitchen on the ground floor of the building."),
    ("What is the capital of Australia?",
     "Canberra is the capital city of Australia.",
     "Sydney is the largest city in Australia."),
]


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


@pytest.mark.slow
def test_training_runs_end_to_end(tmp_path):
    # CI has ../shared beside the clone: a missing file is a broken setup, so fail loudly.
    assert SQUAD.exists(), f"missing {SQUAD}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "w"
    subprocess.run([sys.executable, "-m", "qa.relevance.train", "--squad", str(SQUAD), "--out", str(out),
                    "--limit", "40", "--steps", "8", "--batch", "8", "--threads", "1"],
                   cwd=ROOT, env=env, check=True, timeout=600)
    for f in ("adapter.safetensors", "config.json", "metrics.json", "MODEL_CARD.md"):
        assert (out / f).exists(), f
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 8
    from qa.relevance import RelevanceModel

    p = RelevanceModel.load(out).score("Who?", ["Ann did.", "Nothing."])
    assert p.shape == (2,)
