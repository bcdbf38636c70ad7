import json

import pytest
from helpers import REPO

from adamw_repro import corpus, tokens


@pytest.fixture(scope="session")
def token_files(tmp_path_factory):
    """A small KJV corpus, split and encoded with a 300-token BPE, as the pipeline would."""
    d = tmp_path_factory.mktemp("tokens")
    train_text, val_text = corpus.split_text(
        corpus.load_text({"source": "kjv", "max_chars": 200_000}), 0.1, 5
    )
    tok = tokens.train_bpe(train_text, 300)
    (d / "train.bin").write_bytes(tokens.encode(tok, train_text).tobytes())
    (d / "val.bin").write_bytes(tokens.encode(tok, val_text).tobytes())
    (d / "meta.json").write_text(json.dumps({"vocab_size": tok.get_vocab_size()}))
    return {
        "train": str(d / "train.bin"),
        "val": str(d / "val.bin"),
        "meta": str(d / "meta.json"),
        "tokenizer": tok,
        "train_text": train_text,
        "val_text": val_text,
    }


@pytest.fixture(scope="session")
def repo():
    return REPO
