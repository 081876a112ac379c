"""RecordTable (index/records.py) behaves as the list of SentenceRecord it replaces, under the
operations a corpus performs: build, append documents, drop documents, save rows, reload."""

import random

import numpy as np

from index.document import SentenceRecord
from index.records import RecordTable


def _records(rng: random.Random, doc: str, n: int) -> list[SentenceRecord]:
    out, pos = [], 0
    for _ in range(n):
        start, pos = pos, pos + rng.randint(1, 50)
        kind = rng.choice(["body", "body", "headline", "byline"])
        out.append(SentenceRecord(doc, start, pos, kind, None if kind == "body" else f"{kind} of {doc}"))
        pos += 1
    return out


def test_record_table_matches_a_list_through_adds_and_drops():
    rng = random.Random(0)
    model: list[SentenceRecord] = []
    table = RecordTable.empty()
    for step in range(60):
        if model and rng.random() < 0.35:
            gone = set(rng.sample(sorted({r.doc_id for r in model}), k=1))
            model = [r for r in model if r.doc_id not in gone]
            table = table.filtered(~table.rows_of(gone))
        else:
            new = _records(rng, f"doc{step}.txt", rng.randint(0, 6))
            model = model + new
            table = table.concat(new)
        assert len(table) == len(model) and list(table) == model and table == model
        assert [table.doc_id_of(i) for i in range(len(model))] == [r.doc_id for r in model]
        assert table.span_chars() == sum(r.end - r.start for r in model)
        assert table.counts() == {d: sum(r.doc_id == d for r in model) for d in {r.doc_id for r in model}}
        reloaded = RecordTable.from_records(table.rows())
        assert reloaded == model and reloaded.rows() == [[r.doc_id, r.start, r.end, r.kind, r.index_text] for r in model]
    assert model, "the walk should end with records to compare"
    assert table[-1] == model[-1] and table[1:3] == model[1:3]


def test_record_table_keeps_types_and_is_small():
    rows = [["a.txt", 0, 10, "body", None], ["a.txt", 11, 20, "headline", "headline: x"], ["b.txt", 0, 5]]
    t = RecordTable.from_records(rows)
    r = t[2]
    assert r == SentenceRecord("b.txt", 0, 5, "body", None)
    assert isinstance(r.start, int) and not isinstance(r.start, np.integer)
    assert t.filtered(np.array([False, True, False])) == [SentenceRecord("a.txt", 11, 20, "headline", "headline: x")]
    big = RecordTable.from_records(["d.txt", i, i + 1, "body", None] for i in range(10_000))
    assert big.nbytes <= 40 * 10_000  # ~39 bytes a row (10 of them structure), against ~150 for SentenceRecord objects


def test_lexical_stats_from_texts_reads_rows_without_a_corpus():
    from qa.retrieval import LexicalStats

    stats = LexicalStats.from_texts(["The trip was cancelled.", "Talks resumed in Singapore."])
    assert stats.n == 2 and "singapor" in stats.row_stems(1) and not stats.row_stems(0) & stats.row_stems(1)
    assert stats.idf("singapor") > 0
