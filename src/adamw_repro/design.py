"""The runs a study consists of, and where each one's files live.

Protocol (AlgoPerf-style fair tuning, v4). The optimizers of a family share one learning-rate
grid; the one without decay (Adam, SGD) is the family's wd = 0 column, and the decaying members
search decay grids of equal size and density, AdamW's stated as timescales τ = 1/(lr·wd) in
units of the run's T steps. The tuning seeds are two disjoint halves. The search runs on the
first half: the grid, then bounded extension rounds that add, where a best cell lies on an edge
of what was searched, the cells one grid step beyond it (a learning rate past the edge; a
stronger decay at a learning rate whose best decay is the strongest searched). With
``study.finalists``, the cells still in contention (at each learning rate within one step of a
family member's best, each optimizer's best decays) then train on the second half too
(successive halving), and the final selection reads the mean over every tuning seed; each half
also selects on its own, and where a half's choice differs from the final one it is rerun on the
evaluation seeds, so the verdicts can be re-read with it. Ablations at AdamW's selected learning
rate: AdamW without decay (does decay act here?), Adam (with decay off, the same algorithm); at
Adam+L2's selected learning rate, AdamW with its best decay there (decoupling at a matched
learning rate); and Adam+L2 and AdamW with the embedding decay flipped.

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
from .schedule import budget, timescale


def fmt(x: float) -> str:
    return f"{x:g}"


def non_embedding_params(model: dict) -> int:
    """Parameters of a GPT-2 model outside its token and position embeddings (the tied output
    layer is the token embedding): per block 12·d² + 13·d (attention, MLP, their biases and two
    LayerNorms), and the final LayerNorm's 2·d. The size that scaling laws count."""
    d = model["n_embd"]
    return model["n_layer"] * (12 * d * d + 13 * d) + 2 * d


def padded_vocab(vocab_size: int, multiple: int) -> int:
    """The token embedding's rows: the vocabulary padded to a multiple (nanoGPT's 50257 ->
    50304 for GPT-2), as ``training.model`` allocates them (it pads the same way without
    importing this module, so that editing the design retrains nothing)."""
    return -(-vocab_size // multiple) * multiple


def decayed_params(model: dict, vocab_size: int, decay_embeddings: bool) -> int:
    """Parameters weight decay acts on (``training.optim.decayed_parameters``, counted from the
    shape): every block's four matrices, 12·d², and the token and position embeddings (the
    tied output layer included) only if ``decay_embeddings``."""
    d = model["n_embd"]
    tables = (vocab_size + model["block_size"]) * d if decay_embeddings else 0
    return model["n_layer"] * 12 * d * d + tables


def total_steps(config: dict) -> int:
    """T: optimizer steps of every run."""
    return budget(config["train"], config["model"]["block_size"]).total_steps


# The embedding tables of the transformers GPT-2 (the output layer is tied to wte): what
# ``train.decay_embeddings`` adds to the decayed tensors (tests/test_optim.py checks these
# names against the model). Named here so that the tables need no torch.
EMBEDDING_TENSORS = ("transformer.wte.weight", "transformer.wpe.weight")


def decayed_norm(param_norms: dict[str, float], decay_embeddings: bool) -> float:
    """The norm over the tensors a study decays, from a run's final per-tensor norms (every
    tensor of dim >= 2): the same set for every run of the study, its runs without decay
    included, whose own specs leave the embedding flag off (``make_run``)."""
    kept = (v for n, v in param_norms.items() if decay_embeddings or n not in EMBEDDING_TENSORS)
    return math.sqrt(sum(v * v for v in kept))


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
    config states them (PyTorch weight decay, or timescale τ/T), both ascending. The search may
    leave it by whole grid steps (``lr_ratio``, ``decay_ratio``) in extension rounds."""

    optimizer: str
    lrs: tuple[float, ...]
    decays: tuple[float, ...]  # (0.0,) for an optimizer without decay
    unit: str | None  # "weight_decay", "decay_timescale" or None
    steps: int  # T, to resolve timescales

    def weight_decay(self, lr: float, decay: float) -> float:
        """The PyTorch weight decay of a cell."""
        if self.unit == "decay_timescale":
            return float(fmt(timescale(lr, decay, self.steps)))
        return decay

    def cells(self) -> list[tuple[float, float]]:
        return list(itertools.product(self.lrs, self.decays))

    @property
    def lr_ratio(self) -> float:
        """One grid step along the learning rate (a factor; 2 for a grid of one value)."""
        return self.lrs[1] / self.lrs[0] if len(self.lrs) > 1 else 2.0

    @property
    def decay_ratio(self) -> float:
        return self.decays[1] / self.decays[0] if len(self.decays) > 1 else 4.0

    def strength(self, decay: float | None) -> float:
        """How strong a decay is, for ordering: a larger weight decay, a shorter timescale (the
        wd = 0 column, ``None``, is the weakest)."""
        if decay is None:
            return -math.inf
        return 1.0 / decay if self.unit == "decay_timescale" else decay

    def step(self, axis: str, value: float, k: int) -> float:
        """``k`` grid steps from ``value`` along ``axis`` ("lr", or "decay" towards stronger
        decay for positive ``k``), on the grid's lattice (formatted as paths name it)."""
        if axis == "lr":
            return float(fmt(value * self.lr_ratio**k))
        sign = -1 if self.unit == "decay_timescale" else 1
        return float(fmt(value * self.decay_ratio ** (sign * k)))


def grid(config: dict, optimizer: str) -> Grid:
    hp = config["optimizers"][optimizer]
    unit = decay_key(hp)
    decays = tuple(hp[unit]) if unit else (0.0,)
    return Grid(optimizer, tuple(hp["lr"]), decays, unit, total_steps(config))


def decay_of(config: dict, optimizer: str, lr: float, weight_decay: float) -> float | None:
    """A trial's decay in config units (τ/T for a timescale grid, snapped to the grid's lattice
    of whole steps), None for an optimizer without decay or a run without it."""
    g = grid(config, optimizer)
    if not g.unit or weight_decay == 0:
        return None
    if g.unit == "weight_decay":
        return weight_decay
    # the grid, whole steps beyond it (extension rounds) and half steps (the map's refinement)
    lattice = (
        *g.decays,
        *(g.step("decay", d, k / 2) for d in g.decays[:1] for k in range(-80, 81)),
    )
    return next((d for d in lattice if g.weight_decay(lr, d) == weight_decay),
                timescale(lr, weight_decay, g.steps))  # fmt: skip


def is_tuned(config: dict) -> bool:
    return any(len(grid(config, o).cells()) > 1 for o in config["optimizers"])


def tuning_halves(config: dict) -> tuple[list[int], list[int]]:
    """The tuning seeds as two disjoint halves, the first ⌈n/2⌉ and the rest: the selection is
    repeated on each, to measure how much it depends on the tuning seeds."""
    seeds = config["study"]["tuning_seeds"]
    k = (len(seeds) + 1) // 2
    return list(seeds[:k]), list(seeds[k:])


def search_seeds(config: dict) -> list[int]:
    """The seeds every searched cell trains on: the first half with ``study.finalists``
    (successive halving), otherwise every tuning seed."""
    first, second = tuning_halves(config)
    return first if config["study"]["finalists"] else first + second


def finalist_seeds(config: dict) -> list[int]:
    """The seeds only the finalists train on: the second half, with ``study.finalists``."""
    return tuning_halves(config)[1] if config["study"]["finalists"] else []


@dataclass(frozen=True, order=True)
class Cell:
    """A tuning cell: an optimizer at one learning rate and weight decay (PyTorch units; its
    decay in config units too, ``None`` for the family's wd = 0 column)."""

    optimizer: str
    lr: float
    weight_decay: float
    decay: float | None = None

    @property
    def setting(self) -> str:
        return f"lr{fmt(self.lr)}_wd{fmt(self.weight_decay)}"

    def as_dict(self) -> dict:
        return {"optimizer": self.optimizer, "lr": self.lr, "weight_decay": self.weight_decay,
                "decay": self.decay}  # fmt: skip


def cell(config: dict, optimizer: str, lr: float, decay: float) -> Cell:
    """The cell at (lr, decay in config units) of an optimizer's grid lattice."""
    g = grid(config, optimizer)
    wd = g.weight_decay(lr, decay) if g.unit else 0.0
    return Cell(optimizer, float(fmt(lr)), wd, decay if g.unit else None)


def grid_cells(config: dict) -> list[Cell]:
    """The first round: every cell of every grid (none for a profile that does not tune)."""
    if not is_tuned(config):
        return []
    return [
        cell(config, o, lr, d) for o in config["optimizers"] for lr, d in grid(config, o).cells()
    ]


def runs_of(config: dict, cells, seeds) -> list[Run]:
    return [make_run(config, c.optimizer, c.lr, c.weight_decay, s) for c in cells for s in seeds]


def tuning_runs(config: dict) -> list[Run]:
    """The first round: every grid cell on the search seeds."""
    return runs_of(config, grid_cells(config), search_seeds(config))


def cells_of(selection_part: list[dict]) -> list[Cell]:
    """Cells as a selection file lists them."""
    return [Cell(**c) for c in selection_part]


def finalist_runs(config: dict, chosen: dict) -> list[Run]:
    """The runs the finalists step adds (``chosen``: its output, or the selection, which
    repeats it): the finalists on the other half of the tuning seeds, and the map's refined
    cells on every tuning seed."""
    every = search_seeds(config) + finalist_seeds(config)
    refined = runs_of(config, cells_of(chosen.get("refined", [])), every)
    return runs_of(config, cells_of(chosen["finalists"]), finalist_seeds(config)) + refined


# The search's files (Snakemake checkpoints) under a study's results/: the runs that follow
# from them are decided here, for the workflow's input functions, the plan and the tests alike.
FINALISTS_FILE, SELECTION_FILE = "study/finalists.json", "study/selection.json"


def round_file(k: int | str) -> str:
    """Extension round ``k``'s file (``"{round}"``: the pattern of its rule)."""
    return f"study/round{k}.json"


def search_runs(config: dict, rounds: list[dict]) -> list[Run]:
    """The grid's and each of ``rounds``' cells (the rounds so far) on the search seeds."""
    extended = [c for r in rounds for c in cells_of(r["cells"])]
    return tuning_runs(config) + runs_of(config, extended, search_seeds(config))


def searched_runs(config: dict, selection: dict) -> list[Run]:
    """Every tuning run: the grid and each extension round on the search seeds, then what the
    finalists step added."""
    return search_runs(config, selection["rounds"]) + finalist_runs(config, selection)


def eval_seeds(config: dict, optimizer: str) -> list[int]:
    return config["optimizers"][optimizer]["seeds"] or config["seeds"]


def ablation_seeds(config: dict, optimizer: str) -> list[int]:
    """The evaluation seeds of the ablations no gate rests on (U1's identity, the embedding
    decay): the first ``study.ablation_seeds`` of the optimizer's, or all of them."""
    seeds, n = eval_seeds(config, optimizer), config["study"]["ablation_seeds"]
    return seeds[:n] if n else seeds


def _rerun(config: dict, choice: dict | None, optimizer: str, seeds=None) -> list[Run]:
    if choice is None:
        return []
    seeds = eval_seeds(config, optimizer) if seeds is None else seeds
    return [make_run(config, optimizer, choice["lr"], choice["weight_decay"], s) for s in seeds]


def selected_runs(config: dict, selection: dict, which: str = "selected") -> list[Run]:
    """Each optimizer's selected configuration (or a half's: ``which`` "half_a", "half_b") on
    its evaluation seeds (optimizers whose trials all diverged have no selection and no
    evaluation runs)."""
    chosen = selection.get(which) or {}
    return [r for o, s in chosen.items() for r in _rerun(config, s, o)]


def ablation_runs(config: dict, selection: dict) -> dict[str, list[Run]]:
    """Ablation runs by purpose: ``no_decay`` (AdamW at its selected lr without decay: does
    decay act here?), ``adam_identity`` (Adam at that lr: with decay off, the same algorithm),
    ``matched`` (AdamW at Adam+L2's selected lr with its best decay there) and ``embeddings``
    (Adam+L2 and AdamW selected, with the embedding decay flipped)."""
    selected, out = selection["selected"], {}
    best = selected.get("adamw")
    if best is not None:
        out["no_decay"] = _rerun(config, {**best, "weight_decay": 0.0}, "adamw")
        if "adam" in config["optimizers"]:
            out["adam_identity"] = _rerun(
                config, {**best, "weight_decay": 0.0}, "adam", ablation_seeds(config, "adam")
            )
    out["matched"] = _rerun(config, (selection.get("matched") or {}).get("adamw"), "adamw")
    if config["study"]["embedding_ablation"]:
        out["embeddings"] = [
            make_run(config, o, selected[o]["lr"], selected[o]["weight_decay"], s, flip=True)
            for o in ("adam_l2", "adamw")
            if selected.get(o) is not None and selected[o]["weight_decay"] > 0
            for s in ablation_seeds(config, o)
        ]
    return out


ROLES = ("tuning", "evaluation", "half_a", "half_b", "no_decay", "adam_identity", "matched",
         "embeddings")  # fmt: skip


def roles(config: dict, selection: dict) -> dict[str, list[Run]]:
    """Every run of the study by the role it plays; a run can play several."""
    out = {role: [] for role in ROLES}
    out["tuning"] = searched_runs(config, selection)
    for which in ("selected", "half_a", "half_b"):
        out["evaluation" if which == "selected" else which] = selected_runs(
            config, selection, which
        )
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
    if tuning:  # a tuning trial: selection reads its final validation loss, the map its test
        # loss and its loss on the training data (generalisation at equal training loss)
        evaluate = {"curve": ["test"], "final": ["val", "test", "train"]}
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
