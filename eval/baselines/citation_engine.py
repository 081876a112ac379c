"""LlamaIndex ``CitationQueryEngine`` with its defaults, on our embedder and our local LLM.

Set up as a typical user would::

    Settings.embed_model = <our SentenceTransformer, wrapped>   # same model and normalisation as citeqa
    Settings.llm = LocalModelLLM(settings)                      # the same local GGUF model, its own chat template
    index = VectorStoreIndex.from_documents(SimpleDirectoryReader(docs_dir).load_data())  # default chunking
    engine = CitationQueryEngine.from_args(index)               # top-2 chunks, 512-token citation chunks

Its answer cites ``[n]`` (``[Source n]`` and lists like ``[1, 2]`` are accepted too): marker n is the
n-th of ``response.source_nodes``. Those "Source n" nodes are re-split citation chunks. Their
``start_char_idx``/``end_char_idx`` are used when set; llama-index-core 0.14 clears them on citation
chunks (it says the parent's offsets would not describe the chunk), so then the chunk text is located
in the document (exactly, else with any run of whitespace matching any other) and that span is the
citation. A marker whose source cannot be placed is counted in ``unmapped_markers``.

Abstention: the engine has no abstain signal; an answer that says the sources do not help (its prompt
asks for that), or an empty one, counts as an abstention (with no citations). An answer that cites no
source without saying so is an uncited answer: wrong on an unanswerable question, no correct citation
on an answerable one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from qa.types import Answer, Citation

_BRACKETS = re.compile(r"\[([^\[\]]{1,60})\]")
_MARKER_LIST = re.compile(r"^\s*(?:sources?\s*)?\d+(?:\s*(?:,|;|and|&)\s*(?:sources?\s*)?\d+)*\s*$", re.IGNORECASE)
_ABSTAINS = re.compile(
    r"\bnone of the (?:provided )?sources\b|\b(?:sources|documents|text|context) (?:do|does) not (?:contain|say|mention|"
    r"state|specify|provide|include)|\bnot (?:mentioned|stated|specified|provided|given|found) in\b|"
    r"\bno (?:relevant )?information\b|\bI (?:do not|don't|cannot|can't) (?:know|find|answer)\b|\bcannot be determined\b",
    re.IGNORECASE)
_SOURCE_HEAD = re.compile(r"^\s*Source \d+:\s*\n?")


class SentenceTransformerEmbedding(BaseEmbedding):
    """llama-index embedding over citeqa's Embedder (the SentenceTransformer citeqa indexes with)."""

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Any, **kwargs: Any) -> None:
        super().__init__(model_name=str(embedder.name), **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "CiteqaSentenceTransformerEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.encode(list(texts)).tolist()


class LocalModelLLM(CustomLLM):
    """llama-index LLM over citeqa's process-wide local model (qa/llm/runtime.py), as llama-index's CustomLLM
    intends: prompts rendered with the model's own chat template, one generation at a time."""

    max_tokens: int = Field(default=256, gt=0, description="Tokens generated per call at most.")
    chat_template: str | None = Field(default=None, description="A Jinja chat template; None: the model's own.")

    def __init__(self, settings: Any) -> None:
        template = settings.llm.chat_template
        super().__init__(max_tokens=settings.llm.max_tokens, chat_template=template,
                         messages_to_prompt=lambda messages: _render(messages, template),
                         completion_to_prompt=lambda text: _render([ChatMessage(role="user", content=text)], template))

    @classmethod
    def class_name(cls) -> str:
        return "CiteqaLocalModelLLM"

    @property
    def metadata(self) -> LLMMetadata:
        from qa.llm import runtime

        llama = runtime.get_llm()
        return LLMMetadata(context_window=llama.n_ctx(), num_output=self.max_tokens, model_name=llama.model_path)

    def _deltas(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> Iterator[str]:
        from qa.llm import runtime

        if not formatted:
            prompt = self.completion_to_prompt(prompt)
        stops = [*runtime.chat_template(self.chat_template).stops, *(kwargs.get("stop") or [])]
        return runtime.stream_completion(prompt, max_tokens=kwargs.get("max_tokens") or self.max_tokens, stop=stops)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="".join(self._deltas(prompt, formatted, kwargs)))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        deltas = self._deltas(prompt, formatted, kwargs)

        def gen() -> CompletionResponseGen:
            text = ""
            for delta in deltas:
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()


def _render(messages: Any, template: str | None) -> str:
    from qa.llm import runtime

    chat = [{"role": getattr(m.role, "value", m.role), "content": m.content or ""} for m in messages]
    return runtime.chat_template(template).render(chat)


def markers(answer: str) -> list[int]:
    """Source numbers cited in the answer, in order of first appearance: [2], [Source 1], [1, 3]."""
    seen: list[int] = []
    for m in _BRACKETS.finditer(answer):
        if _MARKER_LIST.match(m.group(1)):
            for n in re.findall(r"\d+", m.group(1)):
                if int(n) not in seen:
                    seen.append(int(n))
    return seen


def is_abstention(answer: str) -> bool:
    """The answer says the sources do not help (or is empty)."""
    return not answer.strip() or bool(_ABSTAINS.search(answer))


def locate(chunk: str, text: str) -> tuple[int, int] | None:
    """[start, end) of ``chunk`` in ``text``: exact first, else whitespace-insensitive."""
    chunk = chunk.strip()
    if not chunk:
        return None
    i = text.find(chunk)
    if i >= 0:
        return i, i + len(chunk)
    pattern = r"\s+".join(re.escape(w) for w in chunk.split())
    m = re.search(pattern, text)
    return (m.start(), m.end()) if m else None


@dataclass
class EngineAnswer:
    answer: Answer
    raw: str
    markers: list[int]
    unmapped_markers: int
    sources: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def llama_settings(embed_model: Any, llm: Any) -> Iterator[None]:
    """Set llama-index's global Settings for the block and put the previous ones back afterwards."""
    from llama_index.core import Settings

    old = (Settings._llm, Settings._embed_model)
    Settings.embed_model = embed_model
    Settings.llm = llm
    try:
        yield
    finally:
        Settings._llm, Settings._embed_model = old


class CitationEngineBaseline:
    """Build once over a folder; ``ask(question)`` -> an Answer with exact spans of our document texts."""

    def __init__(self, docs_dir: Path, embedder: Any, documents: dict[str, str], settings: Any) -> None:
        from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
        from llama_index.core.query_engine import CitationQueryEngine

        from qa.llm import runtime

        self.documents = documents  # our {doc_id: text}: the texts citations must be exact spans of
        self.docs_dir = Path(docs_dir)
        self.embed_model = SentenceTransformerEmbedding(embedder)
        runtime.configure(settings)  # the same local model as citeqa's LLM mode
        self.llm = LocalModelLLM(settings)
        with llama_settings(self.embed_model, self.llm):
            reader = SimpleDirectoryReader(str(docs_dir)) if self.docs_dir.is_dir() else \
                SimpleDirectoryReader(input_files=[str(docs_dir)])
            self.index = VectorStoreIndex.from_documents(reader.load_data())
            self.engine = CitationQueryEngine.from_args(self.index)
        self.n_chunks = len(self.index.docstore.docs)

    def _doc_id(self, metadata: dict[str, Any]) -> str | None:
        path = metadata.get("file_path")
        if path and self.docs_dir.is_dir():
            try:
                rel = Path(path).resolve().relative_to(self.docs_dir.resolve()).as_posix()
                if rel in self.documents:
                    return rel
            except ValueError:
                pass
        name = metadata.get("file_name")
        return name if name in self.documents else None

    def ask(self, question: str) -> EngineAnswer:
        with llama_settings(self.embed_model, self.llm):
            response = self.engine.query(question)
        raw = str(response.response or "")
        sources = []
        for i, nws in enumerate(response.source_nodes, 1):
            node = nws.node
            doc_id = self._doc_id(node.metadata or {})
            span = None
            if doc_id is not None:
                content = _SOURCE_HEAD.sub("", node.get_content()).strip()
                text = self.documents[doc_id]
                if node.start_char_idx is not None and node.end_char_idx is not None and \
                        text[node.start_char_idx:node.end_char_idx].split() == content.split():
                    span = (int(node.start_char_idx), int(node.end_char_idx))
                else:  # offsets cleared (or of a differently loaded text): find the chunk itself
                    span = locate(content, text)
            sources.append({"n": i, "doc": doc_id, "span": span, "score": nws.score})
        cited = markers(raw)
        citations: list[Citation] = []
        unmapped = 0
        for n in cited:
            src = sources[n - 1] if 1 <= n <= len(sources) else None
            if src is None or src["span"] is None:
                unmapped += 1
                continue
            start, end = src["span"]
            text = self.documents[src["doc"]]
            citations.append(Citation(src["doc"], start, end, text[start:end], float(src["score"] or 0.0)))
        # An abstention says so (its prompt asks it to say when no source helps). An answer that cites
        # nothing but does not say so (e.g. the model echoing a source) is an uncited answer, not an abstention.
        abstained = is_abstention(raw)
        if abstained:
            citations = []
        answer = Answer(raw, abstained, citations, "citation-query-engine", question, question)
        return EngineAnswer(answer, raw, cited, unmapped, sources)
