"""Baselines run beside citeqa on the same gold questions and scored by the same ``eval.metrics``.

- ``single_retriever``: our extractive answer selection fed by only one side of the hybrid
  retrieval (BM25-only or dense-only);
- ``citation_engine``: LlamaIndex's ``CitationQueryEngine`` with its defaults, on our embedder and
  our local LLM;
- ``suite``: the ``baselines`` eval suite (``python -m eval baselines``) that runs them side by side
  with our hybrid extractive (and generative) answers.
"""
