"""Figures of the memory chapter: what a workload's bytes are made of, predicted against measured, the GPU
count that a fine-tune of BLOOM needs, and what each memory-saving technique buys."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, styled

COLOURS = {
    "weights": PALETTE["blue"],
    "gradients": PALETTE["orange"],
    "optimizer states": PALETTE["red"],
    "LoRA (weights, gradients, Adam)": PALETTE["purple"],
    "activations": PALETTE["green"],
    "backward transient": PALETTE["yellow"],
    "KV cache": PALETTE["sky"],
}


_ON_LINES = {"bbox": {"fc": "white", "ec": "none", "pad": 1}}  # a label that a dotted GPU line may cross


def _wrapped(label: str, width: int = 28) -> str:
    """A long bar label on two lines, broken before its parenthesis or at a space, to leave the bars room."""
    if len(label) <= width:
        return label
    head, sep, tail = label.partition(" (")
    return f"{head}\n({tail}" if sep else textwrap.fill(label, width)


def _gpu_lines(ax, gpu_sizes: dict) -> None:
    """A dotted vertical line per GPU size, labelled above the axes (names alternate in height)."""
    for i, (name, size) in enumerate(gpu_sizes.items()):
        ax.axvline(size / 1e9, color=PALETTE["grey"], ls=":", lw=1)
        ax.annotate(
            name,
            (size / 1e9, 1),
            xycoords=ax.get_xaxis_transform(),
            xytext=(0, 3 + 14 * (i % 2)),
            textcoords="offset points",
            ha="center",
            va="bottom",
            color=PALETTE["grey"],
        )


def _finish_gb_bars(ax, labels, gpu_sizes: dict, xlabel: str, title: str) -> None:
    """The common finish of the horizontal GB bar charts: GPU sizes, one tick per bar, legend, title."""
    _gpu_lines(ax, gpu_sizes)
    ax.set_yticks(range(len(labels)), [_wrapped(label) for label in labels])
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    ax.set_title(title, loc="left", pad=34)  # room for the GPU labels above the axes


@styled
def stacked_bars(breakdowns: dict, peaks: dict, gpu_sizes: dict, title: str = ""):
    """One horizontal bar per workload, stacked by category (GB), a tick at its peak, and GPU sizes as lines.

    breakdowns: {workload: {category: bytes}}; peaks: {workload: bytes}; gpu_sizes: {label: bytes}.
    """
    fig, ax = plt.subplots(figsize=(7.6, 0.5 * len(breakdowns) + 1.8))
    labels = list(breakdowns)[::-1]
    seen = set()
    for y, label in enumerate(labels):
        left = 0.0
        for cat, n in breakdowns[label].items():
            ax.barh(
                y,
                n / 1e9,
                left=left,
                color=COLOURS[cat],
                edgecolor="white",
                lw=0.5,
                label=None if cat in seen else cat,
            )
            seen.add(cat)
            left += n / 1e9
        ax.plot(peaks[label] / 1e9, y, marker="|", ms=16, mew=2, color=PALETTE["black"])
        ax.annotate(
            f"{left:,.1f} GB", (left, y), xytext=(4, 0), textcoords="offset points", va="center", **_ON_LINES
        )
    ax.plot([], [], marker="|", ms=10, mew=2, ls="", color=PALETTE["black"], label="peak (allocated at once)")
    _finish_gb_bars(ax, labels, gpu_sizes, "GB (10⁹ bytes)", title)
    return fig


@styled
def predicted_vs_measured(ratios: dict, tolerance: float = 0.1):
    """How far predicted is from measured, in percent, for each component (rows) of each measured workload
    (markers). The axis is scaled to the data; the tests' tolerance is far outside it, and said in the title.

    ratios: {workload: {component: predicted ÷ measured}}.
    """
    fig, ax = plt.subplots(figsize=(7.6, 4.4))
    components = list(next(iter(ratios.values())))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    worst = max(abs(r - 1) for by in ratios.values() for r in by.values())
    for i, (workload, by_component) in enumerate(ratios.items()):
        ys = np.arange(len(components)) + (i - (len(ratios) - 1) / 2) * 0.12
        devs = [100 * (by_component[c] - 1) for c in components]
        ax.plot(devs, ys, markers[i % len(markers)], ls="", label=workload)
    ax.axvline(0, color=PALETTE["grey"], lw=1)
    limit = max(0.01, 130 * worst)
    ax.set_xlim(-limit, limit)
    ax.set_yticks(range(len(components)), components)
    ax.set_xlabel("predicted − measured, % of measured")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)  # below: no wider image
    ax.set_title(f"the estimator against a profiled CPU step (tests allow ±{tolerance:.0%})", loc="left")
    return fig


@styled
def gpus_against_tokens(tokens, cards: dict, claimed: int, weights_only: int):
    """A100-80GB cards needed to fine-tune a model against the tokens in flight per step, one line per rule.

    cards: {rule: [cards at each token count]}.
    """
    fig, ax = plt.subplots(figsize=(7.2, 3.4))
    for rule, counts in cards.items():
        ax.step(np.asarray(tokens) / 1e3, counts, where="post", label=rule)
    ax.axhline(claimed, color=PALETTE["red"], ls="--", lw=1, label=f"the seed's {claimed} cards")
    label = f"{weights_only} cards: fp16 weights only"
    ax.axhline(weights_only, color=PALETTE["grey"], ls=":", lw=1, label=label)
    ax.set(
        xlabel="tokens in flight per step (thousands; batch × sequence, no checkpointing)",
        ylabel="A100-80GB cards",
        ylim=(0, None),
    )
    ax.legend(loc="lower right", bbox_to_anchor=(1, 0.08))  # under the rising lines, over the weights' line
    ax.set_title(f"fine-tuning BLOOM-176B: what it takes to need {claimed} cards", loc="left")
    return fig


@styled
def savings(before_after: dict, gpu_sizes: dict, title: str = ""):
    """For each technique, the peak memory before (light) and after (dark) it is applied, in GB.

    before_after: {technique: (bytes before, bytes after)}.
    """
    fig, ax = plt.subplots(figsize=(7.6, 0.55 * len(before_after) + 1.6))
    labels = list(before_after)[::-1]
    for y, label in enumerate(labels):
        before, after = before_after[label]
        ax.barh(y, before / 1e9, color=PALETTE["sky"], alpha=0.5, label="before" if y == 0 else None)
        ax.barh(y, after / 1e9, color=PALETTE["blue"], label="after" if y == 0 else None)
        saved = f"−{(1 - after / before):.0%}"
        ax.annotate(
            saved, (before / 1e9, y), xytext=(4, 0), textcoords="offset points", va="center", **_ON_LINES
        )
    ax.set_xlim(0, max(b for b, _ in before_after.values()) / 1e9 * 1.12)  # room for the labels, inside
    _finish_gb_bars(ax, labels, gpu_sizes, "peak GB", title)
    return fig
