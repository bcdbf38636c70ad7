"""Token shards: a split stored as a folder of uint16 files, written once and read through
memmaps, so a corpus of billions of tokens never sits in memory.

Checked before use: ``meta.json`` records each shard's token count and SHA-256 (``records``),
and every training job compares the shards it reads with it (``verify``): their names and
sizes always, their checksums where the splits are small enough to hash in a moment
(``CHECKSUM_BYTES``: the default and smoke profiles, every job). The paper profile's gigabytes
are hashed by ``python -m adamw_repro.data.shards verify resources/tokens`` (docs/running.md).
A truncated, odd-sized or altered shard stops the job with one line naming it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from .. import atomic

DTYPE = np.uint16  # vocabularies up to 65,535 tokens: GPT-2's 50,257 fits, halving disk and RAM
CHECKSUM_BYTES = 256 * 2**20  # hashing 256 MB takes about half a second a job


class ShardWriter:
    """Writes a token stream into ``directory/000000.bin, 000001.bin, ...`` (uint16, at most
    ``shard_tokens`` each). The folder appears only when complete: shards go to a temporary
    sibling that is renamed into place by ``close``."""

    def __init__(self, directory: str | os.PathLike, shard_tokens: int):
        self.directory = Path(directory)
        self.tmp = self.directory.with_name(f".{self.directory.name}.tmp{os.getpid()}")
        # a writer killed before its rename leaves its temporary folder: cleared here
        for stale in self.directory.parent.glob(f".{self.directory.name}.tmp*"):
            shutil.rmtree(stale, ignore_errors=True)
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


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**22), b""):
            digest.update(block)
    return digest.hexdigest()


def records(folder: str | os.PathLike) -> list[dict]:
    """What ``meta.json`` records of a split's shards: name, tokens and SHA-256 of each."""
    itemsize = np.dtype(DTYPE).itemsize
    return [
        {"name": p.name, "tokens": p.stat().st_size // itemsize, "sha256": sha256(p)}
        for p in shard_paths(folder)
    ]


def redo_tokens(folder: Path) -> str:
    """The way out of a damaged token folder."""
    return (
        f"delete {folder.parent}/ and run the workflow again: tokenization is deterministic, "
        "so it writes the same tokens back (the training jobs that read them rerun, their "
        "input being newer)"
    )


def verify(folder: str | os.PathLike, split: str, meta: dict, checksums: bool) -> None:
    """Check a split's shards against ``meta.json``: the shards it records (or, for a meta.json
    from before shards were recorded, the split's token count), every one's size, and with
    ``checksums`` its SHA-256. Raises ``atomic.DamagedFile`` naming the first bad shard."""
    folder = Path(folder)
    redo, itemsize = redo_tokens(folder), np.dtype(DTYPE).itemsize
    paths = shard_paths(folder)
    for p in paths:
        if p.stat().st_size % itemsize:
            problem = (
                f"has {p.stat().st_size:,} bytes, not a whole number of {DTYPE.__name__} tokens"
            )
            raise atomic.DamagedFile(p, problem, redo)
    expected = meta.get("shards", {}).get(split)
    if expected is None:  # a meta.json from before shards were recorded: the total only
        have = sum(p.stat().st_size // itemsize for p in paths)
        if have != meta.get(f"{split}_tokens", have):
            problem = f"holds {have:,} tokens where meta.json records {meta[f'{split}_tokens']:,}"
            raise atomic.DamagedFile(folder, problem, redo)
        return
    names = [p.name for p in paths]
    if names != [r["name"] for r in expected]:
        problem = f"holds shards {names}, meta.json records {[r['name'] for r in expected]}"
        raise atomic.DamagedFile(folder, problem, redo)
    for p, r in zip(paths, expected, strict=True):
        tokens = p.stat().st_size // itemsize
        if tokens != r["tokens"]:
            problem = f"holds {tokens:,} tokens where meta.json records {r['tokens']:,}"
            raise atomic.DamagedFile(p, problem, redo)
        if checksums and sha256(p) != r["sha256"]:
            raise atomic.DamagedFile(p, "does not match its SHA-256 in meta.json", redo)


def verify_all(paths: dict[str, str], meta: dict, checksums: bool | None = None) -> None:
    """Every split a job reads (split -> folder); checksums where the splits are small
    (``CHECKSUM_BYTES``) unless ``checksums`` says otherwise."""
    if checksums is None:
        size = sum(p.stat().st_size for f in paths.values() for p in shard_paths(f))
        checksums = size <= CHECKSUM_BYTES
    for split, folder in paths.items():
        verify(folder, split, meta, checksums)


def spread_chunks(segments: list[np.ndarray], n_tokens: int, n_chunks: int) -> list[np.ndarray]:
    """``n_chunks`` contiguous chunks of ``n_tokens / n_chunks`` tokens each, evenly spaced over
    the concatenation of ``segments`` (first chunk at its start, last at its end): a subset that
    samples the whole split, not its first pages. A chunk that straddles two segments is cut in
    two there."""
    lengths = np.array([len(s) for s in segments])
    total, size = int(lengths.sum()), n_tokens // n_chunks
    if n_tokens >= total:
        return segments
    ends = np.cumsum(lengths)
    pieces = []
    for start in np.linspace(0, total - size, n_chunks).round().astype(np.int64):
        stop = start + size
        while start < stop:
            k = int(np.searchsorted(ends, start, side="right"))
            begin = start - (ends[k] - lengths[k])
            take = min(stop, ends[k]) - start
            pieces.append(segments[k][begin : begin + take])
            start += take
    return pieces


class TokenData:
    """A split's token shards read through memmaps: batches are gathered without loading the
    corpus. ``subset_tokens`` > 0 keeps only that many tokens, in ``subset_chunks`` evenly spaced
    chunks (a multi-epoch regime on a sample of the whole split). A window start is a global
    index over every segment's valid starts, so no window crosses a segment boundary."""

    def __init__(
        self,
        path: str | os.PathLike,
        block_size: int,
        subset_tokens: int = 0,
        subset_chunks: int = 1,
    ):
        self.segments = [np.memmap(p, dtype=DTYPE, mode="r") for p in shard_paths(path)]
        if subset_tokens:
            self.segments = spread_chunks(self.segments, subset_tokens, subset_chunks)
        self.n_tokens = sum(len(s) for s in self.segments)
        self.block_size = block_size
        # a start s reads segment[s : s + T + 1]: len − T valid starts per segment
        windows = [max(0, len(ids) - block_size) for ids in self.segments]
        self.offsets = np.concatenate([[0], np.cumsum(windows)])
        self.n_windows = int(self.offsets[-1])
        if self.n_windows < 1:
            raise ValueError(
                f"{path}: {self.n_tokens} tokens cannot fill one context of {block_size}"
            )

    def locate(self, starts):
        """(segment index, offset in that segment) of global window starts."""
        segment = np.searchsorted(self.offsets, starts, side="right") - 1
        return segment, starts - self.offsets[segment]

    def batch(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        segment, offset = self.locate(np.asarray(starts))
        rows = np.empty((len(offset), self.block_size + 1), dtype=np.int64)
        span = np.arange(self.block_size + 1)
        for k in np.unique(segment):  # one fancy-indexed gather per segment in the batch
            sel = segment == k
            rows[sel] = self.segments[k][offset[sel, None] + span]
        chunk = torch.from_numpy(rows)
        return chunk[:, :-1], chunk[:, 1:]

    def random_starts(self, seed: int, step: int, n: int) -> np.ndarray:
        return np.random.default_rng([seed, step]).integers(0, self.n_windows, size=n)

    def tiling_starts(self) -> np.ndarray:
        """Back-to-back windows over every segment: each token of the split is predicted once
        (but the first of each segment, and a remainder shorter than one context)."""
        T = self.block_size
        starts = [
            offset + np.arange((len(seg) - 1) // T) * T
            for offset, seg in zip(self.offsets[:-1], self.segments, strict=True)
        ]
        return np.concatenate(starts).astype(np.int64)

    def fixed_starts(self, n_tokens: int) -> np.ndarray:
        """Evenly spaced windows covering the data: the same evaluation subset for every run."""
        n = max(1, min(n_tokens // self.block_size, self.n_windows))
        return np.linspace(0, self.n_windows - 1, n).astype(np.int64)


def main(argv=None) -> None:
    """Verify a token folder (``resources/tokens``, or a study's) against its meta.json: every
    shard's size and SHA-256, and the tokenizer file's, whatever their size."""
    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("command", choices=["verify"])
    ap.add_argument("tokens", type=Path, help="the token folder, e.g. resources/tokens")
    args = ap.parse_args(argv)
    meta = atomic.read_json(args.tokens / "meta.json", redo_tokens(args.tokens / "train"))
    splits = [s for s in ("train", "val", "test") if (args.tokens / s).is_dir()]
    verify_all({s: str(args.tokens / s) for s in splits}, meta, checksums=True)
    tokenizer = args.tokens / "tokenizer.json"
    if "tokenizer_sha256" in meta and sha256(tokenizer) != meta["tokenizer_sha256"]:
        raise atomic.DamagedFile(tokenizer, "does not match its SHA-256 in meta.json",
                                 redo_tokens(args.tokens / "train"))  # fmt: skip
    n = sum(len(meta.get("shards", {}).get(s, [])) for s in splits)
    print(f"{args.tokens}: {n} shards and the tokenizer match meta.json", file=sys.stdout)


if __name__ == "__main__":
    main()
