"""Corpus split, tokenizer and token files."""

import json
import subprocess
import sys

import numpy as np
import pytest

from adamw_repro import corpus, tokens


def test_kjv_loads_offline_with_every_verse():
    text = corpus.load_text({"source": "kjv"})
    lines = text.splitlines()
    assert len(lines) == 31_103  # one verse per line
    assert lines[0] == "In the beginning God created the heaven and the earth."


def test_split_is_disjoint_complete_and_spread_over_the_corpus():
    lines = [f"line {i:05d} " + "x" * (i % 7) for i in range(5000)]
    text = "\n".join(lines) + "\n"
    train, val = corpus.split_text(text, val_fraction=0.1, val_chunks=10)
    train_lines, val_lines = train.splitlines(), val.splitlines()
    assert set(train_lines).isdisjoint(val_lines)
    assert sorted(train_lines + val_lines) == sorted(lines)
    assert 0.08 < len(val) / len(text) < 0.12
    # held-out lines form exactly 10 contiguous runs, spread from the first to the last decile
    idx = sorted(int(v.split()[1]) for v in val_lines)
    runs = 1 + sum(b != a + 1 for a, b in zip(idx, idx[1:], strict=False))
    assert runs == 10
    assert idx[0] < 500 and idx[-1] > 4500


def test_split_is_deterministic():
    text = corpus.load_text({"source": "kjv", "max_chars": 100_000})
    assert corpus.split_text(text, 0.1, 5) == corpus.split_text(text, 0.1, 5)


def test_tokenizer_round_trips_and_token_files_match_a_re_encode(token_files):
    tok = token_files["tokenizer"]
    for split in ("train", "val"):
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
    val = np.bincount([0, 3], minlength=4)
    b = tokens.unigram_baseline(train, val)
    p = np.array([3, 2, 2, 1]) / 8  # add-one smoothed counts
    assert b["unigram_entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert b["unigram_val_cross_entropy"] == pytest.approx(-(np.log(p[0]) + np.log(p[3])) / 2)


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
    out = tmp_path / "tokens"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "adamw_repro.tokens",
            "--train-text",
            str(tmp_path / "train.txt"),
            "--val-text",
            str(tmp_path / "val.txt"),
            "--tokenizer",
            json.dumps({"kind": "bpe", "vocab_size": 300, "shard_tokens": 10**8}),
            "--min-train-tokens",
            "1025",
            "--min-val-tokens",
            "65",
            "--out-tokenizer",
            str(out / "tok.json"),
            "--out-train",
            str(out / "train.bin"),
            "--out-val",
            str(out / "val.bin"),
            "--out-meta",
            str(out / "meta.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("error: corpus too short: the training split has")
    )
    assert not out.exists() or not any(out.iterdir())
