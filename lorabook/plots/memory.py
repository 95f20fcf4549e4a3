"""Figures of the memory chapter: what a workload's bytes are made of, predicted against measured, the GPU
count that a fine-tune of BLOOM needs, and what each memory-saving technique buys."""

from __future__ import annotations

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


@styled
def stacked_bars(breakdowns: dict, peaks: dict, gpu_sizes: dict, title: str = ""):
    """One horizontal bar per workload, stacked by category (GB), a tick at its peak, and GPU sizes as lines.

    breakdowns: {workload: {category: bytes}}; peaks: {workload: bytes}; gpu_sizes: {label: bytes}.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.6, 0.45 * len(breakdowns) + 1.6))
    labels = list(breakdowns)[::-1]
    seen = set()
    for y, label in enumerate(labels):
        left = 0.0
        for cat, n in breakdowns[label].items():
            ax.barh(y, n / 1e9, left=left, color=COLOURS[cat], edgecolor="white", lw=0.5,
                    label=None if cat in seen else cat)  # fmt: skip
            seen.add(cat)
            left += n / 1e9
        ax.plot(peaks[label] / 1e9, y, marker="|", ms=16, mew=2, color=PALETTE["black"])
        ax.annotate(f"{left:,.1f} GB", (left, y), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=8)  # fmt: skip
    for name, size in gpu_sizes.items():
        ax.axvline(size / 1e9, color=PALETTE["grey"], ls=":", lw=1)
        ax.text(size / 1e9, len(labels) - 0.4, name, rotation=90, fontsize=7, va="top", ha="right",
                color=PALETTE["grey"])  # fmt: skip
    ax.plot([], [], marker="|", ms=10, mew=2, ls="", color=PALETTE["black"], label="peak (allocated at once)")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("GB (10⁹ bytes)")
    ax.grid(axis="y", visible=False)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, loc="left")
    return fig


@styled
def predicted_vs_measured(ratios: dict, tolerance: float = 0.1):
    """Predicted ÷ measured for each component (rows) of each measured workload (markers), with the band.

    ratios: {workload: {component: ratio}}.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 3.2))
    components = list(next(iter(ratios.values())))
    markers = ["o", "s", "^", "D", "v", "P"]
    for i, (workload, by_component) in enumerate(ratios.items()):
        ys = np.arange(len(components)) + (i - (len(ratios) - 1) / 2) * 0.12
        ax.plot([by_component[c] for c in components], ys, markers[i % len(markers)], ls="", label=workload)
    ax.axvspan(1 - tolerance, 1 + tolerance, color=PALETTE["green"], alpha=0.12, label=f"±{tolerance:.0%}")
    ax.axvline(1, color=PALETTE["grey"], lw=1)
    ax.set_yticks(range(len(components)), components)
    ax.set_xlim(1 - 1.5 * tolerance, 1 + 1.5 * tolerance)
    ax.set_xlabel("predicted ÷ measured")
    ax.grid(axis="y", visible=False)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("the estimator against one profiled CPU training step", loc="left")
    return fig


@styled
def gpus_against_tokens(tokens, cards: dict, claimed: int, weights_only: int):
    """A100-80GB cards needed to fine-tune a model against the tokens in flight per step, one line per rule.

    cards: {rule: [cards at each token count]}.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 3.4))
    for rule, counts in cards.items():
        ax.step(np.asarray(tokens) / 1e3, counts, where="post", label=rule)
    ax.axhline(claimed, color=PALETTE["red"], ls="--", lw=1, label=f"the seed's {claimed} cards")
    label = f"{weights_only} cards: fp16 weights only"
    ax.axhline(weights_only, color=PALETTE["grey"], ls=":", lw=1, label=label)
    ax.set(xlabel="tokens in flight per step (thousands; batch × sequence, no checkpointing)",
           ylabel="A100-80GB cards", ylim=(0, None))  # fmt: skip
    ax.legend(fontsize=7)
    ax.set_title("fine-tuning BLOOM-176B: what it takes to need 72 cards", loc="left")
    return fig


@styled
def savings(before_after: dict, gpu_sizes: dict, title: str = ""):
    """For each technique, the peak memory before (light) and after (dark) it is applied, in GB.

    before_after: {technique: (bytes before, bytes after)}.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.4, 0.5 * len(before_after) + 1.4))
    labels = list(before_after)[::-1]
    for y, label in enumerate(labels):
        before, after = before_after[label]
        ax.barh(y, before / 1e9, color=PALETTE["sky"], alpha=0.5, label="before" if y == 0 else None)
        ax.barh(y, after / 1e9, color=PALETTE["blue"], label="after" if y == 0 else None)
        saved = f"−{(1 - after / before):.0%}"
        ax.annotate(saved, (before / 1e9, y), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=8)  # fmt: skip
    for name, size in gpu_sizes.items():
        ax.axvline(size / 1e9, color=PALETTE["grey"], ls=":", lw=1)
        ax.text(size / 1e9, len(labels) - 0.5, name, rotation=90, fontsize=7, va="top", ha="right",
                color=PALETTE["grey"])  # fmt: skip
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("peak GB")
    ax.grid(axis="y", visible=False)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, loc="left")
    return fig
