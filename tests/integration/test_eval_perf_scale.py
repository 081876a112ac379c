"""Smoke tests of the perf, scale and baselines suites: they run end to end on tiny settings and
their figures are computed and sane. No timing assertions (the CPU is shared and CI machines vary)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.__main__ import main


def _run(argv: list[str], results: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict, dict]:
    assert main([*argv, "--results-dir", str(results)]) == 0
    head = json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # the last line is the headline JSON
    path = Path(head["results"])
    assert path.parent == results and path.is_file()
    assert (results / "REPORT.md").is_file()
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["machine"]["cores"] and doc["headline"] == {k: v for k, v in head.items() if k not in ("suite", "results")}
    return head, doc


def _unit(x: object) -> bool:
    return isinstance(x, (int, float)) and 0.0 <= x <= 1.0


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and x > 0


def test_perf_suite_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head, doc = _run(["perf", "--build-sentences", "120", "--build-repeats", "2", "--cold-repeats", "1",
                      "--modes", "extractive", "--limit", "3"], tmp_path / "results", capsys)
    m = doc["metrics"]
    build = m["build"]
    assert build["sentences"] >= 100 and build["documents"] >= 3  # the seed article, replicated
    assert len(build["rounds"]) == 2 and all(_positive(r["ratio"]) for r in build["rounds"])
    for key in ("throughput_ratio", "throughput_ratio_median_of_rounds", "throughput_ratio_with_save",
                "bare_sentences_per_s", "pipeline_sentences_per_s"):
        assert _positive(build[key]), key
    assert set(build["pipeline_stages_s"]) >= {"parse_s", "embed_faiss_s", "bm25_s", "save_s", "total_s"}
    assert head["build_throughput_ratio"] == build["throughput_ratio"]

    cold = m["cold"]
    for kind in ("python", "bare_model", "fresh_index", "warm_index"):
        assert _positive(cold[kind]["wall_s"]["min"]), kind
    for kind in ("bare_model", "fresh_index", "warm_index"):
        assert _positive(cold[kind]["maxrss_mb"]), kind
    assert cold["runs"]["fresh_index"][0]["sentences_embedded"] > 0  # a new index: the article was embedded
    assert cold["runs"]["warm_index"][0]["sentences_embedded"] == 0  # the same index again: nothing to embed
    assert all(_positive(v) for v in cold["ratios"].values())

    lat = m["latency"]["extractive"]
    assert lat["n"] == 3 and len(doc["rows"]) == 3 and lat["invalid_spans"] == 0
    assert _positive(lat["latency_ms"]["p50"]) and _positive(lat["baseline_ms"]["p50"])
    assert _positive(lat["latency_p50_vs_baseline"])
    assert all(r["mode"] == "extractive" and _positive(r["baseline_ms"]) and _positive(r["encode_1thread_ms"])
               for r in doc["rows"])
    assert all(_positive(v) for v in m["peak_rss_mb"].values())
    assert doc["config"]["modes"] == ["extractive"]


def test_perf_parts_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, doc = _run(["perf", "--parts", "build", "--build-sentences", "40", "--build-repeats", "1"],
                  tmp_path / "results", capsys)
    assert set(doc["metrics"]) >= {"build", "peak_rss_mb"} and "cold" not in doc["metrics"]
    assert doc["rows"] == []
    assert main(["perf", "--parts", "nope", "--results-dir", str(tmp_path)]) == 1
    assert "--parts" in capsys.readouterr().err


def test_scale_suite_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head, doc = _run(["scale", "--sizes", "2000", "--queries", "30", "--kinds", "flat,ivf,hnsw"], tmp_path / "results", capsys)
    m = doc["metrics"]
    assert m["vectors"].startswith("synthetic") and head["vectors"].startswith("synthetic")
    size = m["sizes"]["2000"]
    assert size["vectors"] == "synthetic" and size["picked_kind"] == "flat"
    assert set(size["kinds"]) == {"flat", "ivf", "hnsw"}
    for kind, fig in size["kinds"].items():
        assert _unit(fig["recall_at_10"]), kind
        assert fig["build_s"] >= 0 and _positive(fig["query_ms"]["p95"]) and fig["queries"] == 30
    assert size["kinds"]["flat"]["index_bytes"] == 2000 * m["dim"] * 4  # the vectors
    assert size["kinds"]["flat"]["recall_at_10"] == pytest.approx(1.0)  # exact search is its own ground truth
    assert size["kinds"]["hnsw"]["index_bytes"] > size["kinds"]["flat"]["index_bytes"]  # + the graph
    # one byte per dimension + an id per vector, plus the centroids
    assert size["kinds"]["ivf"]["index_bytes"] < size["kinds"]["flat"]["index_bytes"] / 2
    v = m["verdict"]
    assert [p["n"] for p in v["per_size"]] == [2000] and v["per_size"][0]["better"] in ("flat", "ivf")
    assert {r["kind"] for r in doc["rows"]} == {"flat", "ivf", "hnsw"}
    assert all(r["vectors"] == "synthetic" for r in doc["rows"])


def test_scale_synthetic_vectors_are_deterministic_and_normalised() -> None:
    import numpy as np

    from eval.suites.scale import SyntheticSentences

    def make(seed: int) -> np.ndarray:
        gen = SyntheticSentences(32, seed, vocab=500, topics=10, topic_words=50)
        words, offsets = gen.sentences(50)
        return gen.vectors(words, offsets)

    a, b = make(1), make(1)
    assert a.shape == (50, 32) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, make(2))
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_baselines_single_retriever(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head, doc = _run(["baselines", "--systems", "bm25,dense", "--limit", "3"], tmp_path / "results", capsys)
    systems = doc["metrics"]["systems"]
    assert set(systems) == {"hybrid", "bm25", "dense"}
    for name, m in systems.items():
        assert m["n"] == 3 and m["invalid_spans"] == 0, name
        for key in ("success", "citation_precision_micro", "citation_recall_micro", "abstention_rate_unanswerable",
                    "false_abstention_rate"):
            assert m[key] is None or _unit(m[key]), (name, key)
        assert m["latency_ms"]["p50"] is not None and m["latency_ms"]["p50"] >= 0
        assert f"{name}_citation_precision_micro" in head
    assert len(doc["rows"]) == 9 and {r["system"] for r in doc["rows"]} == {"hybrid", "bm25", "dense"}
    for row in doc["rows"]:
        assert row["abstained"] == (not row["citations"])


def test_baselines_one_sided_retrieval_through_settings() -> None:
    from qa import Assistant

    a = Assistant.from_texts({"d": "The Danube flows through ten countries. Its source is in the Black Forest. "
                                   "Gruyere is a Swiss cheese. The Rhine reaches the North Sea."})
    q = "Where is the source of the Danube?"
    hybrid = a.retriever().search(q)
    bm25 = Assistant(a.corpus, a.embedder, settings=a.settings.with_(retrieval={"mode": "bm25"})).retriever().search(q)
    dense = Assistant(a.corpus, a.embedder, settings=a.settings.with_(retrieval={"mode": "dense"})).retriever().search(q)
    assert bm25 and all(h.dense_rank is None and h.bm25_rank is not None for h in bm25)
    assert dense and all(h.bm25_rank is None and h.dense_rank is not None for h in dense)
    assert {h.row for h in bm25} == {h.row for h in hybrid if h.bm25_rank is not None}
    assert {h.row for h in dense} == {h.row for h in hybrid if h.dense_rank is not None}
    assert a.retriever().search(q) == hybrid  # the original assistant is untouched


def test_citation_engine_marker_mapping() -> None:
    from eval.baselines.citation_engine import is_abstention, locate, markers

    assert markers("Water is wet [2], in the evening [1]. Also [Source 3] and [1, 4] [source 2 and 5].") == [2, 1, 3, 4, 5]
    assert markers("see [a note] and [2020 report]") == []
    text = "Alpha beta.\n\nGamma  delta epsilon."
    assert locate("Gamma  delta", text) == (13, 25)
    assert locate("beta. Gamma delta", text) == (6, 25)  # whitespace-insensitive fallback
    assert locate("zeta", text) is None
    assert is_abstention("None of the sources are helpful for this query.") and is_abstention("  ")
    assert is_abstention("The sources do not mention who built it.")
    assert not is_abstention("Source 1: National Post ...")  # uncited, but not an abstention
    assert not is_abstention("Trump has been exchanging letters with Kim [1].")


@pytest.mark.slow
def test_baselines_citation_query_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qa.llm.local import availability
    from qa.settings import Settings

    ok, why = availability(Settings.from_env())
    assert ok, why  # CI installs the LLM: a missing one is a failure, not a skip
    head, doc = _run(["baselines", "--systems", "cqe", "--limit", "1"], tmp_path / "results", capsys)
    cqe = doc["metrics"]["on_llm_subset"]["cqe"]
    assert cqe["n"] == 1 and cqe["invalid_spans"] == 0
    assert cqe["citation_precision_micro"] is None or _unit(cqe["citation_precision_micro"])
    assert _positive(cqe["latency_ms"]["p50"])
    assert doc["metrics"]["cqe"]["chunks"] >= 1
    row = next(r for r in doc["rows"] if r["system"] == "cqe")
    assert len(row["sources"]) >= 1 and not (row["abstained"] and row["citations"])  # abstentions cite nothing
    for c in row["citations"]:
        assert c["end"] > c["start"]
    assert "cqe_citation_precision_micro" in head


@pytest.mark.slow
def test_instant_suite_quotes_first_at_cold_start_and_under_concurrent_users(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    head, doc = _run(["instant", "--users", "2", "--per-user", "1", "--limit", "2"], tmp_path / "results", capsys)
    m = doc["metrics"]
    assert m["cold"]["cited"] and _positive(m["cold"]["page_up_s"])
    assert m["cold"]["first_cited_answer_s"] >= m["cold"]["page_up_s"]
    for users in (1, 2):
        r = m[f"users_{users}"]
        assert r["questions"] == users and r["first_answer_cited_rate"] == 1.0
    rows = doc["rows"]
    assert len(rows) == 3
    for row in rows:  # the quoted answer comes before the LLM's first token, whatever the load
        assert row["first_answer_ms"] < row["first_token_ms"] <= row["total_ms"]
    assert "users2_first_cited_p50_ms" in head


def test_scale_suite_on_a_real_corpus_caches_vectors_and_opens_the_index_in_a_fresh_process(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import SEED

    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    text = SEED.read_text(encoding="utf-8")
    (corpus / "a.txt").write_text(text, encoding="utf-8")
    (corpus / "sub" / "b.txt").write_text(text.replace("Trump", "The president"), encoding="utf-8")
    cache = tmp_path / "vc"
    argv = ["scale", "--corpus", str(corpus), "--queries", "12", "--ingest-sample", "40", "--vectors-cache", str(cache)]
    head, doc = _run(argv, tmp_path / "results", capsys)
    m = doc["metrics"]
    assert m["vectors"].startswith("model") and head["corpus_vectors"].startswith("model")
    assert m["sentences"] == head["corpus_sentences"] > 60 and list(cache.glob("*.npy"))
    probe = m["probe"]
    assert probe["sentences"] == m["sentences"] and probe["kind"] == "flat" and probe["queries"] == 12
    assert probe["recall_at_10"] == pytest.approx(1.0)  # exact search is its own ground truth
    assert _positive(probe["retrieval_ms"]["p50"]) and probe["rss_open_mb"] >= probe["rss_before_mb"] > 0
    assert _positive(m["ingestion_sample"]["ratio"]) and _positive(m["ingestion_full_ratio"])
    assert m["full_build"]["index_dir_mb"] > 0
    # a second run embeds nothing: the cached chunks are reused (same files, same vectors)
    before = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npy")}
    head2, doc2 = _run([*argv, "--corpus-vectors", "synthetic"], tmp_path / "results2", capsys)
    assert doc2["metrics"]["vectors"].startswith("synthetic") and head2["corpus_vectors"].startswith("synthetic")
    head3, _ = _run(argv, tmp_path / "results3", capsys)
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npy")} == before
    assert head3["corpus_recall@10"] == pytest.approx(1.0)
    assert _positive(probe["retrieval_given_vector_ms"]["p50"])
    # --embed-bf16 embeds missing chunks under bfloat16 autocast: labelled, and the same vectors to ~1e-4
    cache16 = tmp_path / "vc16"
    _, doc4 = _run([*argv[:-1], str(cache16), "--embed-bf16"], tmp_path / "results4", capsys)
    assert "bf16" in doc4["metrics"]["vectors"]
    for f in cache.glob("*.npy"):
        a, b = np.load(f), np.load(cache16 / f.name)
        assert a.shape == b.shape and float(np.min(np.sum(a * b, axis=1))) > 0.999
