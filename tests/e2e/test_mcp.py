"""`citeqa serve` as an MCP server (ui/mcp_tools.py), driven by the `mcp` Python client over both
transports, streamable HTTP and SSE, against a live server subprocess.

One server runs with --auth (MCP must need the same user:password, as HTTP Basic) and is asked over
both transports; a second one runs with --no-mcp and must serve the chat but no MCP.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest


from conftest import SEED, serving

mcp = pytest.importorskip("mcp")
from mcp import ClientSession  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

AUTH = ("agent", "s3cret-pw")
BASIC = {"Authorization": "Basic " + base64.b64encode(":".join(AUTH).encode()).decode()}
CALL_TIMEOUT = 120  # seconds per MCP session: a fast answer takes well under that even on a busy machine


@contextlib.contextmanager
def _serving(index_dir: Path, *args: str):
    """`citeqa serve ARGS`; yields its base URL (no trailing /) once the page answers."""
    with serving(index_dir, *args) as srv:
        yield srv["url"].rstrip("/")


@contextlib.asynccontextmanager
async def _transport(url: str, transport: str, headers: dict[str, str] | None):
    if transport == "http":
        async with create_mcp_http_client(headers) as client, \
                streamable_http_client(url + "/gradio_api/mcp/", http_client=client) as streams:
            yield streams
    else:
        async with sse_client(url + "/gradio_api/mcp/sse", headers=headers, timeout=30) as streams:
            yield streams


def _session(url: str, transport: str, calls: list[tuple[str, dict]], headers: dict[str, str] | None = BASIC):
    """Initialise an MCP session, list the tools, make ``calls``; returns (tool list, call results)."""

    async def run():
        async with _transport(url, transport, headers) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                return tools, [await session.call_tool(name, args) for name, args in calls]

    return asyncio.run(asyncio.wait_for(run(), CALL_TIMEOUT))


def _json(result) -> dict:
    assert not result.isError, result.content
    assert len(result.content) == 1 and result.content[0].type == "text"
    return json.loads(result.content[0].text)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with _serving(tmp_path_factory.mktemp("mcp-index"), "--auth", ":".join(AUTH)) as url:
        yield url


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_mcp_tools_answer_with_exact_spans_of_the_seed(server, transport):
    seed = SEED.read_text(encoding="utf-8")
    tools, (asked, searched, listed, empty, too_long, bad_k) = _session(server, transport, [
        ("ask", {"question": "Why was the trip cancelled?"}),
        ("search", {"query": "Why was the trip cancelled?", "k": 3}),
        ("list_documents", {}),
        ("ask", {"question": "   "}),
        ("ask", {"question": "why " * 600}),
        ("search", {"query": "trip", "k": 0}),
    ])
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"ask", "search", "list_documents"}  # the chat's own events are not tools
    assert "text == document[start:end]" in by_name["ask"].description
    assert "text == document[start:end]" in by_name["search"].description
    assert by_name["ask"].inputSchema["properties"]["mode"]["enum"] == ["extractive", "combined"]
    assert by_name["ask"].inputSchema["required"] == ["question"]

    answer = _json(asked)
    assert not answer["abstained"] and answer["mode"] == "extractive" and "cancel" in answer["text"].lower()
    assert answer["citations"]
    for c in answer["citations"]:
        assert c["doc_id"] == SEED.name and c["text"] == seed[c["start"]:c["end"]]
        assert c["page"] is None and c["boxes"] == []  # plain text has no layout
    assert "not making sufficient progress" in " ".join(c["text"] for c in answer["citations"])

    results = _json(searched)["results"]
    assert 1 <= len(results) <= 3
    assert all(r["text"] == seed[r["start"]:r["end"]] and 0 <= r["score"] <= 1 for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert results[0]["start"] == answer["citations"][0]["start"]  # the cited sentence is the best supported

    docs = _json(listed)["documents"]
    assert [d["doc_id"] for d in docs] == [SEED.name] and docs[0]["n_chars"] == len(seed)

    for result, message in ((empty, "the question is empty"), (too_long, "the limit is 2,000"),
                            (bad_k, "k must be a whole number from 1 to 20")):
        assert result.isError
        text = result.content[0].text
        assert message in text and "Traceback" not in text, text


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_mcp_without_the_servers_credentials_is_refused(server, transport):
    wrong = {"Authorization": "Basic " + base64.b64encode(b"agent:wrong").decode()}
    for headers in (None, wrong):
        with pytest.raises(BaseException) as err:  # the client raises an (exception group of) HTTP 401
            _session(server, transport, [("list_documents", {})], headers=headers)
        assert "401" in repr(err.value) or "Unauthorized" in repr(err.value), repr(err.value)
    request = urllib.request.Request(server + "/gradio_api/mcp/", method="POST", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 401


def test_no_mcp_serves_the_chat_but_no_mcp(tmp_path):
    with _serving(tmp_path / "index", "--no-mcp") as url:
        with urllib.request.urlopen(url + "/", timeout=30) as page:
            assert page.status == 200
        with pytest.raises(BaseException):
            _session(url, "http", [("list_documents", {})], headers=None)
        for path in ("/gradio_api/mcp/", "/gradio_api/mcp/sse"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(url + path, timeout=30)
            assert err.value.code == 404, path
