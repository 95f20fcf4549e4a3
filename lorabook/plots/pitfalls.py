"""The figure of "When it goes wrong": the failures whose symptom is a number, beside their fix."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, label_bars, styled

DTYPES = {"int8": PALETTE["blue"], "float16": PALETTE["sky"], "float32": PALETTE["orange"]}
SCALING_COLOURS = [PALETTE["red"], PALETTE["blue"], PALETTE["green"]]
MB = 1e6


@styled
def symptoms(upcast: dict, sizes: dict, steps: dict, merge: dict):
    """Four panels: parameter bytes by dtype as loaded and after each preparation (kbit_upcast); the saved
    adapter's size (saved_sizes); ‖ΔW‖ after one step against r per scaling (alpha_steps); and, for each way
    of merging into an 8-bit base, how far the logits move from the trained model's (merge_into_int8)."""
    fig, axes = plt.subplots(2, 2, figsize=(6.4, 5.8))
    ax = axes[0, 0]
    names = {"loaded": "as loaded", "peft": "peft's\nprepare", "manual": "norms and\nbiases only"}
    bottom = np.zeros(len(names))
    for dtype, colour in DTYPES.items():
        values = np.array([upcast[k].get(dtype, 0) / MB for k in names])
        ax.bar(list(names.values()), values, bottom=bottom, color=colour, label=dtype, width=0.6)
        bottom += values
    ax.set(ylabel="parameters (MB)", ylim=(0, 1.25 * bottom.max()))
    ax.set_title("the fp32 upcast", loc="left")
    ax.legend(fontsize=9, ncols=3, loc="upper left", handlelength=1.0, columnspacing=0.8)

    ax = axes[0, 1]
    labels = {
        "LoRA": "LoRA",
        "modules_to_save": "+ whole\nembedding",
        "trainable_token_indices": "+ new\nrows",
    }
    bars = ax.bar(list(labels.values()), [sizes[k] / MB for k in labels], color=PALETTE["blue"], width=0.6)
    label_bars(ax, bars, "{:.1f}", fontsize=9)
    ax.set(ylabel="saved adapter (MB)", ylim=(0, 1.25 * max(sizes.values()) / MB))
    ax.set_title("modules_to_save", loc="left")

    ax = axes[1, 0]
    for (name, by_r), colour in zip(steps.items(), SCALING_COLOURS):
        ranks = sorted(by_r)
        ax.plot(ranks, [by_r[r] for r in ranks], "o-", color=colour)
        scale = name.split(" ")[0]  # "α/r (LoRA)" -> "α/r": each line named at its right end
        ax.annotate(
            f"s = {scale}",
            (ranks[-1], by_r[ranks[-1]]),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            color=colour,
            fontsize=9,
        )
    ax.set(xscale="log", yscale="log", xlabel="rank r", ylabel="‖ΔW‖ after one step")
    ax.set_xlim(ranks[0] / 1.5, ranks[-1] * 8)
    ax.set_xticks(ranks, labels=[str(r) for r in ranks])
    ax.minorticks_off()
    ax.set_title("scaling α against α/r", loc="left")

    ax = axes[1, 1]
    ways = {"int8": "into\nint8", "original": "into the\noriginal", "dequantized": "into the\ndequantized"}
    changes = [merge[k] for k in ways]
    bars = ax.bar(list(ways.values()), changes, color=PALETTE["orange"], width=0.6)
    label_bars(ax, bars, "{:.2g}", fontsize=9)
    ax.set(yscale="log", ylabel="largest change in a logit", ylim=(min(changes) / 3, max(changes) * 5))
    ax.set_title("merging into an 8-bit base", loc="left")
    return fig
