"""citeqa inside llama-index pipelines: the retriever's nodes and the query engine's source nodes are
exact spans of the documents."""

from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore
from llama_index.core.tools import QueryEngineTool

from qa import Assistant

DOCS = {
    "rivers.txt": "The Danube flows through ten countries. The source of the Danube lies in the Black Forest.\n\n"
                  "The Rhine reaches the North Sea at Rotterdam.",
    "cheese.txt": "Gruyere is a Swiss cheese. It is named after the town of Gruyeres.",
}


def _exact(a: Assistant, nws: NodeWithScore) -> None:
    node = nws.node
    doc = node.metadata["doc_id"]
    assert node.get_content() == a.document_text(doc)[node.start_char_idx:node.end_char_idx]


def test_retriever_in_a_llama_index_query_engine_returns_exact_spans() -> None:
    a = Assistant.from_texts(DOCS)
    retriever = a.as_retriever(top_k=3)
    nodes = retriever.retrieve("Where is the source of the Danube?")
    assert 1 <= len(nodes) <= 3
    assert nodes[0].node.get_content() == "The source of the Danube lies in the Black Forest."
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
    for n in nodes:
        _exact(a, n)
    # Plugged into llama-index's own query engine (a mock LLM: no model needed to test the plumbing).
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(max_tokens=8))
    response = engine.query("Where is the source of the Danube?")
    assert response.source_nodes and response.source_nodes[0].node.get_content() == "The source of the Danube lies in the Black Forest."
    for n in response.source_nodes:
        _exact(a, n)
    # Only what citeqa would cite; nothing when it would abstain.
    assert [n.node.get_content() for n in a.as_retriever(chosen_only=True).retrieve("What is Gruyere?")] == [
        "Gruyere is a Swiss cheese."]
    assert a.as_retriever(chosen_only=True).retrieve("Who won the 1998 football World Cup?") == []


def test_query_engine_source_nodes_are_the_cited_spans() -> None:
    a = Assistant.from_texts(DOCS)
    engine = a.as_query_engine(mode="extractive")
    response = engine.query("Where does the Rhine reach the sea?")
    answer = response.metadata["answer"]
    assert not answer.abstained and str(response) == answer.text
    assert [(n.node.metadata["doc_id"], n.node.start_char_idx, n.node.end_char_idx) for n in response.source_nodes] == [
        (c.doc_id, c.start, c.end) for c in answer.citations]
    for n in response.source_nodes:
        _exact(a, n)
    # As a tool of a llama-index agent or router.
    tool = QueryEngineTool.from_defaults(engine, name="documents", description="answers about the documents")
    out = tool.call("What is Gruyere?")
    assert "Gruyere is a Swiss cheese." in out.content
