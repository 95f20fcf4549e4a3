"""The pictures of the interactive figures' frames (lorabook.widgets) that are plots."""

from __future__ import annotations

import matplotlib.pyplot as plt

from .style import PALETTE, styled

SERIES = ("fp32 absmax", "double-quantized")


@styled
def nf4_frame(blocks, errors, bits, i: int):
    """Left, NF4's mean squared error against the block size; right, its bits per parameter; each with an
    fp32 absmax and double-quantized (`errors` and `bits` are pairs of series), blocks[i] circled."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 2.6), layout="constrained")
    for ax, pair, label in ((left, errors, "mean squared error"), (right, bits, "bits per parameter")):
        for y, colour, name in zip(pair, (PALETTE["blue"], PALETTE["orange"]), SERIES):
            ax.plot(blocks, y, "o-", color=colour, label=name, ms=4)
            ax.plot([blocks[i]], [y[i]], "o", color=colour, ms=11, mfc="none", mew=2)
        ax.set(xscale="log", xlabel="block size", ylabel=label)
        ax.set_xticks(blocks, labels=[str(v) for v in blocks])
        ax.minorticks_off()
    left.legend(fontsize=9, loc="upper left")
    return fig


@styled
def threshold_frame(peaks, tau: float):
    """Each feature dimension's largest |x| (log axis), the threshold τ as a dashed line, the dimensions at or
    above it (LLM.int8()'s fp16 part) in orange."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 2.6), layout="constrained")
    dims = np.arange(len(peaks))
    above = peaks >= tau
    ax.plot(dims[~above], peaks[~above], ".", color=PALETTE["blue"], ms=3, label="int8")
    ax.plot(dims[above], peaks[above], "o", color=PALETTE["orange"], ms=6, label="fp16 (|x| ≥ τ)")
    ax.axhline(tau, color=PALETTE["black"], ls="--", lw=1)
    ax.set(yscale="log", xlabel="feature dimension", ylabel="largest |x|", xlim=(0, len(peaks)))
    ticks = [t for t in (1, 3, 10, 30, 100, 300) if t <= 3 * max(peaks.max(), tau)]
    ax.set_yticks(ticks, labels=[str(t) for t in ticks])
    ax.set_ylim(min(peaks.min(), tau) / 1.5, max(peaks.max(), tau) * 3)
    ax.minorticks_off()
    ax.legend(fontsize=9, loc="upper right", ncols=2)
    return fig


@styled
def spectrum_frame(spectra, r: int, shown: int, top: float):
    """The first `shown` singular values of each ΔW of a rank-r run (one thin line each, log axis): r of them
    carry the update, the rest are rounding; `top` fixes the axis across frames."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 2.6), layout="constrained")
    k = np.arange(1, shown + 1)
    for s in spectra:
        ax.plot(k, np.maximum(s[:shown], 1e-9), color=PALETTE["blue"], lw=0.8, alpha=0.5)
    ax.axvline(r, color=PALETTE["orange"], ls="--", lw=1.2, label=f"r = {r}")
    ax.set(xscale="log", yscale="log", xlabel="singular value index", ylabel="σ of ΔW", ylim=(1e-8, top * 3))
    ax.set_xlim(1, shown)
    ticks = [t for t in (1, 2, 4, 8, 16, 32, 64, 128) if t <= shown]
    ax.set_xticks(ticks, labels=[str(t) for t in ticks])
    ax.minorticks_off()
    ax.legend(fontsize=9, loc="lower left")
    return fig
