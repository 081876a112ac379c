"""Saved chats and downloads in Debian's Chromium: an answer downloads as Markdown (cited text and
offsets) and JSON; the chat survives a page reload and a server restart on the same index directory,
listed in the side panel; renaming and deleting work. Same server and browser set-up as test_ui_browser.py."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
from test_ui_browser import ANSWERED, CHROMIUM, CHROMIUM_ARGS, SEED_DOC, _ask, _chat_questions

from conftest import ROOT, free_port, serving


@contextlib.contextmanager
def _serving_on(index_dir: Path, port: int):
    """`citeqa serve` on ``port`` (the browser's saved id is per origin: a restart must keep the port)."""
    with serving(index_dir, port=port) as srv:
        yield srv["url"]
    log = srv["log"].read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def _unescape_md(text: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def _saved_chats(page) -> list[str]:
    return [t.strip() for t in page.locator("#cq-chats label").all_inner_texts()]


def _download(page, selector: str) -> str:
    page.wait_for_selector(f"{selector}:not([disabled])", timeout=30_000)
    with page.expect_download(timeout=30_000) as d:
        page.click(selector)
    return Path(d.value.path()).read_text(encoding="utf-8")


def _open_page(page, url: str) -> None:
    """Load the page and wait until it knows whose chats to show (the side panel says so)."""
    page.goto(url)
    page.wait_for_selector("#cq-question textarea")
    page.wait_for_function("() => (document.querySelector('#cq-chats-note') || {}).textContent"
                           "?.includes('kept on this server')")


def _wait_chat(page, questions: list[str]) -> None:
    page.wait_for_function(
        "qs => JSON.stringify([...document.querySelectorAll('#cq-chat .cq-q')].map(q => q.textContent.trim())) "
        "=== JSON.stringify(qs)", arg=questions, timeout=60_000)


def test_answers_download_and_chats_survive_reload_and_restart(tmp_path_factory, seed_text):
    sync_api = pytest.importorskip("playwright.sync_api")
    index_dir = tmp_path_factory.mktemp("chats-index")
    port = free_port()
    (ROOT / "test-output").mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        try:
            with _serving_on(index_dir, port) as url:
                _open_page(page, url)
                _ask(page, "Who sent the letter?")
                page.wait_for_function("() => document.querySelectorAll('#cq-chats label').length === 1")
                assert _saved_chats(page) == ["Who sent the letter?"]

                data = json.loads(_download(page, "#cq-dl-json"))
                (answer,) = data["answers"]
                assert answer["question"] == "Who sent the letter?" and not answer["abstained"]
                assert answer["citations"] and answer["mode"] == "extractive"
                md = _download(page, "#cq-dl-md")
                plain = _unescape_md(md)
                for n, c in enumerate(answer["citations"], 1):
                    assert c["doc_id"] == SEED_DOC and seed_text[c["start"]:c["end"]] == c["text"]
                    assert f"characters {c['start']}–{c['end']}" in md
                    assert f"[^1-{n}]: {SEED_DOC}, characters {c['start']}–{c['end']}: “{' '.join(c['text'].split())}”" in plain
                    assert f"[^1-{n}]" in plain.split("\n[^1-1]:")[0]  # referenced from the answer text

                page.reload()
                page.wait_for_function("() => (document.querySelector('#cq-chats-note') || {}).textContent"
                                       "?.includes('kept on this server')")
                _wait_chat(page, ["Who sent the letter?"])
                assert page.locator(ANSWERED).count() == 1
                assert _saved_chats(page) == ["Who sent the letter?"]

                page.click("#cq-new-chat")
                _wait_chat(page, [])
                _ask(page, "Who is the Defence Secretary?")
                page.wait_for_function("() => document.querySelectorAll('#cq-chats label').length === 2")
                page.fill("#cq-rename textarea, #cq-rename input", "Defence <b>notes</b>")
                page.click("#cq-rename-btn")
                page.wait_for_function("() => [...document.querySelectorAll('#cq-chats label')]"
                                       ".some(l => l.textContent.includes('Defence <b>notes</b>'))")
                assert page.locator("#cq-chats b").count() == 0  # the name is text, not markup
            owner_dirs = list((index_dir / "chats").iterdir())
            assert [len(list(d.glob("*.json"))) for d in owner_dirs if d.is_dir()] == [2]

            with _serving_on(index_dir, port) as url:  # a restart: same index directory, same address
                _open_page(page, url)
                _wait_chat(page, ["Who is the Defence Secretary?"])  # the most recent chat is shown
                page.wait_for_function("() => document.querySelectorAll('#cq-chats label').length === 2")
                assert _saved_chats(page) == ["Defence <b>notes</b>", "Who sent the letter?"]
                page.locator("#cq-chats label", has_text="Who sent the letter?").click()
                _wait_chat(page, ["Who sent the letter?"])
                _ask(page, "When did he send it?")  # the follow-up goes on with the saved history
                assert "letter" in page.locator("#cq-chat .cq-standalone").last.inner_text()
                page.wait_for_selector("#cq-dl-md:not([disabled])")
                page.locator("#cq-export-choice input").click()
                page.get_by_role("option", name="Answer 2: When did he send it?").click()
                page.wait_for_timeout(1000)  # the files of that answer replace the chat's
                one = _unescape_md(_download(page, "#cq-dl-md"))
                assert "## 2. When did he send it?" in one and "## 1." not in one and "[^2-1]: " in one
                page.screenshot(path=str(ROOT / "test-output" / "ui_saved_chats.png"))
                page.click("#cq-delete-chat")
                _wait_chat(page, [])
                page.wait_for_function("() => document.querySelectorAll('#cq-chats label').length === 1")
                assert _saved_chats(page) == ["Defence <b>notes</b>"]

                other = browser.new_context(viewport={"width": 1400, "height": 950})  # another browser: no chats
                try:
                    p2 = other.new_page()
                    _open_page(p2, url)
                    assert _saved_chats(p2) == [] and _chat_questions(p2) == []
                finally:
                    other.close()
        finally:
            ctx.close()
            browser.close()
