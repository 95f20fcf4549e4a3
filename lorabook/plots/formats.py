"""Figures of the number-formats chapter: bits as coloured boxes, range against precision, underflow, master
weights."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..formats import FORMATS, encode, get_format
from .style import PALETTE, styled

FIELD_COLOURS = {"sign": PALETTE["red"], "exponent": PALETTE["sky"], "mantissa": PALETTE["green"]}


def scientific(x: float, spec: str = ".4g") -> str:
    """x formatted by `spec`, in mathtext where that writes an exponent: 3.403e+38 as $3.403 \\times 10^{38}$,
    448 as 448."""
    text = format(x, spec)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return rf"${mantissa} \times 10^{{{int(exponent)}}}$"


@styled
def bit_boxes(x: float, formats=("FP32", "FP16", "BF16")):
    """One row of coloured boxes per format: the sign, exponent and mantissa bits of `x`, and their values."""
    from matplotlib.patches import Rectangle

    fmts = [get_format(f) for f in formats]
    width = max(f.bits for f in fmts)
    fig, ax = plt.subplots(figsize=(7.6, 1.2 * len(fmts) + 0.6))
    for row, f in enumerate(fmts):
        fields = encode(x, f)
        y = -row * 2.4
        bits = format(fields.pattern, f"0{f.bits}b")
        kinds = ["sign"] + ["exponent"] * f.exponent_bits + ["mantissa"] * f.mantissa_bits
        for i, (bit, kind) in enumerate(zip(bits, kinds)):
            ax.add_patch(Rectangle((i, y), 0.92, 0.92, fc=FIELD_COLOURS[kind], ec="white", alpha=0.85))
            ax.text(i + 0.46, y + 0.46, bit, ha="center", va="center", color="black")
        ax.text(-0.6, y + 0.46, f.name, ha="right", va="center", fontsize=10, weight="bold")
        e = f"{fields.exponent - f.bias}".replace("-", "−")
        ax.text(  # under the row: beside it, the line would make the figure too wide to read
            0,
            y - 0.45,
            f"exponent {fields.exponent} − {f.bias} = {e},  "
            f"mantissa 1 + {fields.mantissa}/$2^{{{f.mantissa_bits}}}$"
            f"  →  {fields.value:g}",
            va="center",
        )
    for kind, colour in FIELD_COLOURS.items():
        ax.bar(0, 0, color=colour, label=kind)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.02), ncols=3)
    ax.set(xlim=(-4.5, width + 0.5), ylim=(-2.4 * (len(fmts) - 1) - 1.0, 1.2))
    ax.set_title(f"the bits of {x:g}", loc="left")
    ax.axis("off")
    return fig


@styled
def range_and_precision(formats=tuple(FORMATS)):
    """Left: the magnitudes each format holds (subnormal, normal). Right: its epsilon, the relative gap."""
    fmts = [get_format(f) for f in formats]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 0.6 * len(fmts) + 1.6), sharey=True)
    ys = np.arange(len(fmts))[::-1]
    for y, f in zip(ys, fmts):
        lo, mid, hi = math.log10(f.min_subnormal), math.log10(f.min_normal), math.log10(f.max_finite)
        ax1.barh(
            y, mid - lo, left=lo, color=PALETTE["sky"], height=0.5, label="subnormal" if y == ys[0] else None
        )
        ax1.barh(
            y, hi - mid, left=mid, color=PALETTE["blue"], height=0.5, label="normal" if y == ys[0] else None
        )
        inside = hi - mid > 40  # a long bar holds its label, which would run off the panel beside it
        ax1.text(
            hi - 1 if inside else hi + 1,
            y,
            f"max {scientific(f.max_finite)}",
            va="center",
            ha="right" if inside else "left",
            color="white" if inside else "black",
        )
        ax2.barh(y, -math.log10(f.epsilon), color=PALETTE["green"], height=0.5)
        ax2.text(-math.log10(f.epsilon) + 0.1, y, rf"$\varepsilon = 2^{{-{f.mantissa_bits}}}$", va="center")
    ax1.set(
        yticks=ys, yticklabels=[f.name for f in fmts], xlabel=r"$\log_{10} |x|$ representable", xlim=(-56, 54)
    )
    ax1.set_title("range: set by the exponent bits", loc="left")
    ax1.legend(loc="lower left", handlelength=1.2)  # left of the short 8-bit ranges
    ax2.set(xlabel=r"decimal digits, $-\log_{10} \varepsilon$", xlim=(0, 10.5))
    ax2.set_title("precision: set by the mantissa bits", loc="left")
    return fig


@styled
def underflow(gradients, formats=("FP16", "BF16"), loss_scale: float = 1.0):
    """Histogram of log10 |gradient| with each format's smallest subnormal: left of the line is zero."""
    mags = np.log10(np.abs(gradients[gradients != 0]))
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    bins = np.linspace(mags.min() - 0.5, mags.max() + math.log10(loss_scale) + 0.5, 90)
    ax.hist(mags, bins=bins, color=PALETTE["grey"], alpha=0.6, label="gradients")
    if loss_scale != 1:
        ax.hist(
            mags + math.log10(loss_scale),
            bins=bins,
            color=PALETTE["orange"],
            alpha=0.5,
            label=f"× loss scale $2^{{{int(round(math.log2(loss_scale)))}}}$",
        )
    for f, colour in zip(formats, (PALETTE["red"], PALETTE["blue"])):
        f = get_format(f)
        floor = math.log10(f.min_subnormal)
        if floor > bins[0]:
            ax.axvline(floor, color=colour, ls="--", label=f"{f.name} smallest subnormal")
        else:  # far off the left edge: say so in the legend, rather than stretch the axis over empty decades
            note = f"{f.name} smallest subnormal, $10^{{{floor:.0f}}}$: far left, off the chart"
            ax.plot([], [], color=colour, ls="--", label=note)
        if math.log10(f.max_finite) < bins[-1]:
            ax.axvline(math.log10(f.max_finite), color=colour, ls=":", label=f"{f.name} largest finite")
    ax.set(xlabel=r"$\log_{10} |\mathrm{gradient}|$", ylabel="count", xlim=(bins[0], bins[-1]))
    ax.set_title("values left of a dashed line are stored as zero", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)  # below: clear of the data
    return fig


@styled
def master_weights(trajectories: dict, update: float):
    """A weight under repeated tiny SGD updates: in 16 bits it never moves; an FP32 master copy does."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    styles = ["-", "--", "-.", ":"]
    for (label, w), ls in zip(trajectories.items(), styles):
        ax.plot(np.arange(len(w)), w, ls, lw=2, label=label)
    ax.set(xlabel="SGD step", ylabel="weight")
    ax.set_title(f"w ← w − {update:g}, starting from w = 1", loc="left")
    ax.legend()
    return fig


@styled
def model_sizes(sizes: dict, gpu_bytes: float | None = None, gpu_label: str = ""):
    """Grouped bars: GB of weights per model and format, with a GPU's memory as a line.

    Args:
        sizes: {model name: {format name: bytes}}.
    """
    models = list(sizes)
    fmts = list(next(iter(sizes.values())))
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    width = 0.8 / len(fmts)
    for j, f in enumerate(fmts):
        gb = [sizes[m][f] / 1e9 for m in models]
        bars = ax.bar(np.arange(len(models)) + (j - (len(fmts) - 1) / 2) * width, gb, width, label=f)
        for bar, v in zip(bars, gb):
            ax.annotate(f"{v:,.1f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom")
    if gpu_bytes:
        ax.axhline(gpu_bytes / 1e9, color=PALETTE["grey"], ls="--", lw=1)
        ax.text(-0.45, gpu_bytes / 1e9 * 1.1, gpu_label, ha="left", color=PALETTE["grey"])
    ax.set(xticks=range(len(models)), xticklabels=models, ylabel="weights (GB, log scale)", yscale="log")
    ax.set_title("weights alone, params × bytes per element", loc="left")
    ax.legend(ncols=len(fmts))
    return fig
