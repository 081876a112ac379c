import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "national_post_us_north_korea_stalemate.txt"
GOLD = ROOT / "eval" / "gold_seed.jsonl"
# CI has ../shared beside the clone; CITEQA_SQUAD names the file elsewhere (a git worktree)
SQUAD = Path(os.environ.get("CITEQA_SQUAD") or ROOT.parent / "shared" / "eval" / "squad2_dev_A.json")


def pytest_collection_modifyitems(items) -> None:
    """tests/e2e (browser, servers, training slices, clusters) is slow by definition: `-m "not slow"` skips it."""
    for item in items:
        if "e2e" in Path(str(item.fspath)).relative_to(ROOT).parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory):
    from qa import Assistant

    return Assistant.open(index_dir=tmp_path_factory.mktemp("seed-index"))


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a citeqa subprocess: this checkout's code, offline."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **extra}


def cli_argv(*args) -> list[str]:
    return [sys.executable, "-m", "qa.cli", *map(str, args)]


def run_cli(*args, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path = ROOT, text: bool = True,
            **kw) -> subprocess.CompletedProcess:
    """``citeqa ARGS`` as a user runs it, output captured (``env``: extra variables)."""
    return subprocess.run(cli_argv(*args), capture_output=True, text=text, env=cli_env(**(env or {})),
                          timeout=timeout, cwd=cwd, **kw)


def start_cli(*args, env: dict[str, str] | None = None, cwd: Path = ROOT, **kw) -> subprocess.Popen:
    """``citeqa ARGS`` in the background (a server, or a command a test kills)."""
    return subprocess.Popen(cli_argv(*args), env=cli_env(**(env or {})), cwd=cwd, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(index_dir: Path, *args, port: int | None = None):
    """`citeqa --index-dir DIR serve ARGS` in a subprocess (on ``port``, else a free one); yields
    {"url" (ending in /), "port", "index_dir", "log"} once the page answers, and stops the server after."""
    from eval.suites.instant import stop_server, wait_until_served

    port = port or free_port()
    log_path = index_dir.parent / f"serve-{index_dir.name}-{port}.log"
    with open(log_path, "ab") as log:
        proc = start_cli("--index-dir", index_dir, "serve", "--port", port, *args,
                         env={"GRADIO_ANALYTICS_ENABLED": "False"}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_until_served(proc, url, timeout=240, poll_s=0.5)
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{log_path.read_text(errors='replace')[-3000:]}")
        yield {"url": url, "port": port, "index_dir": index_dir, "log": log_path}
    finally:
        stop_server(proc)


def run_training(module: str, out: Path, *args: str, timeout: int = 900) -> dict:
    """Run a training command (``python -m training.x``) on the shared SQuAD file into ``out``, as a user would;
    returns its metrics.json."""
    assert SQUAD.exists(), f"missing {SQUAD}"  # a missing file is a broken setup: fail loudly
    subprocess.run([sys.executable, "-m", module, "--squad", str(SQUAD), "--out", str(out), *args],
                   cwd=ROOT, env=cli_env(), check=True, timeout=timeout)
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def peft_changes_the_encoder(adapter_dir: Path, layers: int = 6) -> float:
    """Load ``adapter_dir`` with peft onto the packaged MiniLM (its first ``layers`` layers) and return the largest
    change of the token states it makes on a question/sentence pair (0 when training changed nothing)."""
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer, BertModel

    from index.embedder import default_model_path

    base_dir = default_model_path()
    bert = BertModel.from_pretrained(base_dir, num_hidden_layers=layers, add_pooling_layer=False).eval()
    enc = AutoTokenizer.from_pretrained(base_dir)(["Who built the bridge?"], ["The bridge was built in 1890 by Ann."],
                                                  return_tensors="pt")
    with torch.no_grad():
        before = bert(**enc).last_hidden_state
        tuned = PeftModel.from_pretrained(bert, str(adapter_dir)).eval()
        assert tuned.peft_config["default"].peft_type == "LORA"
        after = tuned(**enc).last_hidden_state
    return float((after - before).abs().max())


# (question, the sentence that answers it, a sentence on the same topic that does not): both relevance judges
CASES = [
    ("When did the Normans conquer England?",
     "The Norman conquest of England began in 1066, when William defeated Harold at Hastings.",
     "Norman architecture is known for its rounded arches and massive walls."),
    ("Who wrote the letter to the president?",
     "The letter to the president was written by Kim Yong Chol, a senior official.",
     "The president said he looked forward to reading the letter."),
    ("How many people died in the fire?",
     "Officials said 37 people died in the fire and dozens more were injured.",
     "The fire started in a kitchen on the ground floor of the building."),
    ("What is the capital of Australia?",
     "Canberra is the capital city of Australia.",
     "Sydney is the largest city in Australia."),
]


def gold_questions() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


def as_history(turns) -> list[dict]:
    out = []
    for t in turns or []:
        out += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": t["answer"]}]
    return out


class ScriptedLLM:
    """A PromptLLM whose reply is scripted, so the decisions after the model are tested deterministically;
    the real model's answers are covered by tests/integration/test_generative.py."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def stream(self, prompt: str, *, prefix: str | None = None, max_tokens: int | None = None,
               persist_prefix: bool = False):
        assert prefix is None or prompt.startswith(prefix)
        self.prompts.append(prompt)
        yield self.reply

    def warm(self, prefix: str, persist_prefix: bool = False) -> None:
        pass


def scripted_assistant(assistant, reply: str):
    """The same corpus, answered by a scripted LLM (no index directory: nothing is written)."""
    from qa import Assistant

    return Assistant(assistant.corpus, assistant.embedder, settings=assistant.settings, llm=ScriptedLLM(reply))
