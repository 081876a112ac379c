"""The browser chat (ui/): rendering and upload helpers, then the real app in Debian's Chromium.

The browser tests start `citeqa serve` in a subprocess on a free local port with a temporary
index, and drive /usr/bin/chromium with Playwright (never `playwright install`; install the
browser with `apt-get install -y chromium chromium-driver` or `bash .ci/setup --test`).
A screenshot of the answered chat goes to the test's tmp_path and to test-output/.

Length: the browser tests share one served app and browser fixture; splitting would start them twice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


from conftest import ROOT, cli_env, serving
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SEED_DOC = "national_post_us_north_korea_stalemate.txt"
ANSWERED = "#cq-chat .cq-answer:not(.cq-pending):not(.cq-streaming):not(.cq-provisional)"
QUOTED_FIRST = "#cq-chat .cq-answer.cq-provisional"

XSS_TXT = (
    "Zorblax field notes.\n\n"
    "The zorblax code word is <script>window.__pwned=1</script> pelican, according to the keeper.\n\n"
    'The zorblax parade banner showed <img src=x onerror="window.__pwned=2"> in bright colours.\n\n'
    "Template probes ${window.__pwned=3} and {{constructor.constructor('window.__pwned=4')()}} stay plain text.\n"
)
XSS_HTML = (
    "<html><head><title>Quokka page</title><script>window.__pwned=5</script></head><body>"
    "<p>The quokka password is &lt;script&gt;window.__pwned=6&lt;/script&gt; teal.</p>"
    '<img src=x onerror="window.__pwned=7"><p>Quokkas live on Rottnest Island.</p></body></html>'
)


# =============================================================================== fast unit tests
def test_esc_makes_markup_and_template_syntax_inert():
    from ui.render import esc

    out = esc("<script>x</script> <img src=x onerror=\"a\"> ${a} {{b}} `c` & 'd'")
    for bad in ("<", ">", '"', "'", "$", "{", "}", "`"):
        assert bad not in out
    assert "&lt;script&gt;" in out


def test_answer_html_escapes_text_links_markers_and_marks_unsupported():
    from ui.render import answer_html

    cites = [{"doc_id": "a<b>.txt", "start": 3, "end": 9, "text": "quoted", "score": 0.9}]
    rec = {"text": "Claim <b>one</b>. [1] Made up [x](javascript:alert(1)). [7]", "abstained": False,
           "citations": cites, "unsupported": ["Made up [x](javascript:alert(1))."], "mode": "generative",
           "standalone": "", "seconds": 1.2, "question": "q"}
    out = answer_html(2, rec)
    assert "<b>one</b>" not in out and "&lt;b&gt;one&lt;/b&gt;" in out
    assert 'class="cq-cite cq-marker cq-ref-2-1"' in out
    assert "[7]" in out  # a number that is no citation stays text
    assert 'class="cq-unsupported"' in out and "cq-flag" in out
    assert "a&lt;b&gt;.txt" in out and "a<b>.txt" not in out
    out = answer_html(3, {**rec, "unsupported": [], "mode": "extractive", "note": "draft <replaced>"})
    assert "Fast mode · 1.2 s · draft &lt;replaced&gt;" in out


def test_abstention_has_no_citations():
    from ui.render import answer_html

    out = answer_html(0, {"text": "I could not find the answer to that in the documents.", "abstained": True,
                          "citations": [], "unsupported": [], "mode": "extractive", "standalone": "", "seconds": 0.1})
    assert "cq-abstained" in out and "cq-cite" not in out


def test_source_html_highlights_every_span_and_emphasises_the_clicked_one():
    import re

    from ui.render import source_html

    text = "Alpha <one>. Beta two. Gamma three. Delta four."
    cites = [{"doc_id": "d", "start": 0, "end": 12, "text": text[0:12], "score": 1},
             {"doc_id": "d", "start": 23, "end": 35, "text": text[23:35], "score": 1},
             {"doc_id": "other", "start": 0, "end": 3, "text": "xyz", "score": 1}]
    out = source_html("d", text, 0, 2, cites)
    active = "".join(re.findall(r'<mark class="[^"]*cq-active[^"]*"[^>]*>(.*?)</mark>', out))
    assert active == "Gamma three."
    assert out.count("<mark") == 2
    assert "Alpha &lt;one&gt;." in out
    assert '<span class="cq-off-start">23</span>' in out


@pytest.mark.parametrize("name, expected", [
    ("notes.txt", "notes.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\win.MD", "win.md"),
    ("/abs/path/page.HTML", "page.html"),
    (".hidden.txt", "hidden.txt"),
    ("we ird<>|:*?name.htm", "we ird_name.htm"),
    ("Annual Report.PDF", "Annual Report.pdf"),
    ("C:\\Users\\x\\memo.docx", "memo.docx"),
])
def test_safe_name_keeps_uploads_inside_the_directory(name, expected):
    from ui.uploads import safe_name

    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["slides.pptx", "script.sh", "noext", "..", ""])
def test_safe_name_rejects_other_types(name):
    from qa import IngestError
    from ui.uploads import safe_name

    with pytest.raises(IngestError, match="unsupported file type"):
        safe_name(name)


def test_history_skips_failed_turns():
    from ui.session import history_of

    turns = [{"question": "q1", "answer": {"text": "a1 [1]"}}, {"question": "q2", "error": "boom"}]
    assert history_of(turns) == [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1 [1]"}]


def test_parse_auth():
    from qa import CiteqaError
    from ui.app import parse_auth

    assert parse_auth(None) is None
    assert parse_auth("me:s3:cret") == ("me", "s3:cret")
    with pytest.raises(CiteqaError):
        parse_auth("nopassword")


# =============================================================================== the real app
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("ui-index")) as srv:
        yield srv


@pytest.fixture
def fresh_server(tmp_path_factory):
    """A server that has just started: its LLM is still loading in the background."""
    with serving(tmp_path_factory.mktemp("ui-fresh-index")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver (or bash .ci/setup --test)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 950})
    page = ctx.new_page()
    page.goto(server["url"])
    page.wait_for_selector("#cq-question textarea", timeout=60_000)
    return ctx, page


def _ask(page, question: str, mode_label: str = "Fast · quotes") -> None:
    page.get_by_label(mode_label).check()
    before = page.locator(ANSWERED).count()
    page.fill("#cq-question textarea", question)
    page.press("#cq-question textarea", "Enter")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n", arg=[ANSWERED, before], timeout=60_000)


def _active_source(page, n: int) -> dict:
    page.wait_for_function("n => (document.querySelector('#cq-source .cq-src-n') || {}).textContent === `[${n}]`",
                           arg=n, timeout=30_000)
    return page.evaluate("""() => {
        const q = s => document.querySelector('#cq-source ' + s);
        const marks = [...document.querySelectorAll('#cq-source mark.cq-active')];
        const body = q('.cq-src-body').getBoundingClientRect();
        const first = marks[0].getBoundingClientRect();
        return {doc: q('.cq-doc-name').textContent, start: Number(q('.cq-off-start').textContent),
                end: Number(q('.cq-off-end').textContent), active: marks.map(m => m.textContent).join(''),
                highlighted: document.querySelectorAll('#cq-source mark.cq-hl').length,
                visible: first.bottom > body.top && first.top < body.bottom,
                text: q('.cq-doc-text').textContent};
    }""")


def _chat_questions(page) -> list[str]:
    return [t.strip() for t in page.locator("#cq-chat .cq-q").all_inner_texts()]


@pytest.mark.slow
def test_answer_streams_and_citation_click_highlights_the_exact_span(server, browser, seed_assistant, tmp_path):
    ctx, page = _open(browser, server)
    try:
        assert page.locator("#cq-chat .example").count() >= 3  # opens ready to ask, with examples
        page.get_by_label("Fast · quotes").check()
        page.locator("#cq-chat .example", has_text="Why was the trip cancelled?").click()
        page.wait_for_selector(ANSWERED, timeout=60_000)
        assert _chat_questions(page) == ["Why was the trip cancelled?"]
        markers = page.locator("#cq-chat .cq-cite.cq-marker")
        assert markers.count() >= 1
        doc_text = seed_assistant.document_text(SEED_DOC)
        for i in reversed(range(markers.count())):  # the last first: it is not the one shown by default
            markers.nth(i).click()
            src = _active_source(page, i + 1)
            assert src["doc"] == SEED_DOC
            assert src["active"] == doc_text[src["start"] : src["end"]]
            assert src["active"] and src["visible"]
            assert src["text"] == doc_text  # the whole document, shown as text
        assert src["highlighted"] >= markers.count()  # every cited span is highlighted
        shot = tmp_path / "ui_answered_chat.png"
        page.screenshot(path=str(shot))
        out = ROOT / "test-output"
        out.mkdir(exist_ok=True)
        shutil.copy(shot, out / shot.name)
    finally:
        ctx.close()


@pytest.mark.slow
def test_follow_ups_use_own_history_and_sessions_do_not_share_chats(server, browser):
    ctx1, p1 = _open(browser, server)
    ctx2, p2 = _open(browser, server)
    try:
        _ask(p1, "Who sent the letter?")
        assert p2.locator("#cq-chat .cq-q").count() == 0  # the other session sees nothing
        _ask(p2, "Who is the Defence Secretary?")
        _ask(p2, "What does he believe about that?")
        _ask(p1, "When did he send it?")
        assert _chat_questions(p1) == ["Who sent the letter?", "When did he send it?"]
        assert _chat_questions(p2) == ["Who is the Defence Secretary?", "What does he believe about that?"]
        read_as_1 = p1.locator("#cq-chat .cq-standalone").last.inner_text()
        read_as_2 = p2.locator("#cq-chat .cq-standalone").last.inner_text()
        # each follow-up is read with its own chat's referents (qa/followup.py), never the other session's
        assert "letter" in read_as_1 and "Defence" not in read_as_1
        assert "Defence Secretary" in read_as_2 and "letter" not in read_as_2
        # A new chat forgets the history: the same follow-up is read on its own.
        p1.click("#cq-new-chat")
        p1.wait_for_function("() => document.querySelectorAll('#cq-chat .cq-q').length === 0", timeout=10_000)
        _ask(p1, "When did he send it?")
        assert _chat_questions(p1) == ["When did he send it?"]
        assert p1.locator("#cq-chat .cq-standalone").count() == 0
    finally:
        ctx1.close()
        ctx2.close()


@pytest.mark.slow
def test_uploaded_markup_is_shown_as_text_never_run(server, browser, tmp_path):
    txt = tmp_path / "zorblax_notes.txt"
    txt.write_text(XSS_TXT, encoding="utf-8")
    page_html = tmp_path / "quokka_page.html"
    page_html.write_text(XSS_HTML, encoding="utf-8")
    ctx, page = _open(browser, server)
    try:
        page.get_by_role("tab", name="Documents").click()
        assert "Shared documents" in page.inner_text("#cq-shared-note")
        page.set_input_files("#cq-upload input[type=file]", [str(txt), str(page_html)])
        page.wait_for_selector("#cq-upload-status .cq-status-ok", timeout=120_000)
        status = page.inner_text("#cq-upload-status")
        assert "zorblax_notes.txt" in status and "quokka_page.html" in status, status
        assert "zorblax_notes.txt" in page.inner_text("#cq-docs")
        assert (server["index_dir"] / "uploads" / "zorblax_notes.txt").is_file()

        _ask(page, "What is the zorblax code word?")
        answer = page.locator(ANSWERED).last.inner_text()
        assert "<script>window.__pwned=1</script>" in answer
        page.locator("#cq-chat .cq-cite.cq-marker").last.click()
        src = _active_source(page, 1)
        assert src["doc"] == "zorblax_notes.txt"
        assert src["text"] == XSS_TXT.strip("\n") or src["text"] == XSS_TXT
        assert '<img src=x onerror="window.__pwned=2">' in src["text"]
        assert "${window.__pwned=3}" in src["text"] and "{{constructor" in src["text"]

        _ask(page, "What is the quokka password?")
        assert "<script>window.__pwned=6</script>" in page.locator(ANSWERED).last.inner_text()

        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"], #cq-chat script, #cq-source script').length") == 0

        # Remove both again; the list and the index follow.
        page.get_by_role("tab", name="Documents").click()
        for name in ("zorblax_notes.txt", "quokka_page.html"):
            page.locator("#cq-remove-choice input").click()
            page.get_by_role("option", name=name).click()
            page.click("#cq-remove")
            page.wait_for_function("n => document.querySelector('#cq-upload-status').textContent.includes('Removed ' + n)",
                                   arg=name, timeout=30_000)
        assert "zorblax_notes.txt" not in page.inner_text("#cq-docs")
        assert not (server["index_dir"] / "uploads" / "zorblax_notes.txt").exists()
        assert page.evaluate("typeof window.__pwned") == "undefined"
    finally:
        ctx.close()


def _two_page_pdf(path: Path) -> None:
    from eval.pdf_fixtures import new_pdf

    pdf = new_pdf()
    pdf.add_page()
    pdf.text(60, 100, "The harbour office opens at nine in the morning.")
    pdf.add_page()
    pdf.text(60, 100, "Greyport lighthouse notes, second page.")
    pdf.text(60, 300, "The pelican keeper of Greyport is Oswald <script>window.__pwned=9</script> Brightwater.")
    pdf.output(str(path))


def _upload_and_ask_the_keeper(page, path, timeout: int) -> None:
    """Upload one file in the Documents tab, then ask who Greyport's pelican keeper is."""
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#cq-upload input[type=file]", [str(path)])
    page.wait_for_selector("#cq-upload-status .cq-status-ok", timeout=timeout)
    assert path.name in page.inner_text("#cq-upload-status")
    _ask(page, "Who is the pelican keeper of Greyport?")
    assert "Oswald" in page.locator(ANSWERED).last.inner_text()


@pytest.mark.slow
def test_pdf_citation_shows_its_page_with_the_span_boxed(server, browser, tmp_path):
    pdf = tmp_path / "greyport.pdf"
    _two_page_pdf(pdf)
    ctx, page = _open(browser, server)
    try:
        _upload_and_ask_the_keeper(page, pdf, timeout=120_000)
        chip = page.locator("#cq-chat .cq-chip", has_text="greyport.pdf").last
        assert "page 2" in chip.get_attribute("title")
        chip.click()
        page.wait_for_selector("#cq-source .cq-page-img", timeout=30_000)
        view = page.evaluate("""() => {
            const img = document.querySelector('#cq-source .cq-page-img');
            const r = img.getBoundingClientRect();
            const boxes = [...document.querySelectorAll('#cq-source .cq-page-box')].map(b => b.getBoundingClientRect());
            return {page: document.querySelector('#cq-source .cq-page-number').textContent,
                    src: img.getAttribute("src").slice(0, 22), loaded: img.complete && img.naturalWidth > 0,
                    ratio: r.height / r.width,
                    boxes: boxes.map(b => ({x: (b.left - r.left) / r.width, y: (b.top - r.top) / r.height,
                                            w: b.width / r.width, h: b.height / r.height})),
                    active: [...document.querySelectorAll('#cq-source mark.cq-active')].map(m => m.textContent).join('')};
        }""")
        assert view["page"] == "2" and view["src"] == "data:image/jpeg;base64" and view["loaded"]
        assert abs(view["ratio"] - 842 / 595) < 0.02  # the A4 page itself, not a crop
        assert len(view["boxes"]) == 1
        box = view["boxes"][0]  # the sentence drawn at y = 300 pt from x = 60 pt
        assert abs(box["x"] - 60 / 595) < 0.01 and abs(box["y"] + box["h"] - 300 / 842) < 0.02
        assert 0.3 < box["w"] < 0.9 and 0 < box["h"] < 0.03
        assert "Oswald <script>window.__pwned=9</script> Brightwater" in view["active"]
        assert page.evaluate("typeof window.__pwned") == "undefined"
        shot = tmp_path / "ui_pdf_page_view.png"
        page.locator("#cq-source").screenshot(path=str(shot))
        out = ROOT / "test-output"
        out.mkdir(exist_ok=True)
        shutil.copy(shot, out / shot.name)

        page.get_by_role("tab", name="Documents").click()
        page.locator("#cq-remove-choice input").click()
        page.get_by_role("option", name="greyport.pdf").click()
        page.click("#cq-remove")
        page.wait_for_function("() => document.querySelector('#cq-upload-status').textContent.includes('Removed greyport.pdf')",
                               timeout=30_000)
    finally:
        ctx.close()


@pytest.mark.slow
def test_scanned_image_citation_shows_the_image_with_the_span_boxed(server, browser, tmp_path):
    """A PNG scan is uploaded (OCR), and a citation of it shows the image itself with the cited words boxed."""
    from eval.scan_fixtures import scan_pages

    text = ("Greyport harbour notes.\n\nThe harbour office opens at nine in the morning. The ferry to Saltmere "
            "leaves at noon.\n\nThe pelican keeper of Greyport is Oswald Brightwater, who has kept the pelicans "
            "for thirty years.")
    scan = scan_pages(text, dpi=150, rotate=1.0, blur=0.6, size_pt=16, max_pages=1)
    png = tmp_path / "greyport-scan.png"
    scan.pages[0].save(png, dpi=(150, 150))
    ctx, page = _open(browser, server)
    try:
        _upload_and_ask_the_keeper(page, png, timeout=180_000)
        page.locator("#cq-chat .cq-chip", has_text="greyport-scan.png").last.click()
        page.wait_for_selector("#cq-source .cq-page-img", timeout=30_000)
        view = page.evaluate("""() => {
            const img = document.querySelector('#cq-source .cq-page-img');
            const r = img.getBoundingClientRect();
            return {loaded: img.complete && img.naturalWidth > 0, ratio: r.height / r.width,
                    boxes: [...document.querySelectorAll('#cq-source .cq-page-box')].map(b => {
                        const q = b.getBoundingClientRect();
                        return {x: (q.left - r.left) / r.width, y: (q.top - r.top) / r.height, w: q.width / r.width};
                    })};
        }""")
        assert view["loaded"] and abs(view["ratio"] - scan.pages[0].height / scan.pages[0].width) < 0.02
        # The cited sentence is the third paragraph, in the upper third of the page, from the left margin.
        assert view["boxes"] and all(0.05 < b["x"] < 0.15 and 0.05 < b["y"] < 0.35 and b["w"] > 0.2 for b in view["boxes"])
        shot = tmp_path / "ui_scan_page_view.png"
        page.locator("#cq-source").screenshot(path=str(shot))
        out = ROOT / "test-output"
        out.mkdir(exist_ok=True)
        shutil.copy(shot, out / shot.name)
    finally:
        ctx.close()


@pytest.mark.slow
def test_bad_input_gives_clear_messages_not_tracebacks(server, browser, tmp_path):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"hello\x00\x01\x02 not text")
    ctx, page = _open(browser, server)
    try:
        page.press("#cq-question textarea", "Enter")
        page.wait_for_selector(".toast-body", timeout=10_000)
        assert "question is empty" in page.inner_text(".toast-body")
        page.fill("#cq-question textarea", "why " * 600)
        page.press("#cq-question textarea", "Enter")
        page.wait_for_function("() => [...document.querySelectorAll('.toast-body')].some(t => t.textContent.includes('the limit is'))",
                               timeout=10_000)
        assert page.locator("#cq-chat .cq-q").count() == 0
        page.get_by_role("tab", name="Documents").click()
        page.set_input_files("#cq-upload input[type=file]", str(binary))
        page.wait_for_selector("#cq-upload-status .cq-status-err", timeout=30_000)
        assert "binary" in page.inner_text("#cq-upload-status")
        body = page.inner_text("body")
        assert "Traceback" not in body
    finally:
        ctx.close()


WATCH_JS = """() => {
    window.__cq = {streaming: false, queue: false, quotedFirst: false};
    new MutationObserver(() => {
        if (document.querySelector('#cq-chat .cq-streaming')) window.__cq.streaming = true;
        if (document.querySelector('#cq-chat .cq-provisional .cq-cite.cq-marker')) window.__cq.quotedFirst = true;
        const st = document.querySelector('#cq-chat [data-testid=status-tracker]');
        const wait = document.querySelector('#cq-chat .cq-written-wait');
        if ((st && /queue/i.test(st.textContent)) || (wait && /queued, position/i.test(wait.textContent)))
            window.__cq.queue = true;
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _llm_ok(assistant) -> None:
    ok, why = assistant.llm_available()
    assert ok, why  # CI installs the LLM: its absence is a failure, not a skip


@pytest.mark.slow
def test_right_after_start_llm_mode_quotes_first_then_one_written_answer_at_a_time(fresh_server, browser,
                                                                                  seed_assistant):
    _llm_ok(seed_assistant)
    ctx1, p1 = _open(browser, fresh_server)
    ctx2, p2 = _open(browser, fresh_server)
    try:
        for p in (p1, p2):
            p.get_by_label("LLM · written answer").check()
            p.evaluate(WATCH_JS)
        for p, q in ((p1, "Who is the Defence Secretary?"), (p2, "Who sent the letter?")):
            p.fill("#cq-question textarea", q)
            p.press("#cq-question textarea", "Enter")
            time.sleep(0.3)
        # The quoted answer, with clickable citations, comes before the LLM's (which waits for the model
        # to load and read the corpus on first use).
        for p in (p1, p2):
            p.wait_for_selector(QUOTED_FIRST, timeout=60_000)
            assert p.locator(ANSWERED).count() == 0
            assert "quoted sentences" in p.locator(QUOTED_FIRST).inner_text().lower()
        p2.locator(QUOTED_FIRST + " .cq-cite.cq-marker").first.click()
        src = _active_source(p2, 1)
        assert src["active"] == seed_assistant.document_text(src["doc"])[src["start"] : src["end"]]
        for p in (p1, p2):
            p.wait_for_selector(ANSWERED, timeout=600_000)
            assert p.locator(QUOTED_FIRST).count() == 0  # replaced
        assert p1.evaluate("window.__cq.quotedFirst") and p2.evaluate("window.__cq.quotedFirst")
        assert p1.evaluate("window.__cq.streaming") or p2.evaluate("window.__cq.streaming"), "no draft streamed in"
        assert p2.evaluate("window.__cq.queue"), "the second session never saw its queue position"
        assert _chat_questions(p1) == ["Who is the Defence Secretary?"]
        assert _chat_questions(p2) == ["Who sent the letter?"]
        for p in (p1, p2):
            answer = p.locator(ANSWERED).last.inner_text()
            assert "LLM mode" in answer or "quoted sentences stand" in answer, answer
            if p.locator("#cq-chat .cq-abstained").count() == 0:
                p.locator("#cq-chat .cq-cite.cq-marker").first.click()
                src = _active_source(p, 1)
                assert src["active"] == seed_assistant.document_text(src["doc"])[src["start"] : src["end"]]
        assert p1.evaluate("typeof window.__pwned") == "undefined"
    finally:
        ctx1.close()
        ctx2.close()


@pytest.mark.slow
def test_stop_writing_keeps_the_quoted_answer(server, browser, seed_assistant):
    _llm_ok(seed_assistant)
    ctx, page = _open(browser, server)
    try:
        page.get_by_label("LLM · written answer").check()
        page.fill("#cq-question textarea", "Why was the trip cancelled?")
        page.press("#cq-question textarea", "Enter")
        page.wait_for_selector(QUOTED_FIRST, timeout=60_000)
        quoted = page.locator(QUOTED_FIRST + " .cq-text").first.inner_text()
        page.click("#cq-stop")
        page.wait_for_selector(ANSWERED, timeout=60_000)
        final = page.locator(ANSWERED).last
        assert "cancelled; the quoted sentences stand" in final.inner_text()
        assert final.locator(".cq-text").first.inner_text() == quoted
        # The chat goes on: the next question is answered normally.
        _ask(page, "Who sent the letter?")
        assert _chat_questions(page) == ["Why was the trip cancelled?", "Who sent the letter?"]
    finally:
        ctx.close()


@pytest.mark.slow
def test_load_script_small_run_has_no_errors_or_leaks(server):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "tools" / "loadtest.py"), "--url", server["url"], "--sessions", "4", "--seconds", "10"],
        cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result = json.loads(lines[-1])
    assert result["questions"] > 0, result
    assert result["errors"] == 0, result
    assert result["leaks"] == 0, result
    assert proc.returncode == 0, result
