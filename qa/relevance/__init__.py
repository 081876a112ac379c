"""Learned relevance judge (issue #13): ``RelevanceModel.load().score(question, sentences)``."""

from qa.relevance.model import RelevanceModel

__all__ = ["RelevanceModel"]
