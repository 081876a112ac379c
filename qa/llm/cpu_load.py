"""How many CPU cores other processes keep busy now, so the LLM uses the cores nobody else does.

llama.cpp's threads wait for each other at every layer: on 2 idle cores, 2 threads read a prompt about 1.8x and
write about 1.5x faster than 1; on cores another process keeps busy, 2 threads are many times slower than 1
(docs/decisions/0220, 0226). So before each LLM turn the runtime asks ``threads_for`` how many threads to use.

The reading is Linux's /proc/stat (all cores' busy time) minus this process's own CPU time (``os.times``: the
LLM's own threads and other users' evidence steps are not "someone else"), over the last ``window`` seconds,
sampled by one daemon thread. Where /proc/stat cannot be read, ``busy_elsewhere`` is None and the caller keeps
its fixed thread count.
"""

from __future__ import annotations

import math
import os
import threading
import time

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _all_busy_s() -> float | None:
    """Seconds all cores spent not idle since boot (user, nice, system, irq, softirq, steal), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    v = [int(x) for x in fields[1:9]]
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v) - idle) / _TICKS


def _own_busy_s() -> float:
    t = os.times()
    return t.user + t.system


def available_cores() -> int:
    """Cores this process may run on (its affinity), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class OtherLoad:
    """Cores busy with other processes, averaged over the last ``window`` seconds (a daemon thread samples)."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._value: float | None = None
        self._lock = threading.Lock()
        first = _all_busy_s()
        if first is None:
            return  # not Linux: no reading, callers keep their fixed thread count
        self._prev = (time.monotonic(), first, _own_busy_s())
        threading.Thread(target=self._run, name="citeqa-cpu-load", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.window)
            now, busy, own = time.monotonic(), _all_busy_s(), _own_busy_s()
            if busy is None:
                continue
            t0, busy0, own0 = self._prev
            self._prev = (now, busy, own)
            if now - t0 <= 0:
                continue
            value = max(0.0, ((busy - busy0) - (own - own0)) / (now - t0))
            with self._lock:
                self._value = value

    def busy_elsewhere(self) -> float | None:
        """Cores other processes used over the last window (0.0 = idle); None before the first window, off Linux."""
        with self._lock:
            return self._value


def threads_for(busy_elsewhere: float | None, cores: int, floor: int, most: int) -> int:
    """Threads for the next LLM turn: the cores other processes leave free (a core counts as free when at least 70%
    of it is idle), at least ``floor`` and at most ``most``; ``floor`` when nothing is known."""
    if busy_elsewhere is None or most <= floor:
        return floor
    free = math.floor(cores - busy_elsewhere + 0.3)
    return max(floor, min(most, free))


_sampler: OtherLoad | None = None
_sampler_lock = threading.Lock()


def sampler() -> OtherLoad:
    """The process-wide sampler, started on first use."""
    global _sampler
    with _sampler_lock:
        if _sampler is None:
            _sampler = OtherLoad()
        return _sampler
