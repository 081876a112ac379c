"""What the chat's events do, as methods of one object over the Assistant and typed session state.

Asking is two queued events, as in the browser: ``start`` (validate, show the question) sets a
trigger that runs ``answer_fast`` (default concurrency). In LLM mode ``answer_fast`` shows the
quoted answer at once (``Assistant.stream(mode="combined")`` yields it first) and sets a second
trigger that runs ``answer_llm`` (``concurrency_limit=1``: one local model, one answer at a time),
which streams the written answer under the quoted one and replaces it once it passed the checks.

Chats are saved (``ui/chat_store.py``) each time an answer settles; the side panel lists the owner's
chats, and ``side`` refreshes it and the export files (``ui/export.py``) after every chat event.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr

from qa import Answer, CiteqaError, QuestionError, UnknownDocumentError, clean_question
from ui import page_view, render, uploads
from ui.chat_store import CHAT_ID, ChatStore, ChatStoreError, StoredChat, clean_title, new_chat_id, title_from
from ui.export import ExportDir
from ui.session import Pending, Session

log = logging.getLogger("citeqa.ui")

STALE_PENDING_S = 600.0
CANCELLED_NOTE = "Written answer cancelled; the quoted sentences stand."
REPLACED_NOTE = "Written answer cancelled by a newer question; the quoted sentences stand."
DRAFT_REFRESH_S = 0.05  # at most ~20 chat updates a second while the draft streams


def sentence(message: str) -> str:
    """An error message as a sentence: capitalised, ending with a full stop."""
    message = str(message).strip()
    if not message:
        return message
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def _chat_of(request: gr.Request | None) -> str | None:
    """The chat a request comes from, for the model's queue: its browser session (one tab)."""
    return getattr(request, "session_hash", None) or None


class ChatHandlers:
    def __init__(self, assistant, upload_dir: Path, chat_store: ChatStore | None = None,
                 exports: ExportDir | None = None) -> None:
        self.assistant = assistant
        self.upload_dir = upload_dir
        self.chat_store = chat_store
        self.exports = exports or ExportDir()
        self.llm_ok, self.llm_reason = assistant.llm_available()
        # LLM answers queued or being written, all sessions: token -> when queued. A tab closed while its
        # answer waited never runs the LLM event, so entries older than STALE_PENDING_S are dropped.
        self._writing: dict[str, float] = {}
        self._writing_lock = threading.Lock()

    # ------------------------------------------------------------------ asking
    def start(self, question: str, mode: str, state: Session | None, owner: str = "",
              request: gr.Request | None = None):
        """Validate the question and show it; the trigger output starts the answer event. ``owner``
        (from the page load) is whose saved chats these are; the answer events save under it. A written
        answer still queued or being written is cancelled: the newer question replaces it (qa/llm/queue.py)."""
        state = state or Session()
        if owner and not state.owner:
            state = replace(state, owner=owner)
        p = state.pending
        if p and p.turn is not None:  # Gradio has cancelled its event already (``cancels`` in ui/app.py)
            self._cancel_writing(request, p.token, "a newer question from the same chat replaced it")
            state = self._settle(state, {**state.turns[p.turn]["answer"], "note": REPLACED_NOTE})
            p = None
        if p and time.time() - p.since < STALE_PENDING_S:
            gr.Warning("Please wait for the current answer to finish (or start a new chat).")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            q = clean_question(question if isinstance(question, str) else "")
        except QuestionError as exc:
            gr.Warning(sentence(str(exc)))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if self.chat_store and state.owner and len(state.turns) >= self.chat_store.max_turns:
            n = len(state.turns)
            gr.Warning(f"This chat has reached {n} question{'s' if n != 1 else ''}, the most a saved chat holds: "
                       "start a new chat.")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        pending = Pending(q, mode if mode in ("extractive", "generative") else "extractive")
        state = replace(state, pending=pending)
        chat = render.chat_messages(state.turns, q, render.pending_html("Searching the documents…"))
        return "", chat, state, pending.token

    def start_example(self, mode: str, state: Session | None, owner: str, evt: gr.SelectData,
                      request: gr.Request | None = None):
        value = evt.value if isinstance(evt.value, dict) else {"text": str(evt.value)}
        return self.start(value.get("text", ""), mode, state, owner, request)

    def answer_fast(self, state: Session | None):
        """The quoted answer: final in fast mode; in LLM mode shown at once, the written one queued.
        Outputs: chat, state, source panel, tabs, LLM trigger."""
        state = state or Session()
        p = state.pending
        if not p or p.turn is not None:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        t0 = time.perf_counter()
        try:
            quoted = self._quoted(state)
        except Exception as exc:  # noqa: BLE001 - shown as a failed turn, never a traceback
            yield (*self._finish(state, None, self._error_text(exc, p.question), t0), gr.skip())
            return
        if p.mode == "extractive" or quoted.abstained or not self.llm_ok:
            if p.mode == "generative" and not self.llm_ok and not quoted.abstained:
                quoted = replace(quoted, note=f"No written answer: {self.llm_reason}")
            yield (*self._finish(state, quoted, None, t0), gr.skip())
            return
        state, written = self._show_quoted(state, quoted, time.perf_counter() - t0)
        yield (render.chat_messages(state.turns, written=written), state,
               self._source_for(state, state.pending.turn, 1), gr.Tabs(selected="source"), p.token)

    def answer_llm(self, state: Session | None, request: gr.Request | None = None):
        """Stream the written answer under the quoted one; then replace it (or keep the quotes). The tab
        (its session) is the chat of the model's queue: a newer question or a closed tab cancels this answer."""
        state = state or Session()
        p = state.pending
        if not p or p.mode != "generative":
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        t0 = time.perf_counter()
        try:
            if p.turn is None:  # an API client that called /answer_llm directly
                state, _ = self._show_quoted(state, self._quoted(state), 0.0)
            turn = state.pending.turn
            status = self.assistant.llm_status()
            # Written answers run one at a time here, so a busy model is still reading the documents at start-up.
            note = ("Loading the language model (first written answer since the server started)…" if not status["loaded"]
                    else "The language model is reading the documents (once after start-up)…" if status["busy"]
                    else "The language model is writing…")
            yield render.chat_messages(state.turns, written=render.written_wait_html(note)), state, gr.skip(), gr.skip()
            final, draft, shown = None, "", 0.0
            stream = self.assistant.stream(p.question, history=state.history(turn), mode="combined",
                                           chat=_chat_of(request))
            for item in stream:
                if isinstance(item, Answer):
                    final = item  # the first is the quoted answer, already on screen
                    continue
                draft += item
                if time.perf_counter() - shown > DRAFT_REFRESH_S:
                    shown = time.perf_counter()
                    yield (render.chat_messages(state.turns, written=render.written_draft_html(draft)),
                           gr.skip(), gr.skip(), gr.skip())
            if final is None:
                raise CiteqaError("the answer stream ended without an answer")
        except Exception as exc:  # noqa: BLE001 - the quoted answer stays, with what went wrong
            self._done_writing(p.token)
            log.info("written answer failed: %s", exc)
            quoted = state.turns[state.pending.turn]["answer"] if state.pending and state.pending.turn is not None else None
            if quoted is None:
                yield (*self._finish(state, None, self._error_text(exc, p.question), t0)[:2], gr.skip(), gr.skip())
                return
            note = f"No written answer: {sentence(self._error_text(exc, p.question))}"
            new_state = self._settle(state, {**quoted, "note": note})
            yield render.chat_messages(new_state.turns), new_state, gr.skip(), gr.skip()
            return
        self._done_writing(p.token)
        elapsed = time.perf_counter() - t0
        new_state = self._settle(state, render.answer_record(final, elapsed))
        yield render.chat_messages(new_state.turns), new_state, self._source_for(new_state, turn, 1), gr.skip()

    def stop_writing(self, state: Session | None, request: gr.Request | None = None):
        """Cancel the written answer (the event itself is cancelled by Gradio, the model stops at its next
        token); keep the quotes."""
        state = state or Session()
        p = state.pending
        if not p or p.turn is None:
            return gr.skip(), gr.skip()
        self._cancel_writing(request, p.token, "stopped by the user")
        new_state = self._settle(state, {**state.turns[p.turn]["answer"], "note": CANCELLED_NOTE})
        return render.chat_messages(new_state.turns), new_state

    def _quoted(self, state: Session) -> Answer:
        """The quoted answer: the first Answer of the combined stream (the LLM is not touched)."""
        p = state.pending
        mode = "combined" if p.mode == "generative" else "extractive"
        stream = self.assistant.stream(p.question, history=state.history(), mode=mode)
        try:
            return next(item for item in stream if isinstance(item, Answer))
        finally:
            stream.close()

    def _show_quoted(self, state: Session, quoted: Answer, elapsed_s: float) -> tuple[Session, str]:
        """Add the quoted answer as a provisional turn; return the state and the written-answer note."""
        p = state.pending
        rec = render.answer_record(quoted, elapsed_s)
        turns = (*state.turns, {"question": p.question, "answer": rec, "provisional": True})
        state = replace(state, turns=turns, pending=replace(p, turn=len(turns) - 1))
        with self._writing_lock:
            now = time.time()
            self._writing = {t: since for t, since in self._writing.items() if now - since < STALE_PENDING_S}
            self._writing[p.token] = now
            position = len(self._writing)
        status = self.assistant.llm_status()
        if position > 1:
            note = f"Written answer queued, position {position}: the language model writes one answer at a time."
        elif status["busy"]:  # no other written answer is under way: the model is reading the documents
            note = "Written answer next: the language model is reading the documents (once after start-up)…"
        elif not status["loaded"]:
            note = "Written answer: loading the language model…"
        else:
            note = "Written answer coming…"
        return state, render.written_wait_html(note)

    def _done_writing(self, token: str) -> None:
        with self._writing_lock:
            self._writing.pop(token, None)

    def _cancel_writing(self, request: gr.Request | None, token: str, reason: str) -> None:
        """Drop this tab's written answer from the model's queue, or stop it at its next token."""
        self._done_writing(token)
        chat = _chat_of(request)
        if chat is not None:
            self.assistant.cancel(chat, reason)

    def closed(self, request: gr.Request | None = None) -> None:
        """The tab was closed (Gradio's unload): its written answer leaves the model's queue."""
        chat = _chat_of(request)
        if chat is not None and self.assistant.cancel(chat, "the tab was closed"):
            log.info("a closed tab's written answer was cancelled")

    def _settle(self, state: Session, record: dict) -> Session:
        """The provisional turn becomes final with ``record``; nothing is pending any more; saved."""
        turns = list(state.turns)
        i = state.pending.turn
        turns[i] = {"question": turns[i]["question"], "answer": record}
        return self._save(replace(state, turns=tuple(turns), pending=None))

    def _save(self, state: Session) -> Session:
        """Save the chat of a session with an owner; a refusal (limits) is a warning, the chat goes on."""
        if not (self.chat_store and state.owner and state.turns):
            return state
        title = state.title or title_from(state.turns[0]["question"])
        chat = StoredChat(state.chat_id, title, state.turns, created=state.created or time.time())
        try:
            saved = self.chat_store.save(state.owner, chat)
        except ChatStoreError as exc:
            gr.Warning(f"This chat is not saved: {sentence(str(exc))}")
            return replace(state, title=title)
        except OSError as exc:
            log.error("saving chat %s failed", state.chat_id, exc_info=exc)
            gr.Warning("This chat could not be saved on the server (see its log).")
            return replace(state, title=title)
        return replace(state, title=saved.title, created=saved.created)

    def _finish(self, state: Session, answer: Answer | None, error: str | None, t0: float):
        """(chat, state, source, tabs) once a question is answered (or failed) in one step."""
        q = state.pending.question
        if error is not None:
            turn = {"question": q, "error": sentence(error)}
        else:
            turn = {"question": q, "answer": render.answer_record(answer, time.perf_counter() - t0)}
        new_state = self._save(replace(state, turns=(*state.turns, turn), pending=None))
        source, tab = gr.skip(), gr.skip()
        if error is None and turn["answer"]["citations"]:
            source, tab = self._source_for(new_state, len(new_state.turns) - 1, 1), gr.Tabs(selected="source")
        return render.chat_messages(new_state.turns), new_state, source, tab

    @staticmethod
    def _error_text(exc: Exception, question: str) -> str:
        if isinstance(exc, CiteqaError):
            return str(exc)
        log.error("answering %r failed", question, exc_info=exc)
        return f"Something went wrong while answering ({type(exc).__name__}). Please try again."

    # ------------------------------------------------------------------ sources and chat
    def _source_for(self, state: Session, turn: int, n: int) -> str:
        turns = state.turns
        if not (0 <= turn < len(turns)) or turns[turn].get("error"):
            return render.source_message("That citation belongs to a chat that is no longer shown.")
        cites = turns[turn]["answer"]["citations"]
        if not (1 <= n <= len(cites)):
            return render.source_message("Unknown citation.")
        c = cites[n - 1]
        try:
            text = self.assistant.document_text(c["doc_id"])
        except (UnknownDocumentError, KeyError):
            return render.source_message(f"The document {c['doc_id']} has been removed from the corpus since this answer.")
        stale = text[c["start"] : c["end"]] != c["text"]
        page = page_view.page_html(self.assistant.corpus.document(c["doc_id"]), c["start"], c["end"], stale)
        return render.source_html(c["doc_id"], text, turn, n, cites, stale=stale, page=page)

    def show_source(self, state: Session | None, evt: gr.EventData):
        data = getattr(evt, "_data", None) or {}
        try:
            turn, n = int(data.get("turn")), int(data.get("n"))
        except (TypeError, ValueError):
            return gr.skip(), gr.skip()
        return self._source_for(state or Session(), turn, n), gr.Tabs(selected="source")

    def new_chat(self, state: Session | None, request: gr.Request | None = None):
        if state and state.pending:
            self._cancel_writing(request, state.pending.token, "a new chat was started")
        return [], Session(), render.SOURCE_PLACEHOLDER, ""

    # ------------------------------------------------------------------ saved chats and exports
    def restore(self, browser_id, state: Session | None, request: gr.Request | None = None):
        """On page load: whose chats these are (the signed-in user, else this browser's id) and the
        most recent one, unless a question was asked meanwhile. Outputs: browser id, owner, state, chat."""
        if not isinstance(browser_id, str) or not CHAT_ID.fullmatch(browser_id):
            browser_id = new_chat_id()
        user = getattr(request, "username", None) if request is not None else None
        owner = (f"user:{user}" if user else f"browser:{browser_id}") if self.chat_store else ""
        if not owner or (state and (state.turns or state.pending)):
            return browser_id, owner, gr.skip(), gr.skip()
        for c in self._list(owner):
            try:
                restored = self._session_of(owner, self.chat_store.load(owner, c.chat_id))
            except ChatStoreError as exc:
                gr.Warning(sentence(str(exc)))
                continue
            return browser_id, owner, restored, render.chat_messages(restored.turns)
        return browser_id, owner, gr.skip(), gr.skip()

    def _list(self, owner: str):
        chats, problems = self.chat_store.list_chats(owner)
        for msg in problems:
            gr.Warning(sentence(msg))
        return chats

    @staticmethod
    def _session_of(owner: str, chat: StoredChat) -> Session:
        return Session(turns=chat.turns, chat_id=chat.chat_id, owner=owner, title=chat.title, created=chat.created)

    def side(self, state: Session | None, owner: str, choice):
        """The side panel (saved chats) and the export files after a chat event.
        Outputs: chat list, list note, rename box, export choice, Markdown file, JSON file."""
        state = state or Session()
        owner = state.owner or owner
        if not (self.chat_store and owner):
            chats_upd, note = gr.update(choices=[], value=None), ("Chats are not saved on this server (no index "
                                                                 "directory)." if not self.chat_store else "")
        else:
            chats = self._list(owner)
            values = {c.chat_id for c in chats}
            chats_upd = gr.update(choices=[(c.title, c.chat_id) for c in chats],
                                  value=state.chat_id if state.chat_id in values else None)
            note = (f"{len(chats)} saved chat{'s' if len(chats) != 1 else ''}, kept on this server for "
                    + ("you." if owner.startswith("user:") else "this browser."))
        settled = [i for i, t in enumerate(state.turns) if not t.get("provisional")]
        choices = [("Whole chat", "all")] + [
            (f"Answer {i + 1}: {title_from(state.turns[i]['question'])}", str(i)) for i in settled]
        choice = choice if choice in {v for _, v in choices} else "all"
        md, js = self._export(state, choice)
        return chats_upd, note, gr.update(value=state.title), gr.update(choices=choices, value=choice), md, js

    def export_files(self, state: Session | None, choice):
        return self._export(state or Session(), choice)

    def _export(self, state: Session, choice):
        settled = [t for t in state.turns if not t.get("provisional")]
        if not settled or state.pending:
            off = gr.update(value=None, interactive=False)
            return off, off
        only = int(choice) if isinstance(choice, str) and choice.isdigit() and int(choice) < len(state.turns) else None
        title = state.title or title_from(state.turns[0]["question"])
        md, js = self.exports.write(state.chat_id, title, state.turns, only)
        return gr.update(value=str(md), interactive=True), gr.update(value=str(js), interactive=True)

    def open_chat(self, chat_id, state: Session | None, owner: str, request: gr.Request | None = None):
        """Show a saved chat (chosen in the side panel). Outputs: chat, state, source, question."""
        state = state or Session()
        if not (self.chat_store and owner) or not chat_id or chat_id == state.chat_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            chat = self.chat_store.load(owner, chat_id)
        except ChatStoreError as exc:
            gr.Warning(sentence(str(exc)))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if state.pending:
            self._cancel_writing(request, state.pending.token, "another chat was opened")
        new_state = self._session_of(owner, chat)
        return render.chat_messages(new_state.turns), new_state, render.SOURCE_PLACEHOLDER, ""

    def rename_chat(self, title, state: Session | None, owner: str):
        state = state or Session()
        if owner and not state.owner:
            state = replace(state, owner=owner)
        try:
            title = clean_title(title)
        except ChatStoreError as exc:
            gr.Warning(sentence(str(exc)))
            return gr.skip()
        new_state = replace(state, title=title)
        if self.chat_store and state.owner and any(not t.get("provisional") for t in state.turns):
            new_state = self._save(new_state)
        gr.Info(f"Renamed to “{title}”.")
        return new_state

    def delete_chat(self, state: Session | None, owner: str):
        """Delete the chat shown (from this server's disk) and start a new one."""
        state = state or Session()
        if self.chat_store and owner:
            try:
                self.chat_store.delete(owner, state.chat_id)
            except (ChatStoreError, OSError) as exc:
                gr.Warning(sentence(f"could not delete this chat: {exc}"))
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            if state.turns:
                gr.Info("Chat deleted.")
        return self.new_chat(state)

    def mode_changed(self, mode: str) -> None:
        if mode == "generative" and not self.llm_ok:
            gr.Warning(sentence(self.llm_reason) + " Answers will quote the documents only.")
        elif mode == "generative" and self.assistant.llm_status()["busy"]:
            gr.Info("The language model is busy: quoted answers come at once, written ones wait their turn.")

    # ------------------------------------------------------------------ corpus management
    def doc_views(self):
        docs = self.assistant.documents()
        choices = sorted(d.doc_id for d in docs)
        return render.documents_html(docs, str(self.upload_dir.resolve())), gr.update(choices=choices, value=None)

    def upload(self, files, progress=gr.Progress(track_tqdm=True)):  # shows the OCR bar per page (index/ocr.py)
        paths = [f if isinstance(f, str) else getattr(f, "name", None) for f in (files or [])]
        paths = [p for p in paths if p]
        if not paths:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        result = uploads.add_uploads(self.assistant, self.upload_dir, paths, progress=progress)
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
        docs_html, dd = self.doc_views()
        return "".join(lines), docs_html, dd, None

    def remove(self, doc_id):
        if not doc_id:
            gr.Warning("Choose a document to remove first.")
            return gr.skip(), gr.skip(), gr.skip()
        status = f'<div class="cq-status-ok">Removed {render.esc(doc_id)}.</div>'
        try:
            uploads.remove_document(self.assistant, self.upload_dir, doc_id)
        except (UnknownDocumentError, KeyError):
            msg = f"{doc_id} is not in the corpus (someone may have removed it already)."
            gr.Warning(msg)
            status = f'<div class="cq-status-err">{render.esc(msg)}</div>'
        except CiteqaError as exc:
            gr.Warning(sentence(str(exc)))
            return gr.skip(), gr.skip(), gr.skip()
        docs_html, dd = self.doc_views()
        return status, docs_html, dd
