"""Figures of the chapter "What LoRA learned": spectra of ΔW, the rank and target ablations, subspace
similarity φ, amplification, and the scaling of B·A (the truncation test and the learning-rate sweep are
in `lorabook.plots.thesis`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, styled

FULL, LORA, BASE = PALETTE["red"], PALETTE["blue"], PALETTE["grey"]


def _band(ax, x, curves, colour, label):
    """Median of `curves` (one row per matrix) as a line, their min–max as a band."""
    curves = np.asarray(curves)
    ax.fill_between(x, curves.min(0), curves.max(0), color=colour, alpha=0.2, lw=0)
    ax.plot(x, np.median(curves, 0), color=colour, lw=1.6, label=label)


@styled
def spectra(full: dict[str, np.ndarray], lora: dict[str, np.ndarray], r: int, ranks, reference=None):
    """Left: σᵢ/σ₁ of each adapted matrix's ΔW, full fine-tuning against LoRA at rank r (LoRA's are exactly
    zero past r). Right: relative error of the best rank-i approximation of full fine-tuning's ΔW, and of a
    `reference` spectrum (a Gaussian matrix of the same shape) if given."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.0))
    for spectra_, colour, name in ((full, FULL, "full fine-tuning"), (lora, LORA, f"LoRA, r = {r}")):
        for n, S in enumerate(spectra_.values()):
            keep = S > S[0] * 1e-7  # LoRA's σ past r are rounding noise around zero
            i = np.arange(1, S.size + 1)[keep]
            ax1.plot(i, (S / S[0])[keep], color=colour, lw=0.8, alpha=0.6, label=name if n == 0 else None)
    ax1.axvline(r, color=LORA, ls=":", lw=1)
    ax1.set(xscale="log", yscale="log", xlabel="index $i$", ylabel=r"$\sigma_i / \sigma_1$", ylim=(1e-4, 1.5))
    ax1.set_title("singular values of ΔW", loc="left")
    ax1.legend(loc="lower left", handlelength=1.2)  # short handles: the labels end left of the dotted r

    ranks = np.asarray(ranks)
    from ..svd import relative_error

    errors = [relative_error(S)[ranks] for S in full.values()]
    _band(ax2, ranks, errors, FULL, "full fine-tuning")
    if reference is not None:
        ax2.plot(
            ranks, relative_error(reference)[ranks], color=BASE, ls="--", lw=1.2, label="Gaussian matrix"
        )
    ax2.set(
        xlabel="rank i of the approximation",
        ylabel=r"$\|\Delta W - \Delta W_i\|_F \,/\, \|\Delta W\|_F$",
        ylim=(0, 1),
        xscale="log",
    )
    ax2.set_xticks([1, 4, 16, 64], labels=["1", "4", "16", "64"])
    ax2.set_title("what rank i misses (Eckart–Young)", loc="left")
    ax2.legend(loc="lower left", handlelength=1.2)  # under the band, which falls from the top left
    return fig


def _spread_bars(ax, names, spreads: list[dict], colour):
    """Bars at the medians over seeds, whiskers from least to greatest, each labelled with its median (over
    the whisker)."""
    med = np.array([s["median"] for s in spreads])
    err = np.array([[m - s["min"], s["max"] - m] for m, s in zip(med, spreads)]).T
    bars = ax.bar(names, med, color=colour, width=0.6, yerr=err, capsize=3, ecolor=PALETTE["black"])
    for bar, s in zip(bars, spreads):  # the median over its bar, above the whisker's top, clear of it
        ax.annotate(
            f"{s['median']:.0f}",
            (bar.get_x() + bar.get_width() / 2, s["max"]),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
        )
    return bars


@styled
def ablation(by_rank: dict[int, dict], by_target: dict[str, dict], n_quotes: int):
    """Quotes reproduced, median over seeds with whiskers for the range. Left: against r (q, v; α = 2r).
    Right: one budget of trainable parameters spent on different matrices. Each value is a spread."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.0), width_ratios=(1.2, 1))
    _spread_bars(ax1, [str(r) for r in by_rank], list(by_rank.values()), LORA)
    ax1.set(xlabel="rank r (q and v, α = 2r)", ylabel=f"quotes reproduced (of {n_quotes})")
    ax1.set_title("rank", loc="left")
    names = [name.replace(" ", "\n") for name in by_target]  # "all linear" on two lines: the names fit across
    _spread_bars(ax2, names, list(by_target.values()), PALETTE["green"])
    ax2.set(xlabel="adapted matrices (r set for one budget)")
    ax2.set_title("where to spend the same parameters", loc="left")
    for ax in (ax1, ax2):
        ax.set_ylim(0, n_quotes * 1.15)
    return fig


@styled
def similarity(panels: dict[str, np.ndarray], k: int):
    """Heat maps of φ(i, j), one per panel, on one colour scale from 0 to 1, with its colour bar. `k` is the
    dimension the subspaces live in; random subspaces give max(i, j)/k."""
    fig, axes = plt.subplots(1, len(panels), figsize=(7.6, 2.9), squeeze=False)
    for ax, (title, phi) in zip(axes[0], panels.items()):
        im = ax.imshow(
            phi,
            vmin=0,
            vmax=1,
            cmap="viridis",
            aspect="auto",
            origin="upper",
            extent=(0.5, phi.shape[1] + 0.5, phi.shape[0] + 0.5, 0.5),
        )
        ax.set_xlabel("j")
        ax.set_ylabel("i", rotation=0, labelpad=8)  # upright: a rotated "i" reads as a dash
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_title(title, loc="left", fontsize=10)
        ax.grid(False)
    bar = fig.colorbar(im, ax=axes[0], shrink=0.9)
    bar.set_label(f"φ(i, j); chance is max(i, j)/{k}")
    return fig


@styled
def amplification(ranks, onto: dict[str, list], factors: dict[str, list]):
    """Left: ‖Uᵀ W₀ V‖_F for U, V from ΔW, from W₀ itself and random, against r. Right: the amplification
    factor ‖ΔW‖_F / ‖Uᵀ W₀ V‖_F of LoRA's and full fine-tuning's ΔW. Each entry of `onto` and `factors` is a
    list over ranks of per-matrix values."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.0))
    colours = {"ΔW's top r": LORA, "W₀'s top r": PALETTE["black"], "random r-planes": BASE}
    for name, values in onto.items():
        _band(ax1, ranks, np.asarray(values).T, colours.get(name, PALETTE["green"]), name)
    ax1.set(xscale="log", yscale="log", xlabel="r", ylabel=r"$\|U^\top W_0 V\|_F$")
    ax1.set_title("how much of W₀ lies in each r-plane", loc="left", fontsize=10)
    ax1.legend(loc="lower right")
    for name, values in factors.items():
        _band(ax2, ranks, np.asarray(values).T, FULL if name.startswith("full") else LORA, name)
    ax2.set(xscale="log", xlabel="r", ylabel=r"$\|\Delta W\|_F \,/\, \|U^\top W_0 V\|_F$", ylim=(0, None))
    ax2.set_title("amplification", loc="left")
    ax2.legend(loc="upper right")
    for ax in (ax1, ax2):
        ax.set_xticks(ranks, labels=[str(r) for r in ranks])
        ax.minorticks_off()
    return fig


@styled
def scaling(ranks, losses: dict[str, list], norms: dict[str, list], steps: int):
    """Loss on the quotes and ‖ΔW‖_F (all adapted matrices) against r, for each rule of scaling B·A, after
    `steps` optimizer steps. Each value is a spread over seeds: the median drawn, the range as a band."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 2.9))
    colours = [LORA, PALETTE["orange"], PALETTE["green"]]
    for colour, name in zip(colours, losses):
        for ax, values in ((ax1, losses[name]), (ax2, norms[name])):
            ax.fill_between(
                ranks, [v["min"] for v in values], [v["max"] for v in values], color=colour, alpha=0.2, lw=0
            )
            ax.plot(ranks, [v["median"] for v in values], "o-", color=colour, label=name, ms=4)
    ax1.set(xscale="log", xlabel="r", ylabel="loss on the quotes", ylim=(0, None))
    ax2.set(xscale="log", xlabel="r", ylabel=r"$\|\Delta W\|_F$, all adapted matrices", ylim=(0, None))
    ax1.set_title(f"loss after the same {steps} steps", loc="left", fontsize=10)
    ax2.set_title("size of the update", loc="left", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_xticks(ranks, labels=[str(r) for r in ranks])
        ax.minorticks_off()
    ax1.legend(title="scaling of B·A")
    return fig
