"""The local LLM: the GGUF model file (``model_file``), ChatML prompts (``chatml``), the process-wide
llama.cpp instance with prefix caching (``runtime``), its saved prefix states (``prefix_store``) and
the facade the answer modes call (``local``).

Nothing is imported here: ``python -m qa.llm.model_file`` must not find its own module pre-imported,
and llama_cpp / llama-index load only with ``qa.llm.runtime``.
"""
