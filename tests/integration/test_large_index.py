"""What lets the FAISS backend grow: streamed ingestion with checkpoints, the IVF store with exact
re-ranking, BM25 saved with the index and memory-mapped vectors. Real model, real FAISS, real bm25s;
sizes are shrunk by setting the thresholds low, not by faking the parts."""

from __future__ import annotations

import json

import numpy as np
import pytest

import index.ingest as ingest_mod
import index.index_dir as index_dir_mod
import index.vector_store as vs
from conftest import SEED
from index.embedder import get_embedder
from index.index_dir import IndexDirectory
from index.lexical import LexicalIndex
from qa import Assistant

TOPICS = ["copper wire conducts electricity", "tidal pools shelter small crabs", "sourdough bread needs a starter",
          "glaciers carve deep valleys", "violins have four strings", "comets grow tails near the sun"]


def write_folder(folder, n_files: int) -> list[str]:
    folder.mkdir()
    names = []
    for i in range(n_files):
        topic = TOPICS[i % len(TOPICS)]
        text = " ".join(f"Note {i}.{j}: {topic} in report number {i}." for j in range(4))
        name = f"doc{i:02d}.txt"
        (folder / name).write_text(text, encoding="utf-8")
        names.append(name)
    return names


class FailingEmbedder:
    """The real embedder, failing on its n-th batch: an ingestion killed part-way."""

    def __init__(self, fail_on: int) -> None:
        self.real = get_embedder()
        self.name, self.dim, self.calls, self.fail_on = self.real.name, self.real.dim, 0, fail_on

    def encode(self, texts, show_progress=False):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt("killed")
        return self.real.encode(texts)

    def encode_query(self, text):
        return self.real.encode_query(text)


def test_ingestion_streams_in_batches_and_resumes_after_a_kill(tmp_path, monkeypatch):
    names = write_folder(tmp_path / "docs", 12)
    monkeypatch.setattr(ingest_mod, "BATCH_SENTENCES", 8)  # 4 sentences a file: a batch every 2 files
    idx = tmp_path / "index"
    a = Assistant.open(paths=[SEED], index_dir=idx)
    a.embedder = FailingEmbedder(fail_on=4)  # batches 1-3 go through, the 4th dies
    batches = []
    real_add = a.corpus.add
    monkeypatch.setattr(a.corpus, "add", lambda docs, *args, **kw: batches.append(len(docs)) or real_add(docs, *args, **kw))
    with pytest.raises(KeyboardInterrupt):
        a._change(lambda: ingest_mod.sync_paths(a.corpus, [tmp_path / "docs"], a.embedder,
                                                checkpoint=lambda: a.index_dir.save(a.corpus), checkpoint_s=0.0,
                                                checkpoint_share=None))
    assert batches == [2, 2, 2, 2]  # one batch of parsed files at a time, never the whole folder
    saved = IndexDirectory(idx).load(a.embedder.name, a.embedder.dim)
    # the three finished batches were checkpointed; the killed one left nothing half-done
    assert set(saved.documents) == {SEED.name, *names[:6]}
    assert len(saved.records) == len(saved.store.vectors) == saved.lexical_index().n

    b = Assistant.open(index_dir=idx)
    report = b.add_paths([tmp_path / "docs"])
    assert sorted(report.unchanged) == names[:6] and sorted(report.added) == names[6:]
    assert report.sentences_embedded == 6 * 4
    ans = b.ask("Which notes say glaciers carve valleys?", mode="extractive")
    assert not ans.abstained and all("glaciers carve deep valleys" in c.text for c in ans.citations)
    for c in ans.citations:
        assert b.document_text(c.doc_id)[c.start:c.end] == c.text


def test_large_index_uses_ivf_with_exact_reranking_and_reads_its_vectors_from_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(vs, "APPROX_MIN_VECTORS", 40)
    monkeypatch.setattr(index_dir_mod, "FILE_VECTORS_MIN_BYTES", 1)
    write_folder(tmp_path / "docs", 15)  # 60 sentences + the seed article's
    idx = tmp_path / "index"
    a = Assistant.open(paths=[SEED, tmp_path / "docs"], index_dir=idx)
    assert a.corpus.store.kind == "ivf"
    manifest = json.loads((idx / (idx / "CURRENT").read_text().strip() / "manifest.json").read_text())
    assert manifest["index_type"] == "ivf" and any(k.startswith("lexical/") for k in manifest["checksums"])

    b = Assistant.open(index_dir=idx)
    assert isinstance(b.corpus.store.vectors, vs.VectorFile) and b.corpus.store.kind == "ivf"
    full = np.load(idx / (idx / "CURRENT").read_text().strip() / "vectors.npy")
    v = b.corpus.store.vectors
    assert np.array_equal(np.asarray(v), full) and np.array_equal(v[[5, 2, -1]], full[[5, 2, -1]])
    assert np.array_equal(v[3], full[3]) and np.array_equal(v[4:9], full[4:9]) and len(v) == len(full)
    assert b.corpus._lexical is not None and b.corpus._lexical.n == len(b.corpus)  # loaded, not rebuilt
    # exact re-ranking: the rows found are ordered by their true cosine, which is returned
    emb = get_embedder()
    q = emb.encode_query("Why was the trip to North Korea cancelled?")
    rows, scores = b.corpus.store.search(q, 10)
    exact = np.asarray(b.corpus.store.vectors)[rows] @ q
    assert np.allclose(scores, exact, atol=1e-6) and list(scores) == sorted(scores, reverse=True)
    truth = np.argsort(-(np.asarray(b.corpus.store.vectors) @ q))[:10]
    assert len(set(rows.tolist()) & set(truth.tolist())) >= 8
    ans = b.ask("Why was the trip cancelled?", mode="extractive")
    assert not ans.abstained and any("letter" in c.text or "progress" in c.text for c in ans.citations)

    # removal keeps the trained lists and re-adds the kept rows; still IVF above the threshold
    b.remove("doc00.txt")
    assert b.corpus.store.kind == "ivf" and b.corpus.store.client.ntotal == len(b.corpus)
    c = Assistant.open(index_dir=idx)
    assert "doc00.txt" not in {d.doc_id for d in c.documents()} and len(c.corpus) == len(b.corpus)


def test_saved_lexical_index_is_checked_like_the_other_files(tmp_path):
    idx = tmp_path / "index"
    Assistant.open(paths=[SEED], index_dir=idx)
    gen = idx / (idx / "CURRENT").read_text().strip()
    stats = gen / "lexical" / "stems.json"
    data = json.loads(stats.read_text())
    data["n"] += 1
    stats.write_text(json.dumps(data))
    from index.errors import IndexCorruptError

    with pytest.raises(IndexCorruptError, match="lexical/stems.json"):
        Assistant.open(index_dir=idx)


def test_bm25_matches_llama_index_bm25_retriever_on_real_sentences(seed_text):
    """The bypass of BM25Retriever (index/lexical.py) must rank as it did: the same rows with the best
    scores, best first (rows with equal scores may come in another order: ours is by row)."""
    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    from index.sentences import split_sentences

    texts = [seed_text[s.start:s.end] for s in split_sentences(seed_text)]
    nodes = [TextNode(text=t, id_=str(i), metadata={"row": i}, excluded_embed_metadata_keys=["row"])
             for i, t in enumerate(texts)]
    theirs = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=len(nodes))
    ours = LexicalIndex.build(texts)
    for q in ["Why was the trip cancelled?", "Who sent the letter to Kim Jong Un?", "joint military exercises",
              "What did Trump tweet?", "it is the", "nuclear weapons denuclearization talks"]:
        score = {int(n.node.metadata["row"]): n.score for n in theirs.retrieve(q) if n.score and n.score > 0}
        got = ours.search(q, 10)
        assert len(got) == min(10, len(score)) and set(got) <= set(score), q
        assert [score[r] for r in got] == sorted((score[r] for r in got), reverse=True), q
        rest = [s for r, s in score.items() if r not in got]
        assert not rest or min(score[r] for r in got) >= max(rest), q
        ties = [r for i, r in enumerate(got[1:]) if score[r] == score[got[i]]]
        assert all(got[got.index(r) - 1] < r for r in ties), q  # equal scores: by row


def test_bm25_top_k_from_the_postings_equals_a_scan_of_every_row():
    """index/lexical.py picks the top k among the rows the query terms' postings list: the same rows, in the
    same order, as scoring every row and sorting the positive ones by (score, row), ties and repeated terms
    included."""
    rng = np.random.default_rng(3)
    vocab = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    # few words per sentence from a small vocabulary: many equal scores, also at the k-th place
    texts = [" ".join(rng.choice(vocab, size=rng.integers(1, 5))) for _ in range(3000)]
    lex = LexicalIndex.build(texts)
    for query in ["alpha", "alpha bravo", "golf golf hotel", "india juliet alpha delta", "zulu", "zulu echo",
                  "the and of"]:
        from index.lexical import QUERY_STOPWORDS, bm25_tokens

        tokens = bm25_tokens([query], QUERY_STOPWORDS)[0]
        ids = lex.bm25.get_tokens_ids(tokens) if tokens else []
        scores = np.asarray(lex.bm25.get_scores_from_ids(ids)) if ids else np.zeros(len(texts))
        positive = np.flatnonzero(scores > 0)
        expected = [int(r) for r in positive[np.lexsort((positive, -scores[positive]))]]
        for k in (1, 5, 20, 200, 5000):
            assert lex.search(query, k) == expected[:k], (query, k)


def test_vector_file_reads_the_rows_np_load_reads(tmp_path):
    """The saved vectors are read row by row from the file (never all of it): every way of indexing gives what
    the whole array gives, and a truncated file is an error, not garbage."""
    arr = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    path = tmp_path / "v.npy"
    np.save(path, arr)
    vf = vs.VectorFile.open(path)
    for key in (3, -1, slice(5, 9), slice(None, None, 7), [0, 49, 7, 7, -2], np.array([], dtype=np.int64),
                np.arange(50) % 2 == 0):
        np.testing.assert_array_equal(vf[key], arr[key])
    with pytest.raises(IndexError):
        vf[[0, 50]]
    path.write_bytes(path.read_bytes()[:-16])  # the last row cut short
    short = vs.VectorFile.open(path)
    with pytest.raises(OSError, match="shorter"):
        short[[1, 49]]
