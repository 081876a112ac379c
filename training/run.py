"""What both training commands share: seeding, the machine's description for the record, a log line."""

from __future__ import annotations

import os
import platform
import random
import sys
import time

import numpy as np


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def begin(seed: int, threads: int) -> float:
    """Seed every generator and set torch's threads; returns the start time."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return time.perf_counter()


def last_checkpoint(checkpoints: "os.PathLike[str] | str") -> str | None:
    """The newest ``checkpoint-N`` directory the Trainer wrote under ``checkpoints`` (None if none)."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoints)) if os.path.isdir(checkpoints) else None
