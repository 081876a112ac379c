"""llama-index nodes for the sentence records: TextNode with exact char offsets and PREV/NEXT links."""

from __future__ import annotations

from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from index.corpus import Corpus


def node_id(doc_id: str, row_in_doc: int) -> str:
    return f"{doc_id}#{row_in_doc}"


def corpus_nodes(corpus: Corpus) -> list[TextNode]:
    """One TextNode per record; ``metadata['row']`` is the record's row in the corpus and FAISS."""
    nodes: list[TextNode] = []
    counters: dict[str, int] = {}
    for row, rec in enumerate(corpus.records):
        i = counters.get(rec.doc_id, 0)
        counters[rec.doc_id] = i + 1
        doc = corpus.documents[rec.doc_id]
        node = TextNode(
            id_=node_id(rec.doc_id, i),
            text=rec.index_text or doc.text[rec.start : rec.end],
            start_char_idx=rec.start,
            end_char_idx=rec.end,
            metadata={"doc_id": rec.doc_id, "row": row, "kind": rec.kind},
            excluded_embed_metadata_keys=["doc_id", "row", "kind"],
            excluded_llm_metadata_keys=["row", "kind"],
        )
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=rec.doc_id)
        prev, nxt = corpus.neighbours(row)
        if prev is not None:
            node.relationships[NodeRelationship.PREVIOUS] = RelatedNodeInfo(node_id=node_id(rec.doc_id, i - 1))
        if nxt is not None:
            node.relationships[NodeRelationship.NEXT] = RelatedNodeInfo(node_id=node_id(rec.doc_id, i + 1))
        nodes.append(node)
    return nodes
