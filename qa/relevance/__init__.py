"""Learned relevance judge (issue #13): ``RelevanceModel.load().score(question, sentences)`` (torch,
for training and benchmarks) and ``qa.relevance.scorer.get_scorer()`` (ONNX Runtime, at answer time)."""

__all__ = ["RelevanceModel"]


def __getattr__(name: str):
    # Lazy: importing the package (for the answer-time scorer) must not import torch.
    if name == "RelevanceModel":
        from qa.relevance.model import RelevanceModel

        return RelevanceModel
    raise AttributeError(name)
