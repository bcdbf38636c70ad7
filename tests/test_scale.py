"""Ladders: study overlays, and the cross-study statistics on hand-made data with known answers."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from adamw_repro.analysis.scale import build, claim_u8a, claim_u8c, claims_wa2
from adamw_repro.analysis.stats import best_timescale, ols
from adamw_repro.config import load_config, study_configs, validate_config

BASE = {
    "model": {"n_layer": 2, "n_head": 4, "n_embd": 128},
    "optimizers": {"adam_l2": {"lr": [1e-3, 2e-3], "weight_decay": [1e-4]},
                   "adamw": {"lr": [1e-3, 2e-3], "decay_timescale": [1.0]}},
    "seeds": [0, 1],
}  # fmt: skip


def leaves(node, prefix=""):
    """Dotted keys of a nested mapping's leaves, with their values."""
    if not isinstance(node, dict):
        return {prefix: node}
    out = {}
    for k, v in node.items():
        out |= leaves(v, f"{prefix}.{k}" if prefix else k)
    return out


def test_a_config_without_studies_is_one_study_under_its_own_name():
    cfg = validate_config(BASE)
    assert list(study_configs(cfg)) == [""]
    assert study_configs(cfg)[""]["model"] == cfg["model"]


def test_an_overlay_changes_only_what_it_names(repo):
    cfg = load_config(repo / "config" / "ladder.yaml")
    base = leaves({k: v for k, v in cfg.items() if k != "studies"})
    for study in cfg["studies"]:
        resolved = leaves(study_configs(cfg)[study["name"]])
        changed = {k for k in base if resolved[k] != base[k]}
        named = {k for k in leaves({k: v for k, v in study.items() if k != "name"})
                 if base.get(k) != leaves(study).get(k)}  # fmt: skip
        assert changed == named | {"profile"}, study["name"]
        assert resolved["profile"] == f"ladder/{study['name']}"


@pytest.mark.slow  # runs Snakemake or the benchmarks
def test_snakemake_stops_on_a_bad_overlay_before_any_job(tmp_path, repo):
    import yaml
    from helpers import snakemake

    cfg = yaml.safe_load((repo / "config" / "smoke_ladder.yaml").read_text())
    cfg["studies"][1]["model"] = {"n_head": 3}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "-n", "--configfile", str(path), check=False)
    assert proc.returncode != 0
    assert (
        "config error: studies.wider: model.n_head: 3 does not divide" in proc.stderr + proc.stdout
    )
    assert not (tmp_path / "results").exists()


def test_ols_matches_scipy_linregress():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2, 30)
    y = 0.3 * x + 1 + rng.normal(0, 0.1, 30)
    fit = ols(y, np.column_stack([np.ones_like(x), x]), ["a", "b"])
    ref = stats.linregress(x, y)
    assert fit["b"]["coef"] == pytest.approx(ref.slope)
    assert fit["b"]["se"] == pytest.approx(ref.stderr)
    half = stats.t.ppf(0.975, 28) * ref.stderr
    assert fit["b"]["ci_lo"] == pytest.approx(ref.slope - half)


def test_best_timescale_is_the_parabola_vertex_or_the_grid_end():
    x = np.log10([25, 100, 400, 1600])
    assert best_timescale(x, (x - 2.3) ** 2)["log_tau"] == pytest.approx(2.3)
    assert best_timescale(x[::-1], ((x - 2.3) ** 2)[::-1])["interior"]  # any order of cells
    # lowest at the largest τ, flattening there: a least-squares parabola over all four cells
    # would put a vertex inside the grid; the optimum lies at or beyond its end
    flattening = np.array([0.12, 0.05, 0.01, 0.0])
    assert best_timescale(x, flattening) == {"log_tau": pytest.approx(x[-1]), "interior": False}


SIZES = {"s": 6.6e5, "m": 2.2e6, "l": 6.8e6}
DATA = {"s": 25600, "m": 51200, "l": 102400}


def ladder(d, noise=0.003, n_seeds=6, gate="passed", tau_epochs=1.0, tau_steps=None, seed=0):
    """(studies, seeds) of a ladder with the headline difference ``d(corpus, size)`` and a best
    τ that is constant in epochs or in steps (T = 200 steps, 1024 tokens per step)."""
    rng = np.random.default_rng(seed)
    studies, seeds = [], []
    for corpus in ("kjv", "stdlib"):
        for size, n in SIZES.items():
            name, spe = f"{corpus}_{size}", DATA[size] / 1024
            values = d(corpus, n) + rng.normal(0, noise, n_seeds)
            t_steps = tau_steps if tau_steps else tau_epochs * spe
            studies.append(dict(study=name, corpus=corpus, shape=size, n_params=n,
                                data_tokens=DATA[size], headline=values.mean(), gate=gate,
                                tau_steps=t_steps, tau_epochs=t_steps / spe,
                                tau_interior=True))  # fmt: skip
            seeds += [dict(study=name, corpus=corpus, shape=size, n_params=n, d=v) for v in values]
    return pd.DataFrame(studies), pd.DataFrame(seeds)


def test_u8a_sees_a_benefit_that_grows_with_size():
    studies, _ = ladder(lambda c, n: 0.03 * math.log10(n / 6.6e5))
    row = claim_u8a(studies, 0.01)
    assert row["effect"] == pytest.approx(0.03, abs=0.005)
    assert row["verdict"] == "reproduced" and row["ci_lo"] > 0.01


def test_u8a_is_not_reproduced_when_the_benefit_is_flat_and_inconclusive_when_noisy():
    assert claim_u8a(ladder(lambda c, n: 0.02)[0], 0.01)["verdict"] == "not reproduced"
    noisy = claim_u8a(ladder(lambda c, n: 0.01 * math.log10(n), noise=0.05, n_seeds=3)[0], 0.01)
    assert noisy["verdict"] == "inconclusive"


def test_u8a_counts_studies_not_seeds():
    """Seed noise is small, but the studies scatter around the trend (each rests on its own
    tuning): the interval follows the scatter between studies, however many seeds there are."""
    studies, _ = ladder(lambda c, n: 0.03 * math.log10(n / 6.6e5), noise=1e-4, n_seeds=50)
    studies["headline"] += [0.02, -0.02, 0.02, -0.02, 0.02, -0.02]
    row = claim_u8a(studies, 0.01)
    assert row["verdict"] == "inconclusive" and row["n"] == 6
    assert row["ci_hi"] - row["ci_lo"] > 0.05


def test_u8a_needs_two_sizes():
    studies, _ = ladder(lambda c, n: 0.0)
    row = claim_u8a(studies[studies["shape"] == "s"], 0.01)
    assert row["verdict"] == "untested" and "two model sizes" in row["detail"]


def test_a_ladder_without_adam_l2_leaves_u8a_and_u8c_untested_with_the_reason():
    """The regression of a six-study ladder of Adam and AdamW only: no study has a headline,
    and U8a's guard compared NaN with 2 and went on to a fit over nothing."""
    studies, _ = ladder(lambda c, n: 0.0)
    studies["headline"] = math.nan
    for row in (claim_u8a(studies, 0.01), claim_u8c(studies, 0.01)):
        assert row["verdict"] == "untested" and row["detail"], row["id"]
    assert "Adam+L2 and AdamW" in claim_u8a(studies, 0.01)["detail"]


def test_u8c_is_the_difference_of_differences_between_corpora():
    studies, _ = ladder(lambda c, n: 0.05 if c == "stdlib" else 0.0)
    row = claim_u8c(studies, 0.01)
    assert row["effect"] == pytest.approx(0.05, abs=0.003) and row["verdict"] == "reproduced"
    same = claim_u8c(ladder(lambda c, n: 0.02 * math.log10(n))[0], 0.01)
    assert same["verdict"] == "not reproduced" and abs(same["effect"]) < 0.005
    one_corpus = claim_u8c(studies[studies["corpus"] == "kjv"], 0.01)
    assert one_corpus["verdict"] == "untested"


def test_wa2_tells_a_constant_timescale_in_epochs_from_one_in_steps():
    rng = np.random.default_rng(1)
    studies, _ = ladder(lambda c, n: 0.0, tau_epochs=2.0)
    studies["tau_epochs"] *= 10 ** rng.normal(0, 0.03, len(studies))  # the grid's resolution
    studies["tau_steps"] = studies["tau_epochs"] * studies["data_tokens"] / 1024
    wa2, wa2s = claims_wa2(studies, 0.25)
    assert wa2["verdict"] == "reproduced" and abs(wa2["effect"]) < 0.1
    assert wa2s["verdict"] == "contradicted" and wa2s["effect"] == pytest.approx(1, abs=0.1)
    assert wa2s["measurement"] == "WA2"  # one measurement, two readings
    steps, _ = ladder(lambda c, n: 0.0, tau_steps=300.0)
    assert claims_wa2(steps, 0.25)[0]["verdict"] == "contradicted"


def test_wa2_is_untestable_where_decay_did_not_act():
    studies, _ = ladder(lambda c, n: 0.0, gate="failed", tau_epochs=2.0)
    rows = claims_wa2(studies, 0.25)
    assert {r["verdict"] for r in rows} == {"untestable here"}
    assert "decay gate passed in 0 of 6 studies" in rows[0]["detail"]
    assert "slope +0.00" in rows[0]["detail"]  # measured regardless, without a verdict


def _study_tables(d, tau_steps, T=200, lr=1e-3, seeds=range(5)):
    """The aggregated tables of one synthetic study: evaluation runs with Adam+L2 − AdamW = d
    (and its ledger's LH2 row saying so), and AdamW tuning cells at the selected lr whose test
    loss is lowest at τ = tau_steps."""
    rows = []
    base = dict(diverged=False, n_params=1000, tuning=False, evaluation=False, steps=T)
    for s in seeds:
        rows.append(base | dict(optimizer="adam_l2", lr=lr, weight_decay=1e-4, seed=s,
                                final_test_loss=5.0 + d, evaluation=True))  # fmt: skip
        rows.append(base | dict(optimizer="adamw", lr=lr, weight_decay=1 / (lr * T), seed=s,
                                final_test_loss=5.0, evaluation=True))  # fmt: skip
    for tau_t in (1 / 16, 1 / 4, 1, 4):
        wd = 1 / (lr * tau_t * T)
        loss = 5.0 + 0.1 * (math.log10(tau_t * T) - math.log10(tau_steps)) ** 2
        rows.append(base | dict(optimizer="adamw", lr=lr, weight_decay=wd, decay=tau_t,
                                seed=1000, final_test_loss=loss, tuning=True))  # fmt: skip
    regime = pd.DataFrame([dict(check="decay gate", value=0.02, ci_lo=0.015, ci_hi=0.025,
                                status="passed", detail="")])  # fmt: skip
    ledger = pd.DataFrame([dict(id="LH2", verdict="reproduced", effect=d, ci_lo=d - 0.001,
                                ci_hi=d + 0.001, n=len(seeds))])  # fmt: skip
    return pd.DataFrame(rows), ledger, regime


def test_build_joins_the_studies_and_measures_each_one(repo):
    studies = [{"name": "a"}, {"name": "b", "model": {"n_embd": 64}}]
    train = {"tokens": 1024 * 200, "data_tokens": 51200}
    cfg = validate_config({**BASE, "train": train, "studies": studies})
    configs = study_configs(cfg)
    tables = [_study_tables(0.02, 100.0), _study_tables(0.05, 300.0)]
    metas = [{"train_tokens": 10**6}] * 2
    studies, ledger, ledgers, runs = build(
        configs, *[[t[k] for t in tables] for k in range(3)], metas
    )
    assert list(studies["study"]) == ["a", "b"]
    assert studies["headline"].tolist() == pytest.approx([0.02, 0.05])
    assert studies["tau_steps"].tolist() == pytest.approx([100.0, 300.0], rel=1e-6)
    assert studies["epochs"].tolist() == pytest.approx([4.0, 4.0])
    assert studies["tau_epochs"].tolist() == pytest.approx([100 / 50, 300 / 50], rel=1e-6)
    assert set(ledger["id"]) == {"U8a", "U8c", "WA2", "WA2s"}
    assert set(ledgers["study"]) == {"a", "b"} and set(runs["study"]) == {"a", "b"}


def test_the_cli_keeps_each_study_with_its_own_files(tmp_path):
    """Studies listed out of alphabetical order: each row keeps its own config and tables."""
    import json

    from adamw_repro.analysis import scale

    studies = [{"name": "zeta", "train": {"data_tokens": 25600}}, {"name": "alpha"}]
    cfg = validate_config({**BASE, "train": {"tokens": 1024 * 200, "data_tokens": 102400},
                           "studies": studies})  # fmt: skip
    args = [
        "--configs",
        json.dumps([[n, c] for n, c in study_configs(cfg).items()], sort_keys=True),
    ]
    for k, d in enumerate((0.01, 0.04)):  # zeta, then alpha
        runs, ledger, regime = _study_tables(d, 100.0)
        for kind, frame in (("runs", runs), ("ledgers", ledger), ("regimes", regime)):
            frame.to_csv(tmp_path / f"{kind}{k}.csv", index=False)
        (tmp_path / f"meta{k}.json").write_text("{}")
    for kind in ("runs", "ledgers", "regimes"):
        args += [f"--{kind}", *(str(tmp_path / f"{kind}{k}.csv") for k in range(2))]
    args += ["--metas", *(str(tmp_path / f"meta{k}.json") for k in range(2))]
    for out in ("studies", "ledger", "ledgers", "runs"):
        args += [f"--out-{out}", str(tmp_path / f"out_{out}.csv")]
    scale.main(args)
    rows = pd.read_csv(tmp_path / "out_studies.csv").set_index("study")
    assert list(rows.index) == ["zeta", "alpha"]
    assert rows.loc["zeta", "data_tokens"] == 25600 and rows.loc["alpha", "data_tokens"] == 102400
    assert rows["headline"].tolist() == pytest.approx([0.01, 0.04])


@pytest.mark.slow  # runs Snakemake
def test_a_ladder_of_three_studies_on_the_default_grid_plans(tmp_path, repo):
    """The DAG of three studies × the default grid builds; how fast is bench.py's business
    (a wall-clock limit here would be flaky on a loaded 2-core machine)."""
    import sys

    from helpers import snakemake

    sys.path.insert(0, str(repo / "benchmarks"))
    from bench import ladder_of_three  # the benchmark suite plans and times the same ladder

    path = ladder_of_three(tmp_path / "ladder3.yaml")
    proc = snakemake(tmp_path, "-n", "--configfile", str(path))
    out = proc.stdout + proc.stderr
    jobs = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines()
            if len(ln.split()) == 2 and ln.split()[1].isdigit()}  # fmt: skip
    assert jobs.get("paper") == 1 and jobs.get("ladder") == 1, out[-2000:]
