import json
import os

import pytest
from helpers import REPO

from adamw_repro.data import corpus, shards, tokens

# The longest files first (pytest-xdist, ``--dist loadfile --no-loadscope-reorder``: a file's
# tests in one worker, which builds the smoke DAG fixture once; each file then goes to whichever
# worker is free). Longest first keeps the two workers' ends close: a file as long as
# test_slurm.py (about 230 s) started last leaves the other worker idle for most of it. The
# order is each file's time on two workers at the last measurement (docs/performance.md);
# files not listed are short and follow.
LONGEST_FIRST = (
    "test_pipeline.py",
    "test_smoke_ladder.py",
    "test_slurm.py",
    "test_every_config.py",
    "test_benchmarks.py",
    "test_train.py",
    "test_search.py",
    "test_catalog.py",
    "test_ledger.py",
    "test_precision.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session", autouse=True)
def machine_cache(tmp_path_factory):
    """Probes of this machine (bf16 speed, tokens/s) go to a cache of the test session's own,
    measured once for all its tests and workflow runs, never into the user's cache."""
    os.environ["ADAMW_REPRO_CACHE"] = str(tmp_path_factory.mktemp("machine"))


@pytest.fixture(scope="session")
def token_files(tmp_path_factory):
    """A small KJV corpus, split three ways and encoded with a 300-token BPE, as the pipeline
    would (one file per split rather than a folder of shards: both are accepted)."""
    d = tmp_path_factory.mktemp("tokens")
    parts = corpus.split_text(corpus.load_text({"source": "kjv", "max_chars": 200_000}), 0.1, 5)
    tok = tokens.train_bpe(parts["train"], 300)
    out = {"tokenizer": tok, "meta": str(d / "meta.json")}
    for split, text in parts.items():
        (d / f"{split}.bin").write_bytes(tokens.encode(tok, text).tobytes())
        out[split], out[f"{split}_text"] = str(d / f"{split}.bin"), text
    meta = {"vocab_size": tok.get_vocab_size(), "shards": {}}
    for split in parts:  # as the tokenize rule records them (checked before every job)
        meta["shards"][split] = shards.records(d / f"{split}.bin")
        meta[f"{split}_tokens"] = meta["shards"][split][0]["tokens"]
    (d / "meta.json").write_text(json.dumps(meta))
    return out


@pytest.fixture(scope="session")
def repo():
    return REPO
