"""The local LLM: the GGUF model file (``model_file``), its own chat template (``chat_template``), the process-wide
llama.cpp instance with prefix caching (``runtime``), its saved prefix states (``prefix_store``) and
the facade the answer modes call (``local``).

Nothing is imported here: ``python -m qa.llm.model_file`` must not find its own module pre-imported,
and llama_cpp loads only with ``qa.llm.runtime`` and ``qa.llm.chat_template``.
"""
