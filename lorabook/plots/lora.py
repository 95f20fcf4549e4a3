"""Figures of the LoRA chapter: latency against batch size, trainable parameters against r, and modularity."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, styled


@styled
def latency_vs_batch(by_batch: dict, title: str = ""):
    """Median time ÷ base against batch size, with the interquartile range of the per-round ratios.

    Args:
        by_batch: {batch size: {variant: {"median", "q1", "q3", …}}}, as lorabook.latency.ratios returns.
    """
    batches = sorted(by_batch)
    variants = [v for v in by_batch[batches[0]] if v != "base"]
    colours = {
        "LoRA": PALETTE["sky"],
        "LoRA merged": PALETTE["blue"],
        "AdapterL": PALETTE["orange"],
        "AdapterH": PALETTE["red"],
    }
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    ax.axhline(1.0, color=PALETTE["black"], lw=1, label="base")
    for j, v in enumerate(variants):
        med = np.array([by_batch[b][v]["median"] for b in batches])
        lo = med - np.array([by_batch[b][v]["q1"] for b in batches])
        hi = np.array([by_batch[b][v]["q3"] for b in batches]) - med
        x = np.array(batches) * (1 + 0.04 * (j - 1.5))  # small horizontal offsets keep the bars apart
        ax.errorbar(x, med, yerr=[lo, hi], marker="o", ms=4, capsize=3, label=v, color=colours.get(v))
    ax.set(xscale="log", xlabel="batch size (sequences, one token each)", ylabel="time ÷ base (median, IQR)")
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_title(title, loc="left")
    ax.legend(ncols=3)
    return fig


@styled
def trainable_vs_rank(ranks, percents: dict, total: int):
    """Trainable share of the model against r, one line per choice of target modules."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for label, pct in percents.items():
        ax.loglog(ranks, pct, "o-", ms=4, label=label)
    ax.set(xlabel="rank r", ylabel="trainable parameters (% of the model)")
    ax.set_xticks(ranks, [str(r) for r in ranks])
    ax.set_title(f"LoRA on OPT-6.7B ({total / 1e9:.2f}B parameters)", loc="left")
    ax.legend()
    return fig


@styled
def adapter_switching(accuracy: dict, tasks: list):
    """Accuracy of each adapter (rows) on each task (columns), as an annotated heatmap."""
    rows = list(accuracy)
    M = np.array([[accuracy[r][t] for t in tasks] for r in rows])
    fig, ax = plt.subplots(figsize=(4.8, 0.6 * len(rows) + 1.2))
    ax.imshow(M, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(rows)):
        for j in range(len(tasks)):
            ax.text(
                j,
                i,
                f"{100 * M[i, j]:.0f}%",
                ha="center",
                va="center",
                color="white" if M[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("task")
    ax.set_ylabel("active adapter")
    ax.grid(False)
    ax.set_title("next-token accuracy, one frozen base", loc="left")
    return fig
