"""The tokenizer, and the three splits encoded once into uint16 token shards.

``tokenizer.kind: bpe`` trains a byte-level BPE on the training split with ``tokenizers``;
``gpt2`` loads GPT-2's own BPE (the ``paper`` profile, see ``hub.py``). Text is streamed in
line chunks and the ids go straight to disk, so a corpus of billions of tokens never sits in
memory; every run reads the shards through numpy memmaps.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from .. import atomic
from .corpus import EOT, SPLITS
from .shards import DTYPE, ShardWriter, records, sha256, shard_paths

LINES_PER_CHUNK = 256


def batched(items: Iterable, n: int) -> Iterator[list]:
    """Consecutive lists of ``n`` items (the last one shorter); ``itertools.batched`` in 3.12."""
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch


def text_chunks(source: str | Path, lines_per_chunk: int = LINES_PER_CHUNK) -> Iterator[str]:
    """Consecutive groups of whole lines, from a text (``str``) or a text file (``Path``)."""
    if isinstance(source, Path):
        with open(source, encoding="utf-8") as fh:
            yield from map("".join, batched(fh, lines_per_chunk))
    else:
        yield from map("".join, batched(source.splitlines(keepends=True), lines_per_chunk))


def train_bpe(train_text: str | Path, vocab_size: int) -> Tokenizer:
    """Byte-level BPE (GPT-2 pre-tokenisation, no unknown tokens) trained on the training text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(text_chunks(train_text), trainer=trainer)
    return tok


def encode(tok: Tokenizer, text: str | Path) -> np.ndarray:
    """Token ids of a text (or text file), encoded in line-aligned chunks: byte-level BPE is
    lossless, so the concatenation decodes back to the text."""
    return np.concatenate([np.asarray(ids, dtype=DTYPE) for ids in encode_chunks(tok, text)])


def encode_chunks(tok: Tokenizer, text: str | Path, batch: int = 64) -> Iterator[list[int]]:
    """Token ids of ``batch`` line chunks at a time (``encode_batch`` parallelises within)."""
    for chunks in batched(text_chunks(text), batch):
        yield [i for enc in tok.encode_batch(chunks) for i in enc.ids]


def write_shards(tok: Tokenizer, text: Path, directory: Path, shard_tokens: int, vocab: int):
    """Encode ``text`` into shards; return (token count, token counts per id)."""
    writer, counts = ShardWriter(directory, shard_tokens), np.zeros(vocab, dtype=np.int64)
    try:
        for ids in encode_chunks(tok, text):
            writer.write(ids)
            counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab)[:vocab]
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer.n_tokens, counts


def unigram_baseline(train_counts: np.ndarray, counts: dict[str, np.ndarray]) -> dict:
    """Entropy of the training unigram distribution and its cross-entropy on each held-out split
    (add-one smoothed), in nats: the loss a model that ignores context would reach."""
    p = (train_counts + 1.0) / (train_counts + 1.0).sum()
    out = {"unigram_entropy": float(-(p * np.log(p)).sum())}
    for split, c in counts.items():
        out[f"unigram_{split}_cross_entropy"] = float(-(c * np.log(p)).sum() / c.sum())
    return out


def load_tokenizer(cfg: dict, train_text: Path) -> Tokenizer:
    if cfg["kind"] == "gpt2":
        from .hub import gpt2_tokenizer

        return gpt2_tokenizer(cfg["name"])
    return train_bpe(train_text, cfg["vocab_size"])


def run(input, output, params) -> None:
    """The tokenize rule: a tokenizer (``params["tokenizer"]``) trained or loaded, each split's
    text as token shards in its own folder, and meta.json; ``params["min_train"]`` and
    ``["min_heldout"]`` are the fewest tokens a batch and a held-out sequence need (stage.py)."""
    cfg = json.loads(params["tokenizer"])
    texts = {split: Path(input[split]) for split in SPLITS}
    outs = {split: Path(output[split]) for split in SPLITS}
    tok = load_tokenizer(cfg, texts["train"])
    vocab = tok.get_vocab_size()
    if vocab > np.iinfo(DTYPE).max + 1:
        raise SystemExit(f"error: tokenizer.vocab_size {vocab} does not fit in uint16")
    meta = {
        "vocab_size": vocab,
        "eot_id": tok.token_to_id(EOT),
        "dtype": np.dtype(DTYPE).name,
        "tokenizer": cfg["kind"],
    }
    counts = {}
    for split in SPLITS:
        n, counts[split] = write_shards(tok, texts[split], outs[split], cfg["shard_tokens"], vocab)
        need, unit = (
            (params["min_train"], "batch (train.batch_size × block_size + 1)")
            if split == "train"
            else (params["min_heldout"], "sequence (model.block_size + 1)")
        )
        if n < need:
            for out in outs.values():
                shutil.rmtree(out, ignore_errors=True)
            raise SystemExit(
                f"error: corpus too short: the {split} split has {n:,} tokens, "
                f"one {unit} needs {need:,}"
            )
        meta[f"{split}_tokens"] = n
        meta[f"{split}_bytes"] = texts[split].stat().st_size
        meta[f"{split}_shards"] = len(shard_paths(outs[split]))
    meta["shards"] = {split: records(outs[split]) for split in SPLITS}  # checked before use
    atomic.write_text(output["tokenizer"], tok.to_str(pretty=True))
    meta["tokenizer_sha256"] = sha256(output["tokenizer"])
    meta.update(unigram_baseline(counts["train"], {s: counts[s] for s in ("val", "test")}))
    meta["uniform_loss"] = math.log(vocab)
    atomic.write_json(output["meta"], meta)
    print(json.dumps(meta))
