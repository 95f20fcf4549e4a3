"""Figures of the 4-bit chapter: the NF4 levels over the normal density, the error and level use of three
4-bit codes, the fine-tune on 32-, 8- and 4-bit bases, and QLoRA's memory."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, label_bars, styled

CODE_COLOURS = {"NF4": PALETTE["blue"], "int4": PALETTE["orange"], "FP4 (E2M1)": PALETTE["green"]}


def _labelled_line(ax, y: float, text: str, colour: str, x: float) -> None:
    """A dashed horizontal line at y, with its label just above it starting at x (data units)."""
    ax.axhline(y, color=colour, ls="--", lw=1)
    ax.annotate(
        text,
        (x, y),
        ha="left",
        va="bottom",
        color=colour,
        xytext=(0, 2),
        textcoords="offset points",
    )


@styled
def levels(codes: dict[str, np.ndarray], scale: float):
    """Top: the normal density that NF4's levels are quantiles of, drawn in the levels' units (σ = 1/scale,
    scale = Φ⁻¹(δ)), with the NF4 levels. Bottom: each code's levels on one line."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.6, 3.8), height_ratios=(1.6, 1), sharex=True)
    x = np.linspace(-1.15, 1.15, 400)
    density = scale * np.exp(-((x * scale) ** 2) / 2) / np.sqrt(2 * np.pi)
    ax1.fill_between(x, density, color=PALETTE["sky"], alpha=0.3, lw=0)
    ax1.plot(x, density, color=PALETTE["sky"], lw=1.2, label="N(0, 1) in the levels' units")
    nf4 = codes["NF4"]
    ax1.vlines(
        nf4,
        0,
        scale * np.exp(-((nf4 * scale) ** 2) / 2) / np.sqrt(2 * np.pi),
        color=PALETTE["blue"],
        lw=1.2,
        label="NF4 levels",
    )
    ax1.set(ylabel="density", ylim=(0, density.max() * 1.4))  # the legend above the curve, not on it
    ax1.set_title("NF4: sixteen quantiles of the normal, zero exact", loc="left")
    ax1.legend(loc="upper left")
    for row, (name, code) in enumerate(codes.items()):
        ax2.plot(code, np.full_like(code, -row), "|", ms=14, mew=1.6, color=CODE_COLOURS.get(name))
    ax2.set_yticks(-np.arange(len(codes)), labels=list(codes))
    ax2.set(xlabel="level (a block's values divided by its absmax)", ylim=(-len(codes) + 0.4, 0.6))
    ax2.grid(axis="y", visible=False)
    return fig


@styled
def errors(mse: dict[str, dict[str, float]], shares: np.ndarray):
    """Left: each code's mean squared error relative to NF4's, on each kind of weights (`mse` maps weights →
    code → error). Right: the share of Gaussian values each NF4 level receives, against an equal share."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.0), width_ratios=(1, 1.1))
    kinds, names = list(mse), list(next(iter(mse.values())))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [mse[k][name] / mse[k]["NF4"] for k in kinds]
        bars = ax1.bar(
            np.arange(len(kinds)) + (i - (len(names) - 1) / 2) * width,
            values,
            width,
            color=CODE_COLOURS.get(name),
            label=name,
        )
        label_bars(ax1, bars, "{:.2f}")
    ax1.set_xticks(np.arange(len(kinds)), labels=kinds)
    ax1.set(ylabel="squared error ÷ NF4's", ylim=(0, 2.0))
    ax1.set_title("error, block-wise", loc="left")
    ax1.legend(loc="upper left", ncols=2)
    ax2.bar(np.arange(1, shares.size + 1), shares, color=PALETTE["blue"])
    # the line crosses the bars, so a label beside it would sit on them: the legend names it, above them
    ax2.axhline(1 / shares.size, color=PALETTE["black"], ls="--", lw=1, label=f"equal share, 1/{shares.size}")
    ax2.legend(loc="upper right")
    ax2.set_xticks([1, *range(4, shares.size + 1, 4)])
    ax2.set_ylim(0, shares.max() * 1.35)
    ax2.set(xlabel="NF4 level, lowest to highest", ylabel="share of Gaussian weights")
    ax2.set_title("how often each level is used", loc="left")
    return fig


@styled
def bases(
    losses: dict[str, list[float]], weight_mb: dict[str, float], matches: dict[str, int], n_quotes: int
):
    """Left: the training loss of the seed's adapter on each base. Right: the base's linear weights in MB,
    with the quotes each reproduces after training written on the bars."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.0), width_ratios=(1.4, 1))
    colours = [PALETTE["grey"], PALETTE["orange"], PALETTE["blue"]]
    for colour, (name, values) in zip(colours, losses.items()):
        ax1.plot(np.arange(1, len(values) + 1), values, color=colour, lw=1.2, label=name)
    ax1.set(xlabel="optimizer step", ylabel="training loss (nats/token)", ylim=(0, None))
    ax1.set_title("the same LoRA on three bases", loc="left")
    ax1.legend()
    bars = ax2.bar(list(weight_mb), list(weight_mb.values()), color=colours)
    label_bars(ax2, bars, texts=[f"{matches[name]}/{n_quotes}\nquotes" for name in weight_mb])
    ax2.set(ylabel="linear weights, with scales (MB)", ylim=(0, max(weight_mb.values()) * 1.3))
    ax2.set_title("what the base weighs", loc="left")
    return fig


@styled
def memory(peaks: dict[str, dict[str, float]], gpu_gb: float, gpu_name: str):
    """Estimated peak GB of one LoRA training step for each model (`peaks` maps model → base → GB), with a
    GPU's memory as a line."""
    fig, ax = plt.subplots(figsize=(7.6, 2.9))
    models, kinds = list(peaks), list(next(iter(peaks.values())))
    width = 0.8 / len(kinds)
    colours = [PALETTE["orange"], PALETTE["sky"], PALETTE["blue"]]
    for i, kind in enumerate(kinds):
        bars = ax.bar(
            np.arange(len(models)) + (i - (len(kinds) - 1) / 2) * width,
            [peaks[m][kind] for m in models],
            width,
            color=colours[i % len(colours)],
            label=kind,
        )
        label_bars(ax, bars, "{:.1f}")
    _labelled_line(ax, gpu_gb, gpu_name, PALETTE["red"], x=-0.45)
    ax.set_xticks(np.arange(len(models)), labels=models)
    ax.set(ylabel="peak GB, one training step")
    ax.set_title("LoRA on a quantized base: estimated peak", loc="left")
    ax.set_ylim(0, max(max(p.values()) for p in peaks.values()) * 1.3)
    ax.legend(loc="upper left")  # over the small model's low bars, above the GPU's line: clear of the big one
    return fig
