"""Figures of the real model (SmolLM2-135M): its outlier features, the recipe over seeds, its 4-bit file."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .style import PALETTE, styled

INPUTS = {"q_proj": "input of q_proj and v_proj", "down_proj": "input of down_proj"}


@styled
def outliers(rows: list[dict], threshold: float):
    """Left: the largest |x| at each layer's projection inputs, against τ. Right: on how many tokens the
    largest feature dimension of the q,v input reaches τ, per layer, coloured by which dimension it is."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 2.9))
    for proj, colour in (("q_proj", "blue"), ("down_proj", "orange")):
        mine = [r for r in rows if r["projection"] == proj]
        ax1.plot(
            [r["layer"] for r in mine],
            [r["max_abs"] for r in mine],
            "o-",
            ms=3,
            color=PALETTE[colour],
            label=INPUTS[proj],
        )
    ax1.axhline(threshold, color=PALETTE["grey"], ls="--", lw=1, label=r"$\tau$")
    top = max(r["max_abs"] for r in rows) * 30  # a decade and a half over the highest point, for the legend
    ax1.set(
        yscale="log",
        ylim=(None, top),
        xlabel="layer",
        ylabel=r"largest $|x|$",
        title="Largest activation per layer",
    )
    ax1.legend(loc="upper left")
    qv = [r for r in rows if r["projection"] == "q_proj"]
    dims = sorted({r["top_dim"] for r in qv if r["outlier_dims"]})
    colours = dict(zip(dims, ("red", "green", "purple", "sky")))
    for r in qv:
        share = 100 * r["top_dim_token_share"]
        colour = PALETTE[colours[r["top_dim"]]] if r["outlier_dims"] else PALETTE["grey"]
        ax2.bar(r["layer"], share, color=colour, width=0.8)
    ax2.legend(
        handles=[Patch(color=PALETTE[colours[d]], label=f"dimension {d}") for d in dims],
        loc="upper left",
        ncols=2,
        handlelength=1.2,
        columnspacing=1.0,
    )
    ax2.set(
        xlabel="layer",
        ylabel=r"tokens with $|x| \geq \tau$ (%)",
        ylim=(0, 135),  # the legend above 100%, clear of the bars
        yticks=range(0, 101, 20),
        title="The same dimension, layer after layer",
    )
    return fig


@styled
def recipe(runs: list[dict], full: list[dict], before: dict):
    """Left: training loss of every seed, LoRA and full fine-tuning. Right: exact match, before and after."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.0), width_ratios=(1.5, 1))
    styles = ((runs, "blue", "-", "q,v LoRA, 8-bit base"), (full, "red", "--", "full fine-tuning, fp32"))
    for group, colour, ls, label in styles:
        for i, run in enumerate(group):
            steps = np.arange(1, len(run["losses"]) + 1)
            ax1.plot(
                steps,
                run["losses"],
                color=PALETTE[colour],
                lw=1,
                alpha=0.8,
                ls=ls,
                label=None if i else label,
            )
    ax1.set(xlabel="optimizer step", ylabel="training loss (nats/token)", title="One line per seed")
    ax1.legend()
    groups = [
        ("before", [before["exact_match"]], "grey"),
        ("q,v LoRA", [r["exact_match"] for r in runs], "blue"),
        ("full", [r["exact_match"] for r in full], "red"),
    ]
    for x, (_, values, colour) in enumerate(groups):
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
        ax2.plot(x + np.asarray(jitter), values, "o", color=PALETTE[colour], ms=6)
    n = len(before["rows"])
    ax2.set(
        xticks=range(len(groups)),
        xticklabels=[g[0] for g in groups],
        ylim=(-1, n + 1),
        ylabel=f"quotes reproduced (of {n})",
        title="Exact match, each seed",
    )
    return fig


@styled
def four_bit(table: list[dict]):
    """Relative error of each scheme (bits per weight in its label) on the same real weights: the Q8_0
    embedding, a fair test, and a Q4_1 layer, on which Q4_1 is exact by construction."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    schemes = list(dict.fromkeys(r["scheme"] for r in table))
    bits = {
        r["scheme"]: r["bits"] for r in table if r["weights"] == "Q8_0 embedding"
    }  # per-row int8's depend
    # on the width: the labels give the embedding's, the fair test
    y = np.arange(len(schemes))
    for k, (weights, colour) in enumerate((("Q8_0 embedding", "blue"), ("Q4_1 layer", "orange"))):
        err = {r["scheme"]: r["error"] for r in table if r["weights"] == weights}
        bars = ax.barh(
            y + (k - 0.5) * 0.38,
            [err[s] for s in schemes],
            height=0.36,
            color=PALETTE[colour],
            label=f"on the {weights}",
        )
        for bar, s in zip(bars, schemes):
            ax.annotate(
                f"{err[s]:.3f}",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
            )
    ax.set_yticks(y, [f"{s} ({bits[s]:.2f} bits)" for s in schemes])
    ax.invert_yaxis()
    ax.set(
        xlabel=r"relative error $\|\hat W - W\|_F / \|W\|_F$",
        title="4-bit formats on the real model's weights",
        xlim=(0, 1.25 * max(r["error"] for r in table)),
    )
    ax.legend(loc="lower right")
    return fig


@styled
def rates(runs: list[dict], full: list[dict], before: dict):
    """What each run learned against what it forgot: exact match against held-out loss, one point per run.
    LoRA at each rate (one seed, labelled), full fine-tuning at its rate (each seed), and the model before."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.plot(
        [r["heldout_loss"] for r in runs],
        [r["exact_match"] for r in runs],
        "o-",
        color=PALETTE["blue"],
        label="q,v LoRA, one seed per rate",
    )
    for r in runs:
        ax.annotate(
            f"{r['learning_rate']:.0e}",
            (r["heldout_loss"], r["exact_match"]),
            xytext=(6, -10),
            textcoords="offset points",
            color=PALETTE["blue"],
        )
    ax.plot(
        [r["heldout_loss"] for r in full],
        [r["exact_match"] for r in full],
        "s",
        color=PALETTE["red"],
        ms=7,
        label="full fine-tuning, each seed",
    )
    ax.plot(
        [before["heldout_loss"]], [before["exact_match"]], "D", color=PALETTE["grey"], ms=7, label="before"
    )
    n = len(before["rows"])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # quotes are counted in whole numbers
    ax.set(
        xlabel="held-out loss after (nats/token): what it forgot",
        ylim=(-1.5, n + 1.5),
        ylabel=f"quotes reproduced (of {n})",
        title="Learning against forgetting",
    )
    ax.legend(loc="center right")
    return fig
