"""The MCP tools of `citeqa serve`: thin functions over :class:`qa.Assistant` that Gradio serves as
MCP tools (schemas from the signatures, descriptions from the docstrings) next to the chat.

    /gradio_api/mcp/      streamable HTTP
    /gradio_api/mcp/sse   SSE

Each tool returns one JSON object as text; citations have the shape of ``Citation.to_dict`` (the
same as ``citeqa ask --json``). Bad input is one clear error (the chat's checks and messages), never
a traceback. With ``--auth`` the MCP paths need the same user:password as HTTP Basic auth
(``BasicAuthMiddleware``): Gradio's login cookie does not guard its MCP routes.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import gradio as gr

from qa import CiteqaError

MCP_PATH = "/gradio_api/mcp"
TOOL_NAMES = ("ask", "search", "list_documents")
MAX_SEARCH_K = 20


class ToolError(gr.Error):
    """A gr.Error (its message reaches API clients despite show_error=False) whose str is the bare message,
    which is what an MCP client receives (gr.Error's own str quotes it)."""

    def __str__(self) -> str:
        return str(self.message)


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    try:
        yield
    except CiteqaError as exc:
        raise ToolError(str(exc), print_exception=False) from None


def make_tools(assistant) -> list[Callable[..., str]]:
    """The tool functions over ``assistant``, named as the MCP tools are."""

    def ask(question: str, mode: Literal["extractive", "combined"] = "extractive",
            history: list[dict[str, str]] | None = None) -> str:
        """Answer a question from the indexed documents, with exact cited spans. Each citation is an exact span of the named document: text == document[start:end] (character offsets into the document's text); page and boxes locate it in a PDF when known. When the documents do not answer, abstained is true and citations is empty.

        Args:
            question: the question, up to 2,000 characters.
            mode: "extractive" quotes the supporting sentences (fast); "combined" also lets the local LLM write a short answer checked against the quotes (seconds; falls back to the quotes, saying so in note).
            history: earlier turns of this conversation as [{"role": "user"|"assistant", "content": "..."}], to resolve follow-up questions; [] for none.

        Returns:
            JSON {question, standalone_question, mode, text, abstained, note, unsupported, citations: [{doc_id, start, end, text, score, page, pages, boxes, section, paragraph, where}]}.
        """
        with _clear_errors():
            return assistant.ask(question, history=history or [], mode=mode).to_json()

    def search(query: str, k: int = 5) -> str:
        """Find the sentences of the indexed documents that best support an answer to a query, best first, without writing an answer. Each result is an exact span of the named document: text == document[start:end] (character offsets into the document's text); score is its estimated support (0..1).

        Args:
            query: a question or keywords, up to 2,000 characters.
            k: how many spans to return (1 to 20).

        Returns:
            JSON {query, results: [{doc_id, start, end, text, score, page, pages, boxes, section, paragraph, where}]}.
        """
        from qa.evidence import citation

        with _clear_errors():
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SEARCH_K:
                raise CiteqaError(f"k must be a whole number from 1 to {MAX_SEARCH_K}, got {k!r}")
            ev = assistant.evidence(query)
            hits = [citation(ev.corpus, s.hit.row, s.probability, s.last).to_dict() for s in ev.scored[:k]]
            return json.dumps({"query": ev.question, "results": hits}, ensure_ascii=False)

    def list_documents() -> str:
        """List the indexed documents that ask and search answer from (doc_id is the name citations use).

        Returns:
            JSON {documents: [{doc_id, n_sentences, n_chars, source, metadata}]}.
        """
        with _clear_errors():
            return json.dumps({"documents": [d.to_dict() for d in assistant.documents()]}, ensure_ascii=False)

    return [ask, search, list_documents]


def register(demo: gr.Blocks, assistant) -> None:
    """Add the tools to ``demo`` as API endpoints (``/ask_json``, ``/search``, ``/list_documents``: the
    chat's own ``/ask`` keeps its name). Not queued: an MCP call runs at once, as a fast chat answer does."""
    with demo:
        for fn in make_tools(assistant):
            gr.api(fn, api_name="ask_json" if fn.__name__ == "ask" else fn.__name__, queue=False)


def keep_only_tools(demo: gr.Blocks) -> None:
    """After launch: serve only citeqa's tools over MCP, not the chat's own events (they take per-session state)."""
    server = demo.mcp_server_obj
    if server is not None:
        server.tool_to_endpoint = {name: ep for name, ep in server.tool_to_endpoint.items() if name in TOOL_NAMES}
        missing = set(TOOL_NAMES) - set(server.tool_to_endpoint)
        if missing:
            raise RuntimeError(f"MCP tools not registered: {', '.join(sorted(missing))}")


@contextlib.contextmanager
def quiet_state_warning() -> Iterator[None]:
    """Gradio warns about the chat's gr.State events when it builds the MCP server; they are removed from it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This MCP server includes a tool that has a gr.State input")
        yield


class BasicAuthMiddleware:
    """ASGI: requests under the MCP path need ``Authorization: Basic base64(user:password)``."""

    def __init__(self, app, credentials: tuple[str, str]) -> None:
        self.app = app
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        self.expected = f"Basic {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(MCP_PATH):
            given = dict(scope.get("headers", [])).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b"citeqa: MCP needs the server's --auth user:password as HTTP Basic auth"
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"www-authenticate", b'Basic realm="citeqa"'),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
