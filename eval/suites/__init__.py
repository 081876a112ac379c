"""The suite registry: the one place a new suite (perf, scale, a baseline, ...) is added.

A suite is a module in this package with
    DESCRIPTION: str
    add_arguments(parser: argparse.ArgumentParser) -> None   # its own options
    run(args: argparse.Namespace) -> eval.suites.base.SuiteResult
Common options (--limit, --seed, --mode, --results-dir, --config) are added by eval.__main__.
Modules are imported lazily so ``python -m eval --help`` does not load torch.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SUITES: dict[str, str] = {
    "seed": "eval.suites.seed",
    "squad": "eval.suites.squad",
    "judge": "eval.suites.judge",
    "hotpot": "eval.suites.hotpot",
    "scale": "eval.suites.scale",
    "perf": "eval.suites.perf",
    "instant": "eval.suites.instant",
    "ingest": "eval.suites.ingest",
    "baselines": "eval.baselines.suite",
    "backends": "eval.suites.backends",
}


def load(name: str) -> ModuleType:
    return importlib.import_module(SUITES[name])
