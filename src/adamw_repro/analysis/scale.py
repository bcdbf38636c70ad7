"""The cross-study stage of a ladder: claims that no single study can judge.

After every study of a ladder has its ledger, this stage joins their runs and ledgers into one
table each and writes ``studies.csv``, one row per study (corpus, size, data, regime, the
headline difference Adam+L2 − AdamW with its interval, the decay gate, AdamW's best decay
timescale), and ``ledger.csv``, the cross-study claims in the columns of a study's ledger:

- U8a, "AdamW brings less benefit to small models": the slope of the headline difference
  against log10 of the parameter count (one intercept per corpus); reproduced if its interval
  lies above the smallest effect of interest per decade of parameters.
- U8c, "AdamW's gains vary across data sets": the difference between the corpora's headline
  differences at matched model shapes (one intercept per shape); reproduced if its interval lies
  outside ± the margin.
- WA2, Wang & Aitchison's scaling rule: AdamW's best timescale τ = 1/(lr·wd) in epochs stays
  constant as the data grow (slope of log10 τ_epochs against log10 data tokens within 0 ± the
  slope margin), beside the alternative, a constant τ in steps (WA2s). Gated: a study's best τ
  means something only where decay changed its loss (its decay gate passed).

The studies are the replicates of these fits: each study's headline is a mean over its seeds
and rests on its own tuning (one selection per study), so seeds pooled across studies would
count the seed noise and miss the selection's; the residual spread between studies holds both.
Holm's correction runs over the family of cross-study effect claims.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pandas as pd

from .. import atomic
from ..schedule import budget, data_and_epochs
from .ledger import ALPHA, USER, WA
from .stats import best_timescale, cell_means, holm, ols, p_beyond, verdict

MIN_GATED = 3  # studies whose decay gate passed, needed before WA2 gets a verdict


def _timescale(runs: pd.DataFrame) -> dict:
    """AdamW's best timescale τ = 1/(lr·wd) in steps at its selected learning rate, from the
    tuning cells' mean test loss along log10 τ (``stats.best_timescale``)."""
    sel = runs[runs["evaluation"].astype(bool) & (runs["optimizer"] == "adamw")]
    tuning = runs[runs["tuning"].astype(bool) & (runs["optimizer"] == "adamw")]
    if sel.empty or tuning.empty:
        return {"tau_steps": math.nan, "tau_interior": False, "selected_lr": math.nan}
    lr = float(sel["lr"].iloc[0])
    cells = cell_means(tuning[np.isclose(tuning["lr"], lr) & (tuning["weight_decay"] > 0)])
    fit = best_timescale(-np.log10(lr * cells["weight_decay"]), cells["value"])
    return {"tau_steps": 10 ** fit["log_tau"], "tau_interior": fit["interior"], "selected_lr": lr}


def study_row(name: str, config: dict, runs, ledger, regime, meta) -> dict:
    """One study of the ladder in one row."""
    train, model = config["train"], config["model"]
    steps = budget(train, model["block_size"])
    data_tokens, epochs = data_and_epochs(train, model["block_size"], meta)
    checks = regime.set_index("check")
    gate = checks.loc["decay helps"] if "decay helps" in checks.index else None
    # the headline is the study's own LH2 measurement (Adam+L2 − AdamW, paired by seed)
    lh2 = ledger.set_index("id").loc["LH2"] if "LH2" in set(ledger["id"]) else None
    tau = _timescale(runs)
    return {
        "study": name,
        "corpus": config["corpus"]["source"],
        "shape": f"{model['n_layer']}x{model['n_embd']}",
        "n_params": int(runs["n_params"].iloc[0]),
        "data_tokens": int(data_tokens),
        "steps": steps.total_steps,
        "epochs": epochs,
        "headline": lh2["effect"] if lh2 is not None else math.nan,
        "headline_lo": lh2["ci_lo"] if lh2 is not None else math.nan,
        "headline_hi": lh2["ci_hi"] if lh2 is not None else math.nan,
        "seeds": int(lh2["n"]) if lh2 is not None else 0,
        "lh2_verdict": lh2["verdict"] if lh2 is not None else "",
        "gate": gate["status"] if gate is not None else "untested",
        "gate_effect": gate["value"] if gate is not None else math.nan,
        "gate_lo": gate["ci_lo"] if gate is not None else math.nan,
        "gate_hi": gate["ci_hi"] if gate is not None else math.nan,
        "overfitting": checks.loc["overfitting", "status"] if "overfitting" in checks.index else "",
        "selected_lr": tau["selected_lr"],
        "tau_steps": tau["tau_steps"],
        "tau_over_T": tau["tau_steps"] / steps.total_steps,
        "tau_epochs": tau["tau_steps"] / (steps.total_steps / epochs),
        "tau_interior": tau["tau_interior"],
    }


def _dummies(values: pd.Series, prefix: str) -> tuple[np.ndarray, list[str]]:
    """One indicator column per level of ``values`` (the levels in order of appearance)."""
    levels = list(dict.fromkeys(values))
    return np.column_stack([values == v for v in levels]).astype(float), [
        f"{prefix}{v}" for v in levels
    ]


def _row(id, text, source, quantity, figure, rule, **fields) -> dict:
    base = dict(id=id, claim=text, source=source, quantity=quantity, figure=figure, rule=rule)
    base |= dict(measurement=id, gated=False, effect=math.nan, ci_lo=math.nan, ci_hi=math.nan)
    base |= dict(interval="", n=0, p=math.nan, robustness="", verdict="untested", detail="")
    return base | fields


def _per_study(studies: pd.DataFrame, column: str, fmt: str) -> str:
    def value(x: float) -> str:
        return f"{x:{fmt}}" if math.isfinite(x) else "not measured"

    return ", ".join(f"{r.study} {value(getattr(r, column))}" for r in studies.itertuples())


def _study_fit(studies: pd.DataFrame, X, names) -> dict | None:
    """OLS over the studies' headline differences; None without residual degrees of freedom.
    The studies are the replicates: each one's difference carries its seed noise and the noise
    of its own tuning (one selection per study), which the spread between studies measures."""
    fit = ols(studies["headline"], X, names)
    return fit if fit["dof"] >= 1 and math.isfinite(fit[names[-1]]["se"]) else None


def claim_u8a(studies: pd.DataFrame, margin: float) -> dict:
    rule = (
        f"reproduced if the slope's 95% interval lies above {margin:g} nats per decade of "
        f"parameters (the smallest effect of interest per tenfold size) and stays so after "
        f"Holm's correction; real but smaller than claimed if it lies between 0 and {margin:g}; "
        f"not reproduced if it lies inside 0 ± {margin:g}; contradicted if it lies below "
        f"{-margin:g}; otherwise inconclusive"
    )
    row = _row(
        "U8a", "Limitation: AdamW brings less benefit to small models", USER,
        "slope of the headline difference Adam+L2 − AdamW (final test loss, nats; each "
        "study's mean over its seeds) against log10 parameters, one intercept per corpus",
        "ladder_headline", rule,
    )  # fmt: skip
    studies = studies[np.isfinite(studies["headline"])]
    if studies.empty:  # checked apart: the size count below would be NaN, and NaN < 2 is False
        return row | {"detail": "no study measured the headline difference (each needs both "
                                "Adam+L2 and AdamW)"}  # fmt: skip
    if studies.groupby("corpus")["n_params"].nunique().max() < 2:
        return row | {"detail": "no corpus of the ladder has two model sizes; the trend needs them"}
    X, names = _dummies(studies["corpus"], "corpus ")
    fit = _study_fit(
        studies, np.column_stack([X, np.log10(studies["n_params"])]), [*names, "slope"]
    )
    if fit is None:
        return row | {"detail": f"{len(studies)} studies leave no residual degree of freedom "
                                f"for a slope and {len(names)} intercept(s)"}  # fmt: skip
    b = fit["slope"]
    p = p_beyond(b["coef"], b["se"], fit["dof"], margin, "greater")
    detail = (
        f"slope {b['coef']:+.4f} nats per decade over {fit['n']} studies ({fit['dof']} degrees "
        "of freedom); per study: " + _per_study(studies, "headline", "+.4f")
    )
    v = verdict(b["ci_lo"], b["ci_hi"], "greater", margin)
    return row | dict(effect=b["coef"], ci_lo=b["ci_lo"], ci_hi=b["ci_hi"], interval="t (OLS)",
                      n=fit["n"], p=p, verdict=v, detail=detail)  # fmt: skip


def claim_u8c(studies: pd.DataFrame, margin: float) -> dict:
    rule = (
        f"reproduced if the 95% interval of the difference of differences lies entirely outside "
        f"0 ± {margin:g} (the corpora differ by more than the smallest effect of interest) and "
        f"stays so after Holm's correction; not reproduced if it lies within 0 ± {margin:g}; "
        "otherwise inconclusive"
    )
    corpora = list(dict.fromkeys(studies["corpus"]))
    row = _row(
        "U8c", "Limitation: AdamW's gains vary across data sets", USER,
        f"difference of the headline differences Adam+L2 − AdamW (nats; each study's mean over "
        f"its seeds), {' − '.join(corpora[1::-1])}, at matched model shapes (one intercept per "
        "shape)",
        "ladder_headline", rule,
    )  # fmt: skip
    if len(corpora) < 2:
        return row | {"detail": f"the ladder has one corpus ({corpora[0]}); this needs two"}
    a, b = corpora[:2]
    both = studies.groupby("shape")["corpus"].agg(lambda c: {a, b} <= set(c))
    matched = studies[studies["shape"].isin(both[both].index) & studies["corpus"].isin([a, b])]
    matched = matched[np.isfinite(matched["headline"])]
    if matched.empty:
        return row | {"detail": f"no model shape was trained on both {a} and {b}"}
    X, names = _dummies(matched["shape"], "shape ")
    fit = _study_fit(matched, np.column_stack([X, matched["corpus"] == b]), [*names, "corpus"])
    by_shape = "; ".join(
        f"{shape}: " + ", ".join(f"{r.corpus} {r.headline:+.4f}" for r in g.itertuples())
        for shape, g in matched.groupby("shape", sort=False)
    )
    if fit is None:
        return row | {"detail": f"{len(matched)} matched studies leave no residual degree of "
                                f"freedom for the difference; {by_shape}"}  # fmt: skip
    c = fit["corpus"]
    side = "greater" if c["coef"] > 0 else "less"
    p = p_beyond(c["coef"], c["se"], fit["dof"], margin if side == "greater" else -margin, side)
    if c["ci_lo"] > margin or c["ci_hi"] < -margin:
        v = "reproduced"
    elif -margin < c["ci_lo"] and c["ci_hi"] < margin:
        v = "not reproduced"
    else:
        v = "inconclusive"
    detail = (
        f"{b} − {a} = {c['coef']:+.4f} nats over {fit['n']} studies ({fit['dof']} degrees of "
        f"freedom); {by_shape}"
    )
    return row | dict(effect=c["coef"], ci_lo=c["ci_lo"], ci_hi=c["ci_hi"], interval="t (OLS)",
                      n=fit["n"], p=p, verdict=v, detail=detail)  # fmt: skip


def claims_wa2(studies: pd.DataFrame, slope_margin: float) -> list[dict]:
    """WA2 (constant τ in epochs) and WA2s (constant τ in steps): one measurement, two
    readings, over the studies whose decay gate passed and whose best τ lies inside the grid."""
    rule = (
        f"reproduced if the slope's 95% interval lies within 0 ± {slope_margin:g}; not "
        "reproduced if it lies entirely outside; otherwise inconclusive"
    )
    texts = {
        "epochs": ("WA2", "The best AdamW timescale τ = 1/(lr·wd), counted in epochs, stays "
                   "constant as the data grow (so the best decay falls with the dataset)"),
        "steps": ("WA2s", "The alternative: the best AdamW timescale stays constant in steps"),
    }  # fmt: skip
    gated = studies[studies["gate"] == "passed"]
    usable = studies[studies["tau_interior"].astype(bool)]
    interior_gated = gated[gated["tau_interior"].astype(bool)]
    rows = []
    for unit, (id, text) in texts.items():
        row = _row(
            id, text, WA,
            f"slope of log10 best τ in {unit} (vertex of the parabola in log10 τ through the "
            "best AdamW cell and its neighbours at the selected lr) against log10 training "
            "tokens, one intercept per corpus",
            "ladder_timescale", rule, gated=True, measurement="WA2",
        )  # fmt: skip
        fit_on = interior_gated if len(interior_gated) >= MIN_GATED else usable
        fit = _tau_slope(fit_on, unit)
        slope = (
            f"slope {fit['coef']:+.2f} [{fit['ci_lo']:+.2f}, {fit['ci_hi']:+.2f}]"
            if math.isfinite(fit["coef"])
            else "no slope (it needs two data sizes with an interior optimum)"
        )
        summary = (
            f"{slope} over {len(fit_on)} studies with an interior optimum; best τ in {unit}: "
            + _per_study(studies, f"tau_{unit}", ".3g")
        )
        if len(interior_gated) < MIN_GATED:
            passed = ", ".join(gated["study"]) or "none"
            detail = (
                f"decay gate passed in {len(gated)} of {len(studies)} studies ({passed}), "
                f"{len(interior_gated)} of them with an interior optimum; {MIN_GATED} are "
                f"needed; measured regardless, without a verdict: {summary}"
            )
            rows.append(row | {"verdict": "untestable here", "detail": detail})
            continue
        v = verdict(fit["ci_lo"], fit["ci_hi"], "equal", slope_margin, 0.0)
        measured = dict(effect=fit["coef"], ci_lo=fit["ci_lo"], ci_hi=fit["ci_hi"])
        rows.append(
            row | measured | dict(interval="t (OLS)", n=len(fit_on), verdict=v, detail=summary)
        )
    return rows


def _tau_slope(studies: pd.DataFrame, unit: str) -> dict:
    if studies["data_tokens"].nunique() < 2:
        return {"coef": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    X, names = _dummies(studies["corpus"], "corpus ")
    X = np.column_stack([X, np.log10(studies["data_tokens"])])
    return ols(np.log10(studies[f"tau_{unit}"]), X, [*names, "slope"])["slope"]


def build(configs: dict, runs: list, ledgers: list, regimes: list, metas: list):
    """(studies, cross-study ledger, joined ledgers, joined runs) of a ladder."""
    names = list(configs)
    rows = [
        study_row(n, configs[n], r, lg, rg, m)
        for n, r, lg, rg, m in zip(names, runs, ledgers, regimes, metas, strict=True)
    ]
    studies = pd.DataFrame(rows)
    base = configs[names[0]]["study"]
    ledger = [claim_u8a(studies, base["margin"]), claim_u8c(studies, base["margin"])]
    ledger += claims_wa2(studies, base["slope_margin"])
    _holm(ledger)
    joined_ledgers = pd.concat(
        [lg.assign(study=n) for n, lg in zip(names, ledgers, strict=True)], ignore_index=True
    )
    joined_runs = pd.concat(
        [r.assign(study=n) for n, r in zip(names, runs, strict=True)], ignore_index=True
    )
    return studies, pd.DataFrame(ledger), joined_ledgers, joined_runs


def _holm(rows: list[dict]) -> None:
    """Holm over the cross-study effect claims with a p-value: a "reproduced" whose adjusted p
    is not below α becomes inconclusive."""
    family = [r for r in rows if math.isfinite(r["p"])]
    for r, adjusted in zip(family, holm([r["p"] for r in family]), strict=True):
        r["p_holm"] = adjusted
        if r["verdict"] == "reproduced" and adjusted >= ALPHA:
            r["verdict"] = "inconclusive"
            r["detail"] += "; its interval clears the margin, but not after Holm's correction"
    for r in rows:
        r.setdefault("p_holm", math.nan)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--configs", required=True, help="[[study name, resolved config], ...] in order, as JSON"
    )
    for name in ("runs", "ledgers", "regimes", "metas"):
        ap.add_argument(f"--{name}", nargs="+", required=True, help="one per study, in order")
    for name in ("studies", "ledger", "ledgers", "runs"):
        ap.add_argument(f"--out-{name}", required=True)
    args = ap.parse_args(argv)
    configs = dict(json.loads(args.configs))  # the studies' order, which the files follow
    if not all(
        len(getattr(args, n)) == len(configs) for n in ("runs", "ledgers", "regimes", "metas")
    ):
        ap.error("give one --runs, --ledgers, --regimes and --metas file per study")
    studies, ledger, ledgers, runs = build(
        configs,
        [pd.read_csv(p) for p in args.runs],
        [pd.read_csv(p) for p in args.ledgers],
        [pd.read_csv(p) for p in args.regimes],
        [json.loads(open(p).read()) for p in args.metas],
    )
    for frame, path in ((studies, args.out_studies), (ledger, args.out_ledger),
                        (ledgers, args.out_ledgers), (runs, args.out_runs)):  # fmt: skip
        atomic.write_text(path, frame.to_csv(index=False))
    for r in studies.itertuples():
        print(f"{r.study:>12}: {r.n_params:>9,} params, {r.epochs:.1f} epochs, Adam+L2 − AdamW "
              f"{r.headline:+.4f} [{r.headline_lo:+.4f}, {r.headline_hi:+.4f}], gate {r.gate}, "
              f"best τ {r.tau_over_T:.3g} T")  # fmt: skip
    for r in ledger.itertuples():
        print(f"{r.id:>4} {r.verdict:<15} {r.claim}")


if __name__ == "__main__":
    main()
