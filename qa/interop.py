"""llama-index interop: citeqa as a retriever or query engine inside a llama-index pipeline.

- ``CitedSpanRetriever`` (``Assistant.as_retriever()``): a ``BaseRetriever`` whose nodes are exact
  sentence spans: ``node.text == document_text(doc_id)[start_char_idx:end_char_idx]``, the document
  id in ``metadata["doc_id"]``, the score the calibrated support probability. Plug it into
  ``RetrieverQueryEngine`` (with any llama-index LLM) or a router like any other retriever.
- ``CiteqaQueryEngine`` (``Assistant.as_query_engine()``): answers through citeqa's own answer modes;
  the response's ``source_nodes`` are exactly the cited spans, and ``metadata["answer"]`` is the
  full ``Answer``.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from qa.types import Citation


def span_node(c: Citation) -> NodeWithScore:
    node = TextNode(id_=f"{c.doc_id}:{c.start}-{c.end}", text=c.text, start_char_idx=c.start, end_char_idx=c.end,
                    metadata={"doc_id": c.doc_id}, excluded_embed_metadata_keys=["doc_id"])
    return NodeWithScore(node=node, score=c.score)


class CitedSpanRetriever(BaseRetriever):
    """The evidence step as a llama-index retriever: the ``top_k`` best-supported sentences (or, with
    ``chosen_only``, just the ones citeqa would cite, nothing when it would abstain)."""

    def __init__(self, assistant: Any, top_k: int = 5, chosen_only: bool = False) -> None:
        super().__init__()
        self.assistant = assistant
        self.top_k = top_k
        self.chosen_only = chosen_only

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from qa.evidence import citation

        ev = self.assistant.evidence(query_bundle.query_str)
        if self.chosen_only:
            return [span_node(ev.cite(row, score)) for row, score in ev.chosen]
        return [span_node(citation(ev.corpus, s.hit.row, s.probability, s.last)) for s in ev.scored[: self.top_k]]


class CiteqaQueryEngine(CustomQueryEngine):
    """citeqa's answer (``mode`` as in ``Assistant.ask``) as a llama-index ``Response``."""

    assistant: Any
    mode: str | None = None

    def custom_query(self, query_str: str) -> Response:
        answer = self.assistant.ask(query_str, mode=self.mode)
        return Response(response=answer.text, source_nodes=[span_node(c) for c in answer.citations],
                        metadata={"answer": answer})
