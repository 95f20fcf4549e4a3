"""Figures of the thesis tested over seeds: full fine-tuning's update cut to rank r, which parameters carry
its learning, and the learning-rate sweep. Each draws the median over seeds with the range, least to
greatest, as a band or a whisker."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, styled

FULL, LORA, BASE = PALETTE["red"], PALETTE["blue"], PALETTE["grey"]


def _median_band(ax, x, spreads: list[dict], colour, label, marker="o-"):
    ax.fill_between(
        x, [s["min"] for s in spreads], [s["max"] for s in spreads], color=colour, alpha=0.2, lw=0
    )
    ax.plot(x, [s["median"] for s in spreads], marker, color=colour, lw=1.6, ms=4, label=label)


@styled
def truncation(match: dict[int, dict], losses: dict[str, dict[int, dict]], n_quotes: int, base: dict):
    """Left: quotes reproduced against r when every linear ΔW of full fine-tuning is cut to rank r. Right:
    the losses on the quotes and on held-out documentation against r. Each value a spread over seeds; r = 0
    keeps only the change to the other parameters. `base` holds the untouched model's two losses."""
    ranks = list(match)
    x = np.arange(len(ranks))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.1))
    _median_band(ax1, x, [match[r] for r in ranks], FULL, "full fine-tuning's ΔW, cut")
    ax1.set(xlabel="rank r kept in every linear ΔW", ylabel=f"quotes reproduced (of {n_quotes})")
    ax1.set_ylim(-0.5, n_quotes + 1)
    ax1.set_title("what the cut update still does", loc="left", fontsize=10)
    colours = {"quotes loss": FULL, "held-out loss": PALETTE["black"]}
    lowest = min(rows[ranks[-1]]["median"] for rows in losses.values())
    for key, rows in losses.items():
        _median_band(ax2, x, [rows[r] for r in ranks], colours[key], key)
        ax2.axhline(base[key], color=colours[key], ls=":", lw=1)
        end = rows[ranks[-1]]["median"]
        above = end == lowest  # the lowest curve's label above its end, any other's below: between the lines
        ax2.annotate(
            key.replace(" loss", ""),
            (x[-1], end),
            xytext=(0, 6 if above else -6),
            textcoords="offset points",
            ha="right",
            va="bottom" if above else "top",
            color=colours[key],
        )
    ax2.set(xlabel="rank r kept in every linear ΔW", ylabel="loss (nats/token)", ylim=(0, None))
    ax2.set_title("losses (dotted: before fine-tuning)", loc="left", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_xticks(x, labels=[str(r) for r in ranks])
    return fig


@styled
def parts(losses: dict[str, dict], base: float, full: dict):
    """Loss on the quotes with full fine-tuning's ΔW applied to one group of parameters only (median over
    seeds, whiskers the range), against the untouched model (`base`) and the whole update (`full`)."""
    names = list(losses)
    y = np.arange(len(names))[::-1]
    med = np.array([losses[n]["median"] for n in names])
    err = np.array([[m - losses[n]["min"], losses[n]["max"] - m] for n, m in zip(names, med)]).T
    fig, ax = plt.subplots(figsize=(7.6, 2.6))
    ax.barh(y, med, xerr=err, color=FULL, alpha=0.8, height=0.6, capsize=3)
    ax.set_yticks(y, labels=names)
    ax.axvline(base, color=BASE, ls="--", lw=1.2)
    ax.axvline(full["median"], color=PALETTE["black"], ls=":", lw=1.2)
    top = len(names) - 0.45
    ax.annotate(
        "before fine-tuning",
        (base, top),
        xytext=(-4, 0),
        textcoords="offset points",
        ha="right",
        color=BASE,
    )
    ax.annotate("whole update", (full["median"], top), xytext=(4, 0), textcoords="offset points")
    ax.set(xlabel="loss on the quotes (nats/token) with only this part of ΔW", xlim=(0, base * 1.12))
    ax.set_ylim(-0.6, len(names) - 0.1)
    ax.grid(axis="y", visible=False)
    return fig


@styled
def rate_sweep(sweeps: dict[str, dict[str, dict[float, dict]]], best: dict[str, float]):
    """Per method, loss on the quotes (left) and on held-out documentation (right) against the learning
    rate: median over seeds with the range as a band; a ring marks each method's best rate.
    `sweeps[method][key][lr]` is a spread."""
    colours = dict(zip(sweeps, (FULL, LORA, PALETTE["green"])))
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.1))
    for ax, key in zip(axes, ("quotes loss", "held-out loss")):
        for method, by_key in sweeps.items():
            rates = sorted(by_key[key])
            _median_band(ax, rates, [by_key[key][lr] for lr in rates], colours[method], method)
            ax.plot(
                best[method],
                by_key[key][best[method]]["median"],
                "o",
                ms=10,
                mfc="none",
                color=colours[method],
            )
        ax.set(xscale="log", xlabel="learning rate (log scale)")
    axes[0].set(yscale="log", ylabel="loss on the quotes (log)")
    axes[1].set(ylabel="held-out documentation loss")
    axes[0].set_title("learned ↓", loc="left", fontsize=10)
    axes[1].set_title("forgotten ↑", loc="left", fontsize=10)
    # one legend above both panels: inside either, a method's line crossed it
    fig.legend(*axes[1].get_legend_handles_labels(), loc="outside upper center", ncols=3)
    return fig
