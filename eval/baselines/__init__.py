"""Baselines run beside citeqa on the same gold questions and scored by the same ``eval.metrics``.

- ``citation_engine``: LlamaIndex's ``CitationQueryEngine`` with its defaults, on our embedder and
  our local LLM;
- ``suite``: the ``baselines`` eval suite (``python -m eval baselines``) that runs them side by side
  with our hybrid extractive (and generative) answers, and our extractive answers over one side of
  the retrieval only (BM25-only, dense-only: ``Settings.retrieval.mode``).
"""
