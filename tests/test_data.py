"""Corpus split, tokenizer and token files."""

import json

import numpy as np
import pytest

from adamw_repro.data import corpus, shards, tokens


def test_kjv_loads_offline_with_every_verse():
    text = corpus.load_text({"source": "kjv"})
    lines = text.splitlines()
    assert len(lines) == 31_103  # one verse per line
    assert lines[0] == "In the beginning God created the heaven and the earth."


def test_splits_are_disjoint_complete_and_spread_over_the_corpus():
    lines = [f"line {i:05d} " + "x" * (i % 7) for i in range(5000)]
    text = "\n".join(lines) + "\n"
    parts = corpus.split_text(text, heldout_fraction=0.1, heldout_chunks=10)
    got = {split: t.splitlines() for split, t in parts.items()}
    assert sorted(got["train"] + got["val"] + got["test"]) == sorted(lines)
    assert set(got["val"]).isdisjoint(got["test"]) and set(got["train"]).isdisjoint(got["val"])
    for split in ("val", "test"):
        assert 0.08 < len(parts[split]) / len(text) < 0.12
        # 10 contiguous chunks, from the first to the last tenth of the text
        idx = sorted(int(v.split()[1]) for v in got[split])
        runs = 1 + sum(b != a + 1 for a, b in zip(idx, idx[1:], strict=False))
        assert runs == 10 and idx[0] < 500 and idx[-1] > 4500, split


def test_split_is_deterministic():
    text = corpus.load_text({"source": "kjv", "max_chars": 100_000})
    assert corpus.split_text(text, 0.1, 5) == corpus.split_text(text, 0.1, 5)


def test_tokenizer_round_trips_and_token_files_match_a_re_encode(token_files):
    tok = token_files["tokenizer"]
    for split in ("train", "val", "test"):
        text = token_files[f"{split}_text"]
        ids = np.fromfile(token_files[split], dtype=np.uint16)
        assert tok.decode(ids.tolist()) == text
        assert np.array_equal(ids, tokens.encode(tok, text))
        assert ids.max() < tok.get_vocab_size() == 300


def test_tokenizer_is_trained_on_the_training_split_only():
    train = "alpha beta gamma\n" * 200
    val = "zyzzyva quixotic\n" * 200
    tok = tokens.train_bpe(train, 300)
    assert "Ġbeta" in tok.get_vocab() and "Ġquixotic" not in tok.get_vocab()
    assert len(tok.encode("zyzzyva quixotic").ids) > 2 * len(tok.encode("alpha beta").ids)
    assert tok.decode(tok.encode(val).ids) == val


def test_unigram_baseline_matches_hand_computation():
    train = np.bincount([0, 0, 1, 2], minlength=4)
    test = np.bincount([0, 3], minlength=4)
    b = tokens.unigram_baseline(train, {"test": test})
    p = np.array([3, 2, 2, 1]) / 8  # add-one smoothed counts
    assert b["unigram_entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert b["unigram_test_cross_entropy"] == pytest.approx(-(np.log(p[0]) + np.log(p[3])) / 2)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"   \n\n", "file is empty"),
        (b"text\x00\x01binary", "looks binary"),
        (b"caf\xe9 latin-1", "not UTF-8"),
    ],
)
def test_bad_user_files_get_a_one_line_error(tmp_path, content, message):
    f = tmp_path / "corpus.txt"
    f.write_bytes(content)
    with pytest.raises(corpus.CorpusError, match=message) as e:
        corpus.load_text({"source": "file", "path": str(f)})
    assert "corpus.path" in str(e.value) and "\n" not in str(e.value)


def test_too_short_corpus_fails_with_a_clear_error_and_writes_nothing(tmp_path):
    (tmp_path / "train.txt").write_text("In the beginning.\n" * 5)
    (tmp_path / "val.txt").write_text("And God said.\n")
    (tmp_path / "test.txt").write_text("And there was light.\n")
    out = tmp_path / "tokens"
    inputs = {split: str(tmp_path / f"{split}.txt") for split in ("train", "val", "test")}
    outputs = {split: str(out / split) for split in ("train", "val", "test")}
    outputs |= {"tokenizer": str(out / "tok.json"), "meta": str(out / "meta.json")}
    tokenizer = json.dumps({"kind": "bpe", "vocab_size": 300, "shard_tokens": 10**8})
    params = {"tokenizer": tokenizer, "min_train": 1025, "min_heldout": 65}
    with pytest.raises(SystemExit, match=r"^error: corpus too short: the train split has") as e:
        tokens.run(inputs, outputs, params)
    assert "\n" not in str(e.value)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda b: b[: len(b) // 2], "holds 5,000 tokens where meta.json records 10,000"),
        (lambda b: b[: len(b) // 2 + 1], "has 10,001 bytes, not a whole number of uint16 tokens"),
        (lambda b: bytes(reversed(b)), "does not match its SHA-256 in meta.json"),
        (lambda b: b"", "holds 0 tokens where meta.json records 10,000"),
    ],
)
def test_a_damaged_shard_is_named_before_any_step(tmp_path, damage, problem):
    """meta.json records each shard's tokens and SHA-256; a job checks both before training,
    and a truncated, odd-sized or altered shard stops it with one line naming the shard."""
    folder = tmp_path / "tokens" / "train"
    writer = shards.ShardWriter(folder, 6000)
    writer.write(np.arange(10_000) % 500)
    writer.close()
    meta = {"shards": {"train": shards.records(folder)}}
    assert [r["tokens"] for r in meta["shards"]["train"]] == [6000, 4000]
    shards.verify_all({"train": str(folder)}, meta)  # intact: silent
    whole = tmp_path / "whole.bin"
    whole.write_bytes((np.arange(10_000) % 500).astype(np.uint16).tobytes())
    meta = {"shards": {"train": shards.records(whole)}}
    whole.write_bytes(damage(whole.read_bytes()))
    with pytest.raises(SystemExit) as e:
        shards.verify_all({"train": str(whole)}, meta)
    message = str(e.value)
    assert message == f"error: {whole}: {problem}; " + shards.redo_tokens(whole)
    assert "\n" not in message and "delete " in message
    # sizes only where the splits are too large to hash every job: the altered one then passes
    if "SHA-256" in problem:
        shards.verify_all({"train": str(whole)}, meta, checksums=False)
