"""Figures of the chapter "LoRA's family": the variants on one task, over seeds, and QPiSSA's NF4 error."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from .style import PALETTE, styled

COLOURS = {  # one per variant, LoRA in the book's LoRA blue
    "lora": PALETTE["blue"],
    "rslora": PALETTE["sky"],
    "dora": PALETTE["green"],
    "pissa": PALETTE["orange"],
    "olora": PALETTE["purple"],
    "loraplus": PALETTE["red"],
    "vera": PALETTE["grey"],
}


def _ranges(ax, labels, spreads, colours):
    """One row per variant: a dot at the median over seeds, a line from least to greatest."""
    y = np.arange(len(labels))[::-1]
    for yi, s, c in zip(y, spreads, colours):
        ax.plot([s["min"], s["max"]], [yi, yi], color=c, lw=2.2, solid_capstyle="round")
        ax.plot(s["median"], yi, "o", color=c, ms=6, mec=PALETTE["black"], mew=0.6)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.grid(axis="y", visible=False)


@styled
def comparison(summary: dict[str, dict], curves: dict[str, list[list[float]]], base_heldout: float, n_quotes):
    """Top: training loss per step, the median over seeds as a line and the range as a band, per variant.
    Bottom: quotes reproduced, and held-out loss beside the base model's (dashed), median and range."""
    fig = plt.figure(figsize=(6.4, 5.6))
    grid = fig.add_gridspec(2, 2, height_ratios=(1.1, 1))
    ax = fig.add_subplot(grid[0, :])
    for variant, runs in curves.items():
        runs = np.asarray(runs)
        steps = np.arange(1, runs.shape[1] + 1)
        colour = COLOURS[variant]
        ax.fill_between(steps, runs.min(0), runs.max(0), color=colour, alpha=0.18, lw=0)
        ax.plot(steps, np.median(runs, 0), color=colour, lw=1.5, label=summary[variant]["label"])
    ax.set(yscale="log", xlabel="step", ylabel="training loss", xlim=(1, runs.shape[1]))
    ax.set_yticks([0.5, 1, 2, 4], labels=["0.5", "1", "2", "4"])
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title("training loss (median and range over seeds)", loc="left")
    ax.legend(ncols=4, loc="lower left", fontsize=9, handlelength=1.4, columnspacing=1.0)

    labels = [s["label"] for s in summary.values()]
    colours = [COLOURS[v] for v in summary]
    left = fig.add_subplot(grid[1, 0])
    _ranges(left, labels, [s["exact match"] for s in summary.values()], colours)
    left.set(xlabel=f"quotes reproduced (of {n_quotes})", xlim=(-0.5, n_quotes + 0.5))
    left.set_title("learned", loc="left")
    right = fig.add_subplot(grid[1, 1], sharey=left)
    _ranges(right, labels, [s["held-out loss"] for s in summary.values()], colours)
    right.axvline(base_heldout, color=PALETTE["black"], ls="--", lw=1)
    right.annotate(
        "base",
        (base_heldout, len(labels) - 0.5),
        xytext=(3, 0),
        textcoords="offset points",
        va="center",
        fontsize=9,
    )
    right.set(xlabel="held-out loss")
    right.tick_params(labelleft=False)
    right.set_title("forgotten", loc="left")
    return fig


@styled
def qpissa(errors: dict[str, list[tuple[float, float]]]):
    """QPiSSA's NF4 error (the PiSSA residual quantized) as a share of QLoRA's (W₀ quantized), one dot per
    weight matrix and one row per model, the median marked; left of the dashed line QPiSSA's is smaller."""
    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    rng = np.random.default_rng(0)  # a vertical jitter only, so that equal shares stay visible
    for row, pairs in enumerate(errors.values()):
        base, res = np.asarray(pairs, dtype=float).T
        share = res / base
        y = len(errors) - 1 - row
        ax.plot(
            share,
            y + rng.uniform(-0.15, 0.15, share.size),
            "o",
            color=PALETTE["orange"],
            ms=4,
            alpha=0.7,
            mec="none",
        )
        ax.plot([np.median(share)] * 2, [y - 0.3, y + 0.3], color=PALETTE["black"], lw=2)
    ax.axvline(1, color=PALETTE["black"], ls="--", lw=1)
    ax.set_yticks(range(len(errors))[::-1], list(errors))
    ax.set(xlim=(0, 1.1), ylim=(-0.6, len(errors) - 0.4))
    ax.set_xlabel("QPiSSA's NF4 error ÷ QLoRA's (per matrix; bar: median)")
    ax.grid(axis="y", visible=False)
    return fig


@styled
def rate_sweep(sweeps: dict[str, dict[float, dict]], labels: dict, best: dict, base: float, n_quotes: int):
    """Quotes reproduced against the learning rate, one panel per variant: the median over the sweep's seeds
    (dots and line) with its range (bars), the variant's best rate ringed and the profile's rate `base` as a
    dotted line."""
    variants = list(sweeps)
    cols = 4
    rows = -(-len(variants) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4, 1.9 * rows + 0.5), sharex=True, sharey=True)
    for ax in axes.flat[len(variants) :]:
        ax.set_visible(False)
    for ax, variant in zip(axes.flat, variants):
        rates = sorted(sweeps[variant])
        med = [sweeps[variant][lr]["exact match"]["median"] for lr in rates]
        low = [sweeps[variant][lr]["exact match"]["min"] for lr in rates]
        high = [sweeps[variant][lr]["exact match"]["max"] for lr in rates]
        colour = COLOURS[variant]
        ax.vlines(rates, low, high, color=colour, lw=2)
        ax.plot(rates, med, "o-", color=colour, ms=4, lw=1.2)
        ax.axvline(base, color=PALETTE["grey"], ls=":", lw=1)
        lr = best[variant]
        ax.plot(
            lr, sweeps[variant][lr]["exact match"]["median"], "o", ms=11, mfc="none", mec=PALETTE["black"]
        )
        ax.set_title(labels[variant], loc="left", fontsize=10)
        ax.set(xscale="log", xlim=(6e-4, 1.7e-1), ylim=(-1.5, n_quotes + 1.5))  # room for end rings
        ax.set_xticks([1e-3, 1e-2, 1e-1], labels=["$10^{-3}$", "$10^{-2}$", "$10^{-1}$"])
    for ax in axes[:, 0]:
        ax.set_ylabel("quotes")
    for col in range(cols):  # the lowest panel shown in each column carries the rate axis
        shown = [ax for ax in axes[:, col] if ax.get_visible()]
        shown[-1].xaxis.set_tick_params(labelbottom=True)
        shown[-1].set_xlabel("learning rate")
    return fig
