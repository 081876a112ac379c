import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "national_post_us_north_korea_stalemate.txt"
GOLD = ROOT / "eval" / "gold_seed.jsonl"


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory):
    from qa import Assistant

    return Assistant.open(index_dir=tmp_path_factory.mktemp("seed-index"))


def gold_questions() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


def as_history(turns) -> list[dict]:
    out = []
    for t in turns or []:
        out += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": t["answer"]}]
    return out
