"""Write a fit to its versioned JSON file under ``qa/fitted/`` (the format ``qa.fitted`` reads)."""

from __future__ import annotations

import datetime
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from qa.fitted import FORMAT, logistic_fit, path_of


def command_line(module: str, argv: list[str] | None) -> str:
    """How this fit was run, with the embedder setting when one was given."""
    args = sys.argv[1:] if argv is None else argv
    env = os.environ.get("CITEQA_EMBED_MODEL")
    return (f"CITEQA_EMBED_MODEL={shlex.quote(env)} " if env else "") + shlex.join(["python", "-m", module, *args])


def fit_record(weights: dict[str, float], threshold: float, *, embedder: str, data: dict[str, Any],
               figures: dict[str, Any], command: str) -> dict[str, Any]:
    return {"values": {"weights": weights, "threshold": threshold}, "embedder": embedder, "data": data,
            "figures": figures, "command": command, "date": datetime.date.today().isoformat()}


def save(name: str, fit: dict[str, Any], features: tuple[str, ...], *, by_embedder: bool = False,
         out: Path | None = None) -> Path:
    """Write ``fit`` to ``qa/fitted/<name>.json`` (or ``out``); with ``by_embedder`` it replaces only the
    fit of its embedder in that file. Checked as the product will read it before anything is written."""
    logistic_fit(fit, features, name)
    path = out or path_of(name)
    if by_embedder:
        doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"format": FORMAT, "fits": {}}
        if doc.get("format") != FORMAT or not isinstance(doc.get("fits"), dict):
            raise ValueError(f"{path}: not a format-{FORMAT} file of fits by embedder; not overwritten")
        doc["fits"][fit["embedder"]] = fit
    else:
        doc = {"format": FORMAT, **fit}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
