"""A stage's code inputs follow its imports: editing any module it runs reruns it."""

import ast
import json
import os
import subprocess
import sys

import pytest
from helpers import REPO

from adamw_repro.provenance import package_imports

PACKAGE = REPO / "src" / "adamw_repro"
STAGES = [
    "analysis.selection",
    "analysis.aggregate",
    "analysis.ledger",
    "report.tables",
    "report.figures",
    "report.paper",
    "analysis.ladder",
]


def names(module):
    """Dotted names inside the package (``analysis.ledger``) of a stage's code inputs."""
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in package_imports(module)}


def test_the_modules_that_had_drifted_from_hand_written_lists_are_inputs():
    a = "analysis."
    assert {a + "ledger", a + "evidence", a + "stats"} <= names(a + "ledger")
    assert not {n for n in names(a + "ledger") if n.startswith("training.")}  # no torch
    assert "training.optim" in names("training.checks")  # what LH4 and U2 need, in its place
    assert {a + "ladder", a + "scale", a + "claims", a + "stats"} <= names(a + "ladder")
    assert {"report.figures", a + "stats"} <= names("report.figures")
    assert {a + "aggregate", "design"} <= names(a + "aggregate")
    assert a + "selection" not in names(a + "aggregate")  # editing the search reruns no table
    assert {a + "ladder_claims", a + "ladder_fits"} <= names(a + "ladder")
    assert names("registry") == {"registry"}  # imports nothing of the package


@pytest.mark.parametrize("stage", STAGES)
def test_every_package_module_a_stage_loads_is_among_its_code_inputs(stage):
    """What Python really loads when the stage's module is imported (imports inside functions
    come on top, so the static list may hold more, never less)."""
    code = (
        f"import sys, json, adamw_repro.{stage}; "
        "print(json.dumps(sorted(m.partition('.')[2] for m in sys.modules "
        "if m.startswith('adamw_repro.') and not hasattr(sys.modules[m], '__path__'))))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert set(json.loads(out)) <= names(stage)


def test_every_file_is_a_module_of_the_package():
    for stage in STAGES:
        assert all(PACKAGE in p.parents and p.exists() for p in package_imports(stage))


def test_subpackages_hold_no_code_of_their_own():
    """Their ``__init__`` files are not code inputs (editing a docstring reruns nothing), so
    they may hold a docstring and nothing else."""
    for init in PACKAGE.glob("*/__init__.py"):
        body = ast.parse(init.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), init
