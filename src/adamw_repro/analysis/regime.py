"""Could this regime show what the claims predict, and is a difference optimisation or
generalisation? ``regime_checks`` writes ``regime.csv``: whether the unregularized model
overfits, the span of decay timescales τ/T that AdamW's search covered, the gates, how each
selection moved between the halves of the tuning seeds, and the embedding decay as a factor of
the headline comparison. ``decomposition`` splits a test-loss difference into the loss on the
training data and the generalization gap.
"""

from __future__ import annotations

import math

import numpy as np

from ..registry import LABELS
from ..schedule import decay_exposure, timescale
from .claims import Measurement, Untested
from .evidence import Evidence
from .stats import paired


def regime_checks(ev: Evidence) -> list[dict]:
    """Could this regime show the claimed effects? Overfitting of the unregularized tuned model,
    the span of AdamW's decay timescales, the gates, and the embedding-decay factor."""
    rows = []

    def add(check, value, lo=math.nan, hi=math.nan, status="", detail=""):
        rows.append(
            dict(check=check, value=value, ci_lo=lo, ci_hi=hi, status=status, detail=detail)
        )

    train, block = ev.config["train"], ev.config["model"]["block_size"]
    try:
        g = ev.gate("overfits")
        status = "overfits" if g.verdict == "passed" else "does not overfit"
        add("overfitting", g.effect, g.lo, g.hi, status, g.detail)
    except Untested as why:
        add("overfitting", math.nan, status="untested", detail=str(why))
    if ev.tuned and "adamw" in ev.optimizers:
        t = ev.tuning("adamw")
        steps = t["steps"].max()
        tau = timescale(t["lr"], t["weight_decay"]) / steps
        expo = [decay_exposure(train, block, r.lr, r.weight_decay) for r in t.itertuples()]
        add(
            "decay timescales",
            tau.max() / tau.min(),
            status=f"τ/T from {tau.min():.3g} to {tau.max():.3g}",
            detail=f"AdamW's search spans τ = 1/(lr·wd) from {tau.min():.3g} T to "
            f"{tau.max():.3g} T (T = {steps} steps; summed decay Σ lr_t·wd from "
            f"{min(expo):.2g} to {max(expo):.2g})",
        )
    coupled = {"adam", "adam_l2"} <= ev.optimizers  # LN3's gate, where it can be read
    for kind in ("acts", "acts on norms", "helps") + (("helps Adam+L2",) if coupled else ()):
        try:
            g = ev.gate(kind)
            add(f"decay {kind}", g.effect, g.lo, g.hi, g.verdict, g.detail)
        except Untested as why:
            add(f"decay {kind}", math.nan, status="untested", detail=str(why))
    if ev.halves():
        moved, detail = selection_stability(ev)
        total = len(ev.halves()) * len([o for o in ev.selection["selected"]])
        status = "stable" if not moved else f"moved in {moved} of {total}"
        add("tuning seeds", moved, status=status, detail=detail)
    try:
        add("embedding decay", *embedding_factor(ev))
    except Untested as why:
        add("embedding decay", math.nan, status="untested", detail=str(why))
    return rows


def _choice_text(config: dict, optimizer: str, c: dict | None) -> str:
    if c is None:
        return "none (all diverged)"
    if c["weight_decay"] == 0:
        return f"lr {c['lr']:g}, no decay"
    unit = config["optimizers"][optimizer].get("decay_timescale")
    tau = f" (τ/T = {c['decay']:g})" if unit and c.get("decay") else ""
    return f"lr {c['lr']:g}, wd {c['weight_decay']:g}{tau}"


def selection_stability(ev: Evidence) -> tuple[int, str]:
    """How many (half, optimizer) selections differ from the final one, and in words each
    half's choices against the final ones, with the decay-helps gate re-measured where a half's
    Adam or AdamW moved."""
    final, moved, parts = ev.selection["selected"], 0, []
    for half, seeds in ev.halves():
        choices = []
        for o in final:
            c = ev.selection[half].get(o)
            same = ev.moved(half, [o]) is False
            moved += not same
            text = "the same" if same else _choice_text(ev.config, o, c)
            choices.append(f"{LABELS[o]} {text}")
        part = f"tuning seeds {seeds} alone select: {', '.join(choices)}"
        other = ev.reselected(half, ("adam", "adamw"))
        if other is not None:
            try:
                g = other._decay_helps()
                numbers = f"{g.effect:+.4f} [{g.lo:+.4f}, {g.hi:+.4f}]"
                part += f" (decay helps with these: {numbers}, {g.verdict})"
            except Untested as why:
                part += f" (decay helps with these: not measured, {why})"
        parts.append(part)
    finals = ", ".join(f"{LABELS[o]} {_choice_text(ev.config, o, c)}" for o, c in final.items())
    return moved, f"final selection over every tuning seed: {finals}; " + "; ".join(parts)


def embedding_factor(ev: Evidence) -> tuple:
    """The headline difference (Adam+L2 − AdamW, test loss) with the embedding decay flipped,
    and its change from the primary setting, paired by seed."""
    ev.need("adam_l2", "adamw")
    if not ev.runs["embeddings"].any():
        raise Untested("needs the embedding-decay ablation (ev.embedding_ablation)")
    diffs = {}
    for role in ("evaluation", "embeddings"):
        a, b = ev.paired("final_test_loss", (role, "adam_l2"), (role, "adamw"))
        diffs[role] = a - b
    seeds = diffs["evaluation"].index.intersection(diffs["embeddings"].index)
    flip = paired(diffs["embeddings"].to_numpy(), np.zeros(len(diffs["embeddings"])))
    change = paired(
        diffs["embeddings"].loc[seeds].to_numpy(), diffs["evaluation"].loc[seeds].to_numpy()
    )
    state = "on" if not ev.config["train"]["decay_embeddings"] else "off"
    train = {
        (role, o): ev.values(role, o, "final_train_loss").loc[seeds].mean()
        for role in ("evaluation", "embeddings") for o in ("adam_l2", "adamw")
    }  # fmt: skip
    detail = (
        f"with the embedding decay {state}, Adam+L2 − AdamW = {flip['mean_diff']:+.4f} nats "
        f"[{flip['ci_lo']:+.4f}, {flip['ci_hi']:+.4f}], against "
        f"{diffs['evaluation'].loc[seeds].mean():+.4f} with it {'off' if state == 'on' else 'on'} "
        f"on the same seeds; change "
        f"{change['mean_diff']:+.4f} [{change['ci_lo']:+.4f}, {change['ci_hi']:+.4f}] "
        f"({len(seeds)} seeds). The loss on the training data moves from "
        f"{train['evaluation', 'adamw']:.3f} to {train['embeddings', 'adamw']:.3f} for AdamW and "
        f"from {train['evaluation', 'adam_l2']:.3f} to {train['embeddings', 'adam_l2']:.3f} for "
        "Adam+L2. These runs keep each optimizer's selection, tuned with the embedding decay "
        f"{'off' if state == 'on' else 'on'}: they show how much each selected cell depends on "
        "that setting, not how the two compare when each is tuned with it flipped"
    )
    return flip["mean_diff"], flip["ci_lo"], flip["ci_hi"], f"embeddings decayed: {state}", detail


COMPARISONS = (  # (name, a, b): a − b; the matched one is AdamW at Adam+L2's learning rate
    ("tuned against tuned", ("evaluation", "adam_l2"), ("evaluation", "adamw")),
    ("matched learning rate", ("evaluation", "adam_l2"), ("matched", "adamw")),
    ("decay helps", ("evaluation", "adam"), ("evaluation", "adamw")),
)


def decomposition(ev: Evidence) -> list[dict]:
    """Where a test-loss difference comes from: test = (loss on the training data) + (test −
    training gap), so the paired difference of the test loss splits exactly into a difference
    of the training loss (optimisation) and one of the gap (generalisation), each with its t
    interval over the same seeds. The reading names the parts whose interval lies beyond zero
    in the test difference's direction."""
    rows = []
    for name, a, b in COMPARISONS:
        try:
            ev.need(a[1], b[1])
            parts = {m: ev.paired_effect(m, a, b, "", "") for m in
                     ("final_test_loss", "final_train_loss", "gen_gap")}  # fmt: skip
        except Untested:
            continue
        test, train, gap = parts.values()
        lr_a = ev.values(*a, "lr").iloc[0]
        lr_b = ev.values(*b, "lr").iloc[0]
        b_name = b[1] + (" (matched)" if a[0] != b[0] else "")
        row = {"comparison": name, "a": a[1], "b": b_name, "lr_a": lr_a, "lr_b": lr_b,
               "n": test.n}  # fmt: skip
        for key, m in (("test", test), ("train", train), ("gap", gap)):
            row |= {key: m.effect, f"{key}_lo": m.lo, f"{key}_hi": m.hi}
        rows.append(row | {"reading": reading(test, train, gap, ev.margin)})
    return rows


def reading(test: Measurement, train: Measurement, gap: Measurement, margin: float) -> str:
    """Optimisation, generalisation, both, or neither resolved, from the parts' intervals (a
    test difference whose interval holds zero has no direction to explain)."""
    if -margin < test.lo and test.hi < margin:
        return "no difference of a size that matters"
    if test.lo <= 0 <= test.hi:
        return "no resolved difference"
    sign = 1 if test.effect > 0 else -1
    beyond = {name: (m.lo > 0 if sign > 0 else m.hi < 0) for name, m in
              (("optimisation", train), ("generalisation", gap))}  # fmt: skip
    shown = [name for name, yes in beyond.items() if yes]
    if not shown:
        return "neither part resolved"
    if len(shown) == 2:
        return "optimisation and generalisation"
    against = gap if shown == ["optimisation"] else train
    other = "gap" if shown == ["optimisation"] else "training loss"
    direction = (against.hi < 0) if sign > 0 else (against.lo > 0)
    return shown[0] + (f" (the {other} goes the other way)" if direction else "")
