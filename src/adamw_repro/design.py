"""The runs a study consists of, and where each one's files live.

Protocol (AlgoPerf-style fair tuning). The optimizers of a family share one learning-rate grid;
the one without decay (Adam, SGD) is the family's wd = 0 column, and the decaying members search
decay grids of equal size and density, AdamW's stated as timescales τ = 1/(lr·wd) in units of
the run's T steps. Every cell is trained on each tuning seed and scored by its mean validation
loss. If an optimizer's best cell lies on an edge of its grid, the grid is extended by one step
beyond that edge (a second, bounded round) before the final selection, which is rerun on the
evaluation seeds. Ablations at AdamW's selected learning rate: AdamW without decay (does decay
matter here?), Adam (with decay off the same algorithm), and Adam+L2 and AdamW with the embedding
decay flipped (a factor that can decide the headline).

A run is one (optimizer, learning rate, weight decay, seed, embedding decay). Values appear in
paths formatted with ``%g`` (``0.003``, ``1e-05``); weight decays resolved from timescales are
rounded to that precision, so every path names its run exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from .config import decay_key, validate_config
from .registry import DECAYING
from .schedule import budget

ROLES = ("tuning", "evaluation", "no_decay", "adam_identity", "embeddings")


def fmt(x: float) -> str:
    return f"{x:g}"


def non_embedding_params(model: dict) -> int:
    """Parameters of a GPT-2 model outside its token and position embeddings (the tied output
    layer is the token embedding): per block 12·d² + 13·d (attention, MLP, their biases and two
    LayerNorms), and the final LayerNorm's 2·d. The size that scaling laws count."""
    d = model["n_embd"]
    return model["n_layer"] * (12 * d * d + 13 * d) + 2 * d


def total_steps(config: dict) -> int:
    """T: optimizer steps of every run."""
    return budget(config["train"], config["model"]["block_size"]).total_steps


@dataclass(frozen=True, order=True)
class Run:
    optimizer: str
    lr: float
    weight_decay: float
    seed: int
    decay_embeddings: bool = False

    @property
    def setting(self) -> str:
        emb = "_emb" if self.decay_embeddings else ""
        return f"lr{fmt(self.lr)}_wd{fmt(self.weight_decay)}{emb}"

    @property
    def run_id(self) -> str:
        return f"{self.optimizer}/{self.setting}/seed{self.seed}"

    @classmethod
    def parse(cls, optimizer: str, setting: str, seed: int | str) -> Run:
        """The run of a path's parts (``adamw``, ``lr0.002_wd1.7_emb``, ``0``)."""
        lr, wd = setting.removesuffix("_emb").removeprefix("lr").split("_wd")
        return cls(optimizer, float(lr), float(wd), int(seed), setting.endswith("_emb"))


def make_run(config: dict, optimizer: str, lr: float, wd: float, seed: int, flip=False) -> Run:
    """A run with the study's embedding-decay setting (``flip``: the other one). The setting
    only exists for runs that decay, so runs without decay never differ by it."""
    emb = config["train"]["decay_embeddings"] != flip
    return Run(optimizer, lr, wd, seed, emb and wd > 0)


@dataclass(frozen=True)
class Grid:
    """One optimizer's tuning grid: learning rates × decay values, the decays in the units the
    config states them (PyTorch weight decay, or timescale τ/T), both ascending."""

    optimizer: str
    lrs: tuple[float, ...]
    decays: tuple[float, ...]  # (0.0,) for an optimizer without decay
    unit: str | None  # "weight_decay", "decay_timescale" or None
    steps: int  # T, to resolve timescales

    def weight_decay(self, lr: float, decay: float) -> float:
        """The PyTorch weight decay of a cell."""
        if self.unit == "decay_timescale":
            return float(fmt(1.0 / (lr * decay * self.steps)))
        return decay

    def cells(self) -> list[tuple[float, float]]:
        return list(itertools.product(self.lrs, self.decays))

    def beyond(self, axis: str, side: str) -> float:
        """One grid step past the ``side`` ("low"/"high") edge of ``axis`` ("lr"/"decay")."""
        v = self.lrs if axis == "lr" else self.decays
        value = v[0] ** 2 / v[1] if side == "low" else v[-1] ** 2 / v[-2]
        return float(fmt(value))

    def extendable(self, axis: str) -> bool:
        return len(self.lrs if axis == "lr" else self.decays) > 1


def grid(config: dict, optimizer: str) -> Grid:
    hp = config["optimizers"][optimizer]
    unit = decay_key(hp)
    decays = tuple(hp[unit]) if unit else (0.0,)
    return Grid(optimizer, tuple(hp["lr"]), decays, unit, total_steps(config))


def is_tuned(config: dict) -> bool:
    return any(len(grid(config, o).cells()) > 1 for o in config["optimizers"])


def runs_of_cells(config: dict, g: Grid, cells) -> list[Run]:
    seeds = config["study"]["tuning_seeds"]
    return [
        make_run(config, g.optimizer, lr, g.weight_decay(lr, d), s)
        for lr, d in cells
        for s in seeds
    ]


def tuning_runs(config: dict) -> list[Run]:
    """The first round: every cell of every grid on every tuning seed."""
    if not is_tuned(config):
        return []
    grids = [grid(config, o) for o in config["optimizers"]]
    return [r for g in grids for r in runs_of_cells(config, g, g.cells())]


SIDES = (None, "low", "high")


def extension_name(optimizer: str, lr_side: str | None, decay_side: str | None) -> str:
    parts = [f"lr{lr_side}" if lr_side else "", f"decay{decay_side}" if decay_side else ""]
    return "_".join(["extend", optimizer, *filter(None, parts)])


def extension_groups(config: dict) -> dict[str, list[Run]]:
    """Every extension the second round may need, by name: the cells one step beyond an edge
    (a row of new learning rates, a column of new decays, or a corner cell), on the tuning
    seeds. Which are needed is known only after the first round (``needed_extensions``)."""
    if not (is_tuned(config) and config["study"]["extend_edges"]):
        return {}
    groups = {}
    for o in config["optimizers"]:
        g = grid(config, o)
        for lr_side, decay_side in itertools.product(SIDES, SIDES):
            if (lr_side is None and decay_side is None) or (
                (lr_side and not g.extendable("lr")) or (decay_side and not g.extendable("decay"))
            ):
                continue
            lrs = [g.beyond("lr", lr_side)] if lr_side else g.lrs
            decays = [g.beyond("decay", decay_side)] if decay_side else g.decays
            cells = list(itertools.product(lrs, decays))
            groups[extension_name(o, lr_side, decay_side)] = runs_of_cells(config, g, cells)
    return groups


def edges(g: Grid, lr: float, decay: float | None) -> dict[str, str | None]:
    """On which edge of each extendable axis a cell lies ("low", "high" or None). A cell of the
    wd = 0 column (``decay`` None) lies on no decay edge: the column is the decay axis's end."""
    out = {}
    for axis, values, v in (("lr", g.lrs, lr), ("decay", g.decays, decay)):
        side = None
        if g.extendable(axis) and v is not None:
            side = "low" if v <= values[0] else "high" if v >= values[-1] else None
        out[axis] = side
    return out


def needed_extensions(optimizer: str, edge: dict[str, str | None]) -> list[str]:
    """Extension groups for a best cell on ``edge``: its row and/or column, and the corner."""
    lr_side, decay_side = edge["lr"], edge["decay"]
    names = []
    if lr_side:
        names.append(extension_name(optimizer, lr_side, None))
    if decay_side:
        names.append(extension_name(optimizer, None, decay_side))
    if lr_side and decay_side:
        names.append(extension_name(optimizer, lr_side, decay_side))
    return names


def eval_seeds(config: dict, optimizer: str) -> list[int]:
    return config["optimizers"][optimizer]["seeds"] or config["seeds"]


def selected_runs(config: dict, selection: dict) -> list[Run]:
    """Each optimizer's selected configuration on its evaluation seeds (optimizers whose
    trials all diverged have no selection and no evaluation runs)."""
    return [
        make_run(config, o, s["lr"], s["weight_decay"], seed)
        for o, s in selection["selected"].items()
        if s is not None
        for seed in eval_seeds(config, o)
    ]


def ablation_runs(config: dict, selection: dict) -> dict[str, list[Run]]:
    """Ablation runs by purpose: ``no_decay`` (AdamW at its selected lr without decay: does decay
    matter here?), ``adam_identity`` (Adam at that lr: with decay off, the same algorithm) and
    ``embeddings`` (Adam+L2 and AdamW selected, with the embedding decay flipped)."""
    selected, out = selection["selected"], {}
    best = selected.get("adamw")
    if best is not None:
        out["no_decay"] = [
            make_run(config, "adamw", best["lr"], 0.0, s) for s in eval_seeds(config, "adamw")
        ]
        if "adam" in config["optimizers"]:
            out["adam_identity"] = [
                make_run(config, "adam", best["lr"], 0.0, s) for s in eval_seeds(config, "adam")
            ]
    if config["study"]["embedding_ablation"]:
        out["embeddings"] = [
            make_run(config, o, selected[o]["lr"], selected[o]["weight_decay"], s, flip=True)
            for o in ("adam_l2", "adamw")
            if selected.get(o) is not None and selected[o]["weight_decay"] > 0
            for s in eval_seeds(config, o)
        ]
    return out


def roles(config: dict, selection: dict) -> dict[str, list[Run]]:
    """Every run of the study by the role it plays; a run can play several."""
    ext = extension_groups(config)
    out = {role: [] for role in ROLES}
    out["tuning"] = tuning_runs(config) + [r for n in selection["extensions"] for r in ext[n]]
    out["evaluation"] = selected_runs(config, selection)
    return out | ablation_runs(config, selection)


def all_runs(config: dict, selection: dict) -> list[Run]:
    """Every run of the study, once each."""
    return sorted({r for runs in roles(config, selection).values() for r in runs})


def train_spec(config: dict, run: Run) -> dict:
    """Everything one training job needs from the config (and nothing else, so that editing,
    say, the paper title does not invalidate trained runs)."""
    hp = config["optimizers"][run.optimizer]
    hparams = {k: v for k, v in hp.items() if k not in ("weight_decay", "decay_timescale", "seeds")}
    hparams["lr"] = run.lr
    if decay_key(hp):
        hparams["weight_decay"] = run.weight_decay
    # train.tensorboard only adds event files: it is not part of what a run is
    train = {k: v for k, v in config["train"].items() if k != "tensorboard"}
    train["decay_embeddings"] = run.decay_embeddings
    tuning = run.seed in config["study"]["tuning_seeds"]
    # A reported run is scored on the whole test split at the end (no evaluation-sampling noise);
    # its curve and the tuning trials use the cheaper fixed subset of train.eval_tokens.
    evaluate = {"curve": ["test"], "final": ["val", "test", "train"], "whole": ["test"]}
    if tuning:  # a tuning trial: selection reads its final validation loss, the grids its test
        evaluate = {"curve": ["test"], "final": ["val", "test"]}
        if not config["study"]["tuning_curves"]:
            train["eval_interval"] = 0
            evaluate["curve"] = []
    return {
        "run_id": run.run_id,
        "optimizer": run.optimizer,
        "hparams": hparams,
        "seed": run.seed,
        "model": config["model"],
        "train": train,
        "evaluate": evaluate,
    }


def run_hparams(optimizer: str, lr: float, weight_decay: float = 0.0, **given) -> dict:
    """One run's hyperparameters as its training job receives them (``train_spec``), the
    schema filling in what is not given (betas, eps, momentum): for probes, benchmarks and tests
    that build an optimizer outside a study. The schema is the only place with defaults."""
    wd = weight_decay if optimizer in DECAYING else 0.0
    hp = {"lr": [lr], **given}
    if optimizer in DECAYING:  # a grid holds positive decays only; the run carries its own
        hp["weight_decay"] = [wd or 1.0]
    cfg = validate_config({"optimizers": {optimizer: hp}, "seeds": [0]})
    return train_spec(cfg, make_run(cfg, optimizer, lr, wd, 0))["hparams"]


def batches(runs: list, size: int, slots: int, name: str) -> dict[str, list]:
    """``runs`` in jobs of at most ``size``, named ``name_0``, ``name_1``, ..., as even as
    possible, and as many as the next multiple of ``slots`` (the training jobs that run at once)
    where each job keeps two runs or more: a phase of nine jobs on two cores would end with one
    core idle for a whole job, and a job of one run where two would fit pays its ~5 s start-up
    for less work than that on the smallest profiles."""
    n = -(-len(runs) // size)
    n = max(n, min(-(-n // slots) * slots, len(runs) // 2))
    if not n:
        return {}
    cut = [round(k * len(runs) / n) for k in range(n + 1)]
    return {f"{name}_{k}": runs[cut[k] : cut[k + 1]] for k in range(n)}


@dataclass(frozen=True)
class Job:
    """One training job: the run ids it trains, one after another in one process. An evaluation
    job's ids hold ``{setting}``, filled in once selection has chosen it (a wildcard of its
    Snakemake rule)."""

    name: str
    run_ids: tuple[str, ...]


def evaluation_settings(config: dict) -> int:
    """The most settings the evaluation can train (each optimizer's selected one and each
    ablation's), reached when no two coincide: a selection with a different lr and a positive
    decay for every optimizer."""
    selected = {
        o: {"lr": k + 1.0, "weight_decay": 1.0 if decay_key(hp) else 0.0}
        for k, (o, hp) in enumerate(config["optimizers"].items())
    }
    runs = selected_runs(config, {"selected": selected})
    runs += [r for rs in ablation_runs(config, {"selected": selected}).values() for r in rs]
    return len({(r.optimizer, r.setting) for r in runs})


def training_jobs(config: dict, slots: int = 1) -> list[Job]:
    """Every training job a study may need, each of at most ``resources.train.runs_per_job``
    runs of one phase, in as few jobs as that allows with a multiple of ``slots`` per phase
    (``batches``; the evaluation's settings are split alike): the first tuning round, every
    extension group an edge could ask for (known from the config alone), and each optimizer's
    evaluation seeds (the setting is chosen later, a wildcard). Snakemake runs only the jobs
    whose files are asked for. The layout is free to change between calls: a run's identity is
    its spec file, never the job that trained it (workflow/rules/train.smk)."""
    size = config["resources"]["train"]["runs_per_job"]
    jobs = batches(tuning_runs(config), size, slots, "tune")
    for name, group in extension_groups(config).items():
        jobs |= batches(group, size, slots, name)
    out = [Job(name, tuple(r.run_id for r in runs)) for name, runs in jobs.items()]
    # the settings' jobs together make a multiple of slots: each setting gets as many as that
    # takes, e.g. 2 jobs for each of 7 settings on 2 cores, 1 for each of 6
    per_setting = slots // math.gcd(evaluation_settings(config), slots)
    for o in config["optimizers"]:
        ids = [f"{o}/{{setting}}/seed{s}" for s in eval_seeds(config, o)]
        for name, chunk in batches(ids, size, per_setting, f"evaluate_{o}").items():
            out.append(Job(name, tuple(chunk)))
    return out
