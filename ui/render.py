"""HTML for the chat UI, built by hand with every piece of user, document and answer text escaped.

Nothing here trusts the Chatbot's sanitiser or the Markdown renderer: answer text, questions,
document names and document text all go through :func:`esc`, so a document containing
``<script>`` or ``<img onerror=...>`` is shown as those characters, never run.

:func:`esc` also escapes ``$ { } `` and the backtick: ``gr.HTML`` evaluates its ``html_template``
as a JavaScript template string (and a Handlebars template). The value itself is not re-evaluated
with the default ``${value}`` template, but escaping these characters keeps document text inert
even if a template ever changes.

Citation markers carry their (turn, n) in a class name (``cq-ref-<turn>-<n>``) because the
Chatbot's sanitiser strips ``data-*`` attributes; the click handler in ``ui/app.py`` reads it.
"""

from __future__ import annotations

import html
import re
from typing import Any

_EXTRA = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"})
# Markers as the QA layer writes them: [1], [1][2], and, defensively, [1, 2].
MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
# While an LLM answer streams in, its markers still number the prompt's sentences, not the final
# citations; they are hidden until the grounded answer replaces the draft.
_DRAFT_MARKER = re.compile(r"\s*\[\s*(?:(?:source|sentence|sent\.?|doc(?:ument)?|ref)\s*)?\d[\d\s,;\-\u2013and]*\]|\s*\[[^\]\n]{0,30}$",
                           re.IGNORECASE)
MODE_LABELS = {"extractive": "Fast mode", "generative": "LLM mode"}
# Above this size the source panel shows a window around the clicked span, not the whole document.
FULL_DOCUMENT_CHARS = 150_000
WINDOW_CHARS = 40_000


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True).translate(_EXTRA)


# ----------------------------------------------------------------------------- session data
def answer_record(answer, elapsed_s: float) -> dict:
    """The JSON-able part of a qa.Answer kept in the per-session state."""
    return {
        "text": answer.text,
        "abstained": bool(answer.abstained),
        "citations": [{"doc_id": c.doc_id, "start": c.start, "end": c.end, "text": c.text, "score": c.score,
                       "where": c.location.describe() if getattr(c, "location", None) else "",
                       "location": location_record(getattr(c, "location", None))}
                      for c in answer.citations],
        "unsupported": list(answer.unsupported or []),
        "mode": answer.mode,
        "note": answer.note,
        "standalone": answer.standalone_question or "",
        "seconds": round(elapsed_s, 3),
    }


def location_record(location) -> dict | None:
    """A citation's Location as JSON (pages, boxes, DOCX section and paragraph), None for plain text."""
    if location is None:
        return None
    return {"page": location.page, "pages": list(location.pages), "boxes": [list(b) for b in location.boxes],
            "section": location.section, "paragraph": location.paragraph}


# ----------------------------------------------------------------------------- chat messages
def user_html(question: str) -> str:
    return f'<div class="cq-q">{esc(question)}</div>'


def pending_html(note: str) -> str:
    return (f'<div class="cq-answer cq-pending"><span class="cq-dots"><i></i><i></i><i></i></span>'
            f'<span class="cq-pending-note">{esc(note)}</span></div>')


def error_html(message: str) -> str:
    return (f'<div class="cq-answer cq-error"><div class="cq-badge cq-badge-error">Could not answer</div>'
            f'<div class="cq-text">{esc(message)}</div></div>')


def _cite_title(c: dict) -> str:
    where = f" · {c['where']}" if c.get("where") else ""
    return f"{c['doc_id']}{where} · characters {c['start']}–{c['end']}"


def marker_html(turn: int, n: int, c: dict) -> str:
    return (f'<span class="cq-cite cq-marker cq-ref-{turn}-{n}" role="button" tabindex="0" '
            f'title="{esc(_cite_title(c))} · click to show">{n}</span>')


def _unsupported_ranges(text: str, unsupported: list[str]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for sent in unsupported:
        sent = sent.strip()
        if not sent:
            continue
        pos = 0
        while (i := text.find(sent, pos)) >= 0:
            if all(i >= e or i + len(sent) <= s for s, e in ranges):
                ranges.append((i, i + len(sent)))
                break
            pos = i + 1
    return sorted(ranges)


def _text_with_markers(text: str, turn: int, citations: list[dict]) -> str:
    out, pos = [], 0
    for m in MARKER.finditer(text):
        numbers = [int(x) for x in re.findall(r"\d+", m.group(1))]
        if not all(1 <= n <= len(citations) for n in numbers):
            continue  # not one of our markers: leave it as text
        out.append(esc(text[pos : m.start()]))
        out.append("".join(marker_html(turn, n, citations[n - 1]) for n in numbers))
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def written_wait_html(note: str) -> str:
    """Under a quoted answer: the written answer is queued or the model is loading."""
    return (f'<div class="cq-written cq-written-wait"><span class="cq-dots"><i></i><i></i><i></i></span>'
            f'<span class="cq-written-note">{esc(note)}</span></div>')


def written_draft_html(partial: str) -> str:
    """Under a quoted answer: the LLM's draft as it streams (its markers hidden until it is checked)."""
    partial = _DRAFT_MARKER.sub("", partial)
    return (f'<div class="cq-written cq-streaming"><div class="cq-written-label">Written answer · being checked</div>'
            f'<div class="cq-text">{esc(partial)}<span class="cq-cursor"></span></div></div>')


def provisional_html(turn: int, rec: dict, written: str) -> str:
    """The quoted answer, shown at once with clickable citations, and the written answer's progress."""
    return answer_html(turn, rec, extra_class="cq-provisional", footer=written)


def answer_html(turn: int, rec: dict, extra_class: str = "", footer: str = "") -> str:
    mode = MODE_LABELS.get(rec.get("mode", ""), rec.get("mode", ""))
    secs = float(rec.get("seconds", 0) or 0)
    meta = [mode, f"{secs * 1000:.0f} ms" if secs < 1 else f"{secs:.1f} s"]
    if rec.get("note"):
        meta.append(rec["note"])
    standalone, question = rec.get("standalone", ""), rec.get("question", "")
    interpreted = ""
    if standalone and standalone.strip() != question.strip():
        interpreted = f'<div class="cq-interpreted">Read as: <q class="cq-standalone">{esc(standalone)}</q></div>'
    if rec.get("abstained"):
        return (f'<div class="cq-answer cq-abstained"><div class="cq-badge cq-badge-abstain">Not in the documents</div>'
                f'<div class="cq-text">{esc(rec["text"])}</div>{interpreted}'
                f'<div class="cq-meta">{esc(" · ".join(meta))}</div>{footer}</div>')
    text, cites = rec["text"], rec["citations"]
    body, pos = [], 0
    for s, e in _unsupported_ranges(text, rec.get("unsupported", [])):
        body.append(_text_with_markers(text[pos:s], turn, cites))
        body.append(f'<span class="cq-unsupported" title="No cited passage supports this sentence">'
                    f'{_text_with_markers(text[s:e], turn, cites)}</span>'
                    f'<span class="cq-flag" title="No cited passage supports this sentence">unsupported</span>')
        pos = e
    body.append(_text_with_markers(text[pos:], turn, cites))
    sources = "".join(
        f'<span class="cq-cite cq-chip cq-ref-{turn}-{n}" role="button" tabindex="0" title="{esc(_cite_title(c))}">'
        f'<b>{n}</b> {esc(c["doc_id"])} <small>{c["start"]}–{c["end"]}</small></span>'
        for n, c in enumerate(cites, 1))
    unsupported_note = ""
    if rec.get("unsupported"):
        k = len(rec["unsupported"])
        unsupported_note = (f'<div class="cq-warn">{k} sentence{"s" if k > 1 else ""} of this answer '
                            f'{"are" if k > 1 else "is"} not supported by the documents (marked).</div>')
    sources_block = f'<div class="cq-sources"><span class="cq-sources-label">Sources</span>{sources}</div>' if cites else ""
    badge = '<div class="cq-badge cq-badge-quoted">Quoted sentences</div>' if extra_class == "cq-provisional" else ""
    return (f'<div class="cq-answer {extra_class}">{badge}<div class="cq-text">{"".join(body)}</div>{unsupported_note}'
            f'{sources_block}{interpreted}<div class="cq-meta">{esc(" · ".join(meta))}</div>{footer}</div>')


def chat_messages(turns, pending_question: str | None = None, pending_body: str | None = None,
                  written: str = "") -> list[dict]:
    """The Chatbot value (messages format) for a session's turns, plus the question being answered.
    A provisional turn (quoted answer, written answer to come) shows ``written`` under it."""
    msgs: list[dict] = []
    for i, t in enumerate(turns):
        msgs.append({"role": "user", "content": user_html(t["question"])})
        if t.get("error"):
            body = error_html(t["error"])
        elif t.get("provisional"):
            body = provisional_html(i, {**t["answer"], "question": t["question"]}, written)
        else:
            body = answer_html(i, {**t["answer"], "question": t["question"]})
        msgs.append({"role": "assistant", "content": body})
    if pending_question is not None:
        msgs.append({"role": "user", "content": user_html(pending_question)})
        msgs.append({"role": "assistant", "content": pending_body or pending_html("Searching the documents…")})
    return msgs


# ----------------------------------------------------------------------------- source panel
SOURCE_PLACEHOLDER = (
    '<div class="cq-src cq-src-empty"><div class="cq-src-empty-icon">“ ”</div>'
    "<p>Click a citation number in an answer to see the passage highlighted in its document.</p></div>"
)


def source_message(message: str) -> str:
    return f'<div class="cq-src cq-src-empty"><p>{esc(message)}</p></div>'


def _segments(start: int, end: int, spans: list[tuple[int, int, int]], active: int) -> list[tuple[int, int, set[int]]]:
    """Split [start, end) at every span boundary; each piece with the citation numbers covering it."""
    cuts = {start, end}
    for s, e, _ in spans:
        cuts.update(x for x in (s, e) if start < x < end)
    points = sorted(cuts)
    out = []
    for a, b in zip(points, points[1:]):
        cover = {n for s, e, n in spans if s <= a and b <= e}
        out.append((a, b, cover))
    return out


def source_html(doc_id: str, text: str, turn: int, n: int, citations: list[dict], stale: bool = False,
                page: str = "") -> str:
    """The cited document with every span this answer cites in it highlighted, [n] emphasised;
    ``page`` is the PDF page view of the clicked citation (ui/page_view.py), shown above the text,
    and the section path of the clicked citation ("2 Usage > 2.1 Options") above that text."""
    active = citations[n - 1]
    spans = [(c["start"], c["end"], k) for k, c in enumerate(citations, 1) if c["doc_id"] == doc_id]
    lo, hi = 0, len(text)
    clipped_note_before = clipped_note_after = ""
    if len(text) > FULL_DOCUMENT_CHARS:
        lo, hi = max(0, active["start"] - WINDOW_CHARS), min(len(text), active["end"] + WINDOW_CHARS)
        if lo:
            clipped_note_before = f'<div class="cq-clip">… {lo:,} earlier characters not shown …</div>'
        if hi < len(text):
            clipped_note_after = f'<div class="cq-clip">… {len(text) - hi:,} later characters not shown …</div>'
    spans_in = [(max(s, lo), min(e, hi), k) for s, e, k in spans if s < hi and e > lo]
    parts, opened = [], set()
    for a, b, cover in _segments(lo, hi, spans_in, n):
        piece = esc(text[a:b])
        if not cover:
            parts.append(piece)
            continue
        classes = ["cq-hl"]
        if n in cover:
            classes.append("cq-active")
        first = min(cover)
        label = ""
        if first not in opened:
            opened.add(first)
            classes.append("cq-hl-start")
            label = f' data-n="{first}"'
        nums = ", ".join(f"[{k}]" for k in sorted(cover))
        parts.append(f'<mark class="{" ".join(classes)}"{label} title="cited as {nums}">{piece}</mark>')
    chips = "".join(
        f'<span class="cq-cite cq-chip cq-ref-{turn}-{k}{" cq-chip-active" if k == n else ""}" role="button" '
        f'tabindex="0" title="{esc(_cite_title(c))}"><b>{k}</b> {esc(c["doc_id"])}</span>'
        for k, c in enumerate(citations, 1))
    same_doc = len(spans)
    section = (active.get("location") or {}).get("section")
    section_html = (f'<div class="cq-src-section" title="section of the cited passage">{esc(section)}</div>'
                    if section else "")
    stale_note = ('<div class="cq-warn">This document changed after the answer was written; '
                  "the highlighted offsets may no longer match.</div>") if stale else ""
    return (
        '<div class="cq-src">'
        '<div class="cq-src-head">'
        f'<div class="cq-src-title"><span class="cq-src-icon"></span><span class="cq-doc-name">{esc(doc_id)}</span></div>'
        f'<div class="cq-src-sub">Citation <b class="cq-src-n">[{n}]</b> · characters '
        f'<span class="cq-off-start">{active["start"]}</span>–<span class="cq-off-end">{active["end"]}</span>'
        f' of {len(text):,} · {same_doc} cited passage{"s" if same_doc != 1 else ""} highlighted in this document</div>'
        f'<div class="cq-src-chips">{chips}</div>{stale_note}</div>{page}{section_html}'
        f'<div class="cq-src-body">{clipped_note_before}<div class="cq-doc-text">{"".join(parts)}</div>{clipped_note_after}</div>'
        "</div>"
    )


# ----------------------------------------------------------------------------- corpus list
def documents_html(docs: list, upload_dir: str | None) -> str:
    if not docs:
        return '<div class="cq-docs cq-docs-empty">No documents yet: upload one below.</div>'
    rows = []
    for d in sorted(docs, key=lambda d: d.doc_id.lower()):
        uploaded = bool(upload_dir and d.source and str(d.source).startswith(str(upload_dir)))
        origin = "uploaded" if uploaded else ("built in" if d.source else "in memory")
        rows.append(
            f'<tr><td class="cq-doc-id" title="{esc(d.doc_id)}">{esc(d.doc_id)}</td>'
            f"<td>{d.n_sentences:,}</td><td>{d.n_chars:,}</td><td><span class='cq-origin cq-origin-{origin.replace(' ', '-')}'>"
            f"{esc(origin)}</span></td></tr>")
    total = sum(d.n_chars for d in docs)
    return (f'<div class="cq-docs"><div class="cq-docs-sum">{len(docs)} document{"s" if len(docs) != 1 else ""} · '
            f'{total:,} characters</div><table><thead><tr><th>Document</th><th>Sentences</th><th>Characters</th>'
            f'<th></th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
