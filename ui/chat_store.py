"""Saved chats on disk: ``<index_dir>/chats/<owner-hash>/<chat-id>.json``, one JSON file per chat.

An owner is whoever the chats belong to: ``user:<name>`` with ``--auth``, else ``browser:<id>``
(a random id the browser keeps). Its directory name is a hash, so no owner string ever becomes a
path; chat ids must be 32 hex digits. Writes are atomic (temporary file, fsync, ``os.replace``);
limits on turns, chats and bytes refuse with a :class:`ChatLimitError`; a file that cannot be read
is renamed ``*.damaged`` and reported, never raised past the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from qa import CiteqaError

FORMAT = 1
CHAT_ID = re.compile(r"[0-9a-f]{32}")
MAX_TITLE_CHARS = 120


class ChatStoreError(CiteqaError):
    """A chat cannot be read or written (bad id, unknown chat)."""


class ChatLimitError(ChatStoreError):
    """Saving would exceed a size limit."""


@dataclass(frozen=True)
class StoredChat:
    chat_id: str
    title: str
    turns: tuple[dict, ...]
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ChatSummary:
    chat_id: str
    title: str
    updated: float
    n_turns: int


def new_chat_id() -> str:
    return uuid.uuid4().hex


def check_chat_id(chat_id: str) -> str:
    if not isinstance(chat_id, str) or not CHAT_ID.fullmatch(chat_id):
        raise ChatStoreError(f"not a chat id: {str(chat_id)[:40]!r}")
    return chat_id


def title_from(question: str) -> str:
    title = " ".join(str(question).split())
    return title if len(title) <= 60 else title[:59].rstrip() + "…"


def clean_title(title: str) -> str:
    title = " ".join(str(title or "").split())
    if not title:
        raise ChatStoreError("the chat name is empty")
    if len(title) > MAX_TITLE_CHARS:
        raise ChatStoreError(f"the chat name is {len(title)} characters long; the limit is {MAX_TITLE_CHARS}")
    return title


def owner_dir_name(owner: str) -> str:
    if not owner:
        raise ChatStoreError("chats without an owner are not stored")
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:32]


class ChatStore:
    """Chats per owner under ``root``; safe to share between threads of one server."""

    def __init__(self, root: str | os.PathLike, *, max_turns: int = 200, max_chats: int = 200,
                 max_bytes: int = 2_000_000) -> None:
        self.root = Path(root)
        self.max_turns, self.max_chats, self.max_bytes = max_turns, max_chats, max_bytes
        self._lock = threading.Lock()
        # The side panel lists an owner's chats after every chat event: a file is parsed again only when it changed.
        self._summaries: dict[Path, tuple[tuple[int, int], ChatSummary]] = {}

    def _dir(self, owner: str) -> Path:
        return self.root / owner_dir_name(owner)

    def _path(self, owner: str, chat_id: str) -> Path:
        return self._dir(owner) / f"{check_chat_id(chat_id)}.json"

    # ------------------------------------------------------------------ reading
    def list_chats(self, owner: str) -> tuple[list[ChatSummary], list[str]]:
        """The owner's chats, most recently updated first, and a message per damaged file set aside."""
        d = self._dir(owner)
        if not d.is_dir():
            return [], []
        out, problems = [], []
        for p in d.glob("*.json"):
            if not CHAT_ID.fullmatch(p.stem):
                continue
            try:
                st = p.stat()
                stamp = (st.st_mtime_ns, st.st_size)
                known = self._summaries.get(p)
                if known is None or known[0] != stamp:
                    chat = self._read(p)
                    known = stamp, ChatSummary(chat.chat_id, chat.title, chat.updated, len(chat.turns))
                    self._summaries[p] = known
            except FileNotFoundError:  # deleted meanwhile (another tab)
                continue
            except ChatStoreError as exc:
                problems.append(str(exc))
                continue
            out.append(known[1])
        out.sort(key=lambda c: c.updated, reverse=True)
        return out, problems

    def load(self, owner: str, chat_id: str) -> StoredChat:
        p = self._path(owner, chat_id)
        if not p.is_file():
            raise ChatStoreError("that chat no longer exists (deleted in another tab?)")
        return self._read(p)

    def _read(self, p: Path) -> StoredChat:
        try:
            if p.stat().st_size > self.max_bytes:
                raise ValueError(f"larger than {self.max_bytes} bytes")
            data = json.loads(p.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("id") != p.stem:
                raise ValueError("unknown format or id")
            turns = tuple(data["turns"])
            if not all(isinstance(t, dict) and isinstance(t.get("question"), str)
                       and (isinstance(t.get("answer"), dict) or isinstance(t.get("error"), str)) for t in turns):
                raise ValueError("malformed turns")
            return StoredChat(p.stem, str(data["title"]), turns, float(data["created"]), float(data["updated"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = p.with_suffix(".damaged")
            try:
                os.replace(p, aside)
            except OSError:
                pass
            raise ChatStoreError(f"a saved chat could not be read ({type(exc).__name__}: {exc}) and was set "
                                 f"aside as {aside.name}") from exc

    # ------------------------------------------------------------------ writing
    def save(self, owner: str, chat: StoredChat) -> StoredChat:
        """Write ``chat`` (its provisional turns left out); returns it with ``updated`` set."""
        turns = tuple(t for t in chat.turns if not t.get("provisional"))
        if len(turns) > self.max_turns:
            raise ChatLimitError(f"this chat has {len(turns)} questions; a saved chat holds at most {self.max_turns}: "
                                 "start a new chat")
        chat = StoredChat(chat.chat_id, clean_title(chat.title), turns, chat.created, time.time())
        body = json.dumps({"format": FORMAT, "id": chat.chat_id, "title": chat.title, "created": chat.created,
                           "updated": chat.updated, "turns": list(turns)}, ensure_ascii=False).encode("utf-8")
        if len(body) > self.max_bytes:
            raise ChatLimitError(f"this chat is {len(body):,} bytes; a saved chat holds at most {self.max_bytes:,}: "
                                 "start a new chat")
        path = self._path(owner, chat.chat_id)
        with self._lock:
            if not path.exists() and sum(1 for _ in path.parent.glob("*.json")) >= self.max_chats:
                raise ChatLimitError(f"you have {self.max_chats} saved chats, the most kept: delete some to save new ones")
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, body)
        return chat

    def rename(self, owner: str, chat_id: str, title: str) -> StoredChat:
        title = clean_title(title)
        chat = self.load(owner, chat_id)
        return self.save(owner, StoredChat(chat.chat_id, title, chat.turns, chat.created))

    def delete(self, owner: str, chat_id: str) -> None:
        path = self._path(owner, chat_id)
        self._summaries.pop(path, None)
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _atomic_write(path: Path, body: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def browser_secret(root: str | os.PathLike) -> str:
    """A secret kept beside the chats, so the browser's stored id still decrypts after a restart."""
    p = Path(root) / ".browser-secret"
    try:
        secret = p.read_text(encoding="ascii").strip()
        if re.fullmatch(r"[0-9a-f]{32}", secret):
            return secret
    except OSError:
        pass
    Path(root).mkdir(parents=True, exist_ok=True)
    secret = uuid.uuid4().hex
    _atomic_write(p, secret.encode("ascii"))
    os.chmod(p, 0o600)
    return secret
