"""The browser chat: a thin Gradio layer over :class:`qa.Assistant`.

    citeqa serve [--host 127.0.0.1] [--port 7860] [--auth user:password]

Design (see also ui/README.md):

- Per session: the chat (``gr.State``) lives in the browser session that asked, and only its
  own turns are passed to ``Assistant.stream`` as history; two tabs or users never see each
  other's chats. "New chat" clears it.
- Shared: the corpus. One server has one index; documents uploaded or removed by anyone apply to
  everyone (the UI says so next to the upload). Uploaded files are stored under
  ``<index_dir>/uploads/`` with sanitised names (``ui/uploads.py``).
- Concurrency: fast (extractive) answers run on the queue's default concurrency; LLM answers
  go to a separate event with ``concurrency_limit=1`` and ``concurrency_id="llm"`` so the single
  local model serves one request at a time and the others wait in Gradio's queue, which shows
  their position on the chat.
- Safety: every bit of text shown is escaped by ``ui/render.py``; the Chatbot renders neither
  Markdown nor LaTeX, and its HTML sanitiser stays on as a second line of defence.
- Local only: binds 127.0.0.1 unless --host says otherwise; no public Gradio share link, ever.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from qa import MAX_QUESTION_CHARS, Answer, CiteqaError, QuestionError, UnknownDocumentError  # noqa: E402
from ui import page_view, render, uploads  # noqa: E402

log = logging.getLogger("citeqa.ui")

EXAMPLE_QUESTIONS = (
    "Why was the trip cancelled?",
    "Who sent the letter?",
    "Who wrote the article?",
    "Who is the Defence Secretary?",
)
DEFAULT_CONCURRENCY = 2  # fast answers run two at a time: 2 cores; measured better p95 than 4 (ui/loadtest.py)
QUEUE_MAX_SIZE = 256
STALE_PENDING_S = 600.0
MODE_CHOICES = [("Fast · quotes", "extractive"), ("LLM · written answer", "generative")]
SHARED_NOTE = (
    "**Shared documents.** Everyone using this server asks about the same documents: files you "
    "add or remove here are added or removed for all users. Your chat itself is private to this "
    "browser tab. Accepted: .txt, .md, .html up to 10 MB each; .pdf (with a text layer) and .docx up to 50 MB."
)

# ----------------------------------------------------------------------------- browser side
# Runs once when the source panel mounts: clicks (and Enter/Space) on any citation marker in
# the page are sent to the server as a `click` event of the source panel with {turn, n}; after
# the panel re-renders, the emphasised span is scrolled into view inside the panel.
SOURCE_JS = r"""
const refOf = (el) => { const m = /\bcq-ref-(\d+)-(\d+)\b/.exec(el.className || ''); return m ? {turn: Number(m[1]), n: Number(m[2])} : null; };
const citeAt = (t) => (t && t.closest) ? t.closest('.cq-cite') : null;
const fire = (el) => {
  const ref = refOf(el); if (!ref) return;
  document.querySelectorAll('.cq-cite-clicked').forEach(x => x.classList.remove('cq-cite-clicked'));
  el.classList.add('cq-cite-clicked');
  trigger('click', ref);
};
if (window.__cqClick) document.removeEventListener('click', window.__cqClick, true);
if (window.__cqKey) document.removeEventListener('keydown', window.__cqKey, true);
window.__cqClick = (e) => { const el = citeAt(e.target); if (!el) return; e.preventDefault(); e.stopPropagation(); fire(el); };
window.__cqKey = (e) => { if (e.key !== 'Enter' && e.key !== ' ') return; const el = citeAt(e.target); if (!el) return; e.preventDefault(); fire(el); };
document.addEventListener('click', window.__cqClick, true);
document.addEventListener('keydown', window.__cqKey, true);
const reveal = () => {
  const body = element.querySelector('.cq-src-body');
  const mark = element.querySelector('mark.cq-active');
  if (!body || !mark) return;
  const top = mark.getBoundingClientRect().top - body.getBoundingClientRect().top + body.scrollTop;
  body.scrollTo({top: Math.max(0, top - body.clientHeight / 3), behavior: 'smooth'});
  const r = element.getBoundingClientRect();
  if (r.bottom < 0 || r.top > window.innerHeight) element.scrollIntoView({block: 'nearest'});
};
watch('value', () => requestAnimationFrame(reveal));
"""

CSS = r"""
.gradio-container { max-width: 1400px !important; }
#cq-header { display:flex; align-items:baseline; gap:.8rem; padding: .2rem .2rem .1rem; }
#cq-header h1 { font-size: 1.45rem; font-weight: 700; margin: 0; letter-spacing: -.01em; }
#cq-header h1 span { color: var(--color-accent); }
#cq-header p { margin:0; color: var(--body-text-color-subdued); font-size: .92rem; }
#cq-chat .message-content { font-size: .97rem; line-height: 1.55; }
.cq-q, .cq-text { white-space: pre-wrap; overflow-wrap: anywhere; }
.cq-answer .cq-text { margin-bottom: .1rem; }
.cq-cite.cq-marker { display:inline-block; min-width:1.25em; padding:0 .32em; margin:0 .12em; border-radius:999px;
  font-size:.72em; font-weight:700; line-height:1.45; text-align:center; vertical-align: super; cursor:pointer;
  background: var(--color-accent-soft); color: var(--color-accent); border:1px solid var(--color-accent); user-select:none; }
.cq-cite.cq-marker:hover, .cq-cite.cq-marker:focus-visible, .cq-cite.cq-cite-clicked { background: var(--color-accent); color: white; outline:none; }
.cq-sources { display:flex; flex-wrap:wrap; gap:.35rem; align-items:center; margin-top:.55rem; padding-top:.5rem;
  border-top:1px dashed var(--border-color-primary); }
.cq-sources-label { font-size:.75rem; text-transform:uppercase; letter-spacing:.06em; color: var(--body-text-color-subdued); margin-right:.2rem; }
.cq-chip { display:inline-flex; gap:.35rem; align-items:center; padding:.12rem .55rem; border-radius:999px; cursor:pointer;
  font-size:.78rem; background: var(--background-fill-secondary); border:1px solid var(--border-color-primary); max-width: 100%; }
.cq-chip b { color: var(--color-accent); }
.cq-chip small { color: var(--body-text-color-subdued); }
.cq-chip:hover, .cq-chip.cq-chip-active, .cq-chip.cq-cite-clicked { border-color: var(--color-accent); background: var(--color-accent-soft); }
.cq-unsupported { text-decoration: underline wavy #d97706; text-underline-offset: 3px; background: rgba(245, 158, 11, .12); border-radius: 3px; }
.cq-flag { display:inline-block; margin-left:.3rem; padding:0 .4rem; border-radius:4px; font-size:.68rem; font-weight:700;
  text-transform:uppercase; letter-spacing:.04em; background:#fef3c7; color:#92400e; vertical-align: middle; }
.cq-warn { margin-top:.45rem; font-size:.8rem; color:#92400e; }
.cq-badge { display:inline-block; margin-bottom:.35rem; padding:.05rem .5rem; border-radius:6px; font-size:.72rem; font-weight:700;
  text-transform:uppercase; letter-spacing:.05em; }
.cq-badge-abstain { background: var(--background-fill-secondary); color: var(--body-text-color-subdued); border:1px solid var(--border-color-primary); }
.cq-badge-error { background:#fee2e2; color:#991b1b; }
.cq-abstained .cq-text { color: var(--body-text-color-subdued); font-style: italic; }
.cq-meta, .cq-interpreted { margin-top:.4rem; font-size:.74rem; color: var(--body-text-color-subdued); }
.cq-pending { display:flex; align-items:center; gap:.6rem; color: var(--body-text-color-subdued); font-size:.9rem; }
.cq-dots { display:inline-flex; gap:4px; }
.cq-dots i { width:6px; height:6px; border-radius:50%; background: var(--color-accent); opacity:.3; animation: cqdot 1.2s infinite; }
.cq-dots i:nth-child(2) { animation-delay:.2s; } .cq-dots i:nth-child(3) { animation-delay:.4s; }
@keyframes cqdot { 0%,80%,100% { opacity:.25; transform: translateY(0);} 40% { opacity:1; transform: translateY(-3px);} }
.cq-cursor { display:inline-block; width:.5em; height:1em; margin-left:1px; vertical-align:text-bottom; background: var(--color-accent); animation: cqblink 1s steps(2) infinite; }
@keyframes cqblink { 50% { opacity: 0; } }
#cq-source { border:1px solid var(--border-color-primary); border-radius: var(--radius-lg); background: var(--background-fill-primary); }
.cq-src { display:flex; flex-direction:column; min-height: 420px; }
.cq-src-head { padding:.75rem .9rem .6rem; border-bottom:1px solid var(--border-color-primary); }
.cq-src-title { display:flex; align-items:center; gap:.45rem; font-weight:650; overflow-wrap:anywhere; }
.cq-src-sub { margin-top:.2rem; font-size:.8rem; color: var(--body-text-color-subdued); }
.cq-src-chips { display:flex; flex-wrap:wrap; gap:.3rem; margin-top:.45rem; }
.cq-src-body { position:relative; max-height: 560px; overflow:auto; padding: .8rem 1rem 1.2rem; }
.cq-doc-text { white-space: pre-wrap; overflow-wrap:anywhere; font-size:.9rem; line-height:1.65; font-family: ui-serif, Georgia, Cambria, "Times New Roman", serif; }
mark.cq-hl { background: rgba(250, 204, 21, .28); color: inherit; border-radius: 3px; padding: 0 1px; }
mark.cq-hl.cq-hl-start::before { content: attr(data-n); font: 700 .62rem/1 ui-sans-serif, system-ui, sans-serif; vertical-align: super;
  color: #854d0e; margin-right: 2px; }
mark.cq-hl.cq-active { background: rgba(250, 204, 21, .85); box-shadow: 0 0 0 2px rgba(202, 138, 4, .55); }
.cq-clip { color: var(--body-text-color-subdued); font-size:.78rem; text-align:center; margin:.4rem 0; }
.cq-src-empty { align-items:center; justify-content:center; text-align:center; color: var(--body-text-color-subdued); padding: 2.5rem 1.5rem; }
.cq-src-empty-icon { font-size: 2rem; opacity: .35; margin-bottom:.4rem; }
.cq-docs table { width:100%; border-collapse: collapse; font-size:.85rem; border: none; }
.cq-docs { padding: .2rem .1rem .4rem; }
.cq-docs th { text-align:left; font-weight:600; color: var(--body-text-color-subdued); font-size:.75rem; text-transform:uppercase; letter-spacing:.04em; }
.cq-docs td, .cq-docs th { padding:.35rem .4rem; border: none; border-bottom:1px solid var(--border-color-primary); }
.cq-docs td.cq-doc-id { max-width: 16rem; overflow:hidden; text-overflow: ellipsis; white-space: nowrap; font-weight: 550; }
.cq-docs-sum { font-size:.8rem; color: var(--body-text-color-subdued); margin-bottom:.3rem; }
.cq-origin { font-size:.7rem; padding:.05rem .4rem; border-radius:999px; background: var(--background-fill-secondary); }
.cq-origin-uploaded { background: var(--color-accent-soft); color: var(--color-accent); }
#cq-upload-status { font-size: .85rem; }
#cq-docs { overflow-x: auto; }
#cq-remove { align-self: flex-end; max-height: 2.75rem; }
.cq-status-ok { color: #166534; } .cq-status-err { color: #991b1b; }
#cq-mode-help { font-size: .78rem; color: var(--body-text-color-subdued); }
#cq-mode-help p { margin: 0; }
#cq-chat .pending { display: none !important; } /* our own pending bubble says what is happening */
.cq-placeholder { text-align:center; max-width: 30rem; margin: 0 auto; }
.cq-placeholder h3 { font-size: 1.2rem; margin-bottom: .35rem; }
.cq-placeholder p { color: var(--body-text-color-subdued); font-size: .92rem; }
#cq-chat .examples .example { border:1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  background: var(--background-fill-secondary); padding:.6rem .9rem; transition: border-color .15s, background .15s; }
#cq-chat .examples .example:hover { border-color: var(--color-accent); background: var(--color-accent-soft); }
.cq-src-icon { display:inline-block; width:.8rem; height:1rem; border:2px solid var(--color-accent); border-radius:2px; flex: none; }
"""

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
    return {"theme": THEME, "css": CSS}


# ----------------------------------------------------------------------------- helpers
def generative_status() -> tuple[bool, str]:
    """Whether the LLM mode can run here, and if not, a message saying why."""
    try:
        from qa.generative import generative_available
    except ImportError as exc:
        return False, f"The LLM mode is not installed on this server ({exc}). Use the fast mode."
    try:
        ok = generative_available()
    except Exception as exc:  # noqa: BLE001 - a broken install must not break the page
        return False, f"The LLM mode is unavailable on this server ({type(exc).__name__}: {exc}). Use the fast mode."
    if not ok:
        return False, "The LLM mode needs llama-cpp-python and the model file, which are not installed on this server. Use the fast mode."
    return True, ""


def llm_busy() -> bool:
    try:
        from qa.llm.runtime import llm_busy as busy
    except Exception:  # noqa: BLE001 - optional helper
        return False
    try:
        return bool(busy())
    except Exception:  # noqa: BLE001
        return False


def llm_loaded() -> bool:
    try:
        from qa.llm.runtime import llm_loaded as loaded
    except Exception:  # noqa: BLE001 - optional helper
        return True
    try:
        return bool(loaded())
    except Exception:  # noqa: BLE001
        return True


def validate_question(question: str) -> str:
    from qa import clean_question

    return clean_question(question)


def sentence(message: str) -> str:
    """An error message as a sentence: capitalised, ending with a full stop."""
    message = str(message).strip()
    if not message:
        return message
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def new_session() -> dict:
    return {"turns": [], "pending": None, "chat_id": uuid.uuid4().hex}


def history_of(turns: list[dict]) -> list[dict[str, str]]:
    """The chat history in the QA API's format; failed turns are left out."""
    out: list[dict[str, str]] = []
    for t in turns:
        if t.get("error"):
            continue
        out.append({"role": "user", "content": t["question"]})
        out.append({"role": "assistant", "content": t["answer"]["text"]})
    return out


def default_upload_dir(assistant) -> Path:
    if getattr(assistant, "index_dir", None) is not None:
        return Path(assistant.index_dir.path) / "uploads"
    return Path(tempfile.mkdtemp(prefix="citeqa-uploads-"))


# ----------------------------------------------------------------------------- the app
def build_app(assistant, upload_dir: str | os.PathLike | None = None,
              concurrency: int = DEFAULT_CONCURRENCY) -> gr.Blocks:
    upload_path = Path(upload_dir) if upload_dir else default_upload_dir(assistant)
    upload_path.mkdir(parents=True, exist_ok=True)
    gen_ok, gen_reason = generative_status()
    default_mode = assistant.default_mode if gen_ok else "extractive"

    # ------------------------------------------------------------------ corpus views
    def doc_views():
        docs = assistant.documents()
        choices = sorted(d.doc_id for d in docs)
        return (render.documents_html(docs, str(upload_path.resolve())),
                gr.update(choices=choices, value=None))

    # ------------------------------------------------------------------ asking
    def _start(question: str, mode: str, state: dict):
        state = state or new_session()
        pending = state.get("pending")
        if pending and time.time() - pending.get("since", 0) < STALE_PENDING_S:
            gr.Warning("Please wait for the current answer to finish (or start a new chat).")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            q = validate_question(question if isinstance(question, str) else "")
        except QuestionError as exc:
            gr.Warning(sentence(str(exc)))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if mode not in ("extractive", "generative"):
            mode = "extractive"
        token = uuid.uuid4().hex
        state = {**state, "pending": {"question": q, "mode": mode, "since": time.time(), "token": token}}
        if mode == "generative":
            # Until the answer event starts this question waits in the LLM queue (position shown on the chat).
            note = ("Waiting for the language model: it writes one answer at a time…" if llm_busy()
                    else "Sending the question to the language model…")
        else:
            note = "Searching the documents…"
        chat = render.chat_messages(state["turns"], state["pending"], render.pending_html(note))
        ext = token if mode == "extractive" else gr.skip()
        gen = token if mode == "generative" else gr.skip()
        return "", chat, state, ext, gen

    def start(question: str, mode: str, state: dict):
        return _start(question, mode, state)

    def start_example(mode: str, state: dict, evt: gr.SelectData):
        value = evt.value if isinstance(evt.value, dict) else {"text": str(evt.value)}
        return _start(value.get("text", ""), mode, state)

    def _answer(state: dict, want_mode: str):
        """Stream the pending question's answer into the chat; then store the finished turn."""
        state = state or new_session()
        pending = state.get("pending")
        if not pending or pending["mode"] != want_mode:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        q, mode = pending["question"], pending["mode"]
        turns = list(state["turns"])
        t0 = time.perf_counter()
        final: Answer | None = None
        error = None
        partial = ""
        last_yield = 0.0
        try:
            if mode == "generative" and not gen_ok:
                raise CiteqaError(gen_reason)
            if mode == "generative":
                note = ("The language model is reading the documents and writing an answer…" if llm_loaded()
                        else "Loading the language model (first LLM question since the server started)…")
                yield render.chat_messages(turns, pending, render.pending_html(note)), gr.skip(), gr.skip(), gr.skip()
            for item in assistant.stream(q, history=history_of(turns), mode=mode):
                if isinstance(item, Answer):
                    final = item
                    continue
                partial += item
                now = time.perf_counter()
                if mode == "generative" and now - last_yield > 0.05:
                    last_yield = now
                    yield render.chat_messages(turns, pending, render.streaming_html(partial)), gr.skip(), gr.skip(), gr.skip()
            if final is None:
                raise CiteqaError("the answer stream ended without an answer")
        except CiteqaError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - never show a traceback in the page
            log.exception("answering %r failed", q)
            error = f"Something went wrong while answering ({type(exc).__name__}). Please try again."
        elapsed = time.perf_counter() - t0
        if error is not None:
            turn = {"question": q, "error": sentence(error)}
        else:
            turn = {"question": q, "answer": render.answer_record(final, elapsed)}
        turns.append(turn)
        new_state = {**state, "turns": turns, "pending": None}
        source, tab = gr.skip(), gr.skip()
        if error is None and turn["answer"]["citations"]:
            source, tab = _source_for(new_state, len(turns) - 1, 1), gr.Tabs(selected="source")
        yield render.chat_messages(turns), new_state, source, tab

    def answer_fast(state: dict):
        yield from _answer(state, "extractive")

    def answer_llm(state: dict):
        yield from _answer(state, "generative")

    def _source_for(state: dict, turn: int, n: int) -> str:
        turns = (state or {}).get("turns", [])
        if not (0 <= turn < len(turns)) or turns[turn].get("error"):
            return render.source_message("That citation belongs to a chat that is no longer shown.")
        cites = turns[turn]["answer"]["citations"]
        if not (1 <= n <= len(cites)):
            return render.source_message("Unknown citation.")
        c = cites[n - 1]
        try:
            text = assistant.document_text(c["doc_id"])
        except (UnknownDocumentError, KeyError):
            return render.source_message(f"The document {c['doc_id']} has been removed from the corpus since this answer.")
        stale = text[c["start"] : c["end"]] != c["text"]
        page = page_view.page_html(assistant.corpus.document(c["doc_id"]), c["start"], c["end"], stale)
        return render.source_html(c["doc_id"], text, turn, n, cites, stale=stale, page=page)

    def show_source(state: dict, evt: gr.EventData):
        data = getattr(evt, "_data", None) or {}
        try:
            turn, n = int(data.get("turn")), int(data.get("n"))
        except (TypeError, ValueError):
            return gr.skip(), gr.skip()
        return _source_for(state, turn, n), gr.Tabs(selected="source")

    def new_chat():
        return [], new_session(), render.SOURCE_PLACEHOLDER, ""

    def mode_changed(mode: str):
        if mode == "generative" and not gen_ok:
            gr.Warning(gen_reason)
        elif mode == "generative" and llm_busy():
            gr.Info("The language model is busy right now; your question will wait its turn in the queue.")

    # ------------------------------------------------------------------ corpus management
    def upload(files, progress=gr.Progress()):
        paths = [f if isinstance(f, str) else getattr(f, "name", None) for f in (files or [])]
        paths = [p for p in paths if p]
        if not paths:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        result = uploads.add_uploads(assistant, upload_path, paths, progress=progress)
        lines = []
        if result.added:
            lines.append(f'<div class="cq-status-ok">Added and indexed: {render.esc(", ".join(result.added))} '
                         f"({result.sentences:,} sentences). You can ask about {'it' if len(result.added) == 1 else 'them'} now.</div>")
        if result.updated:
            lines.append(f'<div class="cq-status-ok">Replaced: {render.esc(", ".join(result.updated))}.</div>')
        if result.unchanged:
            lines.append(f'<div class="cq-status-ok">Already indexed, unchanged: {render.esc(", ".join(result.unchanged))}.</div>')
        for e in result.errors:
            lines.append(f'<div class="cq-status-err">Not added: {render.esc(e)}</div>')
            gr.Warning(f"Not added: {e}")
        if result.added or result.updated:
            gr.Info(f"Indexed {len(result.added) + len(result.updated)} document(s).")
        docs_html, dd = doc_views()
        return "".join(lines), docs_html, dd, None

    def remove(doc_id):
        if not doc_id:
            gr.Warning("Choose a document to remove first.")
            return gr.skip(), gr.skip(), gr.skip()
        status = f'<div class="cq-status-ok">Removed {render.esc(doc_id)}.</div>'
        try:
            uploads.remove_document(assistant, upload_path, doc_id)
        except (UnknownDocumentError, KeyError):
            msg = f"{doc_id} is not in the corpus (someone may have removed it already)."
            gr.Warning(msg)
            status = f'<div class="cq-status-err">{render.esc(msg)}</div>'
        except CiteqaError as exc:
            gr.Warning(sentence(str(exc)))
            return gr.skip(), gr.skip(), gr.skip()
        docs_html, dd = doc_views()
        return status, docs_html, dd

    # ------------------------------------------------------------------ layout
    with gr.Blocks(title="citeqa · answers with exact citations", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        state = gr.State(new_session())
        ext_trigger = gr.State("")
        gen_trigger = gr.State("")
        gr.HTML('<div id="cq-header"><h1>cite<span>qa</span></h1>'
                "<p>Answers from your documents, every claim backed by an exact, clickable citation.</p></div>",
                js_on_load=None)
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
                    new_btn = gr.Button("New chat", elem_id="cq-new-chat", variant="secondary", scale=1, size="md")
                gr.Markdown(
                    "**Fast** quotes the best supporting sentences (instant). **LLM** lets a local model write a short "
                    "answer (1–3 s); it answers one question at a time, so you may briefly wait in a queue."
                    + ("" if gen_ok else f" *{gen_reason}*"),
                    elem_id="cq-mode-help")
            with gr.Column(scale=5, min_width=360):
                with gr.Tabs(selected="source", elem_id="cq-tabs") as tabs:
                    with gr.Tab("Source", id="source"):
                        source = gr.HTML(render.SOURCE_PLACEHOLDER, elem_id="cq-source", js_on_load=SOURCE_JS,
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
        start_outputs = [question, chatbot, state, ext_trigger, gen_trigger]
        question.submit(start, [question, mode, state], start_outputs, api_name="ask", concurrency_limit=None,
                        show_progress="hidden")
        chatbot.example_select(start_example, [mode, state], start_outputs, api_visibility="private",
                               concurrency_limit=None, show_progress="hidden")
        # The two answer events differ only in their concurrency: the LLM one is limited to one at
        # a time (one model instance); waiting requests show their queue position on the chat.
        fast_evt = ext_trigger.change(answer_fast, [state], [chatbot, state, source, tabs], api_name="answer",
                                      show_progress="full", show_progress_on=[chatbot])
        llm_evt = gen_trigger.change(answer_llm, [state], [chatbot, state, source, tabs], api_name="answer_llm",
                                     concurrency_limit=1, concurrency_id="llm",
                                     show_progress="full", show_progress_on=[chatbot])
        new_btn.click(new_chat, None, [chatbot, state, source, question], cancels=[fast_evt, llm_evt],
                      api_name="new_chat", concurrency_limit=None, show_progress="hidden")
        # The Chatbot's own trash button clears the display; clear the session's chat with it.
        chatbot.clear(new_chat, None, [chatbot, state, source, question], cancels=[fast_evt, llm_evt],
                      api_visibility="private", concurrency_limit=None, show_progress="hidden")
        source.click(show_source, [state], [source, tabs], api_visibility="private", concurrency_limit=None,
                     show_progress="hidden")
        mode.change(mode_changed, [mode], None, api_visibility="private", concurrency_limit=None,
                    show_progress="hidden")
        files.upload(upload, [files], [upload_status, docs_list, remove_choice, files], api_visibility="private",
                     concurrency_limit=1, concurrency_id="corpus", show_progress="full")
        remove_btn.click(remove, [remove_choice], [upload_status, docs_list, remove_choice],
                         api_visibility="private", concurrency_limit=1, concurrency_id="corpus")
        docs_tab.select(doc_views, None, [docs_list, remove_choice], api_visibility="private",
                        concurrency_limit=None, show_progress="hidden")
        demo.load(doc_views, None, [docs_list, remove_choice], api_visibility="private", concurrency_limit=None,
                  show_progress="hidden")

    demo.queue(default_concurrency_limit=concurrency, max_size=QUEUE_MAX_SIZE)
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
    try:
        assistant.warm()
    except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first LLM answer
        log.exception("LLM warm-up failed; the LLM mode will load on first use")


def serve(host: str = "127.0.0.1", port: int = 7860, auth: str | None = None, index_dir=None,
          *, block: bool = True):
    """Open the index and serve the chat on http://host:port (local only unless host says otherwise)."""
    from qa import Assistant

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    credentials = parse_auth(auth)
    if host not in ("127.0.0.1", "localhost", "::1") and credentials is None:
        log.warning("serving on %s without --auth: anyone who can reach this address can use the chat "
                    "and add or remove documents", host)
    assistant = Assistant.open(index_dir=index_dir)
    upload_dir = default_upload_dir(assistant)
    demo = build_app(assistant, upload_dir=upload_dir)
    log.info("%d documents in %s; uploads are shared by all users and stored in %s",
             len(assistant.documents()), assistant.index_dir.path if assistant.index_dir else "memory", upload_dir)
    try:
        app, local_url, _ = demo.launch(
            server_name=host, server_port=port, auth=credentials, share=False, inbrowser=False,
            prevent_thread_lock=True, show_error=False, ssr_mode=False, quiet=True,
            max_file_size=uploads.MAX_UPLOAD_BYTES, footer_links=["api", "settings"],
            auth_message="citeqa: sign in to ask about the documents." if credentials else None,
            **launch_options(),
        )
    except OSError as exc:
        raise CiteqaError(f"cannot serve on {host}:{port}: {exc}") from exc
    # Load the LLM and read the corpus prompt prefix in the background, so the first LLM question
    # does not pay ~20 s for it; LLM requests that arrive meanwhile wait in the queue.
    threading.Thread(target=_warm, args=(assistant,), name="citeqa-warm", daemon=True).start()
    print(f"citeqa: chat running at {local_url}" + ("" if credentials else " (no sign-in required)")
          + ("" if host in ("127.0.0.1", "localhost", "::1") else f"; reachable from other machines via {host}"),
          flush=True)
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
    serve(a.host, a.port, a.auth, a.index_dir)
