"""Training and fitting of citeqa's learned models (``python -m training.embedder``, ``python -m training.relevance``).

Nothing on the answer path (index/, qa/, ui/) imports this package; it reads their code, never the reverse.
"""
