"""qa/llm/cpu_load: the LLM's threads follow the cores other processes leave free (real /proc readings)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from qa.llm import cpu_load
from qa.llm.cpu_load import OtherLoad, threads_for


@pytest.mark.parametrize("busy, cores, floor, most, expected", [
    (None, 2, 1, 2, 1),  # nothing known (not Linux, no window yet): the fixed count
    (0.0, 2, 1, 2, 2),  # idle machine: every core
    (0.5, 2, 1, 2, 1),  # half a core taken: one free core only
    (0.2, 2, 1, 2, 2),  # a core 80% idle counts as free
    (1.0, 2, 1, 2, 1),
    (2.0, 2, 1, 2, 1),  # everything busy: never below the floor
    (0.0, 8, 1, 4, 4),  # never above the most
    (0.0, 2, 2, 2, 2),  # most <= floor: the fixed count
])
def test_threads_for(busy, cores, floor, most, expected):
    assert threads_for(busy, cores, floor, most) == expected


def _wait_for_reading(load: OtherLoad, seconds: float) -> float:
    time.sleep(seconds)
    value = load.busy_elsewhere()
    assert value is not None, "no reading after the sampling window"
    return value


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_another_process_counts_and_this_one_does_not():
    load = OtherLoad(window=0.5)
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        other = _wait_for_reading(load, 1.3)
    finally:
        spinner.wait(timeout=10)
    stop = time.time() + 1.5

    def spin() -> None:
        while time.time() < stop:
            pass

    own = threading.Thread(target=spin)
    own.start()
    mine = _wait_for_reading(load, 1.2)
    own.join()
    # A spinning child takes most of a core; a spinning thread of this process is not "someone else".
    assert other >= 0.6, other
    assert mine <= other - 0.5, (mine, other)


def test_available_cores_is_this_process_affinity():
    assert 1 <= cpu_load.available_cores() <= (__import__("os").cpu_count() or 1)
