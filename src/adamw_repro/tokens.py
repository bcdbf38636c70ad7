"""Stage 2: train a byte-level BPE tokenizer on the training split and encode both splits once
into uint16 token files (read as numpy memmaps by every training run).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from . import atomic

EOT = "<|endoftext|>"
DTYPE = np.uint16  # vocabularies up to 65,535 tokens: GPT-2's 50,257 fits, halving disk and RAM


def train_bpe(train_text: str, vocab_size: int) -> Tokenizer:
    """Byte-level BPE (GPT-2 pre-tokenisation, no unknown tokens) trained on ``train_text``."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_chunks(train_text), trainer=trainer)
    return tok


def _chunks(text: str, lines_per_chunk: int = 256):
    lines = text.splitlines(keepends=True)
    for i in range(0, len(lines), lines_per_chunk):
        yield "".join(lines[i : i + lines_per_chunk])


def encode(tok: Tokenizer, text: str) -> np.ndarray:
    """Token ids of ``text``, encoded in line-aligned chunks (byte-level BPE is lossless, so the
    concatenation decodes back to ``text``)."""
    ids = [i for enc in tok.encode_batch(list(_chunks(text))) for i in enc.ids]
    return np.asarray(ids, dtype=DTYPE)


def unigram_baseline(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> dict:
    """Entropy of the training unigram distribution and its cross-entropy on validation (add-one
    smoothed), in nats: the loss a model that ignores context would reach."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    p = counts / counts.sum()
    return {
        "unigram_entropy": float(-(p * np.log(p)).sum()),
        "unigram_val_cross_entropy": float(-np.log(p[val_ids]).mean()),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-text", required=True)
    ap.add_argument("--val-text", required=True)
    ap.add_argument("--tokenizer", required=True, help="the tokenizer config section, as JSON")
    ap.add_argument("--min-train-tokens", type=int, default=1, help="tokens one batch needs")
    ap.add_argument("--min-val-tokens", type=int, default=1, help="tokens one sequence needs")
    ap.add_argument("--out-tokenizer", required=True)
    ap.add_argument("--out-train", required=True)
    ap.add_argument("--out-val", required=True)
    ap.add_argument("--out-meta", required=True)
    args = ap.parse_args(argv)
    cfg = json.loads(args.tokenizer)
    train_text = Path(args.train_text).read_text(encoding="utf-8")
    val_text = Path(args.val_text).read_text(encoding="utf-8")
    tok = train_bpe(train_text, cfg["vocab_size"])
    vocab_size = tok.get_vocab_size()
    if vocab_size > np.iinfo(DTYPE).max + 1:
        raise SystemExit(f"error: tokenizer.vocab_size {vocab_size} does not fit in uint16")
    train_ids, val_ids = encode(tok, train_text), encode(tok, val_text)
    for split, ids, need, unit in (
        ("training", train_ids, args.min_train_tokens, "batch (train.batch_size × block_size + 1)"),
        ("validation", val_ids, args.min_val_tokens, "sequence (model.block_size + 1)"),
    ):
        if len(ids) < need:
            raise SystemExit(
                f"error: corpus too short: the {split} split has {len(ids):,} tokens, "
                f"one {unit} needs {need:,}"
            )
    atomic.write_text(args.out_tokenizer, tok.to_str(pretty=True))
    atomic.write_bytes(args.out_train, train_ids.tobytes())
    atomic.write_bytes(args.out_val, val_ids.tobytes())
    meta = {
        "vocab_size": vocab_size,
        "eot_id": tok.token_to_id(EOT),
        "train_tokens": int(len(train_ids)),
        "val_tokens": int(len(val_ids)),
        "train_chars": len(train_text),
        "val_chars": len(val_text),
        "dtype": np.dtype(DTYPE).name,
        **unigram_baseline(train_ids, val_ids, vocab_size),
    }
    meta["uniform_loss"] = math.log(vocab_size)
    atomic.write_json(args.out_meta, meta)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
