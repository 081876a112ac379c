"""FAISS over normalised vectors (inner product = cosine), row-aligned with the corpus records.

Small corpora get exact search (``IndexFlatIP``). From ``APPROX_MIN_VECTORS`` on, an inverted-file
index with 4-bit product-quantised codes (``IndexIVFPQFastScan``, 48 bytes a 384-d vector) finds
candidates and the full-precision vectors re-rank them exactly. A large index's vectors stay in their
file (``VectorFile``): the rows a question needs are read with ``pread``, so a server holds none of
them. IVF rather than HNSW: HNSW builds slowly, cannot remove rows and keeps a second copy of every
vector (docs/decisions/0051-ivf-for-large-indexes.md).

Row ``i`` of the FAISS index is row ``i`` of the corpus records. A plain class, not llama-index's
``FaissVectorStore`` (keyed by node id, one add per node, no delete); llama-index interop is offered
at the retriever and query-engine level (``Assistant.as_retriever()``, ``Assistant.as_query_engine()``).
"""

from __future__ import annotations

import os

import faiss
import numpy as np

# Exact search is O(n*d) per query and stays inside the latency budget below this size; above it
# IVF (approximate) takes over. `citeqa eval scale` measures both sides (decision 0051).
APPROX_MIN_VECTORS = 200_000
# IVF: about 4 * sqrt(n) lists (a power of two), trained on at most 40 vectors a list (faiss warns
# below 39); 6% of the lists searched, and the best APPROX_CANDIDATES codes re-ranked exactly.
IVF_TRAIN_PER_LIST = 40
IVF_PROBE_SHARE = 0.06
APPROX_CANDIDATES = 200
# HNSW is not built for the product; kept so `citeqa eval scale` can compare and old indexes open.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def index_kind_for(n: int) -> str:
    return "ivf" if n >= APPROX_MIN_VECTORS else "flat"


def ivf_lists(n: int) -> int:
    return 1 << max(6, int(np.round(np.log2(4 * np.sqrt(max(n, 1))))))


def ivf_nprobe(nlist: int) -> int:
    return min(nlist, max(16, round(nlist * IVF_PROBE_SHARE)))


def build_faiss_index(vectors: np.ndarray, dim: int, kind: str | None = None, template: faiss.Index | None = None) -> faiss.Index:
    """A new index over ``vectors``. ``template``: a trained IVF index whose lists (centroids) to reuse."""
    kind = kind or index_kind_for(len(vectors))
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "ivf":
        if template is not None and isinstance(template, faiss.IndexIVF) and template.is_trained:
            index = faiss.clone_index(template)
            index.reset()
        else:
            index = _trained_ivf(vectors, dim)
        index.nprobe = ivf_nprobe(index.nlist)
    else:
        index = faiss.IndexFlatIP(dim)
    for s in range(0, len(vectors), 65536):  # in slices: a memory-mapped array is never read whole at once
        index.add(np.ascontiguousarray(vectors[s : s + 65536], dtype=np.float32))
    return index


def ivf_code_kind(dim: int) -> str:
    """"pq4": product quantisation, one 4-bit code per 4 dimensions (48 bytes a 384-d vector), scanned
    with SIMD look-up tables (``IndexIVFPQFastScan``); "sq8" (one byte a dimension) when the dimension
    is not a multiple of 4."""
    return "pq4" if dim % 4 == 0 else "sq8"


def _trained_ivf(vectors: np.ndarray, dim: int) -> faiss.Index:
    nlist = ivf_lists(len(vectors))
    quantizer = faiss.IndexFlatIP(dim)
    if ivf_code_kind(dim) == "pq4":
        index = faiss.IndexIVFPQFastScan(quantizer, dim, nlist, dim // 4, 4, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()  # the IVF index owns (and frees) its quantizer
    take = min(len(vectors), nlist * IVF_TRAIN_PER_LIST)
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), take, replace=False))  # deterministic sample
    index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
    return index


class VectorFile:
    """A saved ``vectors.npy`` read row by row, never held whole.

    Not ``np.load(mmap_mode="r")``: every page fault of a memory map also maps its read-ahead
    neighbours, so re-ranking grew a server's memory question by question, up to the whole file.
    ``pread`` goes through the page cache without mapping anything into the process. Indexing
    like an array: ``[i]``, ``[rows]``, ``[a:b]``, a boolean mask, and ``np.asarray`` for all of it
    (writers: adding rows builds an array in memory as before)."""

    def __init__(self, path, rows: int, dim: int, offset: int) -> None:
        self.path, self.shape, self.offset = str(path), (rows, dim), offset
        self.dtype = np.dtype(np.float32)
        self._row_bytes = dim * 4
        self._fd = os.open(self.path, os.O_RDONLY)  # kept open: the generation may be removed meanwhile

    @classmethod
    def open(cls, path) -> "VectorFile":
        """Raises ValueError for a file that is not a C-order float32 2-D .npy."""
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(version, np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
        if fortran or np.dtype(dtype) != np.float32 or len(shape) != 2:
            raise ValueError(f"{path} is not a row-major float32 matrix")
        return cls(path, shape[0], shape[1], offset)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self._row_bytes

    def _read(self, start: int, stop: int) -> np.ndarray:
        n = max(0, stop - start)
        buf = os.pread(self._fd, n * self._row_bytes, self.offset + start * self._row_bytes) if n else b""
        if len(buf) != n * self._row_bytes:
            raise OSError(f"{self.path} is shorter than its header says")
        return np.frombuffer(buf, dtype=np.float32).reshape(n, self.shape[1])

    def __getitem__(self, key) -> np.ndarray:
        n = self.shape[0]
        if isinstance(key, (int, np.integer)):
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {key} out of range for {n} vectors")
            return self._read(i, i + 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            return self._read(start, stop)[::step] if step > 0 else np.asarray(self)[key]
        idx = np.asarray(key)
        if idx.dtype == bool:
            return np.asarray(self)[idx]
        idx = idx.astype(np.int64).ravel()
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"rows out of range for {n} vectors")
        idx = np.where(idx < 0, idx + n, idx)
        out = np.empty((len(idx), self.shape[1]), dtype=np.float32)
        if not hasattr(os, "preadv"):
            for j, i in enumerate(idx):
                out[j] = self._read(int(i), int(i) + 1)[0]
            return out
        # Each row read straight into its place: no bytes object and copy per row.
        rb = self._row_bytes
        for j, i in enumerate(idx):
            if os.preadv(self._fd, [out[j]], self.offset + int(i) * rb) != rb:
                raise OSError(f"{self.path} is shorter than its header says")
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self._read(0, self.shape[0]).copy()
        return out if dtype is None else out.astype(dtype)


class SentenceVectorStore:
    """The vectors (kept for exact cosines and rebuilds) and their FAISS index.

    ``vectors`` is never modified in place (adds and removals bind a new array), so a reader holding
    an older array keeps a consistent view (see ``index.corpus.CorpusView``).
    """

    def __init__(self, vectors: np.ndarray, dim: int, faiss_index: faiss.Index | None = None) -> None:
        # A VectorFile (a large saved index) stays one: only the rows read are ever in memory.
        self._vectors = vectors if isinstance(vectors, VectorFile) else \
            np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
        self._dim = dim
        self.client = faiss_index if faiss_index is not None else build_faiss_index(self._vectors, dim)
        if isinstance(self.client, faiss.IndexIVF):  # the setting of this code, not of the saved file
            self.client.nprobe = ivf_nprobe(self.client.nlist)

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors

    @property
    def kind(self) -> str:
        if isinstance(self.client, faiss.IndexHNSWFlat):
            return "hnsw"
        return "ivf" if isinstance(self.client, faiss.IndexIVF) else "flat"

    def vectors_for(self, rows) -> np.ndarray:
        """Something ``[row]`` gives the vector of each of ``rows`` from (here: all of them)."""
        return self._vectors

    def set_ef_search(self, ef: int) -> None:
        if self.kind == "hnsw":
            self.client.hnsw.efSearch = ef

    def add_vectors(self, batch: np.ndarray) -> None:
        batch = np.ascontiguousarray(batch, dtype=np.float32).reshape(-1, self._dim)
        self._vectors = np.concatenate([np.asarray(self._vectors), batch]) if len(self._vectors) else batch
        if index_kind_for(len(self._vectors)) != self.kind:
            self.client = build_faiss_index(self._vectors, self._dim)
        else:
            self.client.add(batch)  # IVF: new rows go to the lists of the centroids trained so far

    def keep_rows(self, mask: np.ndarray) -> None:
        self._vectors = np.ascontiguousarray(np.asarray(self._vectors)[mask])
        same_kind = index_kind_for(len(self._vectors)) == self.kind
        self.client = build_faiss_index(self._vectors, self._dim, template=self.client if same_kind else None)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosine scores of the k nearest vectors."""
        k = min(k, len(self._vectors))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = query.reshape(1, -1).astype(np.float32)
        if self.kind != "ivf":
            scores, rows = self.client.search(q, k)
            keep = rows[0] >= 0
            return rows[0][keep], scores[0][keep]
        _, rows = self.client.search(q, max(k, APPROX_CANDIDATES))
        rows = np.sort(rows[0][rows[0] >= 0])  # sorted: fewer, ordered page reads of a memory map
        exact = self._vectors[rows] @ q[0]  # APPROX_CANDIDATES rows: read from the file when it is a VectorFile
        best = np.argsort(-exact, kind="stable")[:k]
        return rows[best], exact[best].astype(np.float32)
