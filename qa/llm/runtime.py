"""The process-wide local LLM (a ``llama_cpp.Llama``) with prefix caching.

Why prefix caching: every answer prompt is [system text + all numbered corpus sentences] + [question], and
on a small CPU re-reading the long fixed part costs far more than generating the answer. llama.cpp already
reuses the longest common token prefix with the *previous* prompt; we also keep snapshots of the KV state of
known prefixes (``warm_prefix``) so the saving survives unrelated prompts in between.

Prompts are rendered with the model file's own chat template (qa/llm/chat_template.py), so any GGUF
instruct model works; ``stream_chat`` takes chat messages, ``stream_completion`` an already rendered prompt.

Concurrency: one model per process, loaded on first use under a lock; one generation at a
time, in arrival order, through ``qa.llm.queue.ModelQueue`` (its policy: a newer request of the same chat, or
``cancel(chat)``, stops the older one at its next token). ``llm_busy()`` tells a UI that a request would wait.

Length: the KV snapshot machinery (save, restore, best prefix, disk hand-off) must sit with the
generation loop that shares its lock and token bookkeeping; splitting it would expose both.

Configuration: ``configure(settings)`` (model path, threads, token limit) before the first use;
``qa.llm.local.LocalLLM`` does that for the Assistant. Nothing here reads the environment.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

from qa.llm import cpu_load, prefix_store
from qa.llm.chat_template import ChatTemplate, ChatTemplateError, Message
from qa.llm.model_file import ModelFileError, model_path
from qa.llm.queue import Cancelled, ModelQueue
from qa.settings import Settings

_MIN_GAIN = 8  # restoring a snapshot (~35 MB memcpy) only pays when it saves a few tokens

__all__ = [
    "Cancelled",
    "GenerationStats",
    "build_llm",
    "cancel",
    "chat",
    "chat_template",
    "clear_prefix_cache",
    "complete",
    "configure",
    "get_llm",
    "last_stats",
    "llm_busy",
    "llm_loaded",
    "lookup_on",
    "prefix_ready",
    "queue",
    "read_prompt",
    "stream_chat",
    "stream_completion",
    "warm_prefix",
    "warm_prefix_in_turns",
]


@dataclass
class GenerationStats:
    """What the last generation cost; reused_tokens shows whether prefix caching worked."""

    prompt_tokens: int
    reused_tokens: int  # prompt tokens whose KV was already there (not re-read)
    first_token_s: float | None  # from the call to the first text delta
    total_s: float
    threads: int = 0  # llama.cpp threads this turn read with (qa/llm/cpu_load.py)


@dataclass
class _PrefixState:
    tokens: np.ndarray  # the prefix's tokens, int32
    blob: ctypes.Array[ctypes.c_uint8]  # llama_state_get_data() right after the prefix


_load_lock = threading.Lock()
_queue = ModelQueue()  # one generation at a time, in arrival order (qa/llm/queue.py)
_llm: Llama | None = None
_settings = Settings.from_env({})  # replaced by configure() before the model loads
_last_stats: GenerationStats | None = None
_templates: dict[str | None, ChatTemplate] = {}  # of the loaded model, by Settings.llm.chat_template


def configure(settings: Settings) -> None:
    """Which model, threads and token limit the process-wide LLM uses; call before it loads."""
    global _settings
    with _load_lock:
        if _llm is not None and _llm_key(settings) != _llm_key(_settings):
            raise RuntimeError("the process-wide LLM is already loaded with other settings")
        _settings = settings


_KV_TYPES = {"f16": llama_cpp.GGML_TYPE_F16, "q8_0": llama_cpp.GGML_TYPE_Q8_0}


def _llm_key(settings: Settings) -> tuple:
    """What the loaded model was built with: another value needs another Llama."""
    s = settings.llm
    return (s.path, settings.cache_dir, s.threads, s.idle_threads, s.write_threads, s.flash_attn, s.kv_type, s.n_batch,
            s.n_ubatch, s.lookup_ngram, s.lookup_tokens)


def build_llm(settings: Settings) -> Llama:
    """A new llama.cpp model as ``settings`` say. Most code wants get_llm() instead."""
    s = settings.llm
    gguf = model_path(s.path, settings.cache_dir)
    if s.kv_type != "f16" and not s.flash_attn:
        raise ValueError(f"Settings.llm.kv_type={s.kv_type} needs Settings.llm.flash_attn (llama.cpp quantises "
                         "the V cache only with flash attention)")
    # Prompt lookup (speculative decoding) drafts the next tokens from n-grams of the prompt: answers quote it.
    # logits_all only sizes the logits buffer the draft checks need; prompts are read without it (read_prompt).
    draft = LlamaPromptLookupDecoding(s.lookup_ngram, s.lookup_tokens) if s.lookup_ngram else None
    try:
        llama = Llama(model_path=str(gguf), n_ctx=s.context_window, n_threads=s.write_threads or s.threads,
                      n_threads_batch=s.threads,
                      n_batch=s.n_batch, n_ubatch=min(s.n_ubatch, s.n_batch), flash_attn=s.flash_attn,
                      type_k=_KV_TYPES[s.kv_type], type_v=_KV_TYPES[s.kv_type], draft_model=draft,
                      logits_all=draft is not None, verbose=False)
    except ValueError as exc:  # llama.cpp's "Failed to load model from file"
        raise ModelFileError(f"llama.cpp cannot load the model {gguf}: {exc}") from exc
    llama._logits_all = False  # on only while a draft is checked (lookup_on)
    return llama


def read_prompt(llama: Llama, tokens: Sequence[int]) -> None:
    """Evaluate ``tokens`` after the live cache's ``n_tokens`` (no logits kept but the last token's)."""
    if tokens:
        llama.eval(tokens)


@contextmanager
def lookup_on(llama: Llama) -> Iterator[None]:
    """Logits for every token of a decode while generating, so a drafted run of tokens is checked in one
    decode; without a draft model this changes nothing."""
    llama._logits_all = llama.draft_model is not None
    try:
        yield
    finally:
        llama._logits_all = False


def get_llm() -> Llama:
    """The process-wide LLM, loaded (once, ~1-2 s) on first use. Raises ModelFileError."""
    global _llm
    if _llm is None:
        with _load_lock:
            if _llm is None:
                _llm = build_llm(_settings)
                if _most_threads(_settings) > _settings.llm.threads:
                    cpu_load.sampler()  # reading from now on, so the first question already has one
    return _llm


def _most_threads(settings: Settings, cores: int | None = None) -> int:
    return settings.llm.idle_threads or cores or cpu_load.available_cores()


def _use_threads(llama: Llama) -> int:
    """Before a turn: read (and, unless ``write_threads`` is set, write) with the cores other processes leave
    free, between ``Settings.llm.threads`` and ``idle_threads`` (qa/llm/cpu_load.py). Returns the threads."""
    s, cores = _settings.llm, cpu_load.available_cores()
    most = _most_threads(_settings, cores)
    busy = cpu_load.sampler().busy_elsewhere() if most > s.threads else None  # no sampler thread when fixed
    n = cpu_load.threads_for(busy, cores, s.threads, most)
    pair = (s.write_threads or n, n)
    if getattr(llama, "_citeqa_threads", None) != pair:
        llama_cpp.llama_set_n_threads(llama.ctx, *pair)
        llama._citeqa_threads = pair
    return n


def _llama() -> Llama:
    return get_llm()


def template_of(llama: Llama, template: str | None = None) -> ChatTemplate:
    """``llama``'s chat template: ``template`` (a Jinja chat template) if given, else its GGUF file's own."""
    text = template or llama.metadata.get("tokenizer.chat_template")
    if not text:
        raise ChatTemplateError(f"the model {llama.model_path} has no chat template (GGUF tokenizer.chat_template); "
                                "give one in Settings.llm.chat_template")

    def token_text(token: int) -> str:
        return llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    bos_added = bool(llama.tokenize(b"", add_bos=True))  # the tokenizer itself starts every prompt with BOS
    return ChatTemplate(text, token_text(llama.token_bos()), token_text(llama.token_eos()), bos_added)


def chat_template(template: str | None = None) -> ChatTemplate:
    """The process-wide model's chat template (``template``: a Jinja override, as Settings.llm.chat_template)."""
    llama = _llama()
    with _load_lock:
        if template not in _templates:
            _templates[template] = template_of(llama, template)
        return _templates[template]


def llm_loaded() -> bool:
    return _llm is not None


def llm_busy() -> bool:
    """True while a generation (or prefix warm-up) holds the model; new requests will wait."""
    return _queue.busy()


def cancel(chat: str, reason: str = "the chat was closed") -> int:
    """Cancel ``chat``'s waiting or running generation (it stops at its next token); returns how many."""
    return _queue.cancel(chat, reason)


def queue() -> ModelQueue:
    """The process-wide model queue (its policy: qa/llm/queue.py)."""
    return _queue


def last_stats() -> GenerationStats | None:
    return _last_stats


def _tokenize(llama: Llama, text: str) -> list[int]:
    # special=True: the template's markers ("<|im_start|>" etc.) become their control tokens. add_bos: the
    # tokenizer's own choice; ChatTemplate.render leaves the template's BOS text out when the tokenizer adds one.
    return llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)


def _common_prefix(a: np.ndarray, b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.nonzero(a[:n] != np.asarray(b[:n], dtype=a.dtype))[0]
    return int(diff[0]) if len(diff) else n


def _snapshots(llama: Llama) -> OrderedDict[str, _PrefixState]:
    """This model's prefix snapshots (LRU, key = sha256 of the prefix text); they live and die
    with the Llama object, since a KV state only fits the model that produced it."""
    return llama.__dict__.setdefault("_citeqa_prefixes", OrderedDict())


def _live_tokens(llama: Llama) -> np.ndarray:
    return llama.input_ids[: llama.n_tokens]


def _save(llama: Llama) -> _PrefixState:
    # Not Llama.save_state(): that also copies the 512 x vocab logits buffer (~311 MB for
    # Qwen's 152k vocab) on every save and load, which would eat the time we are saving.
    ctx = llama._ctx.ctx
    size = llama_cpp.llama_state_get_size(ctx)
    buf = (ctypes.c_uint8 * size)()
    n = llama_cpp.llama_state_get_data(ctx, buf, size)
    if n > size:
        raise RuntimeError("llama_state_get_data overflowed its buffer")
    return _PrefixState(tokens=_live_tokens(llama).copy(), blob=buf)


def _load(llama: Llama, state: _PrefixState) -> None:
    size = len(state.blob)
    if llama_cpp.llama_state_set_data(llama._ctx.ctx, state.blob, size) != size:
        raise RuntimeError("llama_state_set_data failed to restore a prefix snapshot")
    n = len(state.tokens)
    llama.input_ids[:n] = state.tokens
    llama.n_tokens = n
    llama._requires_eval = True  # restored logits are not trusted by Llama.generate()


def _best_source(llama: Llama, tokens: Sequence[int]) -> tuple[str | None, int]:
    """(snapshot key or None for the live cache, tokens of tokens already evaluated there)."""
    best_key, best = None, _common_prefix(_live_tokens(llama), tokens)
    for key, state in _snapshots(llama).items():
        n = _common_prefix(state.tokens, tokens)
        if n > best + _MIN_GAIN:
            best_key, best = key, n
    return best_key, best


def _restore_best(llama: Llama, tokens: Sequence[int]) -> int:
    """Make the live KV cache share the longest known prefix with tokens; return its length."""
    best_key, best = _best_source(llama, tokens)
    if best_key is not None:
        _load(llama, _snapshots(llama)[best_key])
        _snapshots(llama).move_to_end(best_key)
    return best


def _warm_locked(llama: Llama, prefix: str, state_dir: Path | None = None) -> tuple[int, int]:
    """(prefix tokens, tokens evaluated now); state_dir: also keep the snapshot on disk there."""
    key = _key(prefix)
    tokens = _tokenize(llama, prefix)
    snapshots = _snapshots(llama)
    if key in snapshots:
        snapshots.move_to_end(key)
        if _common_prefix(_live_tokens(llama), tokens) < len(tokens):
            _load(llama, snapshots[key])
        return len(tokens), 0
    _check_fits(llama, tokens)
    if state_dir is not None and _load_from_disk(llama, state_dir, key, tokens):
        return len(tokens), 0
    reuse = _start_read(llama, tokens)
    if reuse < len(tokens):
        llama.eval(tokens[reuse:])
    _keep(llama, key, state_dir)
    return len(tokens), len(tokens) - reuse


def _check_fits(llama: Llama, tokens: list[int]) -> None:
    if len(tokens) >= llama.n_ctx():
        raise ValueError(f"prefix is {len(tokens)} tokens; the model context is {llama.n_ctx()}")


def _start_read(llama: Llama, tokens: list[int]) -> int:
    """Restore the snapshot sharing the most leading tokens with ``tokens`` and drop the live cache past what they
    share (a longer live prompt's tail is not this prefix's; its logits are stale). Returns how many of
    ``tokens`` are read: the rest go to ``llama.eval``."""
    done = min(_restore_best(llama, tokens), len(tokens))
    llama.n_tokens = done
    llama._ctx.kv_cache_seq_rm(-1, done, -1)
    llama._requires_eval = True
    return done


def _keep(llama: Llama, key: str, state_dir: Path | None) -> None:
    """Snapshot the live KV state as ``key``'s prefix, in memory and (``state_dir``) on disk."""
    _remember(llama, key, _save(llama))
    if state_dir is not None:
        state = _snapshots(llama)[key]
        prefix_store.save(state_dir, key, prefix_store.facts(llama), state.tokens, state.blob, keep=_disk_keep())


def _key(prefix: str) -> str:
    return hashlib.sha256(prefix.encode("utf-8")).hexdigest()


def _capacity() -> int:
    """Prefix snapshots kept, in memory and as files: a corpus read in windows (qa/prompt.py) has one per window."""
    return _settings.llm.max_prefix_states + _settings.llm.corpus_windows


def _disk_keep() -> int:
    return max(prefix_store.KEEP, _capacity())


def _remember(llama: Llama, key: str, state: _PrefixState) -> None:
    snapshots = _snapshots(llama)
    snapshots[key] = state
    while len(snapshots) > _capacity():
        snapshots.popitem(last=False)


def _load_from_disk(llama: Llama, state_dir: Path, key: str, tokens: list[int]) -> bool:
    """Restore the prefix from its saved file (qa/llm/prefix_store.py) if there is a valid one."""
    saved = prefix_store.load(state_dir, key, prefix_store.facts(llama), tokens)
    if saved is None:
        return False
    state = _PrefixState(*saved)
    try:
        _load(llama, state)
        # A restored state serialises to the very bytes it came from; another size means
        # llama.cpp read it under another layout (its set_data does not check everything).
        if llama_cpp.llama_state_get_size(llama._ctx.ctx) != len(state.blob):
            raise RuntimeError("the restored state has another size than the saved one")
    except RuntimeError as exc:
        prefix_store.discard(state_dir, key, str(exc))
        llama.n_tokens = 0  # the KV cache may be half-restored: start from an empty one
        llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        return False
    _remember(llama, key, state)
    return True


def warm_prefix(prefix_text: str, state_dir: Path | None = None) -> int:
    """Evaluate a rendered prompt prefix (``ChatTemplate.prefix``) once and keep a snapshot of its KV state.

    Later prompts that start with it only read their own tail, even after other prompts ran
    in between. End the prefix at a token boundary (e.g. a newline) for an exact token match;
    otherwise only the last token or so is re-read. With ``state_dir`` the snapshot is also read
    from / saved to a file there, so it survives a restart. Returns the prefix length in tokens.
    """
    llama = _llama()
    with _queue.turn():
        _use_threads(llama)
        return _warm_locked(llama, prefix_text, state_dir)[0]


def prefix_ready(prefix_text: str, state_dir: Path | None = None) -> bool:
    """The prefix's KV state is in memory or saved in ``state_dir``: a prompt starting with it reads only its
    tail. (A saved file is checked when it is loaded; a bad one is then read again from the text.)"""
    key = _key(prefix_text)
    llama = _llm
    if llama is not None and key in _snapshots(llama):
        return True
    return state_dir is not None and prefix_store.exists(state_dir, key)


def warm_prefix_in_turns(prefix_text: str, state_dir: Path | None = None, chunk: int = 128,
                         give_way: Callable[[], bool] | None = None) -> bool:
    """``warm_prefix`` for background work: it reads ``chunk`` tokens at a time and, as soon as a request
    queues for the model (or ``give_way()`` says so), keeps what it read as a partial snapshot and returns
    False; call again later and it resumes there. True once the prefix's state is ready (and saved)."""
    if prefix_ready(prefix_text, state_dir):
        return True
    llama = _llama()
    key, partial = _key(prefix_text), "partial:" + _key(prefix_text)
    with _queue.turn():
        _use_threads(llama)
        tokens = _tokenize(llama, prefix_text)
        _check_fits(llama, tokens)
        done = _start_read(llama, tokens)
        while done < len(tokens):
            if _queue.waiting() or (give_way is not None and give_way()):
                if done:
                    _remember(llama, partial, _save(llama))
                return False
            end = min(len(tokens), done + chunk)
            llama.eval(tokens[done:end])
            done = end
        _snapshots(llama).pop(partial, None)
        _keep(llama, key, state_dir)
        return True


def clear_prefix_cache() -> None:
    """Forget all snapshots and the live KV cache: the next prompt is read from scratch."""
    llama = _llama()
    with _queue.turn():
        _snapshots(llama).clear()
        llama.reset()
        llama._ctx.kv_cache_seq_rm(-1, 0, -1)


def stream_chat(
    messages: Sequence[Message],
    max_tokens: int | None = None,
    stop: Iterable[str] | None = None,
    state_dir: Path | None = None,
    template: str | None = None,
    chat: str | None = None,
) -> Iterator[str]:
    """Yield text deltas of the greedy reply to chat messages ({"role", "content"}), rendered with the model's
    chat template (``template``: a Jinja override). A leading system message is the prompt's cacheable
    prefix, as with ``stream_completion(prefix=...)``; the same holds for holding the lock."""
    template_ = chat_template(template)
    prompt = template_.prompt(messages)
    return _stream(_llama(), prompt.text, max_tokens, [*template_.stops, *(stop or [])], prompt.prefix, state_dir,
                   chat)


def chat(messages: Sequence[Message], *args: Any, **kwargs: Any) -> str:
    """Non-streaming stream_chat(), same arguments."""
    return "".join(stream_chat(messages, *args, **kwargs))


def stream_completion(
    prompt_text: str,
    max_tokens: int | None = None,
    stop: Iterable[str] | None = None,
    prefix: str | None = None,
    state_dir: Path | None = None,
    chat: str | None = None,
) -> Iterator[str]:
    """Yield text deltas of the greedy completion of a prompt already rendered with the chat template.

    Stops at an end-of-generation token, the end of turn of the model's own chat template, any extra
    ``stop`` string, or after ``max_tokens`` (default ``Settings.llm.max_tokens``). ``prefix``, if given, must
    start ``prompt_text`` and is warmed (snapshotted) first, as with ``warm_prefix`` (``state_dir``
    too). The generation lock is held from the first ``next()`` until the generator finishes or
    is closed: consume it fully or close it (``contextlib.closing``).
    """
    if prefix is not None and not prompt_text.startswith(prefix):
        raise ValueError("prefix must be the beginning of prompt_text")
    return _stream(_llama(), prompt_text, max_tokens, [*chat_template().stops, *(stop or [])], prefix, state_dir,
                   chat)


def _stream(
    llama: Llama,
    prompt_text: str,
    max_tokens: int | None,
    stop: Iterable[str] | None,
    prefix: str | None = None,
    state_dir: Path | None = None,
    chat: str | None = None,
) -> Iterator[str]:
    global _last_stats
    stops = list(stop or [])
    with _queue.turn(chat) as ticket:
        t0 = time.perf_counter()
        threads = _use_threads(llama)
        tokens = _tokenize(llama, prompt_text)
        if not tokens:
            raise ValueError("empty prompt")
        if len(tokens) >= llama.n_ctx():
            raise ValueError(
                f"prompt is {len(tokens)} tokens; the model context is {llama.n_ctx()} tokens"
            )
        known = _best_source(llama, tokens)[1]  # before warming: what this call did not read
        if prefix and _warm_locked(llama, prefix, state_dir)[1] == 0:  # e.g. read back from disk
            known = max(known, _common_prefix(_live_tokens(llama), tokens))
        reused = _restore_best(llama, tokens)
        stats = GenerationStats(len(tokens), min(known, len(tokens)), None, 0.0, threads)
        _last_stats = stats
        if llama.draft_model is not None and reused < len(tokens) - 1:
            llama.n_tokens = reused  # the prompt without logits for every token; generate() reads the last one
            read_prompt(llama, tokens[reused:-1])
        # A token list (not text) goes straight to Llama.generate(), whose longest-common-
        # prefix check then keeps the KV we just restored.
        with lookup_on(llama):
            chunks = llama.create_completion(
                tokens,
                max_tokens=max_tokens or _settings.llm.max_tokens,
                temperature=0.0,
                repeat_penalty=1.0,
                stop=stops or None,
                stream=True,
            )
            try:
                for chunk in chunks:
                    ticket.check()  # cancelled (a newer question from this chat): stop before the next token
                    delta = chunk["choices"][0]["text"]
                    if not delta:
                        continue
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - t0
                    yield delta
            finally:
                chunks.close()
                stats.total_s = time.perf_counter() - t0


def complete(prompt_text: str, *args: Any, **kwargs: Any) -> str:
    """Non-streaming stream_completion(), same arguments."""
    return "".join(stream_completion(prompt_text, *args, **kwargs))
