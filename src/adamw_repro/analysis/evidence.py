"""The evidence a study produced, and the gates of whether its regime could show what the claims
predict.

``Evidence`` wraps the aggregated tables (runs, curves, parameter norms) and the selection file
with the selections the claims need, and measures the two gates (``Evidence.gate``): does decay
act here (AdamW with and without decay at its selected learning rate, paired by seed), and does
it help (tuned AdamW against tuned Adam)? Each gate prints the smallest effect it could have
detected. The tables made from it are ``analysis.regime``'s (the regime checks, the
decomposition) and the ledger's.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from ..design import grid, grid_cells, search_seeds, tuning_halves
from ..registry import LABELS, OPTIMIZERS
from . import rows
from .claims import Measurement, Untested
from .stats import detectable, paired


def seed_effect(values, detail: str) -> Measurement:
    """The mean of a per-seed quantity (a Series indexed by seed, or an array) with its t
    interval (the seeds are the replicates)."""
    seeds = tuple(values.index) if isinstance(values, pd.Series) else ()
    values = np.asarray(values, dtype=float)
    p = paired(values, np.zeros_like(values))
    return Measurement(p["mean_diff"], p["ci_lo"], p["ci_hi"], "t", p["n"], detail,
                       p=p["p_ttest"], per_seed=values, seeds=seeds)  # fmt: skip


def p_text(p: dict) -> str:
    """The p-values of a paired comparison with their nulls: Student's and (n ≥ 6) Wilcoxon's,
    two-sided, of no difference."""
    out = f"two-sided paired t-test of no difference p = {p['p_ttest']:.3g}"
    if math.isfinite(p["p_wilcoxon"]):
        out += f", Wilcoxon signed-rank p = {p['p_wilcoxon']:.3g}"
    return out


class Evidence:
    """The aggregated tables of one study, with the selections the claims need."""

    def __init__(self, runs: pd.DataFrame, curves: pd.DataFrame, norms, config: dict,
                 selection: dict | None = None, checks: dict | None = None):  # fmt: skip
        self.runs, self.curves, self.norms, self.config = runs, curves, norms, config
        self.checks = checks  # the optimizers' exact checks (training.checks), if measured
        self.selection = selection or {"selected": {}}
        self.runs["diverged"] = self.runs["diverged"].astype(bool)
        for role in ("half_a", "half_b", "matched"):  # tables of profiles that lack them
            if role not in self.runs:
                self.runs[role] = False
        self.optimizers = set(runs["optimizer"])
        self.tuned = bool(runs["tuning"].any())
        self.n_boot = config["study"]["bootstrap_samples"]
        self.margin = config["study"]["margin"]

    def need(self, *optimizers: str) -> None:
        missing = [o for o in optimizers if o not in self.optimizers]
        if missing:
            raise Untested(f"{', '.join(missing)} not in this study")

    def need_grid(self, *optimizers: str) -> None:
        self.need(*optimizers)
        if not self.tuned:
            raise Untested(f"needs lr × weight_decay tuning grids for {', '.join(optimizers)}")

    def values(self, role: str, optimizer: str, metric: str, **where) -> pd.Series:
        """``metric`` of the finished runs of ``optimizer`` in ``role``, indexed by seed."""
        r = self.runs[self.runs[role] & (self.runs["optimizer"] == optimizer)]
        r = r[~r["diverged"]]
        for key, value in where.items():
            r = r[np.isclose(r[key], value) if isinstance(value, float) else r[key] == value]
        return r.set_index("seed")[metric].sort_index()

    def paired(self, metric: str, a: tuple, b: tuple) -> tuple[pd.Series, pd.Series]:
        """Seed-aligned values for two (role, optimizer[, filters]) selections."""
        va = self.values(a[0], a[1], metric, **(a[2] if len(a) > 2 else {}))
        vb = self.values(b[0], b[1], metric, **(b[2] if len(b) > 2 else {}))
        seeds = va.index.intersection(vb.index)
        if len(seeds) < 2:
            raise Untested(f"needs two or more finished seeds of {a[1]} and {b[1]}")
        return va.loc[seeds], vb.loc[seeds]

    def tuning(self, optimizer: str) -> pd.DataFrame:
        """Tuning trials of ``optimizer`` (the grid, the extension rounds, the finalists)."""
        return self.runs[self.runs["tuning"] & (self.runs["optimizer"] == optimizer)]

    def searched(self, optimizer: str) -> pd.DataFrame:
        """Its trials on the search seeds, which every searched cell has: cell means that
        compare like with like."""
        t = self.tuning(optimizer)
        return t[t["seed"].isin(search_seeds(self.config))]

    def grid_trials(self, optimizer: str) -> pd.DataFrame:
        """Its first-round grid on the search seeds: grids of the same size and density for
        every member of a family."""
        t = self.searched(optimizer)
        cells = {
            (c.lr, c.weight_decay) for c in grid_cells(self.config) if c.optimizer == optimizer
        }
        return t[[(r.lr, r.weight_decay) in cells for r in t.itertuples()]]

    def selected(self, optimizer: str) -> tuple[float, float]:
        sel = self.runs[self.runs["evaluation"] & (self.runs["optimizer"] == optimizer)]
        if sel.empty:
            raise Untested(f"{optimizer} has no selected configuration")
        return float(sel["lr"].iloc[0]), float(sel["weight_decay"].iloc[0])

    def paired_effect(self, metric, a, b, label_a, label_b) -> Measurement:
        """Effect a − b over seeds, t interval; the detail names both sides."""
        va, vb = self.paired(metric, a, b)
        p = paired(va.to_numpy(), vb.to_numpy())
        higher = p["n"] - p["wins"] - p["ties"]
        detail = (
            f"{label_a} {va.mean():.4f} vs {label_b} {vb.mean():.4f} (mean over {p['n']} "
            f"seeds), {label_a} higher on {higher} of {p['n']}; {p_text(p)}"
        )
        d = va.to_numpy() - vb.to_numpy()
        return Measurement(p["mean_diff"], p["ci_lo"], p["ci_hi"], "t", p["n"], detail,
                           p=p["p_ttest"], per_seed=d, seeds=tuple(va.index))  # fmt: skip

    def choice(self, name: str) -> dict | None:
        """A selection's choice: an optimizer's ("adam", "adam_l2", "adamw") or "matched" (AdamW's
        best decay at Adam+L2's selected learning rate)."""
        if name == "matched":
            return (self.selection.get("matched") or {}).get("adamw")
        return self.selection["selected"].get(name)

    def edges(self, names) -> list[str]:
        """The edges of the searched grid the named choices still lie on, in words."""
        out = []
        for name in names:
            c = self.choice(name)
            if c and c.get("edges"):
                who = "AdamW at Adam+L2's learning rate" if name == "matched" else LABELS[name]
                out.append(f"{who} selected on its {' and '.join(c['edges'])} edge")
        return out

    def halves(self) -> list[tuple[str, str]]:
        """(role, its seeds in words) of each half of the tuning seeds that made a selection."""
        first, second = tuning_halves(self.config)
        return [(role, ", ".join(map(str, seeds)))
                for role, seeds in (("half_a", first), ("half_b", second))
                if seeds and self.selection.get(role)]  # fmt: skip

    def moved(self, half: str, optimizers) -> bool:
        """Whether a half's selection differs from the final one for any of ``optimizers``."""
        mine, final = self.selection.get(half) or {}, self.selection["selected"]
        keys = ("lr", "weight_decay")
        return any(
            (mine.get(o) or {}).get(k) != (final.get(o) or {}).get(k)
            for o in optimizers if o in final for k in keys
        )  # fmt: skip

    def reselected(self, half: str, optimizers) -> Evidence | None:
        """This evidence with a half's selection in the final one's place (its evaluation runs
        as the "evaluation" role), or None where that half chose as the final selection did for
        every one of ``optimizers``."""
        if not self.moved(half, optimizers):
            return None
        runs = self.runs.assign(evaluation=self.runs[half])
        selection = {**self.selection, "selected": self.selection[half]}
        return Evidence(runs, self.curves, self.norms, self.config, selection, self.checks)

    @functools.cache  # noqa: B019 (one Evidence per ledger; the cache dies with it)
    def gate(self, kind: str) -> Measurement:
        """The gate a claim needs (``verdict`` "passed" or "failed"), paired by evaluation seed:

        ``acts``           AdamW's selection against AdamW without decay at the same learning
                           rate (the no-decay ablation), final test loss; passes if the interval
                           lies outside ± the margin, either way;
        ``acts on norms``  the same on the log decayed-weight norm, against the relative margin;
        ``helps``          tuned Adam − tuned AdamW, final test loss; passes if the interval lies
                           above the margin;
        ``helps Adam+L2``  tuned Adam − tuned Adam+L2 the same way: where coupled decay
                           regularises (the gate of the ladder's Adam+L2 exponent, LN3);
        ``overfits``       how far the unregularized tuned model's test loss rose from its lowest
                           point by the end of the run, per evaluation seed; passes if the
                           interval lies above the margin (decay can only regularise where the
                           model overfits).

        Since AdamW without decay is Adam (U1), "helps" is exactly the sum of two paired parts
        on the same seeds: tuned Adam against Adam at AdamW's learning rate (the learning rate),
        and "acts" (decay at that learning rate); the helps gate reports both, so a passed
        "helps" with a failed "acts" says which part carried it. Each gate prints the smallest
        effect it could have detected at its measured seed noise.
        """
        if kind == "overfits":
            return self._overfits()
        if kind == "helps":
            return self._decay_helps()
        if kind == "helps Adam+L2":
            self.need("adam", "adam_l2")
            m = self.paired_effect(
                "final_test_loss", ("evaluation", "adam"), ("evaluation", "adam_l2"), "", ""
            )
            return self._above_margin(m, "tuned Adam − tuned Adam+L2")
        if kind == "acts":
            return self._decay_acts("final_test_loss", self.margin, "test loss", " nats")
        if kind == "acts on norms":
            margin = self.config["study"]["relative_margin"]
            return self._decay_acts("log_decayed_norm", margin, "log decayed-weight norm", "")
        raise ValueError(f"unknown gate {kind!r}")

    def plain(self) -> tuple[pd.DataFrame, str]:
        """The unregularized tuned model's finished evaluation runs, and what they are: tuned
        Adam, or in a study without Adam, AdamW without decay at its selected learning rate
        (the same algorithm, U1)."""
        if "adam" in self.optimizers:
            runs = self.runs[self.runs["evaluation"] & (self.runs["optimizer"] == "adam")]
            what = "tuned Adam (no decay)"
        else:
            runs, what = self.runs[self.runs["no_decay"]], "AdamW without decay at its selected lr"
        return runs[~runs["diverged"]], what

    def _overfits(self) -> Measurement:
        plain, what = self.plain()
        if len(plain) < 2:
            raise Untested("needs two or more finished evaluation runs of the model without decay")
        by_seed = plain.set_index("seed").sort_index()
        m = seed_effect(by_seed["final_curve_test_loss"] - by_seed["best_test_loss"], "")
        passed = m.lo > self.margin
        m.verdict = "passed" if passed else "failed"
        steps = plain["best_test_step"]
        m.detail = (
            f"{what}: its test loss (the curve's fixed windows) ends {m.effect:.4f} nats "
            f"[{m.lo:.4f}, {m.hi:.4f}] above its lowest point of the run, reached at step "
            f"{int(steps.min())} to {int(steps.max())} of {int(plain['steps'].max())} "
            f"({m.n} seeds); "
            + ("above" if passed else "not above")
            + f" the {self.margin:g}-nat margin; its test − training gap at the end is "
            f"{plain['gen_gap'].mean():.3f} nats"
        )
        return m

    def _no_decay(self) -> tuple:
        """The no-decay ablation (AdamW at its selected lr without decay), as a selection."""
        if not self.runs["no_decay"].any():
            raise Untested("needs the AdamW-without-decay ablation at AdamW's selected lr")
        return ("no_decay", "adamw", {"lr": self.selected("adamw")[0]})

    def _decay_helps(self) -> Measurement:
        self.need("adamw")
        if "adam" in self.optimizers:
            base, label = ("evaluation", "adam"), "tuned Adam"
        else:  # the v2 gate: no tuned baseline without decay in this study
            base = self._no_decay()
            label = "AdamW without decay at its selected lr (no Adam in this study)"
        m = self.paired_effect(
            "final_test_loss", base, ("evaluation", "adamw"), label, "tuned AdamW"
        )
        self._above_margin(m, f"{label} − tuned AdamW")
        if "adam" in self.optimizers and self.runs["no_decay"].any():
            lr_part = self.paired_effect("final_test_loss", base, self._no_decay(), "", "")
            m.detail += (
                f"; of it, {lr_part.effect:+.4f} is tuned Adam against Adam at AdamW's learning "
                f"rate (the learning rate) and {m.effect - lr_part.effect:+.4f} decay at that "
                "learning rate (the acts gate)"
            )
        return m

    def _above_margin(self, m: Measurement, what: str) -> Measurement:
        """A test-loss benefit's gate: passed if its interval lies above the margin."""
        passed = m.lo > self.margin
        m.verdict = "passed" if passed else "failed"
        m.detail = (
            f"{what} = {m.effect:+.4f} nats on the test split [{m.lo:+.4f}, {m.hi:+.4f}], "
            f"{m.n} seeds; "
            + ("above" if passed else "not above")
            + f" the {self.margin:g}-nat smallest effect of interest; "
            + _power(m, self.margin, " nats")
        )
        return m

    def _decay_acts(self, metric: str, margin: float, what: str, unit: str) -> Measurement:
        self.need("adamw")
        lr, wd = self.selected("adamw")
        if wd == 0:
            m = Measurement(0.0, 0.0, 0.0, "exact", 0, verdict="failed")
            m.detail = f"AdamW's selection (lr {lr:g}) does not decay: its best cell is wd = 0"
            return m
        runs = self.runs.assign(log_decayed_norm=np.log(self.runs["final_decayed_norm"]))
        ev = Evidence(runs, self.curves, self.norms, self.config, self.selection, self.checks)
        m = ev.paired_effect(metric, ("evaluation", "adamw"), self._no_decay(), "", "")
        passed = m.lo > margin or m.hi < -margin
        m.verdict = "passed" if passed else "failed"
        m.detail = (
            f"at AdamW's selected lr {lr:g}, its decay {wd:g} against none moves the {what} by "
            f"{m.effect:+.4f}{unit} [{m.lo:+.4f}, {m.hi:+.4f}] ({m.n} evaluation seeds, "
            "paired); "
            + ("outside" if passed else "not outside")
            + f" ± {margin:g}; "
            + _power(m, margin, unit)
        )
        return m

    @functools.cache  # noqa: B019 (one Evidence per ledger; the cache dies with it)
    def valley_slope(self, optimizer: str) -> dict:
        """How the best decay of the map's rows moves with the learning rate
        (``rows.valley_slope``), over the optimizer's tuning runs."""
        self.need_grid(optimizer)
        return rows.valley_slope(self.tuning(optimizer), optimizer, self.n_boot)

    def regret(self, optimizer: str) -> dict:
        """Transfer regret one and two grid steps away, the decay held fixed in Loshchilov &
        Hutter's units for the optimizer (``rows.regret``)."""
        return self.regret_in(optimizer, rows.decay_units(optimizer))

    @functools.cache  # noqa: B019 (one Evidence per ledger; the cache dies with it)
    def regret_in(self, optimizer: str, units: str) -> dict:
        """Transfer regret with the decay held fixed in ``units`` ("lambda" or "wd")."""
        self.need_grid(optimizer)
        ratio = grid(self.config, optimizer).lr_ratio
        return rows.regret(self.tuning(optimizer), optimizer, (1, 2), ratio, self.n_boot, units)

    def contention_lrs(self, family: str = "adam") -> list[float]:
        """The searched learning rates within one step of a family member's selected one, where
        the selection was decided."""
        members = [o for o in self.optimizers if OPTIMIZERS[o].family == family]
        searched = sorted(
            set(self.runs[self.runs["tuning"] & self.runs["optimizer"].isin(members)]["lr"])
        )
        out = set()
        for o in members:
            c = self.selection["selected"].get(o)
            if c and searched:
                i = int(np.argmin([abs(math.log(lr / c["lr"])) for lr in searched]))
                out.update(searched[max(0, i - 1) : i + 2])
        return sorted(out)


def _power(m: Measurement, margin: float, unit: str) -> str:
    """The smallest effect a gate could have detected (80 % power) at its measured noise."""
    sd = float(np.std(m.per_seed, ddof=1)) if m.per_seed is not None and m.n > 1 else math.nan
    smallest = detectable(sd, m.n, margin)
    return (
        f"at this seed noise (sd of the paired difference {sd:.4f}{unit}) it could detect an "
        f"effect of {smallest:.4f}{unit} or more (80 % power)"
    )
