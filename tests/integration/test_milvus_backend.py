"""The Milvus backend against real Milvus Lite (in this process, and served over gRPC on 127.0.0.1 for
several processes) with the real embedder: FAISS's answers, the manifest checks, clear errors, and
two writer processes that lose nothing. (The shared API tests of test_core_api.py run on both backends.)"""

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, as_history, cli_env, free_port, gold_questions, run_cli
from qa import (Assistant, IndexChangedError, IndexCorruptError, IndexLockedError, IndexMismatchError,
                IndexUnavailableError)
from index.milvus import schema
from qa.settings import Settings

ENV = cli_env()


def open_milvus(tmp_path: Path, **kw) -> Assistant:
    return Assistant.open(index_dir=tmp_path / "idx", backend="milvus", uri=str(tmp_path / "m.db"), **kw)


def spans(ans) -> list[tuple]:
    return [(c.doc_id, c.start, c.end, c.text, c.score) for c in ans.citations]


def count_rows(a: Assistant) -> int:
    got = a.index_dir.engine.call("count", "query", a.index_dir.names.sentences, filter="", output_fields=["count(*)"])
    return int(got[0]["count(*)"])


def test_same_records_answers_and_citations_as_faiss_on_the_gold_set(tmp_path):
    f = Assistant.open(index_dir=tmp_path / "faiss")
    m = open_milvus(tmp_path)
    assert m.corpus.records == f.corpus.records and len(m.corpus.store.vectors) == len(f.corpus.records)
    for g in gold_questions():
        h = as_history(g.get("history"))
        am, af = m.ask(g["question"], history=h, mode="extractive"), f.ask(g["question"], history=h, mode="extractive")
        assert (am.text, am.abstained, spans(am)) == (af.text, af.abstained, spans(af)), g["id"]
        for c in am.citations:
            assert c.text == m.document_text(c.doc_id)[c.start : c.end]


def test_persistence_round_trip_reembeds_nothing_and_removal_deletes_rows(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("Alpha is the first letter. Beta follows alpha.", encoding="utf-8")
    (docs / "sub" / "b.md").write_text("# Notes\n\nGamma rays are energetic.", encoding="utf-8")
    a1 = open_milvus(tmp_path, paths=[docs])
    assert sorted(a1.last_sync.added) == ["a.txt", "sub/b.md"]
    ans1 = a1.ask("What follows alpha?", mode="extractive")
    a2 = open_milvus(tmp_path, paths=[docs])
    assert a2.last_sync.sentences_embedded == 0 and not a2.last_sync.added
    assert spans(a2.ask("What follows alpha?", mode="extractive")) == spans(ans1)
    (docs / "a.txt").write_text("Alpha is the first letter. Delta follows alpha now.", encoding="utf-8")
    a3 = open_milvus(tmp_path, paths=[docs])
    assert a3.last_sync.updated == ["a.txt"] and a3.last_sync.sentences_embedded == 2
    assert "Delta" in a3.ask("What follows alpha?", mode="extractive").citations[0].text
    a3.remove("sub/b.md")
    a4 = open_milvus(tmp_path)
    assert [d.doc_id for d in a4.documents()] == ["a.txt"] and count_rows(a4) == len(a4.corpus) == 2


def test_document_texts_stay_in_the_engine_and_are_read_when_an_answer_needs_them(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    texts = {f"d{i}.txt": f"Report {i}. The river station {i} measured {10 + i} metres of water on Monday. "
                          f"Its keeper is named Keeper{i}." for i in range(6)}
    # Longer than one stored part (index/milvus/schema.py PART_CHARS): read back from several rows.
    texts["long.txt"] = " ".join(f"Line {n} of the long log is routine." for n in range(1200)) + \
        " The long log ends with a storm warning."
    for name, text in texts.items():
        (docs / name).write_text(text, encoding="utf-8")
    open_milvus(tmp_path, paths=[docs])
    # A cache of one character keeps only the last document read: every other text comes from the engine.
    a = open_milvus(tmp_path, settings=Settings.from_env(milvus={"text_cache_chars": 1}))
    cache = a.index_dir.entries
    before = cache.reads
    assert before == 0 and not cache._entries  # opening read no document text, only the heads
    ans = a.ask("How many metres of water did river station 3 measure?", mode="extractive")
    assert ans.citations and ans.citations[0].doc_id == "d3.txt" and "13 metres" in ans.citations[0].text
    assert cache.reads > before and len(cache._entries) == 1
    for c in ans.citations:
        assert c.text == texts[c.doc_id][c.start : c.end] == a.document_text(c.doc_id)[c.start : c.end]
    assert len(texts["long.txt"]) > 2 * schema.PART_CHARS
    storm = a.ask("What does the long log end with?", mode="extractive")
    assert storm.citations and storm.citations[0].text == "The long log ends with a storm warning."
    info = {d.doc_id: d.n_chars for d in a.documents()}
    assert info == {k: len(v) for k, v in texts.items()}
    # Stem statistics kept up to date on add and remove equal the ones counted from every text; what the
    # old versions held comes from their heads (long.txt's spans several parts), not from their texts.
    reads = cache.reads
    a.remove("d0.txt")
    a.remove("long.txt")
    (docs / "d1.txt").write_text("Report 1. The river station 1 is closed for repairs.", encoding="utf-8")
    a.add_paths([docs / "d1.txt"])
    assert cache.reads == reads
    kept = a.corpus.lexical_index(with_bm25=False)
    counted = a.corpus.lexical_index(with_bm25=True)  # reads every text back from the engine
    assert (kept.n, kept.df) == (counted.n, counted.df)
    # Another process replaces a document this one has not read yet: a clear error, not a wrong span.
    row = next(i for i, r in enumerate(a.corpus.records) if r.doc_id == "d4.txt")
    a.index_dir.delete_document("d4.txt")  # what another writer's new version does to the old one
    cache._entries.clear()
    with pytest.raises(IndexChangedError, match="d4.txt.*ask again"):
        a.corpus.record_text(row)


def test_mismatch_and_corruption_are_one_line_errors_and_rebuild_repairs(tmp_path):
    from qa.rebuild import rebuild_index

    (tmp_path / "a.txt").write_text("Oranges are orange. Lemons are yellow.", encoding="utf-8")
    a = open_milvus(tmp_path, paths=[tmp_path / "a.txt"])
    ix, engine = a.index_dir, a.index_dir.engine
    manifest = ix._manifest()
    other = {**manifest, "embedder": {"name": "some-other-model", "dim": 384}}
    engine.call("write", "upsert", ix.names.manifest, [{"pk": "manifest", "data": json.dumps(other), "dummy": [0.0, 0.0]}])
    with pytest.raises(IndexMismatchError) as err:
        open_milvus(tmp_path)
    assert "some-other-model" in str(err.value) and "index rebuild" in str(err.value) and "\n" not in str(err.value)
    engine.call("write", "upsert", ix.names.manifest, [{"pk": "manifest", "data": json.dumps(manifest), "dummy": [0.0, 0.0]}])
    # Open reads the document heads (records, stem counts), not every sentence row: an altered head
    # is caught by its records' checksum, lost sentence rows by their count.
    head = engine.call("read", "query", ix.names.documents, filter="part < 0", output_fields=["*"])[0]
    data = json.loads(head["data"])
    data["records"]["start"][1] += 1
    engine.call("write", "upsert", ix.names.documents, [{**head, "data": json.dumps(data)}])
    with pytest.raises(IndexCorruptError) as err:
        open_milvus(tmp_path)
    assert "altered" in str(err.value) and "index rebuild" in str(err.value)
    data["records"]["start"][1] -= 1
    engine.call("write", "upsert", ix.names.documents, [{**head, "data": json.dumps(data)}])
    assert open_milvus(tmp_path).ask("What colour are lemons?", mode="extractive").citations
    engine.call("write", "delete", ix.names.sentences, filter="ord == 1")
    with pytest.raises(IndexCorruptError) as err:
        open_milvus(tmp_path)
    assert "1 sentence rows" in str(err.value) and "missing" in str(err.value) and "index rebuild" in str(err.value)
    n_docs, n_sent, missing = rebuild_index(Settings(index={"dir": tmp_path / "idx", "backend": "milvus"},
                                                     milvus={"uri": str(tmp_path / "m.db")}))
    assert (n_docs, n_sent, missing) == (1, 2, [])
    assert open_milvus(tmp_path).ask("What colour are lemons?", mode="extractive").citations[0].text == "Lemons are yellow."


def write_structured(folder: Path) -> Path:
    """The generated manual as Markdown and HTML (headings, nested lists, a table, contents and index
    pages: eval/doc_fixtures.py) and a plain text whose lead-in ends in ":" (no structure)."""
    from eval.doc_fixtures import manual_html, manual_markdown

    folder.mkdir()
    (folder / "manual.md").write_text(manual_markdown(), encoding="utf-8")
    (folder / "manual.html").write_text(manual_html(), encoding="utf-8")
    (folder / "plan.txt").write_text("Pack these items:\nA lamp.\nA rope.\n\nThe trip starts at dawn.", encoding="utf-8")
    return folder


def test_structure_and_skipped_rows_are_stored_and_reloaded_as_with_faiss(tmp_path):
    docs = write_structured(tmp_path / "docs")
    opts = ("--backend", "milvus", "--uri", str(tmp_path / "m.db"), "--index-dir", str(tmp_path / "idx"))
    added = run_cli(*opts, "index", "add", str(docs), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    listed = run_cli(*opts, "index", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "skipped ?" not in listed.stdout, listed.stdout + listed.stderr
    f = Assistant.open(paths=[docs], index_dir=tmp_path / "faiss")
    m = open_milvus(tmp_path)  # another process wrote it: everything below was read back from the engine
    assert not m.last_sync.added
    fv, mv = f.corpus.view(), m.corpus.view()
    names = {p.name for p in docs.iterdir()}
    frows, mrows = ([i for i in range(len(v.records)) if v.records.doc_id_of(i) in names] for v in (fv, mv))
    assert [mv.records[i] for i in mrows] == [fv.records[i] for i in frows]
    assert any(mv.records[i].block == "table_row" for i in mrows)
    assert any(" > " in (mv.records[i].section or "") and mv.records[i].level for i in mrows)
    assert [mv.unit_of(i) for i in mrows] == [fv.unit_of(i) for i in frows]
    assert [mv.introduces(i) for i in mrows] == [fv.introduces(i) for i in frows]
    infos = {d.doc_id: d.skipped for d in f.documents()}
    assert {d.doc_id: d.skipped for d in m.documents() if d.doc_id in names} == infos
    assert infos["manual.md"]["index"] >= 10
    for d in f.documents():
        total = sum(d.skipped.values())
        assert f"{d.doc_id}\t{d.n_sentences} units\t{total} skipped{' (' if total else chr(9)}" in listed.stdout
    ans = m.ask("Which option performs a benchmark?", mode="extractive")
    assert ans.citations[0].location.section == "2 Invoking lztool > 2.1 Options"


def old_head(data: dict) -> dict:
    """A document head as citeqa wrote it before the structure columns and skipped-row counts."""
    cols = data["records"]
    checksum = hashlib.sha256()
    for row in zip(cols["start"], cols["end"], cols["kind"], cols["index_text"]):
        checksum.update(json.dumps(list(row), ensure_ascii=False).encode("utf-8"))
    return {**data, "entry": {k: v for k, v in data["entry"].items() if k != "skipped"},
            "records": {k: cols[k] for k in ("start", "end", "kind", "index_text")},
            "records_sha256": checksum.hexdigest()}


def test_an_index_written_before_the_structure_columns_loads_with_unknown_structure(tmp_path):
    docs = write_structured(tmp_path / "docs")
    a = open_milvus(tmp_path, paths=[docs])
    ix, engine = a.index_dir, a.index_dir.engine
    records = list(a.corpus.records)
    heads = engine.call("read", "query", ix.names.documents, filter="part < 0", output_fields=["*"])
    assert all(h["n_parts"] == 1 for h in heads)
    engine.call("write", "upsert", ix.names.documents,
                [{**h, "data": json.dumps(old_head(json.loads(h["data"])))} for h in heads])
    old = open_milvus(tmp_path)
    assert [(r.doc_id, r.start, r.end, r.kind, r.index_text) for r in old.corpus.records] == \
        [(r.doc_id, r.start, r.end, r.kind, r.index_text) for r in records]
    assert all(r.block is None and r.section is None and r.level == 0 and r.block_start == -1 for r in old.corpus.records)
    assert all(d.skipped is None for d in old.documents())
    view = old.corpus.view()
    lead = next(i for i, r in enumerate(records) if view.record_text(i) == "Pack these items:")
    assert view.unit_of(lead) == (records[lead].start, records[lead + 1].end)  # the ":" rule, as before structure
    # New documents written into it carry their structure; the old ones keep theirs unknown.
    (docs / "more.md").write_text("# Care of the box\n\nThe box needs little care. Two things matter.\n\n"
                                  "## Steps\n\n- Oil the hinge.\n- Dust the lid.\n", encoding="utf-8")
    old.add_paths([docs / "more.md"])
    again = open_milvus(tmp_path)
    more = [r for r in again.corpus.records if r.doc_id == "more.md"]
    assert [(r.block, r.section, r.level) for r in more[-3:]] == [("heading", "Steps", 2), ("list_item", "Steps", 1),
                                                                   ("list_item", "Steps", 1)]
    assert all(r.block is None for r in again.corpus.records if r.doc_id != "more.md")
    assert {d.doc_id: d.skipped for d in again.documents()}["more.md"] == {}


def fail_on(monkeypatch, what: str, after: int = 0):
    """Engine calls named ``what``, after the first ``after`` of them, fail as if the engine went away (a write
    killed at that step); returns the real ``Engine.call``."""
    from index.milvus.engine import Engine

    real, seen = Engine.call, []

    def call(self, name, *args, **kwargs):
        if name == what:
            seen.append(name)
            if len(seen) > after:
                raise IndexUnavailableError("simulated: the engine went away")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(Engine, "call", call)
    return real


def test_a_failed_ingestion_leaves_nothing_visible_and_the_next_write_cleans_up(tmp_path, monkeypatch):
    a = open_milvus(tmp_path, paths=[ROOT / "seeds"])
    n = len(a.corpus)
    fail_on(monkeypatch, "write documents")  # the sentences are in, the document rows never arrive (a killed write)
    with pytest.raises(IndexUnavailableError):
        a.add_texts({"new.txt": "Zebras are striped. Lions are not striped."})
    monkeypatch.undo()
    assert "new.txt" not in {d.doc_id for d in a.documents()} and len(a.corpus) == n
    assert count_rows(a) == n + 2  # the orphaned rows are there but invisible
    assert "new.txt" not in {d.doc_id for d in open_milvus(tmp_path).documents()}
    a.add_texts({"new.txt": "Zebras are striped. Lions are not striped."})
    assert count_rows(a) == len(a.corpus) == n + 2  # the retry replaced them
    assert a.ask("Which animals are striped?", mode="extractive").citations[0].doc_id == "new.txt"


def test_a_version_is_visible_only_once_its_head_is_written(tmp_path, monkeypatch):
    a = open_milvus(tmp_path, paths=[ROOT / "seeds"])
    fail_on(monkeypatch, "write document heads")  # the text parts are in, the heads never arrive
    with pytest.raises(IndexUnavailableError):
        a.add_texts({"new.txt": "Zebras are striped. Lions are not striped."})
    monkeypatch.undo()
    texts = a.index_dir.document_versions()  # the text parts of the new version are in the engine
    assert any(v[0][1]["entry"]["doc_id"] == "new.txt" for v in texts.values())
    assert "new.txt" not in {d.doc_id for d in open_milvus(tmp_path).documents()}
    a.add_texts({"new.txt": "Zebras are striped. Lions are not striped."})
    b = open_milvus(tmp_path)
    assert count_rows(b) == len(b.corpus) and "new.txt" in {d.doc_id for d in b.documents()}


def test_a_killed_index_add_resumes_where_it_stopped(tmp_path, monkeypatch):
    import index.milvus.corpus as milvus_corpus
    from index.milvus.engine import Engine

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, animal in enumerate(["zebras", "lions", "otters"]):
        (docs / f"{i}.txt").write_text(f"The {animal} live in pen {i}. They are fed at noon.", encoding="utf-8")
    open_milvus(tmp_path, paths=[])
    monkeypatch.setattr(milvus_corpus, "BATCH_SENTENCES", 2)  # one document per written batch
    real = fail_on(monkeypatch, "write documents", after=1)  # killed at the second document
    with pytest.raises(IndexUnavailableError):
        open_milvus(tmp_path, paths=[docs])
    monkeypatch.setattr(Engine, "call", real)
    resumed = open_milvus(tmp_path, paths=[docs])
    assert resumed.last_sync.unchanged == ["0.txt"] and sorted(resumed.last_sync.added) == ["1.txt", "2.txt"]
    assert count_rows(resumed) == len(resumed.corpus) == 6
    assert resumed.ask("Where do the otters live?", mode="extractive").citations[0].doc_id == "2.txt"


def test_unreachable_server_is_a_clear_error_within_the_timeout(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(IndexUnavailableError) as err:
        Assistant.open(index_dir=tmp_path, settings=Settings(index={"backend": "milvus"},
                                                             milvus={"uri": f"http://127.0.0.1:{free_port()}", "timeout_s": 2}))
    assert time.monotonic() - t0 < 15 and "cannot reach the Milvus server" in str(err.value)


def test_a_lite_file_held_by_another_process_says_how_to_share_it(tmp_path):
    db = tmp_path / "busy.db"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pymilvus import MilvusClient; "
                               f"MilvusClient({str(db)!r}); print('open', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(IndexLockedError) as err:
            Assistant.open(index_dir=tmp_path, settings=Settings(index={"backend": "milvus"}, milvus={"uri": str(db), "timeout_s": 1}))
        assert "another process" in str(err.value) and "milvus_lite server" in str(err.value)
    finally:
        holder.kill()
        holder.wait()


WRITER = """
import sys
from qa import Assistant
a = Assistant.open(index_dir=sys.argv[1], backend="milvus", uri=sys.argv[2])
for i in range(3):
    a.add_texts({f"{sys.argv[3]}{i}.txt": f"The {sys.argv[3]} code number {i} is kept in the vault of {sys.argv[3]}land."})
if sys.argv[3] == "north":
    a.remove("north0.txt")
print("done")
"""


def test_two_processes_writing_to_a_served_index_lose_nothing_and_readers_see_it(tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "served"),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        uri = f"http://127.0.0.1:{port}"
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        reader = Assistant.open(index_dir=tmp_path / "reader", backend="milvus", uri=uri)  # the seed article
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / name), uri, name],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
                   for name in ("north", "south")]
        for w in writers:
            out, errs = w.communicate(timeout=300)
            assert w.returncode == 0 and "done" in out, errs[-2000:]
        expected = {"national_post_us_north_korea_stalemate.txt", "north1.txt", "north2.txt",
                    "south0.txt", "south1.txt", "south2.txt"}
        fresh = Assistant.open(index_dir=tmp_path / "fresh", backend="milvus", uri=uri)
        assert {d.doc_id for d in fresh.documents()} == expected
        time.sleep(2.1)  # qa/assistant.py SHARED_INDEX_CHECK_S: the reader checks the generation again
        ans = reader.ask("Where is the south code number 2 kept?", mode="extractive")
        assert {d.doc_id for d in reader.documents()} == expected
        assert ans.citations[0].doc_id == "south2.txt"
        assert ans.citations[0].text == reader.document_text("south2.txt")[ans.citations[0].start : ans.citations[0].end]
    finally:
        server.kill()
        server.wait()


def test_cli_and_environment_select_the_backend(tmp_path):
    run = lambda *a, env=None: run_cli(*a, env=env, cwd=tmp_path)  # noqa: E731
    note = tmp_path / "note.txt"
    note.write_text("The launch code is kept in the blue safe.", encoding="utf-8")
    opts = ("--backend", "milvus", "--uri", str(tmp_path / "cli.db"), "--index-dir", str(tmp_path / "idx"))
    out = run(*opts, "index", "add", str(note))
    assert out.returncode == 0 and "added note.txt" in out.stdout, out.stderr
    env = {"CITEQA_BACKEND": "milvus", "CITEQA_MILVUS_URI": str(tmp_path / "cli.db"),
           "CITEQA_INDEX_DIR": str(tmp_path / "idx")}
    out = run("ask", "Where is the launch code kept?", "--mode", "extractive", env=env)
    assert out.returncode == 0 and '[1] note.txt:0-41 "The launch code is kept in the blue safe."' in out.stdout, out.stderr
    assert not (tmp_path / "idx" / "CURRENT").exists()  # nothing went to a FAISS index
    bad = run("--backend", "milvus", "--uri", "http://127.0.0.1:1", "index", "list")
    assert bad.returncode == 2 and bad.stderr.startswith("citeqa: error: cannot reach") and "Traceback" not in bad.stderr


def test_settings_read_the_backend_from_the_environment():
    s = Settings.from_env({"CITEQA_BACKEND": "milvus", "CITEQA_MILVUS_URI": "http://db:19530",
                           "CITEQA_MILVUS_TOKEN": "root:Milvus", "CITEQA_MILVUS_TIMEOUT": "3.5"})
    assert (s.index.backend, s.milvus.uri, s.milvus.token.get_secret_value(), s.milvus.timeout_s) == (
        "milvus", "http://db:19530", "root:Milvus", 3.5)
    assert Settings.from_env({}).index.backend == "faiss"
    with pytest.raises(ValueError, match="index.backend: input should be 'faiss' or 'milvus'"):
        Settings(index={"backend": "qdrant"})
    with pytest.raises(ValueError, match="CITEQA_MILVUS_TIMEOUT: input should be a valid number"):
        Settings.from_env({"CITEQA_MILVUS_TIMEOUT": "soon"})
    assert Settings.from_env({"CITEQA_MILVUS_TEXT_CACHE": "5000"}).milvus.text_cache_chars == 5000
    with pytest.raises(ValueError, match="CITEQA_MILVUS_TEXT_CACHE: input should be greater than or equal to 0"):
        Settings.from_env({"CITEQA_MILVUS_TEXT_CACHE": "-1"})


def test_backends_suite_runs_and_reports_ratios(tmp_path, capsys):
    from eval.__main__ import main

    assert main(["backends", "--parts", "latency", "--sentences", "400", "--queries", "5", "--change-docs", "3",
                 "--results-dir", str(tmp_path)]) == 0
    head = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert head["sentences"] == 400 and head["ingest_ratio"] > 0 and head["query_ratio_p50"] > 0
    lat = json.loads(next(tmp_path.glob("backends-*.json")).read_text())["metrics"]["latency"]
    assert lat["identical_dense_ranks"] == "5/5"  # exact search on both sides
    # 3 documents replaced and 3 removed on each reopened index: the same rows and stem counts remain
    assert lat["change_docs"] == 3 and set(lat["change_s"]) == {"faiss", "milvus"}
    assert lat["same_rows_and_stems_after_change"] is True


def test_backends_suite_on_real_sentences_with_model_vectors(tmp_path, capsys):
    from conftest import SEED

    from eval.__main__ import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = SEED.read_text(encoding="utf-8")
    (corpus / "a.txt").write_text(text, encoding="utf-8")
    (corpus / "b.txt").write_text(text.replace("Trump", "The president"), encoding="utf-8")
    assert main(["backends", "--parts", "latency", "--corpus", str(corpus), "--sentences", "20", "--queries", "5",
                 "--vectors-cache", str(tmp_path / "vc"), "--results-dir", str(tmp_path / "r")]) == 0
    head = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    lat = json.loads(next((tmp_path / "r").glob("backends-*.json")).read_text())["metrics"]["latency"]
    assert "real sentences" in lat["vectors"] and lat["documents"] == 1  # whole documents up to --sentences
    assert head["sentences"] == lat["sentences"] >= 20 and list((tmp_path / "vc").glob("*.npy"))
    assert lat["identical_dense_ranks"] == "5/5"  # exact search on both sides, over the model's vectors
