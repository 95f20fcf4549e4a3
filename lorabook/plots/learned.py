"""Figures of the chapter "What LoRA learned": spectra of ΔW, the rank and target ablations, subspace
similarity φ, amplification, learning against forgetting, and the scaling of B·A."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, label_bars, styled

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
    ax1.set(xscale="log", yscale="log", xlabel="index i", ylabel="σᵢ / σ₁", ylim=(1e-4, 1.5))
    ax1.set_title("singular values of ΔW", loc="left")
    ax1.legend(fontsize=9, loc="lower left")

    ranks = np.asarray(ranks)
    from ..svd import relative_error

    errors = [relative_error(S)[ranks] for S in full.values()]
    _band(ax2, ranks, errors, FULL, "full fine-tuning's ΔW")
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
    ax2.legend(fontsize=9, loc="lower left")
    return fig


@styled
def ablation(by_rank: dict[int, dict], by_target: dict[str, dict], n_quotes: int):
    """Left: quotes reproduced and final loss against r (q, v; α = 2r). Right: the same at one budget of
    trainable parameters, spent on different matrices."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.0), width_ratios=(1.2, 1))
    ranks = list(by_rank)
    x = np.arange(len(ranks))
    bars = ax1.bar(x, [by_rank[r]["exact match"] for r in ranks], color=LORA, width=0.6)
    label_bars(ax1, bars)
    ax1.set_xticks(x, labels=[str(r) for r in ranks])
    ax1.set(
        xlabel="rank r (q and v, α = 2r)",
        ylabel=f"quotes reproduced (of {n_quotes})",
        ylim=(0, n_quotes * 1.15),
    )
    twin = ax1.twinx()
    twin.plot(x, [by_rank[r]["quotes loss"] for r in ranks], "o-", color=PALETTE["orange"], ms=4)
    twin.set_ylabel("loss on the quotes (nats/token)", color=PALETTE["orange"])
    twin.set_ylim(0, None)
    twin.grid(False)
    twin.spines["right"].set_visible(True)
    ax1.set_title("rank", loc="left")

    names = list(by_target)
    bars = ax2.bar(names, [by_target[n]["exact match"] for n in names], color=PALETTE["green"], width=0.6)
    label_bars(ax2, bars)
    ax2.set(ylim=(0, n_quotes * 1.15), xlabel="adapted matrices (r set for one budget)")
    ax2.tick_params(axis="x", labelsize=9)
    ax2.set_title("where to spend the same parameters", loc="left")
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
        ax.set(xlabel="j", ylabel="i")
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
    ax1.legend(fontsize=9, loc="lower right")
    for name, values in factors.items():
        _band(ax2, ranks, np.asarray(values).T, FULL if name.startswith("full") else LORA, name)
    ax2.set(xscale="log", xlabel="r", ylabel=r"$\|\Delta W\|_F \,/\, \|U^\top W_0 V\|_F$", ylim=(0, None))
    ax2.set_title("amplification", loc="left")
    ax2.legend(fontsize=9, loc="upper right")
    for ax in (ax1, ax2):
        ax.set_xticks(ranks, labels=[str(r) for r in ranks])
        ax.minorticks_off()
    return fig


@styled
def learn_forget(points: dict[str, dict], sweeps: dict[str, list[str]] = None):
    """Loss on the quotes (what the fine-tune learned) against loss on held-out documentation (what the
    stand-in knew before): lower-left is better on both. `points` maps a label to its two losses, a kind
    ("base", "lora" or "full") and optionally `offset`, where its label goes in points; `sweeps` maps a name
    to the labels of points joined by a line (a rank or learning-rate sweep)."""
    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    colours = {"base": BASE, "lora": LORA, "full": FULL}
    styles = iter(["-", "--", ":"])
    for name, labels in (sweeps or {}).items():
        xy = np.array([(points[k]["quotes loss"], points[k]["held-out loss"]) for k in labels])
        ax.plot(*xy.T, ls=next(styles), color=LORA, lw=1, alpha=0.7, label=name)
    for label, p in points.items():
        ax.scatter(p["quotes loss"], p["held-out loss"], color=colours[p["kind"]], s=28, zorder=3)
        ax.annotate(
            label,
            (p["quotes loss"], p["held-out loss"]),
            xytext=p.get("offset", (5, 3)),
            textcoords="offset points",
            fontsize=8,
            color=colours[p["kind"]],
        )
    ax.set(
        xscale="log",
        xlabel="loss on the quotes (nats/token, log scale): ← learned",
        ylabel="held-out documentation loss\n(nats/token): forgotten ↑",
    )
    ax.set_title("learning against forgetting", loc="left")
    if sweeps:
        ax.legend(fontsize=9, loc="upper right")
    return fig


@styled
def scaling(ranks, losses: dict[str, list], norms: dict[str, list], steps: int):
    """Final training loss and ‖ΔW‖_F (all adapted matrices) against r, for each rule of scaling B·A, after
    `steps` optimizer steps."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 2.9))
    colours = [LORA, PALETTE["orange"], PALETTE["green"]]
    for colour, name in zip(colours, losses):
        ax1.plot(ranks, losses[name], "o-", color=colour, label=name, ms=4)
        ax2.plot(ranks, norms[name], "o-", color=colour, label=name, ms=4)
    ax1.set(xscale="log", xlabel="r", ylabel="final training loss", ylim=(0, None))
    ax2.set(xscale="log", xlabel="r", ylabel=r"$\|\Delta W\|_F$, all adapted matrices", ylim=(0, None))
    ax1.set_title(f"loss after the same {steps} steps", loc="left", fontsize=10)
    ax2.set_title("size of the update", loc="left", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_xticks(ranks, labels=[str(r) for r in ranks])
        ax.minorticks_off()
    ax1.legend(fontsize=9, title="scaling of B·A", title_fontsize=9)
    return fig
