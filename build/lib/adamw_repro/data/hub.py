"""Hugging Face Hub sources for the ``paper`` profile: a web-text corpus through ``datasets``
and GPT-2's own byte-level BPE through ``transformers``.

Only the paper profile reaches the network, and only here. ``corpus.hub.data_files`` points the
same loader at local files of the dataset's format (an offline mirror, or the tests' stand-in);
``tokenizer.name`` may be a local folder with GPT-2's ``vocab.json`` and ``merges.txt``.
"""

from __future__ import annotations

from collections.abc import Iterator

from tokenizers import Tokenizer


def documents(hub: dict) -> Iterator[str]:
    """Texts of the configured dataset split, streamed (the corpus never sits in memory), at most
    ``hub.max_docs`` of them (0: all)."""
    import datasets

    datasets.logging.set_verbosity_error()
    if hub["data_files"]:
        # the same builder the hub dataset uses (parquet for FineWeb-Edu), on local files
        ds = datasets.load_dataset(
            hub["format"], data_files=hub["data_files"], split="train", streaming=True
        )
    else:
        ds = datasets.load_dataset(
            hub["dataset"], name=hub["name"] or None, split=hub["split"], streaming=True
        )
    for i, row in enumerate(ds):
        if hub["max_docs"] and i >= hub["max_docs"]:
            return
        yield row[hub["text_field"]]


def gpt2_tokenizer(name: str) -> Tokenizer:
    """GPT-2's BPE (50,257 tokens, ``<|endoftext|>`` = 50256) from the hub id or a local folder."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name).backend_tokenizer
