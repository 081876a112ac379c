"""One typed settings object, read once; the CLI's errors are one line and a non-zero exit."""

import subprocess
import sys
from pathlib import Path

import pytest

from pydantic import ValidationError

from qa.settings import Settings, SettingsError, describe

from conftest import ROOT, run_cli


def test_settings_come_from_defaults_then_environment_then_arguments(tmp_path) -> None:
    s = Settings.from_env({})
    assert s.index.dir == Path.home() / ".cache" / "citeqa" / "index" and s.llm.threads == 1
    assert s.milvus.uri == str(Path.home() / ".cache" / "citeqa" / "milvus.db") and s.retrieval.mode == "hybrid"
    env = {"CITEQA_HOME": str(tmp_path), "CITEQA_LLM_THREADS": "2", "CITEQA_EMBED_MODEL": "", "OTHER": "x",
           "CITEQA_RETRIEVAL_TOP_K": " "}
    s = Settings.from_env(env)
    assert s.index.dir == tmp_path / "index" and s.milvus.uri == str(tmp_path / "milvus.db")
    assert s.llm.threads == 2 and s.index.embed_model is None and s.retrieval.top_k == 20  # blank = unset
    s = Settings.from_env(env, index={"dir": tmp_path / "elsewhere"}, retrieval={"top_k": 7})
    assert s.index.dir == tmp_path / "elsewhere" and s.retrieval.top_k == 7 and s.llm.threads == 2
    with pytest.raises(SettingsError, match="^CITEQA_LLM_THREADS: input should be a valid integer.*got 'two'$"):
        Settings.from_env({"CITEQA_LLM_THREADS": "two"})
    with pytest.raises(ValueError, match="^retrieval.mode: input should be 'hybrid', 'bm25' or 'dense', got 'telepathy'$"):
        Settings(retrieval={"mode": "telepathy"})


# Every documented variable, a value for it, and where that value lands.
DOCUMENTED = [
    ("CITEQA_HOME", "/srv/citeqa", lambda s: s.home == Path("/srv/citeqa")),
    ("CITEQA_INDEX_DIR", "/srv/ix", lambda s: s.index.dir == Path("/srv/ix")),
    ("CITEQA_CACHE", "/srv/cache", lambda s: s.cache_dir == Path("/srv/cache")),
    ("CITEQA_EMBED_MODEL", "squad-tuned", lambda s: s.index.embed_model == "squad-tuned"),
    ("CITEQA_LLM_PATH", "/models/q.gguf", lambda s: s.llm.path == "/models/q.gguf"),
    ("CITEQA_LLM_THREADS", "3", lambda s: s.llm.threads == 3),
    ("CITEQA_LLM_MAX_TOKENS", "99", lambda s: s.llm.max_tokens == 99),
    ("CITEQA_RELEVANCE", "features", lambda s: s.judge.relevance == "features"),
    ("CITEQA_BACKEND", "milvus", lambda s: s.index.backend == "milvus"),
    ("CITEQA_MILVUS_URI", "http://db:19530", lambda s: s.milvus.uri == "http://db:19530"),
    ("CITEQA_MILVUS_TOKEN", "root:Milvus", lambda s: s.milvus.token.get_secret_value() == "root:Milvus"),
    ("CITEQA_MILVUS_COLLECTION", "team_a", lambda s: s.milvus.collection == "team_a"),
    ("CITEQA_MILVUS_TIMEOUT", "2.5", lambda s: s.milvus.timeout_s == 2.5),
    ("CITEQA_MILVUS_TEXT_CACHE", "1000", lambda s: s.milvus.text_cache_chars == 1000),
    ("CITEQA_RAY_ADDRESS", "ray://head:10001", lambda s: s.index.ray_address == "ray://head:10001"),
    ("RAY_ADDRESS", "head:6379", lambda s: s.index.ray_cluster == "head:6379"),
    # CITEQA_<GROUP>_<NAME> reaches every other setting
    ("CITEQA_RETRIEVAL_MODE", "bm25", lambda s: s.retrieval.mode == "bm25"),
    ("CITEQA_JUDGE_RELEVANCE_GATE", "1.01", lambda s: s.judge.relevance_gate == 1.01),
    ("CITEQA_LLM_MAX_PREFIX_STATES", "2", lambda s: s.llm.max_prefix_states == 2),
    ("CITEQA_INDEX_BATCH_SIZE", "32", lambda s: s.index.batch_size == 32),
    ("CITEQA_INDEX_SHARED_CHECK_S", "0.5", lambda s: s.index.shared_check_s == 0.5),
    ("CITEQA_MILVUS_INDEX", "HNSW", lambda s: s.milvus.index == "HNSW"),
    ("CITEQA_UI_CONCURRENCY", "4", lambda s: s.ui.concurrency == 4),
]


@pytest.mark.parametrize("var,value,check", DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_each_documented_variable_sets_its_setting(var, value, check) -> None:
    assert check(Settings.from_env({var: value}))
    assert check(Settings.from_env({var.lower() if var.startswith("CITEQA_") else var: value}))  # any case
    assert describe(Settings.from_env({var: value}), {var: value})  # and is named as the source below
    assert [row for row in describe(Settings.from_env({var: value}), {var: value}) if row[2] == var]


def test_the_group_spelling_wins_over_a_short_name() -> None:
    s = Settings.from_env({"CITEQA_MILVUS_TIMEOUT": "3", "CITEQA_MILVUS_TIMEOUT_S": "4",
                           "CITEQA_EMBED_MODEL": "a", "CITEQA_INDEX_EMBED_MODEL": "b"})
    assert s.milvus.timeout_s == 4 and s.index.embed_model == "b"


def test_every_setting_has_a_description_and_numbers_have_bounds() -> None:
    for group in ("index", "milvus", "retrieval", "judge", "llm", "ui"):
        model = type(getattr(Settings.from_env({}), group))
        for name, field in model.model_fields.items():
            assert field.description, f"{group}.{name}"
            if field.annotation in (int, float):
                bounds = {type(m).__name__ for m in field.metadata}
                assert bounds & {"Ge", "Gt"} and "Le" in bounds, f"{group}.{name}"


@pytest.mark.parametrize("env,message", [
    ({"CITEQA_LLM_THREADS": "0"}, "CITEQA_LLM_THREADS: input should be greater than or equal to 1, got '0'"),
    ({"CITEQA_RETRIEVAL_TOP_K": "100000"}, "CITEQA_RETRIEVAL_TOP_K: input should be less than or equal to 1000"),
    ({"CITEQA_JUDGE_RELEVANCE_GATE": "-0.1"}, "CITEQA_JUDGE_RELEVANCE_GATE: input should be greater than or equal to 0"),
    ({"CITEQA_RELEVANCE": "magic"}, "CITEQA_RELEVANCE: input should be 'judge', 'model' or 'features', got 'magic'"),
    ({"CITEQA_MILVUS_COLLECTION": "9lives"}, "CITEQA_MILVUS_COLLECTION: string should match pattern"),
    ({"CITEQA_RAY_ADDRESS": "head"}, "CITEQA_RAY_ADDRESS: must be auto, ray://HOST:PORT or HOST:PORT, got 'head'"),
    ({"CITEQA_LLM_TREADS": "1"}, "CITEQA_LLM_TREADS is not a setting"),
])
def test_a_bad_variable_is_one_error_naming_it(env, message) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_settings_are_frozen_and_changed_by_copy() -> None:
    s = Settings.from_env({})
    with pytest.raises(ValidationError, match="frozen"):
        s.llm.threads = 1  # type: ignore[misc]
    t = s.with_(llm={"threads": 2}, retrieval={"mode": "dense"})
    assert (t.llm.threads, t.llm.max_tokens, t.retrieval.mode, t.retrieval.top_k) == (2, 256, "dense", 20)
    assert (s.llm.threads, s.retrieval.mode) == (1, "hybrid")
    with pytest.raises(SettingsError, match="^llm.threads: input should be greater than or equal to 1, got 0$"):
        s.with_(llm={"threads": 0})
    with pytest.raises(SettingsError, match="llm.thread is not a setting"):
        s.with_(llm={"thread": 1})


def test_importing_the_packages_sets_no_environment_variable() -> None:
    code = ("import os; before = dict(os.environ); import qa, qa.cli, index.embedder, ui.app, eval.__main__; "
            "changed = {k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k)}; "
            "print(sorted(changed))")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "TOKENIZERS_",
                                                                                   "GRADIO_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _cli(*args: str, env_extra: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run_cli(*args, env=env_extra, cwd=cwd)


def test_a_file_named_eval_is_indexed_like_any_other(tmp_path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "eval").mkdir()
    (docs / "eval" / "a.txt").write_text("Apples are red.", encoding="utf-8")
    (docs / "notes.md").write_text("Lemons are yellow.", encoding="utf-8")
    out = _cli("--index-dir", str(tmp_path / "idx"), "index", "add", "eval", "notes.md", cwd=docs)
    assert out.returncode == 0, out.stderr
    assert "added a.txt" in out.stdout and "added notes.md" in out.stdout  # "eval" is a path here, not a command


def test_llm_mode_without_a_usable_model_says_how_to_fix_it(tmp_path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_text("not a model", encoding="utf-8")
    out = _cli("--index-dir", str(tmp_path / "idx"), "ask", "Why was the trip cancelled?", "--mode", "generative",
               env_extra={"CITEQA_LLM_PATH": str(bad)})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("citeqa: error: "), out.stderr
    assert "not a GGUF file" in lines[0] and "CITEQA_LLM_PATH" in lines[0] and ".ci/setup" in lines[0]
    # The combined mode still quotes at once and says why there is no written answer.
    out = _cli("--index-dir", str(tmp_path / "idx"), "ask", "Why was the trip cancelled?", "--mode", "combined",
               env_extra={"CITEQA_LLM_PATH": str(bad)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Quoted: ") and "(No written answer: " in out.stdout
    assert "[1] national_post_us_north_korea_stalemate.txt:" in out.stdout


def test_a_bad_setting_is_one_line_too(tmp_path) -> None:
    out = _cli("--index-dir", str(tmp_path / "idx"), "index", "list", env_extra={"CITEQA_LLM_THREADS": "lots"})
    assert out.returncode == 2 and out.stderr.strip() == ("citeqa: error: CITEQA_LLM_THREADS: input should be a valid "
                                                          "integer, unable to parse string as an integer, got 'lots'")


def test_citeqa_settings_prints_every_value_and_its_source(tmp_path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.upper().startswith(("CITEQA_", "RAY_ADDRESS"))}
    env.update({"CITEQA_LLM_THREADS": "1", "CITEQA_RETRIEVAL_TOP_K": "30", "CITEQA_RELEVANCE": "features",
                "CITEQA_MILVUS_TOKEN": "root:s3cret", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    out = subprocess.run([sys.executable, "-m", "qa.cli", "--index-dir", str(tmp_path / "idx"), "settings",
                          "--uri", str(tmp_path / "m.db")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert len(rows) == len(describe(Settings.from_env({})))  # every setting, once
    assert rows["llm.threads"].split()[1:] == ["1", "[CITEQA_LLM_THREADS]"]
    assert rows["retrieval.top_k"].split()[1:] == ["30", "[CITEQA_RETRIEVAL_TOP_K]"]
    assert rows["judge.relevance"].split()[1:] == ["features", "[CITEQA_RELEVANCE]"]
    assert rows["index.dir"].split()[1:] == [str(tmp_path / "idx"), "[argument", "--index-dir]"]
    assert rows["milvus.uri"].split()[1:] == [str(tmp_path / "m.db"), "[argument", "--uri]"]
    assert rows["llm.max_tokens"].split()[1:] == ["256", "[default]"]
    assert rows["milvus.token"].split()[1:] == ["********", "[CITEQA_MILVUS_TOKEN]"] and "s3cret" not in out.stdout


def test_eval_is_a_normal_subcommand() -> None:
    out = _cli("eval", "--help")
    assert out.returncode == 0 and "seed" in out.stdout and "squad" in out.stdout, out.stderr
