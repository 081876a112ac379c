"""The fitted constants' files (qa/fitted/*.json): what the answer path reads, and what the training commands write."""

from __future__ import annotations

import json

import pytest

from qa.fitted import FittedError, LogisticFit, load, load_by_embedder, load_judge, logistic_fit, read

FEATURES = ("cosine", "lexical")


def _fit(weights=None, threshold=0.44, embedder="all-MiniLM-L6-v2") -> dict:
    return {"values": {"weights": weights or {"bias": -7.0, "cosine": 3.5, "lexical": 7.5}, "threshold": threshold},
            "embedder": embedder, "data": {"file": "squad.json"}, "figures": {"accuracy": 0.9},
            "command": "python -m training.calibrate_support squad.json", "date": "2026-12-03"}


def test_the_committed_files_load_with_their_features():
    import qa.support
    import qa.verify

    assert load("support", qa.support.HAND_FEATURES) == LogisticFit(qa.support.WEIGHTS, qa.support.ABSTAIN_BELOW)
    assert load("verify", FEATURES) == LogisticFit(qa.verify.SUPPORT_WEIGHTS, qa.verify.SUPPORT_MIN)
    fits = read("relevance")["fits"]
    assert set(fits) == set(qa.support.RELEVANCE_FITS) and "all-MiniLM-L6-v2" in fits
    for record in [read("support"), read("verify"), *fits.values()]:  # each says where its values come from
        assert record["command"].startswith(("python -m", "CITEQA_EMBED_MODEL=")) and record["data"]["file"]
        assert record["figures"] and len(record["date"]) == 10
    # An embedder without its own fit gets the default embedder's.
    assert qa.support.relevance_fit("some-other-model") == (qa.support.RELEVANCE_WEIGHTS, qa.support.RELEVANCE_ABSTAIN_BELOW)


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the fitted constants"),
    ("{not json", "is not valid JSON"),
    (json.dumps({"format": 2, **_fit()}), "format 2, this code reads format 1"),
    (json.dumps([1, 2]), "format 'list'"),
])
def test_a_missing_or_unreadable_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "verify.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(FittedError, match=message) as err:
        read("verify", path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("fit, message", [
    ({k: v for k, v in _fit().items() if k != "command"}, "missing command"),
    (_fit(weights={"bias": -7.0, "cosine": 3.5}), "exactly bias, cosine, lexical"),
    (_fit(weights={"bias": -7.0, "cosine": 3.5, "lexical": "7.5"}), "must be numbers"),
    (_fit(weights={"bias": -7.0, "cosine": 3.5, "lexical": float("nan")}), "must be numbers"),
    (_fit(threshold=1.5), "threshold must be a probability"),
    (_fit(threshold=True), "threshold must be a probability"),
])
def test_a_malformed_fit_is_refused_with_what_is_wrong(fit, message):
    with pytest.raises(FittedError, match=message):
        logistic_fit(fit, FEATURES, "verify.json")


def test_the_training_writer_produces_what_the_answer_path_reads(tmp_path):
    from training.fitted import save

    single = save("verify", _fit(), FEATURES, out=tmp_path / "verify.json")
    assert load("verify", FEATURES, single) == LogisticFit({"bias": -7.0, "cosine": 3.5, "lexical": 7.5}, 0.44)

    path = tmp_path / "relevance.json"
    save("relevance", _fit(), FEATURES, by_embedder=True, out=path)
    save("relevance", _fit(threshold=0.3, embedder="tuned"), FEATURES, by_embedder=True, out=path)
    save("relevance", _fit(threshold=0.2), FEATURES, by_embedder=True, out=path)  # replaces only its embedder's fit
    fits = load_by_embedder("relevance", FEATURES, "tuned", path)
    assert {k: v.threshold for k, v in fits.items()} == {"all-MiniLM-L6-v2": 0.2, "tuned": 0.3}
    with pytest.raises(FittedError, match="with one for 'other'"):
        load_by_embedder("relevance", FEATURES, "other", path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["fits"]["tuned"]["embedder"] = "all-MiniLM-L6-v2"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(FittedError, match="fits for 'tuned' name another embedder"):
        load_by_embedder("relevance", FEATURES, "tuned", path)
    with pytest.raises(FittedError):  # checked before anything is written
        save("verify", _fit(threshold=0.0), FEATURES, out=tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_the_judges_fit_is_a_threshold_and_a_margin(tmp_path):
    fit = load_judge()
    record = read("judge")
    assert 0 < fit.threshold < 1 and 0 <= fit.margin < 1 and record["figures"]["calib"]
    assert record["command"].startswith("python -m training.calibrate_judge")
    bad = {**_fit(), "values": {"threshold": 0.3, "margin": 1.5}}
    path = tmp_path / "judge.json"
    path.write_text(json.dumps({"format": 1, **bad}), encoding="utf-8")
    with pytest.raises(FittedError, match="values.margin must be a number"):
        load_judge(path)
