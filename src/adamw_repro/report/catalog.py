"""The figures: the one list of their names, captions and what each needs, light enough for
Snakemake to read while it parses the workflow (no plotting library is imported here; the
drawing functions are ``report.figures.DRAW`` and ``report.ladder_figures.LADDER_DRAW``, one per
name). The Snakemake rules, the paper template and the ledger's claims read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    caption: str  # LaTeX
    # drawn only if the study has one of these optimizers (a ladder's: one of these axes)
    needs: tuple[str, ...] = ()


def figures_for(config: dict) -> list[str]:
    """The figures a study draws: every one whose optimizers it has."""
    have = set(config["optimizers"])
    return [name for name, f in FIGURES.items() if not f.needs or have & set(f.needs)]


def ladder_figures_for(studies: dict) -> list[str]:
    """The figures a ladder draws: one per axis that some study lies on."""
    have = {a for config in studies.values() for a in config["study"]["axes"]}
    return [name for name, f in LADDER_FIGURES.items() if have & set(f.needs)]


FIGURES = {
    "heatmaps_adam": Figure(
        "Test loss over every searched cell (the grid and its extension rounds), mean over the "
        "search seeds, which every searched cell trained on (cf.\\ Loshchilov \\& "
        "Hutter, Fig.~2): Adam+$L_2$ in (learning rate, weight decay); AdamW in (learning rate, "
        "$\\lambda = $ lr$\\cdot$wd), Loshchilov \\& Hutter's units, and in PyTorch's "
        "(learning rate, weight decay), where its timescale grid appears sheared. Shared colour "
        "scale; $\\times$ marks a diverged cell, the red outline the best cell.",
    ),
    "heatmaps_sgd": Figure(
        "Test loss over the searched cells of SGD with an $L_2$ penalty and SGDW, mean over the "
        "search seeds, shared colour scale.",
        needs=("sgd_l2", "sgdw"),
    ),
    "basin_valleys": Figure(
        "The map's valleys behind LH1 and U8b. Squares: every searched decayed cell, its mean "
        "test loss over the search seeds; AdamW in $\\lambda = $ lr$\\cdot$wd, Adam+$L_2$ in "
        "weight decay. Red: each row's best decay (the vertex of the parabola through its best "
        "cell and their neighbours, fitted with a seed effect over every seed a cell has) with "
        "its 95\\,\\% parametric bootstrap interval, hollow where it lies at the row's end, and "
        "the slope fitted through the interior ones, the ledger's numbers. Grey: what a best "
        "$\\lambda$ that does not move (Loshchilov \\& Hutter) and a best PyTorch weight decay "
        "that does not move would draw through the same middle.",
        needs=("adam_l2", "adamw"),
    ),
    "transfer_regret": Figure(
        "LH5: a decay tuned at one learning rate, used one (circles) or two (squares) grid "
        "steps away, held fixed in Loshchilov \\& Hutter's units ($\\lambda$ for AdamW, the "
        "$L_2$ coefficient for Adam+$L_2$): the test loss there minus the best there, read off "
        "that row. Diamonds: the mean over the pairs with its 95\\,\\% bootstrap interval.",
        needs=("adam_l2", "adamw"),
    ),
    "generalization": Figure(
        "LH6 (cf.\\ Loshchilov \\& Hutter, Fig.~3): at each learning rate in contention, the "
        "test loss against the loss on the training data along each optimizer's decay path (the "
        "cells trained on every tuning seed, their mean; the path's end at the left or right "
        "is Adam's wd$\\,=0$ cell, shared by both). At equal training loss, a lower curve "
        "generalises better.",
        needs=("adam_l2", "adamw"),
    ),
    "lr_sweep": Figure(
        "Each optimizer at its best decay for every learning rate it searched (the decay chosen "
        "on validation, the wd$\\,=0$ column included; cf.\\ Loshchilov \\& Hutter, Fig.~2, top "
        "row): test loss of the tuning runs on a fixed subset of the test split, a dot per tuning "
        "seed (four at the learning rates in contention, two elsewhere, with successive halving) "
        "and the line through their means; the ring marks the selected learning rate. Below: "
        "the headline at every learning rate, Adam+$L_2$ − AdamW each at its best decay there, "
        "paired by tuning seed, with its 95\\,\\% $t$ interval; grey band: $\\pm$ the smallest "
        "effect of interest.",
        needs=("adam", "adam_l2", "adamw"),
    ),
    "train_test_curves": Figure(
        "Training loss (mean over logged batches) and test loss of each optimizer's selected "
        "configuration: mean over the evaluation seeds with a 95\\,\\% bootstrap band.",
    ),
    "final_test_loss": Figure(
        "Final test loss of each optimizer's selected configuration; each dot is an evaluation "
        "seed, the bar their mean.",
    ),
    "final_test_accuracy": Figure(
        "Final next-token top-1 accuracy on the test split of each optimizer's selected "
        "configuration; each dot is an evaluation seed, the bar their mean.",
    ),
    "weight_norms": Figure(
        "Norm of the decayed weights (the tensors weight decay acts on: the blocks' matrices, "
        "the embeddings only where they decay) during training at the selected learning rate, "
        "one line per decay of the grid (first tuning seed).",
    ),
}


LADDER_FIGURES = {
    "ladder_length": Figure(
        "The length axis (one model and training subset, $T$ growing, so the epochs grow and the "
        "model overfits more). Left: the headline (tuned Adam+$L_2$ minus tuned AdamW, final "
        "test loss) with 95\\,\\% t intervals over the evaluation seeds and its fit against "
        "log epochs (band: the slope's 95\\,\\% interval), decay's benefit (tuned Adam minus "
        "tuned AdamW), and, right-hand scale, the overfitting rise of tuned Adam without decay. "
        "Middle: AdamW's best timescale $\\tau = 1/(\\mathrm{lr}\\cdot\\mathrm{wd})$ in steps "
        "at its selected learning rate against $T$, with bootstrap intervals over the tuning "
        "seeds, the fit and the slopes of the three rules ($\\tau/T$ constant: 1; Loshchilov "
        "\\& Hutter's normalised decay: $\\tfrac12$; constant in steps: 0) through its middle. "
        "Right: Adam+$L_2$'s best $\\lambda = \\mathrm{lr}\\cdot\\mathrm{wd}$ the same way "
        "(the rules' slopes $-1$, $-\\tfrac12$, 0). Hollow: decay-helps gate not passed (not "
        "fitted); triangles: the optimum at an end of the grid.",
        needs=("length",),
    ),
    "ladder_size": Figure(
        "The size axis, one colour per corpus, with 95\\,\\% t intervals over the evaluation "
        "seeds and each fit (band: the slope's 95\\,\\% interval). Left: decay's benefit "
        "(tuned Adam minus tuned AdamW, final test loss), fitted over the studies whose "
        "decay-acts gate passed (hollow: not passed). Right: the headline (tuned Adam+$L_2$ "
        "minus tuned AdamW), fitted over every study that measured it.",
        needs=("size",),
    ),
    "ladder_data": Figure(
        "The data axis: AdamW's best timescale "
        "$\\tau = 1/(\\mathrm{lr}\\cdot\\mathrm{wd})$ in steps at one learning rate and a fixed "
        "$T$, against the training subset, with bootstrap intervals over the tuning seeds, the "
        "fit (band: its slope's 95\\,\\% interval) and the slopes the three readings predict, "
        "drawn through the fit's middle. Hollow: not used "
        "in the fit (decay-acts gate not passed, or the optimum at an end of the grid, "
        "triangles).",
        needs=("data",),
    ),
    "ladder_curves": Figure(
        "The data axis's AdamW tuning cells: test loss against $\\tau/T$ relative to Adam at "
        "the same learning rate, mean over the tuning seeds, one line per training subset.",
        needs=("data",),
    ),
}


PILOT_CAPTION = (
    "Where decay matters on this budget: the pilot map (benchmarks/pilot\\_map.py, pilot seeds "
    "9000 and 9001, validation split only), the study's regime and that regime with one factor "
    "changed. Left: decay's gain, tuned Adam against tuned AdamW on the two seeds' mean "
    "(AdamW's candidates include wd = 0; dots: each seed alone); the dashed line is three times "
    "the smallest effect of interest. Middle: how much AdamW's decay grid (\\(\\tau/T\\) from "
    "1/256 to 1) moves the loss at Adam's best learning rate, against the margin. Right: cost. "
    "Red: the regime this study runs."
)
