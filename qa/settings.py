"""Every knob of citeqa in one typed, frozen object (pydantic-settings): defaults, then the environment,
then explicit arguments.

Each setting sits in a group (``settings.retrieval.top_k``) and is read from ``CITEQA_<GROUP>_<NAME>``
(``CITEQA_RETRIEVAL_TOP_K``); the two top-level ones from ``CITEQA_HOME`` and ``CITEQA_CACHE_DIR``. The
short names documented before the groups existed (``SHORT_NAMES``: ``CITEQA_EMBED_MODEL``, ``CITEQA_CACHE``,
...) keep working. Empty variables are ignored; a bad value is one ``SettingsError`` naming the variable.
``citeqa settings`` prints every effective value and where it came from.

Everything else receives the object (``Assistant.open(settings=...)``) instead of reading the environment
or module globals, so a benchmark changes behaviour by passing other settings
(``settings.with_(retrieval={"mode": "bm25"})``). The ``index`` package never imports this module: it
reads the attributes of whatever settings object it is handed.

Fitted model parameters (support weights, abstention thresholds) are not settings: they live in
qa/fitted/*.json with the numbers that justify them, written by ``python -m training.calibrate*``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

PREFIX = "CITEQA_"
# Ray's own host:port forms (reachability is checked when the address is used).
RAY_ADDRESS_PATTERN = r"auto|(ray://)?(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}"

# Variable names that do not follow CITEQA_<GROUP>_<NAME>: the ones documented before the groups, and Ray's
# own RAY_ADDRESS. The CITEQA_<GROUP>_<NAME> spelling wins when both are set.
SHORT_NAMES: dict[str, tuple[str, ...]] = {
    "CITEQA_CACHE": ("cache_dir",),
    "CITEQA_EMBED_MODEL": ("index", "embed_model"),
    "CITEQA_BACKEND": ("index", "backend"),
    "CITEQA_RAY_ADDRESS": ("index", "ray_address"),
    "RAY_ADDRESS": ("index", "ray_cluster"),
    "CITEQA_RELEVANCE": ("judge", "relevance"),
    "CITEQA_MILVUS_TIMEOUT": ("milvus", "timeout_s"),
    "CITEQA_MILVUS_TEXT_CACHE": ("milvus", "text_cache_chars"),
}
SECRETS = {("milvus", "token")}


def _default_home() -> Path:
    return Path.home() / ".cache" / "citeqa"


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class IndexSettings(_Group):
    """Where the index lives and how documents are embedded (index/)."""

    dir: Path | None = Field(None, description="index directory (FAISS files, or this machine's own files with "
                                               "Milvus: LLM state, chat uploads); unset = <home>/index")
    backend: Literal["faiss", "milvus"] = Field(
        "faiss", description="faiss: files in the index directory; milvus: sentences, vectors and texts in Milvus "
                             "(index/milvus/), so several servers share one index")
    embed_model: str | None = Field(
        None, min_length=1, description="a sentence-transformers directory; unset = the packaged all-MiniLM-L6-v2; "
                                        "squad-tuned = it plus the LoRA adapter trained here (index/tuned_embedder.py)")
    batch_size: int = Field(64, ge=1, le=4096, description="sentences per sentence-transformers batch when indexing")
    ray_address: str | None = Field(
        None,
        description="embed the sentences of `index add` on a Ray cluster (pip install 'citeqa[ray]'): auto, "
                    "ray://HOST:PORT or HOST:PORT; unset = no Ray. Questions are never embedded through Ray")
    ray_cluster: str | None = Field(
        None,
        description="the cluster ray_address=auto joins first (Ray's own RAY_ADDRESS variable); unset = a cluster "
                    "running on this machine, else a new local one")
    shared_check_s: float = Field(
        2.0, ge=0, le=3600, description="an open assistant checks at most this often whether another process "
                                        "saved a newer index generation (0 = before every question)")

    @field_validator("ray_address", "ray_cluster")
    @classmethod
    def _ray_address(cls, address: str | None) -> str | None:
        if address is not None and not re.fullmatch(RAY_ADDRESS_PATTERN, address):
            raise ValueError("must be auto, ray://HOST:PORT or HOST:PORT")
        return address


class MilvusSettings(_Group):
    """The Milvus backend (index/milvus/), used when index.backend is milvus."""

    uri: str | None = Field(None, min_length=1, description="a local FILE.db starts Milvus Lite in this process; "
                                                            "http://HOST:19530 is a server; unset = <home>/milvus.db")
    token: SecretStr | None = Field(None, description="user:password or an API key, for a server with authentication")
    collection: str = Field("citeqa", pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=200,
                            description="prefix of the collections: <name>_sentences, _documents, _manifest")
    timeout_s: float = Field(10.0, gt=0, le=3600,
                             description="every call to the engine gives up after this long (never a hang)")
    index: Literal["FLAT", "HNSW"] = Field(
        "FLAT", description="dense index: FLAT is exact (answers as FAISS's below 200k sentences); HNSW is "
                            "approximate and much faster with millions of sentences")
    text_cache_chars: int = Field(16_000_000, ge=0, le=10**11,
                                  description="characters of recently read document texts a server keeps in memory")


class RetrievalSettings(_Group):
    """Candidate sentences for a question (qa/retrieval.py)."""

    mode: Literal["hybrid", "bm25", "dense"] = Field(
        "hybrid", description="hybrid = BM25 and dense search fused by reciprocal rank; one side only is a "
                              "benchmark baseline")
    top_k: int = Field(20, ge=1, le=1000, description="candidates each side retrieves")
    rrf_k: int = Field(60, ge=0, le=10_000, description="the k of reciprocal rank fusion, 1/(k + rank)")


class JudgeSettings(_Group):
    """Which candidates support an answer (qa/evidence.py, qa/units.py, qa/judge/, qa/support.py, qa/relevance/)."""

    relevance: Literal["judge", "model", "features"] = Field(
        "model", description="judge = the trained judge (qa/judge/) ranks the candidate units and decides "
                             "abstention alone; model = the older cross-encoder re-scores the best candidates with "
                             "the hand features; features = hand features only")
    max_units: int = Field(12, ge=1, le=32, description="judge: candidate units (sentences, or a sentence with what "
                                                        "it introduces) the judge reads per question")
    rerank_top: int = Field(6, ge=1, le=100, description="candidates the relevance model reads")
    relevance_gate: float = Field(
        0.4, ge=0, le=1.01, description="the model reads a question only when the hand features' best probability "
                                        "is below this (0 = never, 1.01 = every question)")
    abstain_below: float | None = Field(
        None, ge=0, le=1, description="abstain when the best support probability is below this; unset = the "
                                      "threshold fitted for the relevance judge in use (qa/fitted/)")
    threads: int = Field(1, ge=1, le=64, description="ONNX Runtime threads of the judge (qa/judge/); 1 is fastest "
                                                     "when several questions run at once")
    max_sentences: int = Field(3, ge=1, le=20, description="sentences quoted at most")
    second_sentence_margin: float = Field(
        0.02, ge=0, le=1, description="features and model: a further sentence is quoted only when its support is "
                                      "this close to the best's (the judge's margin is fitted: qa/fitted/judge.json)")


class LLMSettings(_Group):
    """The local LLM and the written-answer mode (qa/llm/, qa/prompt.py, qa/modes/generative.py)."""

    path: str | None = Field(None, min_length=1, description="a GGUF instruct model (its own chat template renders "
                                                             "the prompts); unset = the pinned Qwen2.5-Coder-1.5B")
    chat_template: str | None = Field(None, min_length=1, description="a Jinja chat template to use instead of the "
                                                                      "model file's own")
    threads: int = Field(1, ge=1, le=256, description="llama.cpp threads while other processes keep the cores busy "
                                                      "(there 1 wins: docs/decisions/0220)")
    idle_threads: int | None = Field(None, ge=1, le=256, description="llama.cpp threads at most while the cores are "
                                     "idle: each turn uses the cores other processes leave free, between threads and "
                                     "this (qa/llm/cpu_load.py, docs/decisions/0226); unset = this process's cores")
    write_threads: int | None = Field(None, ge=1, le=256, description="llama.cpp threads writing the answer, one "
                                                                      "token at a time, fixed; unset = as reading")
    flash_attn: bool = Field(False, description="llama.cpp flash attention")
    kv_type: Literal["f16", "q8_0"] = Field("f16", description="llama.cpp KV cache type of K and V (q8_0 needs "
                                                               "flash_attn)")
    n_batch: int = Field(512, ge=8, le=8192, description="llama.cpp logical batch: prompt tokens per decode call")
    n_ubatch: int = Field(512, ge=8, le=8192, description="llama.cpp physical batch (at most n_batch)")
    lookup_ngram: int = Field(0, ge=0, le=8, description="prompt-lookup speculative decoding: the n-gram size it "
                                                         "matches in the prompt; 0 = off")
    lookup_tokens: int = Field(10, ge=1, le=64, description="prompt-lookup decoding: draft tokens per step")
    max_tokens: int = Field(256, ge=1, le=32_768, description="tokens per LLM call unless the call says otherwise")
    context_window: int = Field(4096, ge=512, le=131_072, description="the model's context, in tokens")
    max_prefix_states: int = Field(4, ge=1, le=64, description="prompt-prefix KV snapshots kept in memory and on disk "
                                                               "beside the index, besides the corpus windows")
    full_corpus_max_chars: int = Field(9000, ge=0, le=1_000_000,
                                       description="a corpus up to this size is the prompt itself (cached once)")
    window_chars: int = Field(4500, ge=500, le=1_000_000, description="a larger corpus is read in windows of at "
                              "most this many characters, each a cached prompt prefix (~30 KB per token on disk and "
                              "in memory)")
    corpus_windows: int = Field(40, ge=0, le=200, description="... if it needs at most this many windows; 0 = never "
                                "(the prompt then holds only the evidence)")
    retrieved_sentences: int = Field(6, ge=1, le=100, description="best retrieved sentences a draft sentence its "
                                                                  "marker does not support may be backed by instead")
    evidence_sentences: int = Field(3, ge=1, le=100, description="larger corpora: the prompt holds at most this many "
                                                                 "sentences, the chosen ones first, then the best scored")
    neighbours_for: int = Field(0, ge=0, le=100,
                                description="... and the sentences around the best this many of them")
    answer_max_tokens: int = Field(80, ge=1, le=4096, description="tokens of a written answer at most")
    history_turns: int = Field(4, ge=0, le=50, description="earlier turns of the chat the prompt includes")
    quote_best_from: float = Field(
        0.5, ge=0, le=1, description="quote the best sentence instead of a draft citing only weaker sentences when "
                                     "its support is at least this")


class UISettings(_Group):
    """The browser chat (ui/)."""

    concurrency: int = Field(2, ge=1, le=64, description="fast answers served at the same time")
    queue_size: int = Field(256, ge=1, le=100_000, description="requests waiting at most; more are refused")
    max_files_per_upload: int = Field(20, ge=1, le=1000, description="files one upload may hold")


BACKENDS: tuple[str, ...] = get_args(IndexSettings.model_fields["backend"].annotation)
RETRIEVALS: tuple[str, ...] = get_args(RetrievalSettings.model_fields["mode"].annotation)


class SettingsError(ValueError):
    """A setting with a bad value; the message names its variable or argument."""


# The environment Settings() reads: os.environ unless Settings.from_env(env) names another mapping.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("citeqa_settings_environ", default=None)


def _environ() -> Mapping[str, str]:
    env = _ENVIRON.get()
    return os.environ if env is None else env


def _non_empty(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if v.strip()}


class _Environment(EnvSettingsSource):
    """pydantic-settings' own environment source over ``_environ()``: blank values dropped, and each short
    name read as its CITEQA_<GROUP>_<NAME> spelling (which wins when both are set)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = {k.lower(): v for k, v in _non_empty(_environ()).items()}
        for var, path in SHORT_NAMES.items():
            value = env.pop(var.lower(), None)
            if value is not None:
                env.setdefault(env_names(path)[0].lower(), value)
        return env


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_nested_delimiter="_", env_nested_max_split=1,
                                      frozen=True, extra="forbid", validate_default=True)

    home: Path = Field(default_factory=_default_home, description="where the default index and Milvus Lite "
                                                                  "file live")
    cache_dir: Path = Field(default_factory=_default_home, description="this machine's caches: the joined GGUF "
                                                                       "model, ONNX graphs, merged embedders")
    index: IndexSettings = Field(default_factory=IndexSettings, description=IndexSettings.__doc__)
    milvus: MilvusSettings = Field(default_factory=MilvusSettings, description=MilvusSettings.__doc__)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings, description=RetrievalSettings.__doc__)
    judge: JudgeSettings = Field(default_factory=JudgeSettings, description=JudgeSettings.__doc__)
    llm: LLMSettings = Field(default_factory=LLMSettings, description=LLMSettings.__doc__)
    ui: UISettings = Field(default_factory=UISettings, description=UISettings.__doc__)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc, _environ(), values)) from None

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls)

    @field_validator("home", "cache_dir")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        return path.expanduser()

    @field_validator("index")
    @classmethod
    def _index_dir(cls, index: IndexSettings, info: ValidationInfo) -> IndexSettings:
        if "home" not in info.data:  # a bad home is reported on its own
            return index
        return index.model_copy(update={"dir": index.dir.expanduser() if index.dir else info.data["home"] / "index"})

    @field_validator("milvus")
    @classmethod
    def _milvus_uri(cls, milvus: MilvusSettings, info: ValidationInfo) -> MilvusSettings:
        if milvus.uri is not None or "home" not in info.data:
            return milvus
        return milvus.model_copy(update={"uri": str(info.data["home"] / "milvus.db")})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the variables of ``env`` (default: the process environment), then ``overrides``
        (a group as a dict of its fields: ``retrieval={"top_k": 30}``). ``Settings(**overrides)`` is the same
        over the process environment."""
        token = _ENVIRON.set(env)
        try:
            return cls(**overrides)
        finally:
            _ENVIRON.reset(token)

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated; a group may be given as a dict of the fields that change
        (``with_(llm={"threads": 1})``). The environment is not read again."""
        data = self.model_dump()
        for key, value in changes.items():
            if isinstance(value, Mapping) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return type(self).from_env({}, **data)


# ----------------------------------------------------------------------------- where values came from
def env_names(path: tuple[str, ...]) -> list[str]:
    """The variables that set ``path``, strongest first."""
    return [PREFIX + "_".join(path).upper(), *(var for var, p in SHORT_NAMES.items() if p == path)]


def leaves(model: BaseModel, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every setting, groups walked in order."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from leaves(value, (*prefix, name))
        else:
            yield (*prefix, name), value


def _given(values: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = values
    for key in path:
        if isinstance(node, BaseModel):
            if key not in node.model_fields_set:
                return False
            node = getattr(node, key)
        elif isinstance(node, Mapping) and key in node:
            node = node[key]
        else:
            return False
    return True


def source_of(path: tuple[str, ...], env: Mapping[str, str], arguments: Mapping[str, Any]) -> str:
    """"argument", the variable that set ``path``, or "default"."""
    if _given(arguments, path):
        return "argument"
    env = _non_empty(env)
    lower = {k.lower() for k in env}
    return next((var for var in env_names(path) if var.lower() in lower), "default")


def describe(settings: Settings, env: Mapping[str, str] | None = None,
             arguments: Mapping[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """(dotted name, value, source) of every setting; secrets masked."""
    env = os.environ if env is None else env
    rows = []
    for path, value in leaves(settings):
        if path in SECRETS and value is not None:
            shown = "********"
        else:
            shown = "(unset)" if value is None else str(value)
        rows.append((".".join(path), shown, source_of(path, env, arguments or {})))
    return rows


def _explain(exc: ValidationError, env: Mapping[str, str], arguments: Mapping[str, Any]) -> str:
    """One line per bad value, named by the variable or argument that gave it."""
    lines = []
    for err in exc.errors(include_url=False):
        path = tuple(str(p) for p in err["loc"])
        source = source_of(path, env, arguments) if path else "default"
        name = ".".join(path) if source in ("argument", "default") else source
        if err["type"] == "extra_forbidden":
            lines.append(f"{name} is not a setting (`citeqa settings` lists them)")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {msg[0].lower()}{msg[1:]}, got {err['input']!r}")
    return "; ".join(lines)
