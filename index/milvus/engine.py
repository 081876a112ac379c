"""The connection to Milvus: one client, a timeout on every call, engine errors as one-line CiteqaErrors.

A URI ending in ``.db`` is a Milvus Lite database that pymilvus serves from this process (it takes
a lock on the file, so one process at a time); ``http(s)://host:port`` is a Milvus server or cluster.
Every call passes ``timeout`` because pymilvus's default is to wait forever for an unreachable server.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from index.errors import CiteqaError, IndexLockedError, IndexUnavailableError

SERVER_SCHEMES = ("http://", "https://", "tcp://", "grpc://")
# Writes may wait for the engine's own background work (Milvus Lite compacting), so they get this long
# (still bounded); the connection/read timeout stays short so an unreachable server is reported fast.
WRITES = ("insert", "upsert", "delete", "flush", "create_collection", "drop_collection", "load_collection")
WRITE_TIMEOUT_MIN_S = 120.0


def is_server_uri(uri: str) -> bool:
    return uri.startswith(SERVER_SCHEMES)


def describe(uri: str) -> str:
    return f"the Milvus server {uri}" if is_server_uri(uri) else f"the Milvus Lite database {uri}"


def _lite_locked(path: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on ``path`` (its LOCK file, milvus_lite/db.py)."""
    try:
        fd = os.open(path / "LOCK", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


class Engine:
    """A MilvusClient whose calls time out and raise CiteqaErrors naming the engine."""

    def __init__(self, uri: str, token: str | None, timeout_s: float) -> None:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        # pymilvus logs a traceback for every failed call; ours become one-line CiteqaErrors instead.
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        self.uri = uri
        self.timeout = timeout_s
        self._milvus_exception = MilvusException
        self._loaded: set[str] = set()
        if not is_server_uri(uri):
            if not uri.endswith(".db"):
                raise IndexUnavailableError(f"the Milvus URI {uri!r} is neither http(s)://host:port nor a "
                                            f"local file ending in .db (Milvus Lite)")
            Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
            uri = str(Path(uri).expanduser().resolve())
        # A Lite file open in another process: wait up to the timeout (a short CLI command may finish).
        deadline = time.monotonic() + (timeout_s if not is_server_uri(uri) else 0)
        while True:
            try:
                self.client = MilvusClient(uri=uri, token=token or "", timeout=timeout_s)
                break
            except Exception as exc:  # pymilvus raises several types here (config, connection, grpc)
                if not is_server_uri(uri) and _lite_locked(Path(uri)):
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    raise IndexLockedError(
                        f"{describe(self.uri)} is open in another process (Milvus Lite serves one process); for "
                        f"several, serve it: python -m milvus_lite server --data-dir {uri} --host 127.0.0.1 "
                        f"--port 19530, then use --uri http://127.0.0.1:19530") from None
                raise IndexUnavailableError(f"cannot reach {describe(self.uri)} within {timeout_s:g} s "
                                            f"({_reason(exc)}); check --uri and --token") from None

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except CiteqaError:
            raise
        except self._milvus_exception as exc:
            raise IndexUnavailableError(f"{describe(self.uri)} failed to {what} ({_reason(exc)})") from None
        except Exception as exc:  # grpc's own errors (deadline exceeded, connection reset) are not MilvusExceptions
            if type(exc).__module__.startswith(("grpc", "pymilvus")):
                raise IndexUnavailableError(f"{describe(self.uri)} failed to {what} ({_reason(exc)})") from None
            raise

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        timeout = max(self.timeout, WRITE_TIMEOUT_MIN_S) if method in WRITES else self.timeout
        with self._errors(what):
            return getattr(self.client, method)(*args, timeout=timeout, **kwargs)

    def has(self, collection: str) -> bool:
        """Whether the collection exists; an existing one is loaded (a new process finds it released)."""
        if collection in self._loaded:
            return True
        if not self.call("list collections", "has_collection", collection):
            return False
        self.call("load a collection", "load_collection", collection)
        self._loaded.add(collection)
        return True

    def forget(self, collection: str) -> None:
        self._loaded.discard(collection)

    def iterate(self, what: str, collection: str, output_fields: list[str], batch_size: int = 4000,
                filter: str = "") -> Iterator[list[dict]]:
        """All rows of a collection in batches (query_iterator: a plain query stops at 16,384 rows)."""
        with self._errors(what):
            it = self.client.query_iterator(collection, batch_size=batch_size, filter=filter,
                                            output_fields=output_fields, timeout=self.timeout)
            try:
                while batch := it.next():
                    yield batch
            finally:
                it.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


def _reason(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(msg).split())[:300]
