"""Atomic file writes: a reader (or Snakemake) never sees a half-written output; and reading
back what the workflow wrote, with one clear line when a file was damaged after the fact.

Everything is written to a temporary sibling and renamed into place; ``os.replace`` is atomic on
POSIX file systems, so a kill at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.tmp*"):  # left by a writer killed with -9
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # data on disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | os.PathLike, records) -> None:
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


class DamagedFile(SystemExit):
    """A file the workflow wrote cannot be read back: one line naming it, what is wrong, and
    how to redo it (raised as SystemExit, so a stage ends with that line, not a traceback)."""

    def __init__(self, path, problem: str, redo: str):
        super().__init__(f"error: {path}: {problem}; {redo}")


def read_json(path: str | os.PathLike, redo: str, keys=()):
    """A JSON file the workflow wrote, with ``keys`` present (a damaged or foreign file raises
    ``DamagedFile`` naming it and saying how to redo it: ``redo``)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise DamagedFile(path, f"cannot be read ({e.strerror})", redo) from e
    except ValueError as e:
        raise DamagedFile(path, f"is not valid JSON ({e})", redo) from e
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise DamagedFile(path, f"lacks {', '.join(missing)}", redo)
    return obj


def read_table(path: str | os.PathLike, redo: str, columns=(), empty_ok=False, **read_csv):
    """A CSV table the workflow wrote, with ``columns`` present and at least one row, ending
    with a newline as the workflow writes every table (a damaged one raises ``DamagedFile``
    naming it). A table cut exactly at a row boundary still reads as a shorter table: tables
    carry no checksum (docs/running.md)."""
    import pandas as pd  # the stages that read tables have it; this module stays light

    try:
        table = pd.read_csv(path, **read_csv)
    except OSError as e:
        raise DamagedFile(path, f"cannot be read ({e.strerror})", redo) from e
    except (ValueError, pd.errors.ParserError) as e:  # also empty files and bad bytes
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DamagedFile(path, f"is not a readable table ({first})", redo) from e
    with open(path, "rb") as fh:  # the workflow ends every table with a newline
        cut = fh.seek(0, os.SEEK_END) > 0 and (fh.seek(-1, os.SEEK_END), fh.read(1))[1] != b"\n"
    if cut:
        raise DamagedFile(path, "ends in the middle of a row", redo)
    missing = [c for c in columns if c not in table.columns]
    if missing or (table.empty and not empty_ok):
        problem = f"lacks the columns {', '.join(missing)}" if missing else "has no rows"
        raise DamagedFile(path, problem, redo)
    return table


def redo_stage(what: str) -> str:
    """How to redo a stage whose output file is damaged."""
    return f"delete it and run the workflow again to redo {what}"


def redo_run(summary_path) -> str:
    """How to retrain the run whose ``summary.json`` is damaged."""
    return f"delete {Path(summary_path).parent}/ and run the workflow again to retrain that run"
