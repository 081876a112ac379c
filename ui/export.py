"""Answers and chats as files to take away: Markdown with footnotes (document, offsets, page, the
quoted text) and JSON (the answers as the QA API returns them).

Every piece of question, answer and document text in the Markdown is escaped with
:func:`md_escape`: a document quoting ``<script>``, ``[a](javascript:…)``, ``**x**`` or a bare
``www.example.com`` stays those characters in any CommonMark/GFM viewer, never markup or a link.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from index.locations import Location
from qa.types import Citation
from ui.render import MARKER

# Backslash-escaping ASCII punctuation is always literal in CommonMark; these are the characters that
# can start markup, HTML, entities, math or (with ':', '.', '@') a GFM autolink.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:&^=@$\"])")
KEEP_EXPORTS_S = 3600.0


def md_escape(text: str) -> str:
    """One line of literal text (whitespace runs collapsed to one space, ends trimmed)."""
    return _escape_run(str(text).strip())


def _escape_run(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text))


def _paragraphs(text: str) -> list[str]:
    return [p for p in (" ".join(block.split()) for block in re.split(r"\n\s*\n", str(text))) if p]


def _answer_text_md(text: str, turn_no: int, n_cites: int) -> str:
    """The answer's paragraphs, escaped, its citation markers as footnote references."""
    out = []
    for para in _paragraphs(text):
        parts, pos = [], 0
        for m in MARKER.finditer(para):
            numbers = [int(x) for x in re.findall(r"\d+", m.group(1))]
            if not all(1 <= n <= n_cites for n in numbers):
                continue  # not a citation marker: stays (escaped) text
            parts.append(_escape_run(para[pos : m.start()]))
            parts.append("".join(f"[^{turn_no}-{n}]" for n in numbers))
            pos = m.end()
        parts.append(_escape_run(para[pos:]))
        out.append("".join(parts).strip())
    return "\n\n".join(out)


def _where(c: dict) -> str:
    loc = c.get("location") or {}
    if loc.get("pages"):
        pages = loc["pages"]
        return f"page {pages[0]}" if len(pages) == 1 else f"pages {pages[0]}–{pages[-1]}"
    return c.get("where") or ""


def turn_markdown(turn: dict, turn_no: int) -> str:
    lines = [f"## {turn_no}\\. {md_escape(turn['question'])}", ""]
    if turn.get("error"):
        return "\n".join([*lines, f"*Could not answer:* {md_escape(turn['error'])}", ""])
    a = turn["answer"]
    cites = a.get("citations", [])
    if a.get("abstained"):
        lines += ["**Not in the documents.** " + md_escape(a["text"]), ""]
    else:
        lines += [_answer_text_md(a["text"], turn_no, len(cites)), ""]
    meta = [{"extractive": "Fast mode (quoted sentences)", "generative": "LLM mode (written answer)"}.get(
        a.get("mode", ""), a.get("mode", ""))]
    if a.get("standalone") and a["standalone"].strip() != turn["question"].strip():
        meta.append("read as: " + a["standalone"])
    if a.get("note"):
        meta.append(a["note"])
    lines += ["*" + md_escape(" · ".join(m for m in meta if m)) + "*", ""]
    for s in a.get("unsupported") or []:
        lines.append(f"- Not supported by the documents: {md_escape(s)}")
    if a.get("unsupported"):
        lines.append("")
    for n, c in enumerate(cites, 1):
        where = _where(c)
        lines.append(f"[^{turn_no}-{n}]: {md_escape(c['doc_id'])}, characters {c['start']}–{c['end']}"
                     + (f", {md_escape(where)}" if where else "") + f": “{md_escape(c['text'])}”")
    if cites:
        lines.append("")
    return "\n".join(lines)


def chat_markdown(title: str, turns, only: int | None = None) -> str:
    """The chat (or only its turn ``only``, 0-based) as Markdown with one footnote per citation."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"# {md_escape(title or 'citeqa chat')}", "",
            f"Exported from citeqa on {stamp}. Each footnote names the cited document, the character offsets "
            "of the quoted span in its text (start–end), its page or paragraph where known, and the quoted "
            "text (line breaks shown as spaces).", ""]
    picked = [(i, t) for i, t in enumerate(turns) if not t.get("provisional") and (only is None or i == only)]
    return "\n".join(head + [turn_markdown(t, i + 1) for i, t in picked])


def answer_json(turn: dict) -> dict:
    """One turn as the QA API's Answer (the shape of ``Answer.to_dict``; citations as ``Citation.to_dict``)."""
    if turn.get("error"):
        return {"question": turn["question"], "error": turn["error"]}
    a = turn["answer"]
    return {
        "question": turn["question"],
        "text": a["text"],
        "abstained": bool(a.get("abstained")),
        "mode": a.get("mode", ""),
        "note": a.get("note", ""),
        "standalone_question": a.get("standalone", ""),
        "unsupported": list(a.get("unsupported") or []),
        "citations": [_citation(c) for c in a.get("citations", [])],
    }


def _citation(c: dict) -> dict:
    """A stored citation in the one JSON shape of the QA API (``Citation.to_dict``, as ``citeqa ask --json``)."""
    loc = c.get("location")
    location = Location(loc.get("page"), tuple(loc.get("pages") or ()), tuple(tuple(b) for b in loc.get("boxes") or ()),
                        loc.get("section"), loc.get("paragraph")) if loc else None
    return Citation(c["doc_id"], c["start"], c["end"], c["text"], c.get("score") or 0.0, location).to_dict()


def chat_json(chat_id: str, title: str, turns, only: int | None = None) -> dict:
    picked = [(i, t) for i, t in enumerate(turns) if not t.get("provisional") and (only is None or i == only)]
    return {"format": "citeqa-chat/1", "chat_id": chat_id, "title": title,
            "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "answers": [{"turn": i + 1, **answer_json(t)} for i, t in picked]}


def file_stem(title: str, only: int | None) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title or "").strip("-").lower()[:40] or "chat"
    return f"citeqa-{slug}" + (f"-answer-{only + 1}" if only is not None else "")


class ExportDir:
    """Export files in a temporary directory of this server; each export in its own subdirectory,
    removed after an hour (Gradio serves its own cached copy meanwhile)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="citeqa-exports-"))
        self.root.mkdir(parents=True, exist_ok=True)

    def write(self, chat_id: str, title: str, turns, only: int | None = None) -> tuple[Path, Path]:
        self._prune()
        d = Path(tempfile.mkdtemp(dir=self.root))
        stem = file_stem(title, only)
        md, js = d / f"{stem}.md", d / f"{stem}.json"
        md.write_text(chat_markdown(title, turns, only), encoding="utf-8")
        js.write_text(json.dumps(chat_json(chat_id, title, turns, only), ensure_ascii=False, indent=2), encoding="utf-8")
        return md, js

    def _prune(self) -> None:
        cutoff = time.time() - KEEP_EXPORTS_S
        for d in self.root.iterdir():
            try:
                if d.stat().st_mtime < cutoff:
                    shutil.rmtree(d, ignore_errors=True)
            except OSError:
                pass
