"""A citeqa index in Milvus: the same interface as ``IndexDirectory`` (load, save, write_lock, current_name).

We talk to Milvus through pymilvus, not llama-index's ``MilvusVectorStore``: we need typed offset
fields, versioned writes deleted by expression, ordered bulk reads and our own BM25 terms
(docs/decisions/0053-milvus-backend.md); llama-index interop stays at the retriever level, as for FAISS.

Each document version is stored twice over in the documents collection: its full entry (text,
locations) as JSON "text parts" (``part >= 0``), read only when an answer cites it, and a "head"
(``part < 0``, written last, so a version is visible once its head is complete): the entry without its
text, the sentence record columns (the structure columns too when a record has structure) and the stem
counts of its sentences. Opening reads the heads alone, one row or a few per document, instead of every
sentence row and every text. Writers never share a head, so two processes adding documents need no
merge rule: the statistics are summed over each document's newest visible version.

Checked at open, like the FAISS manifest: format version, embedder name and dimension; each head
against its record count and the SHA-256 of its records; the sentence rows against the number the
heads promise (fewer rows means damage). A document's text is checked against its SHA-256 whenever it
is read. ``index_dir`` still holds this machine's own files (LLM state, uploads) under ``path``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np

from index.document import DocumentEntry, ParsedDocument, SentenceRecord, text_sha256
from index.errors import IndexCorruptError, IndexMismatchError, IngestError
from index.lexical import SentenceStems
from index.milvus import schema
from index.milvus.corpus import MilvusCorpus
from index.milvus.engine import Engine, describe
from index.milvus.entries import EntryCache, StoredEntry
from index.milvus.lexical import document_terms
from index.milvus.store import MilvusSentenceStore

FORMAT_VERSION = 2  # 2: document heads (records and stem counts), read at open instead of every row
# Heads store stem counts made by index.text.content_stems: a change to its stemming or stop words must bump
# FORMAT_VERSION, or counts read from old heads and counts of new texts would not add up.
MANIFEST_PK = "manifest"
INSERT_ROWS = 1000  # rows per insert call: ~1.6 MB of 384-dim vectors, far below gRPC's 64 MB message limit
LOAD_ATTEMPTS = 3
GET_IDS = 1000  # primary keys per get call
DOC_FIELDS = ["doc_key", "seq", "part", "n_parts", "data"]
TEXT_PARTS, HEAD_PARTS = "part >= 0", "part < 0"  # head part i is stored as part -1 - i
# Record columns (index/document.py SentenceRecord) that heads written before them lack: those load as
# "structure unknown", as the FAISS backend's records.json rows do (decision 0230).
STRUCTURE_COLUMNS = ("block", "section", "level", "block_start")
STRUCTURE_DEFAULTS = tuple(f.default for f in fields(SentenceRecord) if f.name in STRUCTURE_COLUMNS)


def doc_key(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _structure(r: SentenceRecord) -> list:
    return [r.block, r.section, r.level, r.block_start]


def records_sha256(records: list[SentenceRecord]) -> str:
    # Structure values equal to their defaults at the end are left out, so a head written before the
    # structure columns (all default) keeps its checksum.
    h = hashlib.sha256()
    for r in records:
        row = [r.start, r.end, r.kind, r.index_text, *_structure(r)]
        n = len(row)
        while n > 4 and row[n - 1] == STRUCTURE_DEFAULTS[n - 5]:
            n -= 1
        h.update(json.dumps(row[:n], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def _head_records(records: list[SentenceRecord]) -> dict[str, list]:
    """The record columns of a head; the structure columns only when a record has structure (plain
    text has none: its heads stay as small as before)."""
    cols = {"start": [r.start for r in records], "end": [r.end for r in records],
            "kind": [r.kind for r in records], "index_text": [r.index_text for r in records]}
    if any(_structure(r) != list(STRUCTURE_DEFAULTS) for r in records):
        for name, values in zip(STRUCTURE_COLUMNS, zip(*(_structure(r) for r in records), strict=True), strict=True):
            cols[name] = list(values)
    return cols


def _part_pk(key: str, seq: int, p: int, head: bool) -> str:
    return f"{key}:{seq}:{'h' if head else ''}{p}"


def _parts(key: str, seq: int, data: str, head: bool) -> list[dict]:
    """Rows of one stored JSON cut into VARCHAR-sized parts; head parts are numbered -1, -2, ..."""
    chunks = [data[j : j + schema.PART_CHARS] for j in range(0, len(data), schema.PART_CHARS)]
    return [{"pk": _part_pk(key, seq, p, head), "doc_key": key, "seq": seq, "part": -1 - p if head else p,
             "n_parts": len(chunks), "data": c, "dummy": [0.0] * schema.DUMMY_DIM} for p, c in enumerate(chunks)]


def _sentence_pk(key: str, seq: int, ordinal: int) -> int:
    digest = hashlib.blake2b(f"{key}:{seq}:{ordinal}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 63) - 1)  # INT64 primary key, positive


class MilvusIndex:
    shared = True  # other processes may change it at any time: readers check the generation now and then

    def __init__(self, settings) -> None:
        self.settings = settings
        self.path = Path(settings.index.dir)  # this machine's own files (qa/llm/prefix_store.py, ui uploads)
        self.uri = settings.milvus.uri
        self.names = schema.Names.of(settings.milvus.collection)
        self.dense_index = settings.milvus.index
        token = settings.milvus.token  # a pydantic SecretStr in qa.Settings (masked when printed)
        token = token.get_secret_value() if hasattr(token, "get_secret_value") else token
        self.engine = Engine(settings.milvus.uri, token, settings.milvus.timeout_s)
        self._dim: int | None = None
        self._seq_lock = threading.Lock()
        self._last_seq = 0
        self.entries = EntryCache(self.read_entry, settings.milvus.text_cache_chars, self.rebuild_hint())

    def __str__(self) -> str:
        return f"{describe(self.uri)} (collections {self.settings.milvus.collection}_*)"

    def rebuild_hint(self) -> str:
        return (f"rebuild it with: citeqa --backend milvus --uri {self.uri} "
                f"{'--collection ' + self.settings.milvus.collection + ' ' if self.settings.milvus.collection != 'citeqa' else ''}"
                f"index rebuild")

    # ---------------------------------------------------------------- the IndexDirectory interface
    @contextlib.contextmanager
    def write_lock(self, timeout: float | None = None) -> Iterator[None]:
        # No cross-process lock: every write is a new version of the documents it touches (see
        # index/milvus/corpus.py), so concurrent writers cannot lose each other's documents.
        yield

    def exists(self) -> bool:
        return self._manifest() is not None

    def current_name(self) -> str | None:
        m = self._manifest()
        return None if m is None else str(m.get("generation"))

    def save(self, corpus) -> None:
        """The documents are in the engine already: seal them, and tell other servers the index changed."""
        # Flushed rows are searched through the built indexes; unflushed ones row by row (much slower).
        for name in (self.names.sentences, self.names.documents):
            self.engine.call("flush", "flush", name)
        self._write_manifest(corpus.embedder_name, corpus.dim)

    def new_corpus(self, embedder_name: str, dim: int) -> MilvusCorpus:
        self._ensure(embedder_name, dim)
        return MilvusCorpus(self, embedder_name, dim)

    def new_store(self) -> MilvusSentenceStore:
        return MilvusSentenceStore(self.engine, self.names.sentences, self._dim or 0)

    def load(self, embedder_name: str, dim: int) -> MilvusCorpus | None:
        for attempt in range(LOAD_ATTEMPTS):
            manifest = self._manifest()
            if manifest is None:
                if any(self.engine.has(n) for n in self.names.all()):
                    raise IndexCorruptError(f"the index in {self} has no manifest; {self.rebuild_hint()}")
                return None
            self._check(manifest, embedder_name, dim)
            try:
                return self._load(embedder_name, dim)
            except IndexCorruptError:
                # A writer may have replaced a document while we read it (its old rows went between
                # our two reads): read again; damage stays damage.
                if attempt == LOAD_ATTEMPTS - 1:
                    raise
                time.sleep(0.2)
        return None

    # ---------------------------------------------------------------- reading
    def _manifest(self) -> dict | None:
        if not self.engine.has(self.names.manifest):
            return None
        got = self.engine.call("read the manifest", "get", self.names.manifest, ids=[MANIFEST_PK], output_fields=["data"])
        if not got:
            return None
        try:
            m = json.loads(got[0]["data"])
        except ValueError:
            m = None
        if not isinstance(m, dict) or not isinstance(m.get("embedder"), dict):
            raise IndexCorruptError(f"the manifest of the index in {self} is damaged; {self.rebuild_hint()}")
        return m

    def _check(self, manifest: dict, embedder_name: str, dim: int) -> None:
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(f"the index in {self} has format version {manifest.get('format_version')!r}, "
                                     f"this citeqa reads version {FORMAT_VERSION}; {self.rebuild_hint()}")
        emb = manifest["embedder"]
        if emb.get("name") != embedder_name or emb.get("dim") != dim:
            raise IndexMismatchError(
                f"the index in {self} was built with the embedder {emb.get('name')!r} ({emb.get('dim')}-dim), "
                f"but {embedder_name!r} ({dim}-dim) is configured; {self.rebuild_hint()} or configure the same embedder")
        self._dim = dim

    def document_versions(self) -> dict[str, list[tuple[int, dict]]]:
        """doc_key -> [(seq, full stored JSON)], newest first, of every version whose text parts are all there."""
        batches = self.engine.iterate("read documents", self.names.documents, DOC_FIELDS, filter=TEXT_PARTS)
        return self._versions(row for batch in batches for row in batch)

    def document_heads(self) -> dict[str, list[tuple[int, dict]]]:
        """doc_key -> [(seq, head JSON)], newest first, of every visible version (its head complete)."""
        batches = self.engine.iterate("read document heads", self.names.documents, DOC_FIELDS, filter=HEAD_PARTS)
        return self._versions(row for batch in batches for row in batch)

    def head_stems(self, versions: list[tuple[str, int]]) -> tuple[int, dict[str, int]] | None:
        """Summed sentence and stem counts of these (doc_key, seq) versions' heads, read by primary key;
        None when one of them is not there (another process replaced or removed it)."""
        heads = {(key, seq): data for key, v in self._get_versions(versions, head=True).items() for seq, data in v}
        n, df = 0, SentenceStems()
        for version in versions:
            head = heads.get(version)
            if head is None:
                return None
            try:
                n += int(head["n_sentences"])
                df.add_counts(0, head["stems"])
            except (KeyError, TypeError, ValueError, AttributeError):
                raise IndexCorruptError(f"a document head of the index in {self} is unreadable; "
                                        f"{self.rebuild_hint()}") from None
        return n, df.df

    def _get_versions(self, versions: list[tuple[str, int]], head: bool) -> dict[str, list[tuple[int, dict]]]:
        """These (doc_key, seq) versions' heads or texts, read by primary key: every first part, then the rest."""
        what = "read document heads" if head else "read a document"

        def get(ids: list[str]) -> list[dict]:
            return [r for j in range(0, len(ids), GET_IDS) for r in self.engine.call(
                what, "get", self.names.documents, ids=ids[j : j + GET_IDS], output_fields=DOC_FIELDS)]

        rows = get([_part_pk(key, seq, 0, head) for key, seq in versions])
        rows += get([_part_pk(r["doc_key"], int(r["seq"]), p, head) for r in rows for p in range(1, int(r["n_parts"]))])
        return self._versions(rows)

    def _versions(self, rows) -> dict[str, list[tuple[int, dict]]]:
        """Join the parts of each version; ``rows`` are of one series (text parts or head parts)."""
        parts: dict[tuple[str, int], dict[int, tuple[int, str]]] = {}
        for row in rows:
            p = int(row["part"])
            parts.setdefault((row["doc_key"], int(row["seq"])), {})[p if p >= 0 else -1 - p] = (int(row["n_parts"]), row["data"])
        versions: dict[str, list[tuple[int, dict]]] = {}
        for (key, seq), got in parts.items():
            n = next(iter(got.values()))[0]
            if len(got) != n:
                continue  # a version still being written, or one whose write was killed: not visible
            try:
                data = json.loads("".join(got[i][1] for i in range(n)))
            except (ValueError, KeyError):
                raise IndexCorruptError(f"a document of the index in {self} is unreadable; {self.rebuild_hint()}") from None
            versions.setdefault(key, []).append((seq, data))
        for v in versions.values():
            v.sort(key=lambda x: -x[0])
        return versions

    def read_entry(self, key: str, seq: int | None) -> tuple[int, DocumentEntry] | None:
        """One version of a document (None: the newest complete one), or None when there is none."""
        if seq is None:
            rows = self.engine.call("read a document", "query", self.names.documents,
                                    filter=f'doc_key == "{key}" and {TEXT_PARTS}', output_fields=DOC_FIELDS)
            versions = self._versions(rows).get(key)
        else:
            versions = self._get_versions([(key, seq)], head=False).get(key)
        if not versions:
            return None
        seq, data = versions[0]
        entry = self._entry(data)
        if text_sha256(entry.text) != entry.sha256:
            raise IndexCorruptError(f"document {entry.doc_id!r} in {self} fails its checksum; {self.rebuild_hint()}")
        return seq, entry

    def _entry(self, data: dict, text: str | None = None) -> DocumentEntry:
        try:
            return DocumentEntry(**data["entry"]) if text is None else DocumentEntry(**data["entry"], text=text)
        except (TypeError, KeyError) as exc:
            raise IndexCorruptError(f"a document of the index in {self} cannot be read ({exc!r}); "
                                    f"{self.rebuild_hint()}") from None

    def _load(self, embedder_name: str, dim: int) -> MilvusCorpus:
        if not all(self.engine.has(n) for n in self.names.all()):
            raise IndexCorruptError(f"collections of the index in {self} are missing; {self.rebuild_hint()}")
        chosen = {key: v[0] for key, v in self.document_heads().items()}  # the newest visible version
        documents: dict[str, DocumentEntry] = {}
        records: list[SentenceRecord] = []
        pks: list[int] = []
        stems = SentenceStems()
        for key, (seq, head) in sorted(chosen.items(), key=lambda kv: kv[1][0]):  # the order documents were added
            entry = self._entry(head, text="")  # the text stays in the engine (index/milvus/entries.py)
            try:
                cols = head["records"]
                n = len(cols["start"])
                structure = [cols.get(c) or [d] * n for c, d in zip(STRUCTURE_COLUMNS, STRUCTURE_DEFAULTS, strict=True)]
                mine = [SentenceRecord(entry.doc_id, *row) for row in zip(
                    cols["start"], cols["end"], cols["kind"], cols["index_text"], *structure, strict=True)]
                n_chars, df = int(head["n_chars"]), head["stems"]
                if not isinstance(df, dict) or not all(isinstance(c, int) for c in df.values()):
                    raise TypeError("stem counts")
            except (KeyError, TypeError, ValueError):
                mine, n_chars, df = [], 0, None
            if df is None or len(mine) != head.get("n_sentences") or records_sha256(mine) != head.get("records_sha256"):
                raise IndexCorruptError(f"the sentence records of {entry.doc_id!r} in {self} are missing or altered; "
                                        f"{self.rebuild_hint()}")
            documents[entry.doc_id] = StoredEntry(self.entries, key, seq, entry, n_chars)
            stems.add_counts(len(mine), df)
            records += mine
            pks += [_sentence_pk(key, seq, n) for n in range(len(mine))]
        # Fewer sentence rows than the heads promise means rows were lost (older versions and killed
        # writes may leave more, briefly). Which rows: `index rebuild` re-embeds from the stored texts.
        got = self.engine.call("count sentences", "query", self.names.sentences, filter="", output_fields=["count(*)"])
        if int(got[0]["count(*)"]) < len(records):
            raise IndexCorruptError(f"{len(records) - int(got[0]['count(*)'])} sentence rows of the index in {self} "
                                    f"are missing; {self.rebuild_hint()}")
        store = MilvusSentenceStore(self.engine, self.names.sentences, dim, np.asarray(pks, np.int64))
        return MilvusCorpus(self, embedder_name, dim, documents, records, store, stems)

    # ---------------------------------------------------------------- writing
    def _ensure(self, embedder_name: str, dim: int) -> None:
        manifest = self._manifest()
        if manifest is not None:
            self._check(manifest, embedder_name, dim)
            return
        self._dim = dim
        schema.create(self.engine, self.names, dim, self.dense_index)
        for name in self.names.all():
            self.engine.has(name)
        self._write_manifest(embedder_name, dim)

    def _write_manifest(self, embedder_name: str, dim: int) -> None:
        data = {"format_version": FORMAT_VERSION, "embedder": {"name": embedder_name, "dim": dim},
                "index_type": self.dense_index, "generation": uuid.uuid4().hex}
        self.engine.call("write the manifest", "upsert", self.names.manifest,
                         [{"pk": MANIFEST_PK, "data": json.dumps(data), "dummy": [0.0] * schema.DUMMY_DIM}])

    def _next_seq(self) -> int:
        with self._seq_lock:  # time-ordered (documents load in the order they were added), unique per process
            self._last_seq = max(time.time_ns(), self._last_seq + 1)
            return self._last_seq

    def write_documents(self, docs: list[ParsedDocument], entries: dict[str, DocumentEntry], texts: list[str],
                        vectors: np.ndarray) -> dict[str, tuple[str, int, list[int]]]:
        """Write one new version of each document; returns its (doc_key, seq) and its sentence rows' keys."""
        terms = document_terms(texts)
        out: dict[str, tuple[str, int, list[int]]] = {}
        seqs: dict[str, int] = {}
        rows: list[dict] = []
        doc_rows: list[dict] = []
        head_rows: list[dict] = []
        i = 0
        for d in docs:
            if len(d.doc_id.encode("utf-8", "surrogatepass")) > schema.DOC_ID_MAX:
                raise IngestError(f"{d.doc_id[:80]}...: the document id is longer than {schema.DOC_ID_MAX} bytes")
            key, seq = doc_key(d.doc_id), self._next_seq()
            seqs[key] = seq
            out[d.doc_id] = (key, seq, [])
            mine = texts[i : i + len(d.sentences)]
            for n, r in enumerate(d.sentences):
                pk = _sentence_pk(key, seq, n)
                out[d.doc_id][2].append(pk)
                rows.append({"pk": pk, "doc_key": key, "seq": seq, "ord": n, "start": r.start, "end": r.end,
                             "kind": r.kind, "index_text": json.dumps(r.index_text, ensure_ascii=False),
                             "terms": terms[i], "vec": vectors[i].tolist()})
                i += 1
            entry, checksum = entries[d.doc_id], records_sha256(d.sentences)
            data = json.dumps({"entry": vars(entry), "n_sentences": len(d.sentences), "records_sha256": checksum},
                              ensure_ascii=False)
            head = json.dumps({"entry": {k: v for k, v in vars(entry).items() if k not in ("text", "locations")},
                               "n_chars": len(entry.text), "n_sentences": len(d.sentences), "records_sha256": checksum,
                               "records": _head_records(d.sentences),
                               "stems": SentenceStems.counts(mine)}, ensure_ascii=False)
            doc_rows += _parts(key, seq, data, head=False)
            head_rows += _parts(key, seq, head, head=True)
        for j in range(0, len(rows), INSERT_ROWS):
            self.engine.call("write sentences", "insert", self.names.sentences, rows[j : j + INSERT_ROWS])
        # The document rows come last, and the heads after the texts: until a head is all in, no
        # reader sees its version.
        for j in range(0, len(doc_rows), 100):
            self.engine.call("write documents", "insert", self.names.documents, doc_rows[j : j + 100])
        for j in range(0, len(head_rows), 100):
            self.engine.call("write document heads", "insert", self.names.documents, head_rows[j : j + 100])
        # Older versions and rows of killed writes: every version written before is older than this
        # batch's first seq (time-ordered), so one delete serves the batch (one per document made
        # ingestion quadratic: Milvus Lite scans the collection for every filtered delete).
        self._delete(list(seqs), f"seq < {min(seqs.values())}")
        return out

    def delete_document(self, doc_id: str) -> None:
        self._delete([doc_key(doc_id)], f"seq <= {self._next_seq()}")

    def _delete(self, keys: list[str], condition: str) -> None:
        where = f"doc_key in {json.dumps(keys)} and {condition}"  # keys are hex: nothing to quote
        # The document rows first: a reader then sees no version, never one whose sentences are gone.
        self.engine.call("delete documents", "delete", self.names.documents, filter=where)
        self.engine.call("delete sentences", "delete", self.names.sentences, filter=where)

    def drop(self) -> None:
        """Delete the index's collections (for a rebuild)."""
        for name in self.names.all():
            if self.engine.has(name):
                self.engine.call("drop a collection", "drop_collection", name)
            self.engine.forget(name)
        self._dim = None


def recover_documents(index: MilvusIndex) -> list[tuple[str, str, str | None, dict | None]]:
    """For a rebuild, as ``index.index_dir.recover_documents``: (doc_id, source, text or None, locations)."""
    found: dict[str, tuple[str, str, str | None, dict | None]] = {}
    if not index.engine.has(index.names.documents):
        return []
    for versions in index.document_versions().values():
        for _, data in versions:  # newest first: the first intact one wins
            entry = data.get("entry", {}) if isinstance(data, dict) else {}
            doc_id, text = entry.get("doc_id"), entry.get("text")
            if not isinstance(doc_id, str):
                continue
            ok = isinstance(text, str) and text_sha256(text) == entry.get("sha256")
            if doc_id not in found or (found[doc_id][2] is None and ok):
                found[doc_id] = (doc_id, entry.get("source", "") or "", text if ok else None,
                                 entry.get("locations") if ok else None)
    return list(found.values())
