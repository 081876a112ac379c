"""``python -m qa.warm_caches``: build this machine's ONNX graphs (index/onnx_bert.py) ahead of the first start.

The set-up runs it so that a server's first start does not import onnx and build the graphs (about 2 s);
without it the first start builds them and later starts read them.
"""

from __future__ import annotations

import time

from index.embedder import embedder_for
from qa.relevance.scorer import RelevanceError, get_scorer
from qa.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    t = time.perf_counter()
    embedder_for(settings)
    try:
        get_scorer(None, "onnx", settings.onnx_cache_dir)
    except RelevanceError as exc:
        print(f"relevance model not loaded ({exc}); only the question encoder's graph was built")
    print(f"ONNX graphs ready in {settings.onnx_cache_dir} ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
