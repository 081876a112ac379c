"""Fitted constants of the answer path, read from the versioned JSON files in this folder.

Each file is written by the command that fits its values (``python -m training.calibrate*``) and holds,
besides the values, the data and split they were fitted on, the figures that justify them, the command
line and the date. A file holds one fit (``support.json``, ``verify.json``) or one fit per embedder
(``relevance.json``: ``{"format": 1, "fits": {embedder name: fit}}``), since cosines differ by embedder.
A fit's ``values`` are a logistic model: ``{"weights": {"bias": b, feature: w, ...}, "threshold": t}``, except
``judge.json``'s: the judge's abstention threshold and near-tie margin, ``{"threshold": t, "margin": m}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1
FITTED_DIR = Path(__file__).resolve().parent
FIT_FIELDS = ("values", "embedder", "data", "figures", "command", "date")


class FittedError(RuntimeError):
    """A fitted-constants file is missing, unreadable, of another format version or malformed."""


@dataclass(frozen=True)
class LogisticFit:
    """Weights of a logistic model (``bias`` plus one per feature) and the probability threshold it is used at."""

    weights: dict[str, float]
    threshold: float


def path_of(name: str) -> Path:
    return FITTED_DIR / f"{name}.json"


def read(name: str, path: Path | None = None) -> dict[str, Any]:
    """The whole file ``<name>.json`` (or ``path``), its format version checked."""
    path = path or path_of(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FittedError(f"cannot read the fitted constants {path}: {exc.strerror or exc}; it is written by "
                          f"python -m training.calibrate* and belongs to the checkout") from exc
    except ValueError as exc:
        raise FittedError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise FittedError(f"{path}: format {found!r}, this code reads format {FORMAT}")
    return data


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def logistic_fit(fit: Any, features: tuple[str, ...], where: str) -> LogisticFit:
    """Check one fit (all of ``FIT_FIELDS``; weights for exactly bias + ``features``; a threshold in (0, 1))."""
    if not isinstance(fit, dict) or (missing := [f for f in FIT_FIELDS if f not in fit]):
        raise FittedError(f"{where}: a fit needs the fields {', '.join(FIT_FIELDS)}"
                          + (f"; missing {', '.join(missing)}" if isinstance(fit, dict) else ""))
    values = fit["values"]
    weights = values.get("weights") if isinstance(values, dict) else None
    threshold = values.get("threshold") if isinstance(values, dict) else None
    expected = {"bias", *features}
    if not isinstance(weights, dict) or set(weights) != expected or not all(map(_number, weights.values())):
        raise FittedError(f"{where}: values.weights must be numbers for exactly {', '.join(sorted(expected))}; "
                          f"got {weights!r}")
    if not _number(threshold) or not 0 < threshold < 1:
        raise FittedError(f"{where}: values.threshold must be a probability in (0, 1); got {threshold!r}")
    return LogisticFit({k: float(weights[k]) for k in ("bias", *features)}, float(threshold))


def load(name: str, features: tuple[str, ...], path: Path | None = None) -> LogisticFit:
    """The one fit of ``<name>.json`` (or ``path``)."""
    return logistic_fit(read(name, path), features, str(path or path_of(name)))


def load_by_embedder(name: str, features: tuple[str, ...], required: str,
                     path: Path | None = None) -> dict[str, LogisticFit]:
    """The fits of ``<name>.json`` (or ``path``) by embedder name; the ``required`` embedder's must be among them."""
    fits = read(name, path).get("fits")
    where = str(path or path_of(name))
    if not isinstance(fits, dict) or required not in fits:
        raise FittedError(f"{where}: needs \"fits\" by embedder name, with one for {required!r}")
    out = {embedder: logistic_fit(fit, features, f"{where} fits[{embedder!r}]") for embedder, fit in fits.items()}
    if wrong := [e for e, fit in fits.items() if fit["embedder"] != e]:
        raise FittedError(f"{where}: the fits for {', '.join(map(repr, wrong))} name another embedder")
    return out


@dataclass(frozen=True)
class JudgeFit:
    """The judge's abstention threshold (on its probability) and the margin within which further units are cited."""

    threshold: float
    margin: float


def load_judge(path: Path | None = None) -> JudgeFit:
    """``judge.json`` (or ``path``): written by ``python -m training.calibrate_judge``."""
    fit = read("judge", path)
    where = str(path or path_of("judge"))
    if missing := [f for f in FIT_FIELDS if f not in fit]:
        raise FittedError(f"{where}: a fit needs the fields {', '.join(FIT_FIELDS)}; missing {', '.join(missing)}")
    values = fit["values"] if isinstance(fit["values"], dict) else {}
    threshold, margin = values.get("threshold"), values.get("margin")
    if not _number(threshold) or not 0 < threshold < 1:
        raise FittedError(f"{where}: values.threshold must be a probability in (0, 1); got {threshold!r}")
    if not _number(margin) or not 0 <= margin < 1:
        raise FittedError(f"{where}: values.margin must be a number in [0, 1); got {margin!r}")
    return JudgeFit(float(threshold), float(margin))
