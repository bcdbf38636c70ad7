"""What survives a kill: the loop's state, which with the weights, the optimizer state and the
RNG is the checkpoint, and the test of whether a run's staged result is complete."""

from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import atomic, provenance


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


def load_checkpoint(path: Path, model, optimizer, spec_hash: str, device: str) -> LoopState:
    """The saved loop state, weights and optimizer state if ``path`` holds a checkpoint of this
    very run; a fresh state otherwise."""
    if not path.exists():
        return LoopState()
    blob = torch.load(path, map_location=device, weights_only=True)
    if blob["spec_hash"] != spec_hash:
        print(f"ignoring {path}: written for another config", flush=True)
        return LoopState()
    model.load_state_dict(blob["model"])
    optimizer.load_state_dict(blob["optimizer"])
    torch.set_rng_state(blob["torch_rng"])
    state = LoopState(**blob["loop"])
    state.resumed_from.append(state.step)
    return state


class Preemption:
    """Remembers a SIGTERM, so the loop can checkpoint at the end of the step and exit."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.requested = True


def is_finished(stage: Path, spec: dict, meta: dict) -> bool:
    """Whether ``stage`` holds the complete result of this very spec on this data."""
    try:
        summary = json.loads((stage / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return (stage / "metrics.jsonl").exists() and summary["config_hash"] == run_hash(spec, meta)
