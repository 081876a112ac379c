"""Durable file operations shared by everything that writes state to disk (the index directory, the
saved LLM prefix states)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry: after os.replace() the new name must reach the disk too, or a crash
    could lose it."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
