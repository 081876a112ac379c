"""One typed settings object, read once; the CLI's errors are one line and a non-zero exit."""

import subprocess
import sys
from pathlib import Path

import pytest

from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_settings_come_from_defaults_then_environment_then_arguments(tmp_path) -> None:
    s = Settings.from_env({})
    assert s.index_dir == Path.home() / ".cache" / "citeqa" / "index" and s.llm_threads == 2
    env = {"CITEQA_HOME": str(tmp_path), "CITEQA_LLM_THREADS": "1", "CITEQA_EMBED_MODEL": "", "OTHER": "x"}
    s = Settings.from_env(env)
    assert s.index_dir == tmp_path / "index" and s.llm_threads == 1 and s.embed_model is None
    s = Settings.from_env(env, index_dir=tmp_path / "elsewhere", top_k=7)
    assert s.index_dir == tmp_path / "elsewhere" and s.top_k == 7
    with pytest.raises(ValueError, match="CITEQA_LLM_THREADS must be a whole number"):
        Settings.from_env({"CITEQA_LLM_THREADS": "two"})
    with pytest.raises(ValueError, match="retrieval must be one of"):
        Settings(retrieval="telepathy")


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
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


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
    assert out.returncode == 2 and out.stderr.strip() == "citeqa: error: CITEQA_LLM_THREADS must be a whole number, got 'lots'"


def test_eval_is_a_normal_subcommand() -> None:
    out = _cli("eval", "--help")
    assert out.returncode == 0 and "seed" in out.stdout and "squad" in out.stdout, out.stderr
