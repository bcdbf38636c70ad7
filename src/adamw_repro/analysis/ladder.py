"""The cross-study stage of a ladder: every study's tables into one table of studies
(``scale``), the claims no single study can judge (``ladder_claims``, on the fits of
``ladder_fits``), the lines its figures draw, and every study's ledger and runs joined."""

from __future__ import annotations

import json

import pandas as pd

from .. import atomic
from ..stage import files
from . import ladder_claims  # noqa: F401 (registers the ladder's claims)
from .claims import build_ledger
from .ladder_fits import Ladder, fit_lines
from .scale import studies_table


def build(configs: dict, runs: list, ledgers: list, regimes: list, metas: list):
    """(studies, cross-study ledger, fit lines, joined ledgers, joined runs) of a ladder."""
    names = list(configs)
    studies = studies_table(configs, runs, ledgers, regimes, metas)
    lad = Ladder(studies, configs[names[0]])
    ledger = pd.DataFrame(build_ledger(lad, scope="ladder"))
    joined_ledgers = pd.concat(
        [lg.assign(study=n) for n, lg in zip(names, ledgers, strict=True)], ignore_index=True
    )
    joined_runs = pd.concat(
        [r.assign(study=n) for n, r in zip(names, runs, strict=True)], ignore_index=True
    )
    return studies, ledger, fit_lines(lad), joined_ledgers, joined_runs


def run(input, output, params) -> None:
    """The ladder rule: every study's tables into the cross-study tables and ledger; each input
    holds one file per study, in the order of ``params["configs"]`` (stage.py)."""
    configs = dict(json.loads(params["configs"]))  # the studies' order, which the files follow
    inputs = {name: files(input[name]) for name in ("runs", "ledgers", "regimes", "metas")}
    if any(len(paths) != len(configs) for paths in inputs.values()):
        raise ValueError("the ladder stage needs one runs, ledger, regime and meta file per study")
    tables = build(
        configs,
        *([pd.read_csv(p) for p in inputs[name]] for name in ("runs", "ledgers", "regimes")),
        [atomic.read_json(p, atomic.redo_stage("the data stage")) for p in inputs["metas"]],
    )
    for frame, name in zip(tables, ("studies", "ledger", "fits", "ledgers", "runs"), strict=True):
        atomic.write_text(output[name], frame.to_csv(index=False))
    studies, ledger = tables[:2]
    for r in studies.itertuples():
        print(f"{r.study:>12} [{r.axes}]: {r.n_params_ne:>9,} non-embedding params, "
              f"{r.epochs:.1f} epochs, T {r.steps}; decay acts {r.acts}, benefit "
              f"{r.benefit:+.4f} [{r.benefit_lo:+.4f}, {r.benefit_hi:+.4f}]; best τ "
              f"{r.tau_steps:.3g} steps [{r.tau_lo:.3g}, {r.tau_hi:.3g}]")  # fmt: skip
    for r in ledger.itertuples():
        print(f"{r.id:>4} {r.verdict:<15} {r.claim}")
