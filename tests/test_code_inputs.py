"""A stage's code inputs follow its imports: editing any module it runs reruns it."""

import json
import os
import subprocess
import sys

import pytest
from helpers import REPO

from adamw_repro.provenance import package_imports

PACKAGE = REPO / "src" / "adamw_repro"
STAGES = ["selection", "aggregate", "ledger", "tables", "figures", "paper", "scale"]


def names(module):
    return {p.stem for p in package_imports(module)}


def test_the_modules_that_had_drifted_from_hand_written_lists_are_inputs():
    assert {"ledger", "evidence", "stats", "optim"} <= names("ledger")
    assert {"scale", "ledger", "evidence"} <= names("scale")
    assert {"figures", "stats"} <= names("figures")
    assert {"aggregate", "design", "selection"} <= names("aggregate")
    assert names("registry") == {"registry"}  # imports nothing of the package


@pytest.mark.parametrize("stage", STAGES)
def test_every_package_module_a_stage_loads_is_among_its_code_inputs(stage):
    """What Python really loads when the stage's module is imported (imports inside functions
    come on top, so the static list may hold more, never less)."""
    code = (
        f"import sys, json, adamw_repro.{stage}; "
        "print(json.dumps(sorted(m.split('.')[1] for m in sys.modules "
        "if m.startswith('adamw_repro.'))))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert set(json.loads(out)) <= names(stage)


def test_every_file_is_a_module_of_the_package():
    for stage in STAGES:
        assert all(p.parent == PACKAGE and p.exists() for p in package_imports(stage))
