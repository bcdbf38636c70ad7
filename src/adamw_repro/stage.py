"""The one interface between a rule and its stage's code: every stage module has
``run(input, output, params)``, which its rule calls through Snakemake's ``script:`` directive
(``workflow/scripts/<module>.py``) and a test calls with the same names.

``input``, ``output`` and ``params`` are plain mappings of the rule's names to a path, a list of
paths or a value, so that the rule is the only place a stage's files are named.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping


def files(value) -> list[str]:
    """A named input as a list of paths: Snakemake gives a one-file input as a string."""
    return [value] if isinstance(value, str | os.PathLike) else list(value)


def _plain(named) -> dict:
    """A Snakemake Namedlist (or a mapping) as a dict of its named items; a list stays a list."""

    def value(v):
        return v if isinstance(v, str | int | float | bool | os.PathLike | type(None)) else list(v)

    return {k: value(named[k]) for k in named.keys()}


def from_rule(run: Callable[[Mapping, Mapping, Mapping], None], snakemake) -> None:
    """Call a stage's ``run`` with the rule's named inputs, outputs and params, its standard
    output and error going to the rule's log as ``> {log} 2>&1`` would send them (at the
    descriptors, so the programs a stage starts, such as latexmk, write there too)."""
    log = open(snakemake.log[0], "w")  # noqa: SIM115 (the descriptors keep it open)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    run(_plain(snakemake.input), _plain(snakemake.output), _plain(snakemake.params))
