"""Every config the schema accepts ends in a paper: the stages after training (selection,
aggregation, the ledger, tables and the paper's LaTeX), run through each stage's ``run`` with the
names its rule gives, on synthetic run summaries. No training, so dozens of configs take seconds;
a handful also draw their figures and compile the PDF.

The configs span what the schema allows: each optimizer alone and the subsets that drop Adam,
Adam+L2, AdamW or the SGD family; tuned grids and single points; one and two evaluation seeds;
the embedding ablation on and off; decay_embeddings; every schedule; an optimizer whose every
run diverged. A claim that lacks its data must read "untested" with a reason, never crash.
"""

import copy
import itertools
import json
import math
import re
import shutil
import zlib
from pathlib import Path

import pandas as pd
import pytest
from helpers import LADDER_CLAIMS, REPO, pdf_text, write_optimizer_checks

from adamw_repro.analysis import aggregate, ladder, ledger, selection
from adamw_repro.analysis.claims import VERDICTS
from adamw_repro.config import left_out, study_configs, validate_config
from adamw_repro.design import (
    FINALISTS_FILE,
    SELECTION_FILE,
    all_runs,
    finalist_runs,
    round_file,
    search_runs,
    total_steps,
    tuning_runs,
)
from adamw_repro.provenance import design_hash, study_hash
from adamw_repro.registry import OPTIMIZERS
from adamw_repro.report import figures, ladder_figures, paper, tables
from adamw_repro.report.catalog import figures_for, ladder_figures_for

GRIDS = {
    "adam": {"lr": [0.01, 0.02]},
    "adam_l2": {"lr": [0.01, 0.02], "weight_decay": [0.001, 0.004]},
    "adamw": {"lr": [0.01, 0.02], "decay_timescale": [0.5, 2.0]},
    "adamw_independent": {"lr": [0.01, 0.02], "weight_decay": [0.001, 0.004]},
    "sgd": {"lr": [0.1, 0.2]},
    "sgd_l2": {"lr": [0.1, 0.2], "weight_decay": [0.0001, 0.0004]},
    "sgdw": {"lr": [0.1, 0.2], "weight_decay": [0.001, 0.004]},
}
BASE = {
    "corpus": {"source": "kjv", "max_chars": 300000, "heldout_chunks": 5},
    "tokenizer": {"vocab_size": 512},
    "model": {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32},
    "train": {
        "batch_size": 8,
        "tokens": 10240,
        "data_tokens": 4096,
        "data_chunks": 8,
        "eval_interval": 10,
        "eval_tokens": 2048,
        "log_interval": 10,
    },
    "study": {"tuning_seeds": [1000, 1001], "bootstrap_samples": 100},
    "seeds": [0, 1],
}
META = {
    "vocab_size": 512,
    "eot_id": 0,
    "dtype": "uint16",
    "tokenizer": "bpe",
    "train_tokens": 96321,
    "val_tokens": 12479,
    "test_tokens": 12174,
    "unigram_entropy": 5.15,
    "unigram_val_cross_entropy": 5.14,
    "unigram_test_cross_entropy": 5.16,
    "uniform_loss": math.log(512),
}
PROVENANCE = {
    "git": {"commit": "0" * 40, "dirty": False},
    "hardware": {
        "cpu": "synthetic",
        "cpu_capability": "AVX2",
        "device": "cpu",
        "gpu": None,
        "precision": "auto -> fp32: synthetic",
        "threads": 1,
    },
    "slurm_job_id": None,
    "versions": {
        "numpy": "x",
        "python": "x",
        "snakemake": "x",
        "tokenizers": "x",
        "torch": "x",
        "transformers": "x",
    },
}
MATRICES = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]


def make_config(optimizers, tuned=True, seeds=(0, 1), diverge=(), **changes) -> dict:
    raw = copy.deepcopy(BASE)
    raw["optimizers"] = {}
    for o in optimizers:
        g = copy.deepcopy(GRIDS[o])
        if not tuned:
            g = {k: v[:1] for k, v in g.items()}
        raw["optimizers"][o] = g
    raw["seeds"] = list(seeds)
    for key, value in changes.items():
        section, name = key.split("__")
        raw[section][name] = value
    raw["_diverge"] = list(diverge)  # a test-only marker, removed before validation
    return raw


def noise(*parts) -> float:
    """A deterministic pseudo-random number in [-1, 1) per run."""
    return zlib.crc32(json.dumps(parts).encode()) / 2**31 - 1


def write_run(root: Path, config: dict, run, diverge: set) -> str:
    """A summary and metrics file like the trainer's, with losses from a smooth function."""
    folder = root / "results/runs" / run.run_id
    folder.mkdir(parents=True, exist_ok=True)
    steps = total_steps(config)
    decay = 0.0 if run.weight_decay == 0 else math.log10(run.weight_decay) + 3
    loss = 5 + 0.2 * (math.log10(run.lr) + 1.7) ** 2 + 0.02 * decay**2 - 0.02 * (decay != 0)
    m = config["model"]
    n_params = 12 * m["n_layer"] * m["n_embd"] ** 2 + (512 + m["block_size"]) * m["n_embd"]
    study = (config["corpus"]["source"], n_params, config["train"]["data_tokens"])
    loss += 0.003 * noise(run.run_id, *study) - 0.01 * math.log10(n_params) * (decay != 0)
    diverged = run.optimizer in diverge
    final = None if diverged else loss
    norms = {f"transformer.h.0.{m}.weight": 10.0 / (1 + run.weight_decay) for m in MATRICES}
    norms |= {"transformer.wte.weight": 12.0, "transformer.wpe.weight": 3.0}
    summary = {
        "run_id": run.run_id,
        "optimizer": run.optimizer,
        "lr": run.lr,
        "weight_decay": run.weight_decay,
        "decay_embeddings": run.decay_embeddings,
        "seed": run.seed,
        "diverged": diverged,
        "diverged_reason": "non-finite training loss" if diverged else None,
        "diverged_step": 3 if diverged else None,
        "final_val_loss": final,
        "final_val_acc": None if diverged else 0.05,
        "final_test_loss": None if diverged else loss + 0.01,
        "final_test_acc": None if diverged else 0.3 - loss / 50,
        "final_train_loss": None if diverged else loss - 0.2,
        "final_perplexity": None if diverged else math.exp(loss + 0.01),
        "best_test_loss": None if diverged else loss,
        "best_test_step": steps,
        "final_curve_test_loss": None if diverged else loss,
        "final_weight_norm": 20.0,
        "final_param_norms": norms,
        "steps": steps,
        "tokens": steps * 256,
        "n_params": n_params,
        "flops_per_token": 187200,
        "config_hash": "synthetic",
        "tokens_per_s": 30000.0,
        "achieved_flops": 5e9,
        "mfu": None,
        "peak_flops": None,
        "wall_time_s": 1.0,
        "resumed_from_steps": [],
        "precision": "fp32",
        "provenance": PROVENANCE,
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    lines = []
    for step in range(0, steps + 1, 10):
        rec = {
            "step": step,
            "tokens": step * 256,
            "lr": run.lr,
            "train_loss": loss + 1 / (1 + step),
            "grad_norm": 0.5,
            "weight_norm": 20.0,
            "decayed_norm": 15.0,
            "tokens_per_s": 3e4,
        }
        lines.append(rec)
        lines.append(
            {
                "step": step,
                "tokens": step * 256,
                "test_loss": loss + 2 / (1 + step),
                "test_acc": 0.1,
            }
        )
    lines.append(
        {
            "step": steps,
            "tokens": steps * 256,
            "val_loss": final,
            "test_loss": final,
            "train_eval_loss": None if diverged else loss - 0.2,
        }
    )
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    return str(folder / "summary.json")


def run_stages(root: Path, raw: dict, compile_pdf: bool = False) -> dict:
    """Selection, aggregation, ledger, tables and the paper, through each stage's ``run`` with
    the names its rule gives it. Returns the ledger rows by claim."""
    diverge = set(raw.pop("_diverge"))
    (cfg,) = study_configs(validate_config(raw)).values()
    out = study_stages(root, cfg, diverge)
    paper_stage(root, cfg, out, compile_pdf)
    return {r["id"]: r for r in pd.read_csv(out["ledger"]["ledger"]).to_dict("records")}


TABLES = {  # each table's file name, by the name its rule's output gives it
    "aggregate": {"runs": "runs.csv", "curves": "curves.csv", "norms": "param_norms.csv",
                  "timing": "timing.csv", "provenance": "provenance.json"},
    "ledger": {n: f"{n}.csv" for n in ("stats", "ledger", "regime", "decomposition", "map")},
    "results_table": {"csv": "results.csv", "tex": "results.tex",
                      "search_csv": "search_space.csv", "search_tex": "search_space.tex"},
}  # fmt: skip


def study_stages(root: Path, cfg: dict, diverge: set) -> dict:
    """One study's stages after training, up to its tables; returns the files by rule and
    name (``out["ledger"]["ledger"]``) and the selection's and meta's paths."""
    conf = {"config": json.dumps(cfg, sort_keys=True)}
    tables_dir = root / "results/tables"
    tables_dir.mkdir(parents=True)
    (root / "results/study").mkdir(parents=True)
    summaries = {r: write_run(root, cfg, r, diverge) for r in tuning_runs(cfg)}

    def step(name, path, **earlier):
        result = {"result": str(root / "results" / path)}
        inputs = {"summaries": list(summaries.values())} | earlier
        selection.run(inputs, result, conf | {"step": name})
        return result["result"]

    rounds = []
    for k in range(1, cfg["study"]["extension_rounds"] + 1 if tuning_runs(cfg) else 1):
        rounds.append(step("round", round_file(k), rounds=list(rounds)))
        found = search_runs(cfg, [json.loads(Path(p).read_text()) for p in rounds])
        summaries |= {r: write_run(root, cfg, r, diverge) for r in found if r not in summaries}
    chosen = step("finalists", FINALISTS_FILE)
    added = finalist_runs(cfg, json.loads(Path(chosen).read_text()))
    summaries |= {r: write_run(root, cfg, r, diverge) for r in added}
    sel = step("select", SELECTION_FILE, rounds=rounds, finalists=chosen)
    runs = all_runs(cfg, json.loads(Path(sel).read_text()))
    summaries |= {r: write_run(root, cfg, r, diverge) for r in runs if r not in summaries}
    out = {
        rule: {n: str(tables_dir / f) for n, f in names.items()} for rule, names in TABLES.items()
    }
    aggregate.run({"summaries": [summaries[r] for r in runs], "selection": sel},
                  out["aggregate"], conf)  # fmt: skip
    checks = write_optimizer_checks(root / "results/checks/optimizers.json")
    tables_of = {n: out["aggregate"][n] for n in ("runs", "curves", "norms")}
    ledger.run(tables_of | {"selection": sel, "checks": checks}, out["ledger"], conf)
    tables.run({"runs": out["aggregate"]["runs"], "selection": sel}, out["results_table"], conf)
    out["selection"], out["meta"] = sel, str(root / "meta.json")
    Path(out["meta"]).write_text(json.dumps(META))
    return out


def paper_stage(
    root: Path,
    cfg: dict,
    out: dict,
    compile_pdf: bool,
    ladder_inputs=None,
    crosscheck_root=REPO,
    left_out=(),
) -> None:
    """The study's figures (when compiling) and its paper, with a ladder's inputs if any;
    paper.crosscheck's ledgers are read relative to ``crosscheck_root`` (the Snakefile's: the
    repository)."""
    agg, led, res = out["aggregate"], out["ledger"], out["results_table"]
    names = figures_for(cfg)
    pdfs = [str(root / f"results/figures/{n}.pdf") for n in names]
    if compile_pdf:
        figures.run({"runs": agg["runs"], "curves": agg["curves"], "map": led["map"]},
                    {"pdf": pdfs}, {"study": json.dumps(cfg["study"])})  # fmt: skip
    inputs = {
        "template": str(REPO / "paper/paper.tex.j2"),
        "bib": str(REPO / "paper/references.bib"),
        "meta": out["meta"],
        "selection": out["selection"],
        "figures": pdfs,
        "crosscheck": [str(crosscheck_root / c["ledger"]) for c in cfg["paper"]["crosscheck"]],
        **{n: agg[n] for n in ("runs", "timing", "provenance")},
        **{n: led[n] for n in ("ledger", "regime", "decomposition", "map")},
        "table": res["csv"],
        "table_tex": res["tex"],
        "search": res["search_csv"],
        "search_tex": res["search_tex"],
        **(ladder_inputs or {}),
    }
    params = {"config": json.dumps(cfg, sort_keys=True), "build_dir": str(root / "build"),
              "left_out": list(left_out)}  # fmt: skip
    output = {"pdf": str(root / "paper.pdf")}
    if compile_pdf:
        paper.run(inputs, output, params)
    else:  # render the LaTeX the PDF would be compiled from (compiling every one takes minutes)
        render_only(inputs, output, params)


def run_ladder(root: Path, raw: dict, compile_pdf: bool = False) -> dict:
    """Every study's stages, the cross-study stage (analysis/ladder.py) and the ladder's paper,
    as the Snakefile runs them. Returns the cross-study ledger rows by claim."""
    diverge = set(raw.pop("_diverge"))
    whole = validate_config(raw)
    configs = study_configs(whole)
    outs = {name: study_stages(root / name, cfg, diverge) for name, cfg in configs.items()}
    keep = ("corpus", "model", "train", "study", "seeds")
    ladder_dir = root / "results/ladder"
    ladder_dir.mkdir(parents=True)
    tables = {
        t: str(ladder_dir / f"{t}.csv") for t in ("studies", "ledger", "fits", "ledgers", "runs")
    }
    per_study = {"runs": [o["aggregate"]["runs"] for o in outs.values()],
                 "ledgers": [o["ledger"]["ledger"] for o in outs.values()],
                 "regimes": [o["ledger"]["regime"] for o in outs.values()],
                 "metas": [o["meta"] for o in outs.values()]}  # fmt: skip
    configs_json = json.dumps(
        [[n, {k: c[k] for k in keep}] for n, c in configs.items()], sort_keys=True
    )
    ladder.run(per_study, tables, {"configs": configs_json})
    drawn = ladder_figures_for(configs)  # as the Snakefile asks for them
    pdfs = [str(ladder_dir / f"figures/{n}.pdf") for n in drawn]
    if compile_pdf:
        ladder_figures.run({t: tables[t] for t in ("studies", "fits", "runs")}, {"pdf": pdfs}, {})
    main, cfg = next(iter(configs.items()))
    ladder_inputs = {f"ladder_{t}": tables[t] for t in ("studies", "ledger", "ledgers")}
    ladder_inputs["ladder_figures"] = pdfs
    paper_stage(root / main, cfg, outs[main], compile_pdf, ladder_inputs, root, left_out(whole))
    return {r["id"]: r for r in pd.read_csv(tables["ledger"]).to_dict("records")}


def render_only(inputs: dict, output: dict, params: dict) -> None:
    real = paper.compile_pdf
    paper.compile_pdf = lambda tex, out: None
    try:
        paper.run(inputs, output, params)
    finally:
        paper.compile_pdf = real


ALL = list(GRIDS)
ADAM = ["adam", "adam_l2", "adamw"]
SGD = ["sgd", "sgd_l2", "sgdw"]
SUBSETS = (
    [[o] for o in ALL]
    + [[o for o in ALL if o != drop] for drop in ADAM]
    + [ADAM, ADAM + ["adamw_independent"], ["adam_l2", "adamw"], ["adam", "adamw"]]
)
CONFIGS = {
    f"{'+'.join(opts)} {'tuned' if tuned else 'one point'} {len(seeds)} seed(s)": make_config(
        opts, tuned, seeds
    )
    for opts, tuned, seeds in itertools.product(SUBSETS, (True, False), ((0,), (0, 1)))
}
CONFIGS |= {
    "a map, finalists, two extension rounds": make_config(
        ALL, study__map=True, study__finalists=1, study__extension_rounds=2
    ),
    "no embedding ablation": make_config(ADAM, study__embedding_ablation=False),
    "decay_embeddings": make_config(ADAM, train__decay_embeddings=True),
    "one tuning seed": make_config(ADAM + SGD, study__tuning_seeds=[1000]),
    "AdamW always diverges": make_config(ADAM, diverge=["adamw"]),
    "Adam+L2 always diverges, untuned": make_config(ADAM, tuned=False, diverge=["adam_l2"]),
    "SGD family diverges": make_config(ALL, diverge=SGD),
    **{
        f"schedule {s}": make_config(ADAM, train__schedule=s) for s in ("linear", "wsd", "constant")
    },
}


def make_ladder(optimizers, *studies, **changes) -> dict:
    """A ladder of the given study overlays (each with its name) on a generated config."""
    raw = make_config(optimizers, **changes)
    raw["studies"] = [dict(s) for s in studies]
    return raw


STDLIB = {"source": "stdlib", "max_chars": 300000}
SIZE, DATA, LENGTH = {"axes": ["size"]}, {"axes": ["data"]}, {"axes": ["length"]}
WIDTHS = (32, 40, 48, 56)


def sizes(*widths, corpus=None, prefix="w") -> list[dict]:
    """Size-axis studies of the given widths (on ``corpus`` if given)."""
    return [{"name": f"{prefix}{w}", "model": {"n_embd": w}, "study": SIZE,
             **({"corpus": corpus} if corpus else {})} for w in widths]  # fmt: skip


def data(*tokens) -> list[dict]:
    """Data-axis studies of the given training subsets."""
    return [{"name": f"d{n}", "train": {"data_tokens": n}, "study": DATA} for n in tokens]


def lengths(*tokens) -> list[dict]:
    """Length-axis studies training the given tokens over one subset (so the epochs grow)."""
    return [{"name": f"t{n}", "train": {"tokens": n}, "study": LENGTH} for n in tokens]


LADDERS = {
    "ladder of one study": make_ladder(ADAM, {"name": "only"}),
    "length axis of four": make_ladder(ADAM, *lengths(5120, 10240, 20480, 40960)),
    "all three axes, one study on each": make_ladder(
        ADAM, {"name": "all", "study": {"axes": ["data", "size", "length"]}},
        *data(6144, 8192, 10240), *sizes(40, 48, 56), *lengths(5120, 20480, 40960),
    ),
    "size axis of two": make_ladder(ADAM, *sizes(32, 40)),
    "size axis of four": make_ladder(ADAM, *sizes(*WIDTHS)),
    "size axis of four, Adam and AdamW only": make_ladder(["adam", "adamw"], *sizes(*WIDTHS)),
    "size axis of Adam+L2 alone": make_ladder(["adam_l2"], *sizes(32, 40)),
    "size axis over two corpora, matched shapes": make_ladder(
        ADAM, *sizes(32, 40, 48), *sizes(32, 40, 48, corpus=STDLIB, prefix="s"),
    ),
    "size axis over two corpora, no shape shared": make_ladder(
        ["adam", "adamw"], *sizes(32), *sizes(40, corpus=STDLIB, prefix="s"),
    ),
    "data axis of four": make_ladder(ADAM, *data(4096, 6144, 8192, 10240)),
    "both axes, one study on both": make_ladder(
        ["adam", "adamw"], {"name": "both", "study": {"axes": ["data", "size"]}},
        *data(6144, 8192, 10240), *sizes(40, 48, 56),
    ),
    "size axis in which AdamW always diverges": make_ladder(
        ADAM, *sizes(*WIDTHS), diverge=["adamw"],
    ),
    "ladder of one-point grids and one seed": make_ladder(
        ADAM, *sizes(32, 40), *data(6144), tuned=False, seeds=(0,),
    ),
}  # fmt: skip


def assert_paper_has_no_raw_missing_numbers(tex: str, name: str) -> None:
    body = tex.split("\\begin{document}")[1]
    assert "\\end{document}" in body, name
    # a missing number printed raw (Python's None or NaN) rather than as a dash or a reason
    raw = re.findall(r".{0,60}(?:\bNone\b(?! of the)|\bnan\b).{0,20}", body)
    assert not raw, raw


def assert_missing_data_has_a_reason(rows: dict) -> None:
    for cid, r in rows.items():
        assert r["verdict"] in VERDICTS, (cid, r["verdict"])
        if r["verdict"] in ("untested", "untestable here"):
            assert isinstance(r["detail"], str) and r["detail"].strip(), cid  # with a reason


@pytest.mark.parametrize("name", sorted(LADDERS))
def test_every_accepted_ladder_ends_in_a_paper(name, tmp_path):
    rows = run_ladder(tmp_path, copy.deepcopy(LADDERS[name]))
    main = next(p for p in tmp_path.iterdir() if (p / "build/paper.tex").exists())
    tex = (main / "build/paper.tex").read_text()
    assert_paper_has_no_raw_missing_numbers(tex, name)
    assert_missing_data_has_a_reason(rows)
    assert set(rows) == set(LADDER_CLAIMS)
    for cid in rows:
        assert cid in tex, cid  # every cross-study claim reaches the paper


def test_a_ladder_run_in_parts_names_its_axes_and_the_studies_left_out(tmp_path):
    """run_studies: the paper's abstract and scale section say which of the configuration's
    studies did not run, and its axes are read over the studies that did."""
    raw = make_ladder(
        ADAM, {"name": "all", "study": {"axes": ["data", "size", "length"]}},
        *data(6144, 8192), *sizes(40, 48, 56), *lengths(5120, 20480, 40960),
    ) | {"run_studies": ["all", "d6144", "w40", "w56", "t5120", "t40960"]}  # fmt: skip
    run_ladder(tmp_path, raw)
    tex = (tmp_path / "all/build/paper.tex").read_text()
    assert "6 such studies (a part of its configuration's; not run: d8192, w48, t20480)" in tex
    assert "left out 3 of its\nstudies (d8192, w48, t20480)" in tex
    assert "t20480) on 3 axes (the training length at a fixed model" in tex
    assert "On the \\emph{length axis} (3 studies)" in tex
    # each study's Adam+L2 gate reaches the ladder's table (LN3 is gated on it)
    studies = pd.read_csv(tmp_path / "results/ladder/studies.csv").set_index("study")
    for name, row in studies.iterrows():
        regime = pd.read_csv(tmp_path / name / "results/tables/regime.csv").set_index("check")
        gate = regime.loc["decay helps Adam+L2"]
        assert (row["l2_helps"], row["l2_benefit"]) == (gate["status"], gate["value"]), name


def test_a_size_axis_without_adam_reads_untested_with_the_reason(tmp_path):
    """Decay's benefit needs tuned Adam beside tuned AdamW: a size axis of Adam+L2 alone
    leaves U8a and U8c untested and says what they lack (a NaN compared with 2 once crashed
    this stage after all the training)."""
    rows = run_ladder(tmp_path, copy.deepcopy(LADDERS["size axis of Adam+L2 alone"]))
    assert rows["U8a"]["verdict"] == rows["U8c"]["verdict"] == "untested"
    assert "decay's benefit" in rows["U8a"]["detail"]
    assert "no data axis" in rows["WA2"]["detail"]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_accepted_config_ends_in_a_paper(name, tmp_path):
    rows = run_stages(tmp_path, copy.deepcopy(CONFIGS[name]))
    tex = (tmp_path / "build/paper.tex").read_text()
    assert_paper_has_no_raw_missing_numbers(tex, name)
    assert_missing_data_has_a_reason(rows)


def test_a_maps_refined_cells_train_on_every_tuning_seed_and_each_row_gets_its_valley(tmp_path):
    """The default profile's search (a map, finalists, two extension rounds), which the smoke
    DAG leaves out: every refined cell reaches runs.csv on each tuning seed, each finalist on
    the second half too, and LH1's map has a valley at every learning rate where Adam+L2 or
    AdamW searched the three decays a row's fit needs (rows.fit_row), two rows or more each."""
    rows = run_stages(tmp_path, copy.deepcopy(CONFIGS["a map, finalists, two extension rounds"]))
    assert rows["LH1"]["verdict"] not in ("untested", "untestable here")  # read off the map
    chosen = json.loads((tmp_path / "results" / FINALISTS_FILE).read_text())
    assert chosen["refined"] and chosen["finalists"]
    runs = pd.read_csv(tmp_path / "results/tables/runs.csv")
    tuning = runs[runs["tuning"]]
    seeds = {(o, lr, wd): set(g["seed"]) for (o, lr, wd), g in
             tuning.groupby(["optimizer", "lr", "weight_decay"])}  # fmt: skip
    for c in chosen["refined"] + chosen["finalists"]:
        assert seeds[(c["optimizer"], c["lr"], c["weight_decay"])] == {1000, 1001}, c
    valleys = pd.read_csv(tmp_path / "results/tables/map.csv").query("kind == 'valley'")
    for o in ("adam_l2", "adamw"):
        decays = tuning[tuning["optimizer"] == o].groupby("lr")["weight_decay"].nunique()
        rows_of_three = set(decays[decays >= 3].index.round(8))
        assert len(rows_of_three) >= 2, decays
        assert set(valleys[valleys["optimizer"] == o]["lr"].round(8)) == rows_of_three, o


def test_a_claim_without_its_optimizers_reads_untested_with_the_reason(tmp_path):
    rows = run_stages(tmp_path, make_config(["sgd"]))
    for cid in ("LH2", "LH3", "U1", "U4", "U5", "U6", "U8b"):
        assert rows[cid]["verdict"] == "untested", cid
        assert "not in this study" in rows[cid]["detail"] or "needs" in rows[cid]["detail"], cid


@pytest.mark.slow  # draws the figures and runs latexmk
@pytest.mark.parametrize(
    "name",
    [
        "adam+adam_l2+adamw tuned 2 seed(s)",
        "a map, finalists, two extension rounds",
        "sgd one point 1 seed(s)",
        "AdamW always diverges",
        "adam_l2+adamw tuned 1 seed(s)",
    ],
)
def test_a_handful_compile_to_a_pdf(name, tmp_path):
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk is not installed")
    run_stages(tmp_path, copy.deepcopy(CONFIGS[name]), compile_pdf=True)
    assert (tmp_path / "paper.pdf").read_bytes().startswith(b"%PDF")
    if name == "a map, finalists, two extension rounds":  # LH5's figure drawn from the map
        drawn = pdf_text(tmp_path / "results/figures/transfer_regret.pdf")
        assert "transfer regret" in drawn and "not in this study" not in drawn, drawn


@pytest.mark.slow  # draws the ladder's figures and runs latexmk
@pytest.mark.parametrize(
    ("name", "main", "figure"),
    [("size axis over two corpora, matched shapes", "w32", "ladder_size"),
     ("length axis of four", "t5120", "ladder_length")],
)  # fmt: skip
def test_a_ladder_of_one_axis_compiles_to_a_pdf_with_that_axis_figure_only(
    tmp_path, name, main, figure
):
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk is not installed")
    run_ladder(tmp_path, copy.deepcopy(LADDERS[name]), True)
    assert (tmp_path / main / "paper.pdf").read_bytes().startswith(b"%PDF")
    drawn = {p.stem for p in (tmp_path / "results/ladder/figures").glob("*.pdf")}
    assert drawn == {figure}
    if figure == "ladder_length":
        tex = (tmp_path / main / "build/paper.tex").read_text()
        assert "On the \\emph{length axis} (4 studies)" in tex and "fig:ladder-length" in tex


def test_the_generated_ladders_have_one_to_seven_studies_on_every_axis_and_corpus():
    sizes = {len(raw["studies"]) for raw in LADDERS.values()}
    assert {1, 2, 4, 7} <= sizes
    axes = {a for raw in LADDERS.values() for s in raw["studies"]
            for a in s.get("study", {}).get("axes", [])}  # fmt: skip
    assert axes == {"data", "size", "length"}
    corpora = {s.get("corpus", BASE["corpus"])["source"] for raw in LADDERS.values()
               for s in raw["studies"]}  # fmt: skip
    assert corpora == {"kjv", "stdlib"}


def test_the_generator_covers_every_optimizer_alone_and_each_family_dropped():
    for o in OPTIMIZERS:
        assert f"{o} tuned 1 seed(s)" in CONFIGS and f"{o} one point 2 seed(s)" in CONFIGS, o
    for drop in ADAM:
        assert "+".join(o for o in ALL if o != drop) + " tuned 2 seed(s)" in CONFIGS, drop
    assert "adam+adam_l2+adamw tuned 2 seed(s)" in CONFIGS  # the SGD family dropped
    assert len(CONFIGS) >= 50


@pytest.mark.parametrize("profile", ["smoke", "config", "ladder", "paper"])
def test_every_profiles_method_section_says_what_its_config_does(profile, tmp_path):
    """The data and tokenizer sentences come from the config: GPT-2's tokenizer on a hub corpus
    for the paper profile, a BPE trained on the split for the others (a ladder's main study)."""
    import yaml

    raw = yaml.safe_load((REPO / f"config/{profile}.yaml").read_text())
    main = next(iter(study_configs(validate_config(raw)).values()))
    main = {k: v for k, v in main.items() if k != "studies"}
    main["_diverge"] = []
    run_stages(tmp_path, main)
    tex = (tmp_path / "build/paper.tex").read_text()
    method = tex[tex.index("\\section{Method}") : tex.index("\\paragraph{Model.}")]
    text = " ".join(method.split())
    if main["tokenizer"]["kind"] == "gpt2":
        assert (
            "GPT-2's own byte-level BPE tokenizer" in text and "trained on the training" not in text
        )
        assert main["tokenizer"]["name"] in text
    else:
        assert "tokenizer with 512 tokens is trained on the training split only" in text
    if main["corpus"]["source"] == "hub":
        hub = main["corpus"]["hub"]
        assert f"The {hub['dataset']} ({hub['name']}) corpus" in text
        assert f"blocks of {hub['block_docs']:,}".replace(",", "{,}") in text
        assert "consecutive documents" in text and "consecutive lines" not in text
    else:
        assert "King James Bible" in text and "consecutive lines" in text
    if main["train"]["data_tokens"]:
        assert f"{main['train']['data_tokens']:,}".replace(",", "{,}") + " training tokens" in text


def test_a_verdict_that_differs_on_another_machine_is_marked_fragile(tmp_path):
    """paper.crosscheck: a ledger of this very study from elsewhere with one verdict changed
    marks that verdict fragile; one from another design (its study hash) is named, not
    compared."""
    raw = make_config(ADAM)
    diverge = set(raw.pop("_diverge"))
    (cfg,) = study_configs(validate_config(raw)).values()
    out = study_stages(tmp_path / "run", cfg, diverge)
    theirs = pd.read_csv(out["ledger"]["ledger"])
    measured = theirs[~theirs["verdict"].isin(["untested", "untestable here"])].index[0]
    here = theirs.loc[measured, "verdict"]
    there = "contradicted" if here != "contradicted" else "reproduced"
    theirs.loc[measured, "verdict"] = there
    theirs.to_csv(tmp_path / "elsewhere.csv", index=False)
    other_seeds = {**cfg, "seeds": [100, 101]}  # another draw: its own hash, the same design
    assert study_hash(other_seeds) != study_hash(cfg)
    cfg["paper"]["crosscheck"] = [
        {"ledger": "elsewhere.csv", "label": "on machine B", "study_hash": study_hash(cfg)},
        {"ledger": "elsewhere.csv", "label": "an older design", "study_hash": "0123456789ab"},
        {"ledger": "elsewhere.csv", "label": "with seeds 100-101",
         "design_hash": design_hash(other_seeds)},
        {"ledger": "elsewhere.csv", "label": "of old", "design_hash": "0123456789ab"},
    ]  # fmt: skip
    paper_stage(tmp_path / "run", cfg, out, False, crosscheck_root=tmp_path)
    tex = " ".join((tmp_path / "run/build/paper.tex").read_text().split())
    cid = theirs.loc[measured, "id"]
    assert tex.count(f"{cid} reads \\emph{{{there}}} there (\\emph{{{here}}} here)") == 2
    assert tex.count(f"{len(theirs) - 1} of its {len(theirs)} verdicts are the same there") == 2
    assert f"fragile: {there} on machine B; {there} with seeds 100-101" in tex
    assert "the committed ledger of this study run an older design belongs to an earlier" in tex
    assert "This design (design hash" in tex and "also ran with seeds 100-101:" in tex
    assert "a verdict that changes with the draw of seeds is fragile" in tex
    assert "study run of old belongs to another design" in tex


def test_a_ladder_cross_checks_its_main_studys_own_verdicts(tmp_path):
    """The cross-check reads the main study's own ledger, before the ladder's rows take U8a and
    U8c: a reference identical to it flags nothing (it once flagged U8a and U8c, which a
    study's ledger leaves untested)."""
    raw = copy.deepcopy(LADDERS["size axis of four"])
    main = raw["studies"][0]["name"]
    resolved = study_configs(validate_config({k: v for k, v in raw.items() if k != "_diverge"}))
    raw["paper"] = {"crosscheck": [{"ledger": f"{main}/results/tables/ledger.csv",
                                    "label": "here again",
                                    "study_hash": study_hash(resolved[main])}]}  # fmt: skip
    rows = run_ladder(tmp_path, raw)
    assert rows["U8a"]["verdict"] != "untested"
    tex = " ".join((tmp_path / main / "build/paper.tex").read_text().split())
    n = len(pd.read_csv(tmp_path / main / "results/tables/ledger.csv"))
    assert f"{n} of its {n} verdicts are the same there." in tex
    assert "; fragile: " not in tex and "fragile)" not in tex  # no verdict marked
