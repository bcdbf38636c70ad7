"""Fill the Jinja2 LaTeX template with numbers from the aggregated tables and compile
it with latexmk + pdflatex (no shell escape).

Template syntax is LaTeX-safe: ``\\VAR{x}`` prints, ``\\BLOCK{if ...}`` controls. Every printed
value is LaTeX-escaped unless a filter marks it as trusted markup (``num``, ``sci``, ``pm``), so
a string from config or data cannot inject LaTeX.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd

from .. import atomic, provenance
from ..analysis.claims import HOLM_KINDS, VERDICTS
from ..analysis.ladder_fits import LENGTH_RULES, MIN_DOF, PREDICTIONS
from ..analysis.stats import WILCOXON_MIN_N
from ..design import tuning_halves
from ..registry import LABELS, OPTIMIZERS
from ..schedule import budget, data_and_epochs
from ..stage import files
from .catalog import FIGURES, LADDER_FIGURES, PILOT_CAPTION
from .latex import Latex, compile_pdf, render


def corpus_name(corpus: dict) -> str:
    """The corpus as the paper names it, from its config section."""
    if corpus["source"] == "file":
        return Path(corpus["path"]).name
    if corpus["source"] == "hub":
        hub = corpus["hub"]
        return hub["dataset"] + (f" ({hub['name']})" if hub.get("name") else "")
    return {"kjv": "King James Bible", "stdlib": "Python standard library"}[corpus["source"]]


def build_context(
    config: dict,
    meta: dict,
    runs: pd.DataFrame,
    table: pd.DataFrame,
    ledger: pd.DataFrame,
    regime: pd.DataFrame,
    search: pd.DataFrame,
    timing: pd.DataFrame,
    prov: dict,
    decomposition: pd.DataFrame,
    selection: dict,
    rows_map: pd.DataFrame,
) -> dict:
    rows = table.to_dict("records")
    for r in rows:
        r["description"] = OPTIMIZERS[r["optimizer"]].description
    checks = {r["check"]: r for r in _records(regime)}
    return {
        "config": config,
        "config_hash": provenance.config_hash(config),
        "meta": meta,
        "corpus_name": corpus_name(config["corpus"]),
        **size_context(config, meta, runs),
        "wilcoxon_min_n": WILCOXON_MIN_N,
        **run_counts(runs, meta),
        "table": rows,
        "search": _records(search),
        "edges": [r for r in _records(search) if r["edges"]],
        **claims_context([c | {"scale": False} for c in _records(ledger)]),
        "decomposition": _records(decomposition),
        "headline": headline_context(_records(decomposition)),
        "halves": [h for h in tuning_halves(config) if h] if len(tuning_halves(config)[1]) else [],
        "n_round_cells": sum(len(r["cells"]) for r in selection["rounds"]),
        "n_finalists": len(selection["finalists"]),
        "n_refined": len(selection.get("refined", [])),
        "map": map_context(rows_map),
        "checks": checks,
        "timing": {
            "tokens_per_s": float(timing["tokens_per_s"].median()),
            "gflops": float(timing["achieved_flops"].median()) / 1e9,
            "train_minutes": float(timing["wall_time_s"].sum()) / 60,
            "mfu": float(timing["mfu"].median()) if timing["mfu"].notna().any() else None,
        },
        "precisions": precision_counts(timing),
        "prov": prov,
        "ladder": None,
    }


def size_context(config: dict, meta: dict, runs: pd.DataFrame) -> dict:
    """The study's size: parameters, steps, tokens, data and epochs."""
    train, model = config["train"], config["model"]
    steps = budget(train, model["block_size"])
    data_tokens, epochs = data_and_epochs(train, model["block_size"], meta)
    n_params = int(runs["n_params"].iloc[0])
    return {
        "n_params": n_params,
        "steps": steps.total_steps,
        "warmup_steps": steps.warmup_steps,
        "tokens_per_step": steps.tokens_per_step,
        "data_tokens": data_tokens,
        "epochs": epochs,
        "tokens_per_param": steps.tokens / n_params,
    }


def run_counts(runs: pd.DataFrame, meta: dict) -> dict:
    """How many runs of each kind the study trained, how many diverged, and its lowest test loss
    (of the reported runs: tuning trials are scored on a subset of the test split)."""
    ok = runs[~runs["diverged"].astype(bool)]
    reported = ok[~ok["tuning"].astype(bool)]
    tuning = runs[runs["tuning"]]
    return {
        "n_runs": len(runs),
        "n_tuning": len(tuning),
        "n_tuning_diverged": int(tuning["diverged"].astype(bool).sum()),
        "n_evaluation": int(runs["evaluation"].sum()),
        "n_ablation": int((~runs["tuning"] & ~runs["evaluation"]).sum()),
        "n_diverged": int(runs["diverged"].astype(bool).sum()),
        "below_unigram": int((ok["final_test_loss"] < meta["unigram_test_cross_entropy"]).sum()),
        "n_ok": len(ok),
        "best_loss": float(reported["final_test_loss"].min()) if len(reported) else math.nan,
    }


def map_context(rows_map: pd.DataFrame) -> dict:
    """What the paper quotes of the map (``map.csv``): each optimizer's valleys and slope, its
    mean transfer regret, and the headline at every learning rate."""
    by_kind = {k: _records(g) for k, g in rows_map.groupby("kind", sort=False)}
    per = {}
    for kind in ("slope", "regret_mean"):
        for r in by_kind.get(kind, []):
            per.setdefault(r["optimizer"], {})[kind] = r
    for r in by_kind.get("valley", []):
        per.setdefault(r["optimizer"], {}).setdefault("valleys", []).append(r)
    effects = by_kind.get("lr_effect", [])
    return {"optimizers": per, "lr_effect": effects,
            "lr_effect_train": by_kind.get("lr_effect_train", [])}  # fmt: skip


def pilot_map_context(cells: pd.DataFrame, config: dict, path: str) -> dict:
    """The pilot map's figure and the numbers the regime section quotes from it."""
    chosen = config["paper"]["pilot_map"]["chosen"]
    if chosen not in set(cells["cell"]):
        raise SystemExit(
            f"paper.pilot_map.chosen: {chosen!r} is not a cell of the map "
            f"({', '.join(cells['cell'])})"
        )
    target = 3 * config["study"]["margin"]
    per_seed = {"gain_a", "gain_b"} <= set(cells)
    return {
        "per_seed": per_seed,
        "seed_spread": float((cells["gain_a"] - cells["gain_b"]).abs().max()) if per_seed else None,
        "path": Latex(path),
        "caption": Latex(PILOT_CAPTION),
        "cells": _records(cells),
        "chosen": _records(cells[cells["cell"] == chosen])[0],
        "target": target,
        "reach": [c for c in _records(cells) if c["gain"] >= target],
        "best": _records(cells.sort_values("gain", ascending=False).head(1))[0],
    }


def precision_counts(timing: pd.DataFrame) -> list[dict]:
    """How many runs trained in each precision (``train.precision: auto`` resolves per machine,
    so one study can hold both), most runs first."""
    counts = sorted(timing["precision"].value_counts().items(), key=lambda x: (-x[1], x[0]))
    return [{"precision": p, "runs": int(n)} for p, n in counts]


def null_text(c: dict) -> str:
    """The null hypothesis of a claim's one-sided test beyond its margin, in words."""
    t, m = c.get("target", 0.0) or 0.0, c.get("margin", math.nan)
    if c["kind"] == "differs":
        return f"effect within {t:g} ± {m:g}"
    return f"effect ≤ {t + m:g}"


def claims_context(claims: list[dict], fragile: dict | None = None) -> dict:
    """The claims rows and what the paper counts from them: verdicts per distinct measurement
    (two claims on one measurement count once) and how many of each are fragile, and the
    claims the decay gate withheld."""
    for c in claims:
        c["null"] = null_text(c)
    distinct = [c for c in claims if c["measurement"] == c["id"]]
    # findings apart from checks of algebra or of the implementation (LH4, U1, U2)
    measurements = [c for c in distinct if _empirical(c)]
    checks = [c for c in distinct if not _empirical(c)]
    fragile = fragile or {}
    return {
        "claims": claims,
        "claim": {c["id"]: c for c in claims},
        "n_measurements": len(measurements),
        "verdicts": {v: sum(c["verdict"] == v for c in measurements) for v in VERDICTS},
        "fragile_counts": {
            v: sum(c["verdict"] == v and c["id"] in fragile for c in measurements) for v in VERDICTS
        },  # fmt: skip
        "checks_run": checks,
        "gate_failed": [c["id"] for c in claims if c["verdict"] == "untestable here"],
        "reselect_claims": [c for c in measurements if c.get("tuning_seeds")],
    }


def _empirical(c: dict) -> bool:
    """Whether a ledger row is a finding rather than a check (a ladder's rows carry no such
    column: all are findings)."""
    value = c.get("empirical", True)
    return value is None or str(value).lower() not in ("false", "0")


def crosscheck_context(claims: list[dict], config: dict, ledgers: list[str]) -> dict:
    """This study's verdicts against its ledgers from elsewhere (``paper.crosscheck``, whose
    files are ``ledgers``, in its order): per reference, whether it ran this very study (its
    study hash) or this design on other seeds (its design hash), and which verdicts differ; a
    claim whose verdict differs anywhere is marked fragile."""
    own, design, refs = provenance.study_hash(config), provenance.design_hash(config), []
    for ref, ledger in zip(config["paper"]["crosscheck"], ledgers, strict=True):
        seeds = "design_hash" in ref  # another draw of seeds of this design
        same = ref["design_hash"] == design if seeds else ref["study_hash"] == own
        entry = {"label": ref["label"], "same_study": same and not seeds,
                 "same_design": same and seeds, "seeds": seeds, "flips": []}  # fmt: skip
        if same:
            theirs = pd.read_csv(ledger).set_index("id")["verdict"].to_dict()
            entry["compared"] = sum(c["id"] in theirs for c in claims)
            entry["flips"] = [
                {"id": c["id"], "here": c["verdict"], "there": theirs[c["id"]]}
                for c in claims
                if c["id"] in theirs and theirs[c["id"]] != c["verdict"]
            ]
        refs.append(entry)
    fragile = {}
    for entry in refs:
        for f in entry["flips"]:
            fragile.setdefault(f["id"], []).append(f"{f['there']} {entry['label']}")
    for c in claims:  # a verdict that changes with the tuning seeds' selection
        if str(c.get("tuning_seeds") or "").startswith("fragile"):
            fragile.setdefault(c["id"], []).append("depends on the tuning seeds")
    return {"study_hash": own, "design_hash": design, "crosscheck": refs, "fragile": fragile}


def headline_context(decomposition: list[dict]) -> dict | None:
    """The abstract's reading of the headline: the tuned-against-tuned and the matched
    differences, the share of the first that holds at a matched learning rate, and what carries
    it, in words that follow the numbers."""
    rows = {r["comparison"]: r for r in decomposition}
    tuned, matched = rows.get("tuned against tuned"), rows.get("matched learning rate")
    if not (tuned and matched):
        return None
    share = None
    if tuned["test_lo"] > 0:
        share = matched["test"] / tuned["test"]
    lr_l2, lr_w = tuned["lr_a"], tuned["lr_b"]
    if math.isclose(lr_l2, lr_w):
        carrier = "both were selected at the same learning rate, so this is the headline itself"
    elif share is None:
        carrier = (
            "with no lead for AdamW tuned against tuned, there is nothing to apportion between "
            "decoupling and the learning rate"
        )
    elif share >= 0.5:
        carrier = "decoupling at the same learning rate carries most of the headline"
    else:
        more = "larger" if lr_w > lr_l2 else "smaller"
        carrier = (
            f"most of the headline comes from the {more} learning rate AdamW was selected at "
            f"({lr_w:g} against {lr_l2:g}), not from decoupling at a matched learning rate"
        )
    return {"tuned": tuned, "matched": matched, "share": share, "carrier": carrier,
            "split": split_sentence(tuned)}  # fmt: skip


def split_sentence(row: dict) -> str:
    """A decomposition row's reading as a sentence about the optimizer with the lower test
    loss (a − b > 0: b)."""
    reading = row["reading"]
    if reading == "neither part resolved":
        return "neither part is resolved by its interval"
    if reading in ("no difference of a size that matters", "no resolved difference"):
        fitter = row["b"] if row["train"] > 0 else row["a"]
        resolved = (row["train_lo"] > 0 and row["gap_hi"] < 0) or (
            row["train_hi"] < 0 and row["gap_lo"] > 0
        )
        if not resolved:
            return reading
        return (
            f"{reading} in test loss, though {LABELS[fitter.split()[0]]} ends with the lower loss "
            "on the data it trained on and the larger test − training gap: the two cancel"
        )
    lower = LABELS[(row["b"] if row["test"] > 0 else row["a"]).split()[0]]
    sentences = {
        "optimisation": f"an optimisation effect: {lower} ends with the lower loss on the data "
        "it trained on",
        "optimisation (the gap goes the other way)": f"an optimisation effect, not a "
        f"generalisation one: {lower} ends with the lower loss on the data it trained on and "
        "the larger test − training gap",
        "generalisation": f"a generalisation effect: {lower} has the smaller test − training gap",
        "generalisation (the training loss goes the other way)": f"a generalisation effect: "
        f"{lower} has the smaller gap despite the higher loss on the data it trained on",
        "optimisation and generalisation": f"{lower} has both the lower training loss and the "
        "smaller gap",
    }
    return sentences[reading]


def ladder_context(studies: pd.DataFrame, ledger: pd.DataFrame, ledgers: pd.DataFrame) -> dict:
    """A ladder's cross-study section: its studies by axis, its claims, which readings of the
    data axis's slope its interval holds, and every study's own ledger."""
    axes = studies["axes"].str.split()
    claims = [c | {"null": null_text(c)} for c in _records(ledger)]
    by_id = {c["id"]: c for c in claims}
    # the data axis's slope (WA2 and PL1 judge it against theirs), the length axis's exponent
    slope, exponent = by_id.get("WA2s"), by_id.get("LN2")
    on_axis = {a: studies[axes.map(lambda x, a=a: a in x)] for a in ("data", "size", "length")}
    return {
        "studies": _records(studies),
        "axis": {a: _records(on) for a, on in on_axis.items()},
        # the size axis at one T: τ means the same in steps at every width (ladder v3)
        "size_fixed_T": on_axis["size"]["steps"].nunique() == 1,
        "corpora": list(dict.fromkeys(studies["corpus"])),
        "claims": claims,
        "family": [c["id"] for c in claims if c["kind"] in HOLM_KINDS],
        "readings": _readings(slope, PREDICTIONS),
        "slope": slope,
        "length_readings": _readings(exponent, LENGTH_RULES),
        "exponent": exponent,
        "min_dof": MIN_DOF,
        "ledgers": {name: _records(g) for name, g in ledgers.groupby("study", sort=False)},
    }


def _readings(measured: dict | None, rules: dict) -> list[dict]:
    """Which rules' predicted slopes a measured slope's interval holds (none if unmeasured)."""
    if not measured or measured["verdict"] in ("untested", "untestable here"):
        return []
    return [{"name": name, "slope": s, "inside": measured["ci_lo"] <= s <= measured["ci_hi"]}
            for name, s in rules.items()]  # fmt: skip


def with_ladder(context: dict, ladder: dict) -> dict:
    """The main study's context with the ladder's section; a claim the ladder judges (U8a, U8c)
    takes the ladder's row in the main ledger, which says where it was measured."""
    judged = {c["id"]: c | {"scale": True} for c in ladder["claims"]}
    claims = [judged.get(c["id"], c) for c in context["claims"]]
    return context | claims_context(claims) | {"ladder": ladder}


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts, NaN as None (the template prints None as an em dash)."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


def figures_at(paths: list[str], build: Path, catalog: dict) -> dict:
    """Each figure's path from the build folder (pdfTeX would otherwise record absolute ones)
    and its caption, by name."""
    return {
        Path(f).stem: {
            "path": Latex(os.path.relpath(f, build)),
            "caption": Latex(catalog[Path(f).stem].caption),
        }
        for f in paths
    }


def included_files(input, build: Path, config: dict) -> dict:
    """What the LaTeX includes, as paths relative to the build folder (pdfTeX would otherwise
    record absolute ones): the tables, the figures and, if the profile names one, the pilot
    map."""
    out = {
        "table_tex": Latex(os.path.relpath(input["table_tex"], build)),
        "search_tex": Latex(os.path.relpath(input["search_tex"], build)),
        "figures": figures_at(files(input["figures"]), build, FIGURES),
        "pilot_map": None,
    }
    if "pilot_map" in input:
        figure = os.path.relpath(input["pilot_map"], build)
        out["pilot_map"] = pilot_map_context(pd.read_csv(input["pilot_map_csv"]), config, figure)
    return out


def run(input, output, params) -> None:
    """The paper rule: the study's tables, figures and ledgers into paper.tex (under
    ``params["build_dir"]``) and the compiled PDF; a ladder's inputs (``ladder_*``) add its
    section, a pilot map's (``pilot_map``, ``pilot_map_csv``) its figure (stage.py)."""

    redo = atomic.redo_stage("the stage that wrote it")

    def table(name, **kwargs):
        return atomic.read_table(input[name], redo, **kwargs)

    def record(name):
        return atomic.read_json(input[name], redo)

    context = build_context(
        json.loads(params["config"]),
        record("meta"),
        table("runs"),
        table("table"),
        table("ledger"),
        table("regime"),
        table("search", keep_default_na=False, na_values=[""]),
        table("timing"),
        record("provenance"),
        table("decomposition", empty_ok=True),
        record("selection"),
        table("map", empty_ok=True),
    )
    build = Path(params["build_dir"])
    build.mkdir(parents=True, exist_ok=True)
    context |= included_files(input, build, context["config"])
    # the study's own ledger against its runs elsewhere (before a ladder's rows replace U8a/U8c)
    crosscheck = files(input.get("crosscheck", []))
    context |= crosscheck_context(context["claims"], context["config"], crosscheck)
    context |= claims_context(context["claims"], context["fragile"])
    if "ladder_studies" in input:
        ladder = ladder_context(*(table(f"ladder_{t}") for t in ("studies", "ledger", "ledgers")))
        ladder["figures"] = figures_at(files(input["ladder_figures"]), build, LADDER_FIGURES)
        ladder["left_out"] = list(params.get("left_out", []))  # a ladder run in parts
        context = with_ladder(context, ladder)
    shutil.copyfile(input["bib"], build / "references.bib")
    tex = build / "paper.tex"
    atomic.write_text(tex, render(input["template"], context))
    compile_pdf(tex, Path(output["pdf"]))
    print(f"wrote {output['pdf']}")
