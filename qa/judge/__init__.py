"""The judge: the probability that a unit (a sentence, or a sentence with what it introduces) answers a question.

``qa/judge/scorer.py`` runs the committed int8 ONNX graph (``qa/judge/weights/``) with ONNX Runtime; it is
trained by ``python -m training.judge`` (see ``qa/judge/weights/MODEL_CARD.md``).
"""

from qa.judge.scorer import JudgeError, JudgeScorer, scorer_for

__all__ = ["JudgeError", "JudgeScorer", "scorer_for"]
