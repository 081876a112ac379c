"""The three collections of a Milvus index, named ``<prefix>_sentences``, ``_documents``, ``_manifest``.

- sentences: one row per sentence record of one document version: offsets, kind, index text, the
  embedding, and the BM25 terms (our own analysis, index/milvus/lexical.py) with Milvus's built-in
  BM25 function turning them into a sparse vector the engine searches. The record structure columns
  are in the document heads only (docs/decisions/0230-milvus-structure-columns.md).
- documents: each document version as JSON (text, source, metadata, locations, record checksum), cut
  into parts because a VARCHAR holds at most 65,535 bytes and documents may be 10 MB.
- manifest: one row: format version and embedder (name, dim), plus a generation token that every
  change replaces, so a server notices that another one changed the index.

A version of a document is named by ``seq`` (a time-ordered integer); rows are filtered by
``doc_key`` (hex digest of the doc id) because a doc id may hold characters that Milvus's filter
expressions cannot quote safely.
"""

from __future__ import annotations

from dataclasses import dataclass

VARCHAR_MAX = 65535  # bytes
DOC_ID_MAX = 4096  # bytes: a relative path
PART_CHARS = 16000  # 4 bytes per character at worst fits VARCHAR_MAX
TERMS_MAX_CHARS = 16000  # BM25 terms of one sentence (a longer "sentence" is matched on its start)
DUMMY_DIM = 2  # Milvus wants a vector field in every collection


@dataclass(frozen=True)
class Names:
    sentences: str
    documents: str
    manifest: str

    @classmethod
    def of(cls, prefix: str) -> "Names":
        return cls(f"{prefix}_sentences", f"{prefix}_documents", f"{prefix}_manifest")

    def all(self) -> tuple[str, str, str]:
        return (self.sentences, self.documents, self.manifest)


def create(engine, names: Names, dim: int, dense_index: str) -> None:
    """Create the collections that do not exist yet (idempotent: several servers may race here)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    c = engine.client
    if not engine.has(names.sentences):
        s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pk", DataType.INT64, is_primary=True)
        s.add_field("doc_key", DataType.VARCHAR, max_length=64)
        s.add_field("seq", DataType.INT64)
        s.add_field("ord", DataType.INT64)
        s.add_field("start", DataType.INT64)
        s.add_field("end", DataType.INT64)
        s.add_field("kind", DataType.VARCHAR, max_length=64)
        s.add_field("index_text", DataType.VARCHAR, max_length=VARCHAR_MAX)  # JSON: null or the text
        s.add_field("terms", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True,
                    analyzer_params={"tokenizer": "standard"})
        s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25,
                                input_field_names=["terms"], output_field_names=["sparse"]))
        ip = c.prepare_index_params()
        ip.add_index("vec", index_type=dense_index, metric_type="IP",
                     **({"params": {"M": 32, "efConstruction": 80}} if dense_index == "HNSW" else {}))
        # k1/b as bm25s's defaults (what the FAISS backend's bm25s uses), so both rank alike.
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": 1.5, "bm25_b": 0.75})
        engine.call("create a collection", "create_collection", names.sentences, schema=s, index_params=ip,
                    consistency_level="Strong")
    # Documents and the manifest are JSON blobs keyed by pk; Milvus requires a vector field, hence "dummy".
    def blob_collection(name: str, extra: tuple[tuple[str, object, dict], ...]) -> None:
        if engine.has(name):
            return
        s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        for field, dtype, kwargs in extra:
            s.add_field(field, dtype, **kwargs)
        s.add_field("data", DataType.VARCHAR, max_length=VARCHAR_MAX)
        s.add_field("dummy", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)
        ip = c.prepare_index_params()
        ip.add_index("dummy", index_type="FLAT", metric_type="IP")
        engine.call("create a collection", "create_collection", name, schema=s, index_params=ip,
                    consistency_level="Strong")

    blob_collection(names.documents, (("doc_key", DataType.VARCHAR, {"max_length": 64}),
                                      ("seq", DataType.INT64, {}), ("part", DataType.INT64, {}),
                                      ("n_parts", DataType.INT64, {})))
    blob_collection(names.manifest, ())
