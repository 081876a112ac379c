"""The committed judge (qa/judge/weights/model.int8.onnx) through ONNX Runtime: an answering unit scores above
unrelated ones on made-up examples, the output is a probability per unit, bad weights give a JudgeError, and the
scorer imports no torch. (int8 against the fp32 torch model: tests/e2e/test_training.py, on a freshly trained one.)"""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from qa.judge import JudgeError, JudgeScorer
from qa.judge.scorer import CONFIG_FILE, GRAPH_FILE, WEIGHTS_DIR

# (question, the unit that answers it, units on other matters): written for this test, not from any data set
CASES = [
    ("What year was the lighthouse on Marren Point first lit?",
     "The lighthouse on Marren Point was first lit in 1874, after six years of construction.",
     ["The village bakery is known for its rye bread.", "Fishermen sell their catch at the harbour on Saturdays."]),
    ("Who designed the Halvorsen bridge?",
     "The Halvorsen bridge was designed by the engineer Ingrid Sato and opened to traffic in 1931.",
     ["The river freezes over in most winters.", "Tickets for the museum can be bought online."]),
]


@pytest.fixture(scope="module")
def judge():
    return JudgeScorer()


@pytest.mark.parametrize("question,answer,others", CASES)
def test_the_answering_unit_scores_above_unrelated_ones(judge, question, answer, others):
    p = judge.probabilities(question, [*others, answer])
    assert p.shape == (len(others) + 1,) and np.all((p >= 0) & (p <= 1))
    assert p[-1] > p[:-1].max()


def test_empty_and_overlong_input(judge):
    assert judge.probabilities("Who?", []).shape == (0,)
    long_q = "Which " + "very " * 400 + "old bridge?"  # longer than the whole window: cut, not an error
    long_u = "The bridge " + "was built long ago and " * 200 + "still stands."
    assert judge.probabilities(long_q, [long_u, "No."]).shape == (2,)


def test_missing_or_corrupt_weights_are_a_judge_error(tmp_path):
    with pytest.raises(JudgeError, match="missing"):
        JudgeScorer(tmp_path)
    (tmp_path / CONFIG_FILE).write_text((WEIGHTS_DIR / CONFIG_FILE).read_text())
    with pytest.raises(JudgeError, match="missing"):
        JudgeScorer(tmp_path)
    (tmp_path / GRAPH_FILE).write_bytes(b"not an onnx graph")
    with pytest.raises(JudgeError, match="corrupt"):
        JudgeScorer(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"max_length": 128}))
    with pytest.raises(JudgeError, match="lacks"):
        JudgeScorer(tmp_path)


def test_committed_weights_fit_the_size_cap():
    assert (WEIGHTS_DIR / GRAPH_FILE).stat().st_size <= 25 * 1024 * 1024


def test_scoring_imports_no_torch():
    code = ("import sys; from qa.judge import JudgeScorer; JudgeScorer().probabilities('Who?', ['Ann did.']); "
            "heavy = {'torch', 'transformers', 'sentence_transformers', 'peft'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
