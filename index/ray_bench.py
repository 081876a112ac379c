"""``python -m index.ray_bench``: sentences/s of ``RayEmbedder`` against plain ``Embedder.encode`` on one machine
(figures and their reading: docs/decisions/0003-ray-on-one-machine.md)."""

from __future__ import annotations

import os

import numpy as np

from index.embedder import get_embedder
from index.ray_embedder import RayEmbedder
from index.sentences import split_sentences


def main(argv: list[str] | None = None) -> None:
    """Sentences/s of RayEmbedder (a local cluster, 2 actors) against plain ``Embedder.encode`` on the
    same sentences, alternating, in one run: ``python -m index.ray_bench --sentences 3000``."""
    import argparse
    import json
    import time
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m index.ray_bench")
    ap.add_argument("--squad", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "squad2_dev_A.json")
    ap.add_argument("--sentences", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--actors", type=int, default=2)
    args = ap.parse_args(argv)
    data = json.loads(args.squad.read_text(encoding="utf-8"))
    texts: list[str] = []
    for para in (p for a in data["data"] for p in a["paragraphs"]):
        texts += [para["context"][s.start : s.end] for s in split_sentences(para["context"])]
        if len(texts) >= args.sentences:
            break
    texts = texts[: args.sentences]
    local = get_embedder()
    local.encode(texts[:64])  # torch imported and the model loaded before the clock starts
    ray_e = RayEmbedder(local, "auto", concurrency=args.actors, num_cpus=args.actors)
    ray_e.connect()  # cluster start-up is not counted; actor start-up (model load) is, as in real use
    rates: dict[str, list[float]] = {"plain": [], "ray": []}
    load = [os.getloadavg()]
    ref = None
    for _ in range(args.rounds):
        for name, e in (("plain", local), ("ray", ray_e)):
            t0 = time.perf_counter()
            vecs = e.encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - t0))
            if ref is None:
                ref = vecs
            elif not np.allclose(vecs, ref, atol=1e-5):
                raise SystemExit(f"{name}: vectors differ by {np.abs(vecs - ref).max():.2e}")
            load.append(os.getloadavg())
    ray_e.close()
    print(json.dumps({"sentences": len(texts), "actors": args.actors,
                      "sentences_per_s": {k: [round(r, 1) for r in v] for k, v in rates.items()},
                      "load_avg_1m": [round(x[0], 2) for x in load]}))


if __name__ == "__main__":
    main()
