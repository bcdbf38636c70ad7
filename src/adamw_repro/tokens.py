"""Stage 2: the tokenizer, and both splits encoded once into uint16 token shards.

``tokenizer.kind: bpe`` trains a byte-level BPE on the training split with ``tokenizers``;
``gpt2`` loads GPT-2's own BPE (the ``paper`` profile, see ``hub.py``). Text is streamed in
line chunks and the ids go straight to disk, so a corpus of billions of tokens never sits in
memory; every run reads the shards through numpy memmaps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from . import atomic
from .corpus import EOT

DTYPE = np.uint16  # vocabularies up to 65,535 tokens: GPT-2's 50,257 fits, halving disk and RAM
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


class ShardWriter:
    """Writes a token stream into ``directory/000000.bin, 000001.bin, ...`` (uint16, at most
    ``shard_tokens`` each). The folder appears only when complete: shards go to a temporary
    sibling that is renamed into place by ``close``."""

    def __init__(self, directory: str | os.PathLike, shard_tokens: int):
        self.directory = Path(directory)
        self.tmp = self.directory.with_name(f".{self.directory.name}.tmp{os.getpid()}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.shard_tokens, self.n_tokens, self.shards = shard_tokens, 0, []
        self._fh, self._in_shard = None, 0

    def write(self, ids) -> None:
        ids = np.asarray(ids, dtype=DTYPE)
        while len(ids):
            if self._fh is None or self._in_shard == self.shard_tokens:
                self._next_shard()
            take = ids[: self.shard_tokens - self._in_shard]
            self._fh.write(take.tobytes())
            self._in_shard += len(take)
            self.n_tokens += len(take)
            ids = ids[len(take) :]

    def _next_shard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        name = f"{len(self.shards):06d}.bin"
        self.shards.append(name)
        self._fh, self._in_shard = open(self.tmp / name, "wb"), 0

    def close(self) -> list[Path]:
        if self._fh is not None:
            self._fh.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        os.replace(self.tmp, self.directory)
        return [self.directory / s for s in self.shards]

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def shard_paths(path: str | os.PathLike) -> list[Path]:
    """The shards of a token folder in order (or the single file given)."""
    path = Path(path)
    return sorted(path.glob("*.bin")) if path.is_dir() else [path]


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


def unigram_baseline(train_counts: np.ndarray, val_counts: np.ndarray) -> dict:
    """Entropy of the training unigram distribution and its cross-entropy on validation (add-one
    smoothed), in nats: the loss a model that ignores context would reach."""
    p = (train_counts + 1.0) / (train_counts + 1.0).sum()
    return {
        "unigram_entropy": float(-(p * np.log(p)).sum()),
        "unigram_val_cross_entropy": float(-(val_counts * np.log(p)).sum() / val_counts.sum()),
    }


def load_tokenizer(cfg: dict, train_text: Path) -> Tokenizer:
    if cfg["kind"] == "gpt2":
        from .hub import gpt2_tokenizer

        return gpt2_tokenizer(cfg["name"])
    return train_bpe(train_text, cfg["vocab_size"])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-text", required=True, type=Path)
    ap.add_argument("--val-text", required=True, type=Path)
    ap.add_argument("--tokenizer", required=True, help="the tokenizer config section, as JSON")
    ap.add_argument("--min-train-tokens", type=int, default=1, help="tokens one batch needs")
    ap.add_argument("--min-val-tokens", type=int, default=1, help="tokens one sequence needs")
    ap.add_argument("--out-tokenizer", required=True)
    ap.add_argument("--out-train", required=True, type=Path, help="folder of training shards")
    ap.add_argument("--out-val", required=True, type=Path, help="folder of validation shards")
    ap.add_argument("--out-meta", required=True)
    args = ap.parse_args(argv)
    cfg = json.loads(args.tokenizer)
    tok = load_tokenizer(cfg, args.train_text)
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
    for split, text, out, need, unit in (
        (
            "train",
            args.train_text,
            args.out_train,
            args.min_train_tokens,
            "batch (train.batch_size × block_size + 1)",
        ),
        (
            "val",
            args.val_text,
            args.out_val,
            args.min_val_tokens,
            "sequence (model.block_size + 1)",
        ),
    ):
        n, counts[split] = write_shards(tok, text, out, cfg["shard_tokens"], vocab)
        if n < need:
            shutil.rmtree(args.out_train, ignore_errors=True)
            shutil.rmtree(args.out_val, ignore_errors=True)
            name = "training" if split == "train" else "validation"
            raise SystemExit(
                f"error: corpus too short: the {name} split has {n:,} tokens, "
                f"one {unit} needs {need:,}"
            )
        meta[f"{split}_tokens"] = n
        meta[f"{split}_bytes"] = text.stat().st_size
        meta[f"{split}_shards"] = len(shard_paths(out))
    atomic.write_text(args.out_tokenizer, tok.to_str(pretty=True))
    meta.update(unigram_baseline(counts["train"], counts["val"]))
    meta["uniform_loss"] = math.log(vocab)
    atomic.write_json(args.out_meta, meta)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
