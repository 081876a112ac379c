"""``python -m qa.warm_caches``: export this machine's ONNX graphs of the question-time models ahead of the first start.

The set-up runs it so that a server's first start does not import torch to export them (``index/onnx_runtime.py``);
without it the first start exports them (tens of seconds) and later starts read them.
"""

from __future__ import annotations

import time
from pathlib import Path

from index.embedder import embedder_for
from qa.relevance.scorer import RelevanceError, scorer_for
from qa.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    t = time.perf_counter()
    embedder_for(settings)
    try:
        scorer_for(settings)
    except RelevanceError as exc:
        print(f"relevance model not loaded ({exc}); only the question encoder's graph was exported")
    print(f"ONNX graphs ready in {Path(settings.cache_dir) / 'onnx'} ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
