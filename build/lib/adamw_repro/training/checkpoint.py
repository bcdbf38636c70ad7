"""What survives a kill: the loop's state, which with the weights, the optimizer state and the
RNG is the checkpoint, and the test of whether a run's staged result is complete."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .. import atomic, provenance


def run_hash(spec: dict, meta: dict) -> str:
    """Identifies a run's result: its spec and the token data it trains on."""
    return provenance.config_hash({**spec, "data": meta})


@dataclass
class LoopState:
    """Everything the loop carries from step to step; with the weights, the optimizer state and
    the RNG it is the checkpoint."""

    step: int = 0
    history: list = field(default_factory=list)  # metric records, in order
    loss_sum: float = 0.0  # training loss summed since the last record
    steps_in_interval: int = 0
    elapsed_s: float = 0.0  # wall time of earlier attempts
    resumed_from: list = field(default_factory=list)
    # The precision the run trains in, and why: kept on resume, so a run is trained in one
    # precision from its first step to its last, whichever machine resumes it.
    precision: str | None = None
    precision_reason: str | None = None

    @property
    def diverged(self) -> bool:
        return any(r.get("diverged") for r in self.history)


CHECKPOINT_KEYS = {"loop", "model", "optimizer", "torch_rng", "spec_hash"}


def save_checkpoint(path: Path, state: LoopState, model, optimizer, spec_hash: str) -> None:
    blob = {
        "loop": asdict(state),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "spec_hash": spec_hash,
    }
    with atomic.atomic_path(path) as tmp:
        torch.save(blob, tmp)


def set_aside(path: Path, why: str) -> None:
    """Move a checkpoint this run cannot resume from to ``<name>.unreadable``, where it can be
    inspected and nothing reads it again, and say so in one line; the run restarts from step 0."""
    aside = path.with_name(path.name + ".unreadable")
    os.replace(path, aside)
    print(f"warning: {path} {why}; moved to {aside.name}, the run restarts from step 0", flush=True)


def load_checkpoint(path: Path, model, optimizer, spec_hash: str, device: str) -> LoopState:
    """The saved loop state, weights and optimizer state if ``path`` holds a checkpoint of this
    very run; a fresh state otherwise (a damaged checkpoint, or one of another run, is set
    aside: the same file would otherwise fail every retry)."""
    if not path.exists():
        return LoopState()
    try:
        # weights_only: a checkpoint never runs code; what it cannot parse is damaged, never
        # something to load with fewer safeguards (the advice torch's own message gives)
        blob = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(blob, dict) or not CHECKPOINT_KEYS <= blob.keys():
            raise ValueError("not a checkpoint of this workflow")
    except Exception as e:  # any unreadable file is handled the same way
        set_aside(path, f"is not a readable checkpoint ({type(e).__name__})")
        return LoopState()
    if blob["spec_hash"] != spec_hash:
        set_aside(path, "was written for another run (its config hash differs)")
        return LoopState()
    model.load_state_dict(blob["model"])
    optimizer.load_state_dict(blob["optimizer"])
    torch.set_rng_state(blob["torch_rng"])
    state = LoopState(**blob["loop"])
    state.resumed_from.append(state.step)
    return state


class Preemption:
    """Remembers a SIGTERM, so the loop can checkpoint at the end of the step and exit. One per
    process (``preemption()``): a SIGTERM that arrives during a run's final evaluation, or
    between two runs of a job, must still stop the job, not be forgotten by the next run."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.requested = True


_PREEMPTION: Preemption | None = None


def preemption() -> Preemption:
    """This process's SIGTERM flag, installed on first use."""
    global _PREEMPTION
    if _PREEMPTION is None:
        _PREEMPTION = Preemption()
    return _PREEMPTION


def is_finished(stage: Path, spec: dict, meta: dict) -> bool:
    """Whether ``stage`` holds the complete result of this very spec on this data."""
    try:
        summary = json.loads((stage / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return (stage / "metrics.jsonl").exists() and summary["config_hash"] == run_hash(spec, meta)
