"""Learned relevance judge (issue #13): ``RelevanceModel.load().score(question, sentences)`` (torch,
for training and benchmarks) and ``qa.relevance.scorer.get_scorer()`` (NumPy, at answer time)."""

__all__ = ["RelevanceModel"]


def __getattr__(name: str):
    # Lazy: importing the package (for the NumPy scorer) must not import torch (see index/numpy_bert.py).
    if name == "RelevanceModel":
        from qa.relevance.model import RelevanceModel

        return RelevanceModel
    raise AttributeError(name)
