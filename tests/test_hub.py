"""The paper profile's data path, offline: the hub loader reads a local file of FineWeb-Edu's
format, GPT-2's tokenizer loads from a local folder of the same files, and the token shards
round-trip. Also: vocabulary padding never changes the loss of real tokens."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from helpers import REPO, model_config

from adamw_repro.config import load_config, study_configs
from adamw_repro.data import corpus, tokens
from adamw_repro.data.hub import gpt2_tokenizer
from adamw_repro.data.shards import ShardWriter, TokenData, shard_paths
from adamw_repro.training.model import ModelConfig, build_model, lm_loss

DOCS = [f"Document {i} about photosynthesis.\nIt has two lines, number {i}." for i in range(40)]


@pytest.fixture(scope="module")
def fineweb_file(tmp_path_factory):
    """A parquet file with FineWeb-Edu's columns (the hub's sample-10BT shards look like this)."""
    path = tmp_path_factory.mktemp("hub") / "000_00000.parquet"
    n = len(DOCS)
    pq.write_table(
        pa.table(
            {
                "text": DOCS,
                "id": [f"<urn:uuid:{i}>" for i in range(n)],
                "dump": ["CC-MAIN-2024-10"] * n,
                "url": [f"https://example.org/{i}" for i in range(n)],
                "file_path": ["s3://x"] * n,
                "language": ["en"] * n,
                "language_score": [0.97] * n,
                "token_count": [12] * n,
                "score": [3.1] * n,
                "int_score": [3] * n,
            }
        ),
        path,
    )
    return path


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    """A local folder in the format of the hub's GPT-2 tokenizer: vocab.json, merges.txt and
    tokenizer_config.json (a small BPE stands in for GPT-2's 50,257 merges)."""
    from tokenizers import ByteLevelBPETokenizer

    folder = tmp_path_factory.mktemp("gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(DOCS * 5, vocab_size=400, special_tokens=["<|endoftext|>"])
    bpe.save_model(str(folder))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "GPT2Tokenizer",
                "bos_token": "<|endoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
                "model_max_length": 1024,
            }
        )
    )
    return folder


def test_hub_loader_streams_a_local_file_of_the_same_format_into_document_blocks(
    fineweb_file, tmp_path
):
    cfg = {
        "source": "hub",
        "heldout_fraction": 0.25,
        "hub": {
            "dataset": "HuggingFaceFW/fineweb-edu",
            "name": "sample-10BT",
            "split": "train",
            "text_field": "text",
            "max_docs": 32,
            "block_docs": 2,
            "data_files": str(fineweb_file),
            "format": "parquet",
        },
    }
    outputs = {split: str(tmp_path / f"{split}.txt") for split in ("train", "val", "test")}
    corpus.run({}, outputs, {"corpus": json.dumps(cfg)})
    docs = {
        split: (tmp_path / f"{split}.txt").read_text().split(corpus.EOT + "\n")[:-1]
        for split in ("train", "val", "test")
    }
    # blocks of 2 documents; of every 4 blocks the second is validation, the fourth test;
    # 32 of the 40 documents read (max_docs)
    assert docs["val"] == [DOCS[i] for i in range(32) if (i // 2) % 4 == 1]
    assert docs["test"] == [DOCS[i] for i in range(32) if (i // 2) % 4 == 3]
    assert docs["train"] == [DOCS[i] for i in range(32) if (i // 2) % 4 in (0, 2)]


def test_gpt2_tokenizer_from_a_local_folder_encodes_end_of_text_and_shards_round_trip(
    gpt2_folder, tmp_path
):
    tok = gpt2_tokenizer(str(gpt2_folder))
    eot = tok.token_to_id("<|endoftext|>")
    ids = tok.encode("Document 1 about photosynthesis.<|endoftext|>\n").ids
    assert eot in ids and tok.decode(ids, skip_special_tokens=False).startswith("Document 1")
    text = tmp_path / "train.txt"
    text.write_text("".join(d + "<|endoftext|>\n" for d in DOCS))
    n, counts = tokens.write_shards(
        tok, text, tmp_path / "shards", shard_tokens=50, vocab=tok.get_vocab_size()
    )
    shards = shard_paths(tmp_path / "shards")
    assert len(shards) == -(-n // 50) and all(p.stat().st_size <= 100 for p in shards)
    ids = np.concatenate([np.fromfile(p, dtype=np.uint16) for p in shards])
    assert np.array_equal(ids, tokens.encode(tok, text)) and counts[eot] == len(DOCS)
    assert tok.decode(ids.tolist(), skip_special_tokens=False) == text.read_text()


def test_shard_writer_and_reader_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    stream = rng.integers(0, 50304, 2345, dtype=np.uint16)
    writer = ShardWriter(tmp_path / "shards", shard_tokens=500)
    for piece in np.split(stream, [7, 700, 701, 1999]):
        writer.write(piece)
    paths = writer.close()
    assert [p.stat().st_size // 2 for p in paths] == [500, 500, 500, 500, 345]
    assert not list(tmp_path.glob(".shards.tmp*"))
    data = TokenData(tmp_path / "shards", block_size=16)
    windows = np.concatenate([data.random_starts(1, s, 64) for s in range(20)])
    x, y = data.batch(windows)
    # every window is a contiguous stretch of the stream, inside one shard
    for start, row_x, row_y in zip(windows, x.numpy(), y.numpy(), strict=True):
        shard, offset = data.locate(start)
        begin = 500 * shard + offset
        assert offset + 17 <= (500 if shard < 4 else 345)
        assert np.array_equal(row_x, stream[begin : begin + 16])
        assert np.array_equal(row_y, stream[begin + 1 : begin + 17])
    assert len(set(data.fixed_starts(16 * 30).tolist())) == 30
    # the whole split: back-to-back windows predict every token once, but each shard's first
    # token and a remainder shorter than one context
    _, targets = data.batch(data.tiling_starts())
    predicted = targets.flatten().numpy()
    assert len(predicted) == 4 * (499 // 16) * 16 + (344 // 16) * 16
    shard = [(499 // 16) * 16] * 4 + [(344 // 16) * 16]
    expected = np.concatenate([stream[500 * k + 1 : 500 * k + 1 + n] for k, n in enumerate(shard)])
    assert np.array_equal(predicted, expected)


def test_vocab_padding_does_not_change_the_loss_of_real_tokens():
    torch.manual_seed(0)
    exact = build_model(
        model_config(50257, n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_multiple=1)
    )
    padded = build_model(model_config(50257, n_layer=1, n_head=2, n_embd=16, block_size=8))
    assert padded.transformer.wte.weight.shape[0] == 50304
    state = exact.state_dict()
    with torch.no_grad():
        for name, p in padded.named_parameters():
            if name == "transformer.wte.weight":
                p[:50257] = state[name]
                p[50257:] = 100.0  # padded rows: huge logits, if they ever entered the softmax
            else:
                p.copy_(state[name])
    x = torch.randint(0, 50257, (2, 8))
    assert torch.equal(lm_loss(exact, x, x, 50257), lm_loss(padded, x, x, 50257))


def test_paper_profile_is_a_gpt2_small_replica():
    cfg = study_configs(load_config(REPO / "config" / "paper.yaml"))["gpt2_124m"]  # the main one
    m, t = cfg["model"], cfg["train"]
    assert (m["n_layer"], m["n_head"], m["n_embd"], m["block_size"]) == (12, 12, 768, 1024)
    assert ModelConfig.from_dict({**m, "vocab_size": 50257}).padded_vocab_size == 50304
    assert t["batch_size"] * t["grad_accum"] * m["block_size"] == 524288
    assert cfg["optimizers"]["adamw"]["betas"] == [0.9, 0.95] and t["grad_clip"] == 1.0
    assert len(cfg["seeds"]) >= 5 and cfg["tokenizer"]["kind"] == "gpt2"
    model = build_model(ModelConfig.from_dict({**m, "vocab_size": 50257}))
    assert 124e6 < sum(p.numel() for p in model.parameters()) < 125e6
