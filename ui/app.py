"""The browser chat: a thin Gradio layer over :class:`qa.Assistant` (layout and serving; what the
events do is in ``ui/handlers.py``, the per-session state in ``ui/session.py``).

    citeqa serve [--host 127.0.0.1] [--port 7860] [--auth user:password]

Design (see also ui/README.md):

- Per session: the chat (``gr.State`` holding a ``ui.session.Session``) lives in the browser session
  that asked, and only its own turns are passed to ``Assistant.stream`` as history. "New chat" starts
  another.
- Saved chats: each settled answer saves the chat under ``<index_dir>/chats/`` for its owner (the
  ``--auth`` user, else a random id kept in the browser's localStorage via ``gr.BrowserState``), so a
  reload or a restart finds it in the side panel (``ui/chat_store.py``); answers and chats download as
  Markdown and JSON (``ui/export.py``).
- Shared: the corpus. One server has one index; documents uploaded or removed by anyone apply to
  everyone (the UI says so next to the upload). Uploaded files are stored under
  ``<index_dir>/uploads/`` with sanitised names (``ui/uploads.py``).
- Answers: the quoted answer comes at once (fast event, default concurrency); in LLM mode the
  written answer follows in a separate event with ``concurrency_limit=1`` and
  ``concurrency_id="llm"`` (one local model, one answer at a time), shown under the quotes while it
  streams and replacing them once checked. "Stop writing", a newer question, a new chat or closing the tab
  cancels it and keeps the quotes (the model's queue policy: qa/llm/queue.py).
- Start-up: the fast mode answers as soon as the page is up; the LLM loads and reads the corpus in a
  background thread.
- Safety: every bit of text shown is escaped by ``ui/render.py``; the Chatbot renders neither
  Markdown nor LaTeX, and its HTML sanitiser stays on as a second line of defence.
- Local only: binds 127.0.0.1 unless --host says otherwise; no public Gradio share link, ever.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import gradio as gr

from qa import MAX_QUESTION_CHARS, CiteqaError
from ui import mcp_tools, render, uploads
from ui.chat_store import ChatStore, browser_secret
from ui.handlers import ChatHandlers
from ui.session import Session

log = logging.getLogger("citeqa.ui")
STATIC = Path(__file__).resolve().parent / "static"

EXAMPLE_QUESTIONS = (
    "Why was the trip cancelled?",
    "Who sent the letter?",
    "Who wrote the article?",
    "Who is the Defence Secretary?",
)
MODE_CHOICES = [("Fast · quotes", "extractive"), ("LLM · written answer", "generative")]
SHARED_NOTE = (
    "**Shared documents.** Everyone using this server asks about the same documents: files you "
    "add or remove here are added or removed for all users. Your chats are yours: kept on this server "
    "for your browser (or your sign-in). Accepted: .txt, .md, .html up to 10 MB each; .pdf, .docx and scans (.png, .jpg, .tif; read by OCR) up to 50 MB."
)
MODE_HELP = (
    "**Fast** quotes the best supporting sentences (instant). **LLM** shows the same quotes at once, then a "
    "local model writes a short answer (a few seconds) that replaces them once it is checked; it writes one "
    "answer at a time, so yours may wait in a queue (the quotes are already there)."
)
THEME = gr.themes.Soft(
    primary_hue="indigo",
    neutral_hue="slate",
    radius_size="lg",
    # Local font stacks only: the app must work offline (no Google Fonts request).
    font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)


def launch_options() -> dict:
    """Look-and-feel options that Gradio 6 takes in ``launch()`` rather than ``Blocks()``."""
    return {"theme": THEME, "css": (STATIC / "app.css").read_text(encoding="utf-8")}


def default_upload_dir(assistant) -> Path:
    if getattr(assistant, "index_dir", None) is not None:
        return Path(assistant.index_dir.path) / "uploads"
    return Path(tempfile.mkdtemp(prefix="citeqa-uploads-"))


def default_chats_dir(assistant) -> Path | None:
    if getattr(assistant, "index_dir", None) is not None:
        return Path(assistant.index_dir.path) / "chats"
    return None  # an in-memory index: chats are not saved


def build_app(assistant, upload_dir: str | os.PathLike | None = None, concurrency: int | None = None,
              chats_dir: str | os.PathLike | None = None) -> gr.Blocks:
    """The chat over ``assistant``; ``concurrency`` (fast answers at once) defaults to its settings' ui.concurrency;
    chats are saved under ``chats_dir`` (default ``<index_dir>/chats``; not saved without an index directory)."""
    upload_path = Path(upload_dir) if upload_dir else default_upload_dir(assistant)
    upload_path.mkdir(parents=True, exist_ok=True)
    chats_path = Path(chats_dir) if chats_dir else default_chats_dir(assistant)
    h = ChatHandlers(assistant, upload_path, chat_store=ChatStore(chats_path) if chats_path else None)
    default_mode = "generative" if h.llm_ok else "extractive"

    with gr.Blocks(title="citeqa · answers with exact citations", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        state = gr.State(Session())
        owner = gr.State("")  # whose saved chats: set on page load (ui.handlers.ChatHandlers.restore)
        # The browser's id for its saved chats; the secret is kept beside the chats so it still decrypts after a restart.
        browser_id = gr.BrowserState(None, storage_key="citeqa-browser-id",
                                     secret=browser_secret(chats_path) if chats_path else None)
        fast_trigger = gr.State("")
        llm_trigger = gr.State("")
        gr.HTML('<div id="cq-header"><h1>cite<span>qa</span></h1>'
                "<p>Answers from your documents, every claim backed by an exact, clickable citation.</p></div>",
                js_on_load=None)
        with gr.Sidebar(label="Chats", open=True, position="left", width=280, elem_id="cq-sidebar"):
            chat_list = gr.Radio(choices=[], value=None, label="Your chats", elem_id="cq-chats")
            chats_note = gr.Markdown(elem_id="cq-chats-note")
            rename_box = gr.Textbox(label="Name of this chat", max_lines=1, elem_id="cq-rename")
            with gr.Row(equal_height=True):
                rename_btn = gr.Button("Rename", elem_id="cq-rename-btn", size="sm")
                delete_btn = gr.Button("Delete chat", variant="stop", elem_id="cq-delete-chat", size="sm")
        with gr.Row(equal_height=False):
            with gr.Column(scale=7, min_width=420):
                chatbot = gr.Chatbot(
                    elem_id="cq-chat", label="Chat", show_label=False, height=600,
                    render_markdown=False, sanitize_html=True, latex_delimiters=[],
                    group_consecutive_messages=False, feedback_options=None, buttons=[], autoscroll=True,
                    placeholder=("<div class='cq-placeholder'><h3>Ask about your documents</h3>"
                                 "<p>Every answer quotes or cites exact passages. Click a citation number "
                                 "to see it highlighted in its document.</p></div>"),
                    examples=[{"text": q, "display_text": q} for q in EXAMPLE_QUESTIONS],
                )
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        elem_id="cq-question", show_label=False, lines=1, max_lines=6, scale=8, autofocus=True,
                        placeholder=f"Ask a question about the documents… (up to {MAX_QUESTION_CHARS:,} characters)",
                        submit_btn=True,
                    )
                with gr.Row(equal_height=True):
                    mode = gr.Radio(MODE_CHOICES, value=default_mode, label="Answer mode", elem_id="cq-mode",
                                    scale=3, container=False)
                    stop_btn = gr.Button("Stop writing", elem_id="cq-stop", variant="secondary", scale=1, size="md")
                    new_btn = gr.Button("New chat", elem_id="cq-new-chat", variant="secondary", scale=1, size="md")
                with gr.Row(equal_height=True, elem_id="cq-export"):
                    export_choice = gr.Dropdown(choices=[("Whole chat", "all")], value="all", label="Download",
                                                elem_id="cq-export-choice", scale=3)
                    md_btn = gr.DownloadButton("Markdown", elem_id="cq-dl-md", interactive=False, size="md", scale=1)
                    json_btn = gr.DownloadButton("JSON", elem_id="cq-dl-json", interactive=False, size="md", scale=1)
                gr.Markdown(MODE_HELP + ("" if h.llm_ok else f" *{render.esc(h.llm_reason)}*"), elem_id="cq-mode-help")
            with gr.Column(scale=5, min_width=360):
                with gr.Tabs(selected="source", elem_id="cq-tabs") as tabs:
                    with gr.Tab("Source", id="source"):
                        source = gr.HTML(render.SOURCE_PLACEHOLDER, elem_id="cq-source",
                                         js_on_load=(STATIC / "source_panel.js").read_text(encoding="utf-8"),
                                         apply_default_css=False)
                    with gr.Tab("Documents", id="documents") as docs_tab:
                        gr.Markdown(SHARED_NOTE, elem_id="cq-shared-note")
                        docs_list = gr.HTML(elem_id="cq-docs", js_on_load=None, apply_default_css=False)
                        files = gr.File(label="Add documents", file_count="multiple", type="filepath",
                                        file_types=list(uploads.ALLOWED_SUFFIXES), elem_id="cq-upload", height=120)
                        upload_status = gr.HTML(elem_id="cq-upload-status", js_on_load=None)
                        with gr.Row(equal_height=True):
                            remove_choice = gr.Dropdown(label="Remove a document", choices=[], value=None,
                                                        elem_id="cq-remove-choice", scale=3)
                            remove_btn = gr.Button("Remove", variant="stop", elem_id="cq-remove", scale=1, size="md")

        # ------------------------------------------------------------------ events
        quiet = {"api_visibility": "private", "concurrency_limit": None, "show_progress": "hidden"}
        start_outputs = [question, chatbot, state, fast_trigger]
        fast_evt = fast_trigger.change(h.answer_fast, [state], [chatbot, state, source, tabs, llm_trigger],
                                       api_name="answer", show_progress="full", show_progress_on=[chatbot])
        # One local model: written answers one at a time, in arrival order; the others wait in this event's
        # queue, with the quoted answer already on their screen. A newer question of the tab, a new chat or a
        # closed tab cancels its written answer (the model stops at its next token: qa/llm/queue.py).
        llm_evt = llm_trigger.change(h.answer_llm, [state], [chatbot, state, source, tabs], api_name="answer_llm",
                                     concurrency_limit=1, concurrency_id="llm", show_progress="minimal",
                                     show_progress_on=[chatbot])
        question.submit(h.start, [question, mode, state, owner], start_outputs, api_name="ask", concurrency_limit=None,
                        show_progress="hidden", cancels=[llm_evt])
        chatbot.example_select(h.start_example, [mode, state, owner], start_outputs, **quiet, cancels=[llm_evt])
        demo.unload(h.closed)
        stop_evt = stop_btn.click(h.stop_writing, [state], [chatbot, state], cancels=[llm_evt], api_name="stop_writing",
                                  concurrency_limit=None, show_progress="hidden")
        reset = {"fn": h.new_chat, "inputs": [state], "outputs": [chatbot, state, source, question],
                 "cancels": [fast_evt, llm_evt], "concurrency_limit": None, "show_progress": "hidden"}
        # After every chat event: the saved chats in the side panel and the files to download.
        side = {"fn": h.side, "inputs": [state, owner, export_choice],
                "outputs": [chat_list, chats_note, rename_box, export_choice, md_btn, json_btn], **quiet}
        swap = {**reset, "api_visibility": "private"}
        for evt in (fast_evt, llm_evt, stop_evt, new_btn.click(**reset, api_name="new_chat"),
                    chatbot.clear(**swap),  # the Chatbot's own bin icon starts a new chat too
                    chat_list.input(**{**swap, "fn": h.open_chat, "inputs": [chat_list, state, owner]}),
                    delete_btn.click(**{**swap, "fn": h.delete_chat, "inputs": [state, owner]}),
                    rename_btn.click(h.rename_chat, [rename_box, state, owner], [state], **quiet),
                    rename_box.submit(h.rename_chat, [rename_box, state, owner], [state], **quiet),
                    demo.load(h.restore, [browser_id, state], [browser_id, owner, state, chatbot], **quiet)):
            evt.then(**side)
        export_choice.input(h.export_files, [state, export_choice], [md_btn, json_btn], **quiet)
        source.click(h.show_source, [state], [source, tabs], **quiet)
        mode.change(h.mode_changed, [mode], None, **quiet)
        files.upload(h.upload, [files], [upload_status, docs_list, remove_choice, files], api_visibility="private",
                     concurrency_limit=1, concurrency_id="corpus", show_progress="full")
        remove_btn.click(h.remove, [remove_choice], [upload_status, docs_list, remove_choice],
                         api_visibility="private", concurrency_limit=1, concurrency_id="corpus")
        docs_tab.select(h.doc_views, None, [docs_list, remove_choice], **quiet)
        demo.load(h.doc_views, None, [docs_list, remove_choice], **quiet)

    ui = assistant.settings.ui
    demo.queue(default_concurrency_limit=concurrency or ui.concurrency, max_size=ui.queue_size)
    return demo


# ----------------------------------------------------------------------------- serving
def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if auth is None or auth == "":
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise CiteqaError("--auth must be user:password (both non-empty)")
    return user, password


def _warm(assistant) -> None:
    # Lowest CPU priority for this thread and the llama.cpp threads it starts (Linux threads inherit
    # their creator's nice value): on 2 cores, loading the model and reading the corpus would
    # otherwise take the CPU from the first fast answers. Later LLM answers run on other threads.
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not permitted: warm at normal priority
        pass
    try:
        assistant.warm()
    except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first LLM answer
        log.exception("LLM warm-up failed; the LLM mode will load on first use")


def serve(host: str = "127.0.0.1", port: int = 7860, auth: str | None = None, settings=None,
          *, block: bool = True, mcp: bool = True):
    """Open the index and serve the chat on http://host:port (local only unless host says otherwise),
    and with ``mcp`` the MCP tools of ``ui/mcp_tools.py`` at /gradio_api/mcp/."""
    from qa import Assistant, Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    credentials = parse_auth(auth)
    # Gradio wraps every event in matplotlib.get_backend(); left to auto-detect, that probes for GUI
    # toolkits and delays the first answer. A server has no screen: say so up front.
    os.environ.setdefault("MPLBACKEND", "agg")
    if host not in ("127.0.0.1", "localhost", "::1") and credentials is None:
        log.warning("serving on %s without --auth: anyone who can reach this address can use the chat "
                    "and add or remove documents", host)
    assistant = Assistant.open(settings=settings or Settings.from_env())
    upload_dir = default_upload_dir(assistant)
    demo = build_app(assistant, upload_dir=upload_dir)
    mcp_options = {}
    if mcp:
        from starlette.middleware import Middleware

        mcp_tools.register(demo, assistant)
        if credentials:
            mcp_options["app_kwargs"] = {"middleware": [Middleware(mcp_tools.BasicAuthMiddleware, credentials=credentials)]}
    log.info("%d documents in %s; uploads are shared by all users and stored in %s",
             len(assistant.documents()), assistant.index_dir.path if assistant.index_dir else "memory", upload_dir)
    try:
        with mcp_tools.quiet_state_warning():
            app, local_url, _ = demo.launch(
                server_name=host, server_port=port, auth=credentials, share=False, inbrowser=False,
                prevent_thread_lock=True, show_error=False, ssr_mode=False, quiet=True,
                max_file_size=uploads.MAX_UPLOAD_BYTES, footer_links=["api", "settings"],
                auth_message="citeqa: sign in to ask about the documents." if credentials else None,
                mcp_server=mcp, **mcp_options, **launch_options(),
            )
    except OSError as exc:
        raise CiteqaError(f"cannot serve on {host}:{port}: {exc}") from exc
    if mcp:
        if demo.mcp_error:
            demo.close()
            raise CiteqaError(f"cannot serve MCP: {demo.mcp_error} (or run with --no-mcp)")
        mcp_tools.keep_only_tools(demo)
    # Load the LLM and read the corpus prompt prefix in the background, so the first LLM question
    # does not pay for it; LLM requests that arrive meanwhile wait in the queue.
    threading.Thread(target=_warm, args=(assistant,), name="citeqa-warm", daemon=True).start()
    print(f"citeqa: chat running at {local_url}" + ("" if credentials else " (no sign-in required)")
          + ("" if host in ("127.0.0.1", "localhost", "::1") else f"; reachable from other machines via {host}"),
          flush=True)
    if mcp:
        print(f"citeqa: MCP tools {', '.join(mcp_tools.TOOL_NAMES)} at {local_url.rstrip('/')}{mcp_tools.MCP_PATH}/ "
              f"(streamable HTTP) and {local_url.rstrip('/')}{mcp_tools.MCP_PATH}/sse (SSE)"
              + (" with HTTP Basic auth" if credentials else ""), flush=True)
    if block:
        try:
            demo.block_thread()
        except KeyboardInterrupt:
            pass
        finally:
            demo.close()
    return demo


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="citeqa browser chat (same as `citeqa serve`)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", default=None)
    p.add_argument("--index-dir", default=None)
    a = p.parse_args()
    from qa import Settings

    serve(a.host, a.port, a.auth, Settings.from_env(index={"dir": a.index_dir} if a.index_dir else {}))
