"""Figures of the int8 chapter: absmax on a vector, what an outlier does, the LLM.int8() decomposition, error
curves, and the comparison with bitsandbytes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..quant import OUTLIER_THRESHOLD
from .formats import scientific
from .style import PALETTE, label_bars, styled


@styled
def absmax_worked(x, q, x_hat):
    """Each value, its int8 code and its dequantized value: the round trip of absmax quantization."""
    x, q, x_hat = (np.asarray(v, dtype=float).ravel() for v in (x, q, x_hat))
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    i = np.arange(len(x))
    ax.bar(i - 0.2, x, 0.4, color=PALETTE["blue"], label="$x$")
    ax.bar(i + 0.2, x_hat, 0.4, color=PALETTE["orange"], label=r"$\hat{x} = q / s$")
    for j in i:
        ax.annotate(
            f"$q$={int(q[j])}".replace("-", "−"),
            (j, max(x[j], x_hat[j], 0)),
            ha="center",
            va="bottom",
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.axhline(0, color=PALETTE["black"], lw=0.8)
    ax.margins(y=0.15)  # room above the tallest bar for its code, under the title
    ax.set(xticks=i, xticklabels=[f"$x_{{{j}}}$" for j in i], ylabel="value")
    ax.set_title(r"absmax: $s = 127 / \max|x|$, $q = \mathrm{round}(s x)$", loc="left")
    ax.legend(loc="lower right")
    return fig


@styled
def outlier_damage(X, err_with, err_without, outlier_cols):
    """|X| with its outlier features, and the absmax error per entry with and without them in the scale: three
    heat maps stacked, top to bottom, over one feature axis, so each is as wide as the column."""
    from matplotlib.colors import LogNorm

    X, err_with, err_without = (np.abs(np.asarray(a, dtype=float)) for a in (X, err_with, err_without))
    fig, axes = plt.subplots(3, 1, figsize=(6.4, 3.9), sharex=True, sharey=True)
    im0 = axes[0].imshow(X, aspect="auto", cmap="viridis", interpolation="nearest")
    axes[0].set_title("$|X|$: hidden states", loc="left")
    fig.colorbar(im0, ax=axes[0], label="$|x|$")
    lo = max(min(err_with[err_with > 0].min(), err_without[err_without > 0].min()), 1e-6)
    norm = LogNorm(lo, max(err_with.max(), err_without.max()))
    for ax, err, title in (
        (axes[1], err_with, "error, outliers in the row scale"),
        (axes[2], err_without, "error, outlier columns taken out"),
    ):
        im = ax.imshow(
            np.where(err > 0, err, lo), aspect="auto", cmap="magma", norm=norm, interpolation="nearest"
        )
        ax.set_title(title, loc="left")
    fig.colorbar(im, ax=axes[1:], label=r"$|x - \hat{x}|$")
    for ax in axes:
        ax.grid(False)
        ax.set_ylabel("token")
        for c in np.asarray(outlier_cols):
            ax.axvline(c, color="white", lw=0.6, ls=":")
    axes[-1].set_xlabel("feature dimension")
    return fig


def _bar_under(fig, im, ax) -> None:
    """A colour bar under a heat map, with three ticks: more would crowd a narrow panel."""
    from matplotlib.ticker import MaxNLocator

    bar = fig.colorbar(im, ax=ax, location="bottom", shrink=0.9, pad=0.04)
    bar.ax.xaxis.set_major_locator(MaxNLocator(3, symmetric=True))


@styled
def decomposition(X, W, result):
    """LLM.int8() drawn with its own numbers: X·W = X_O·W_O (fp16) + X_rest·W_rest (int8), summed."""
    X, W = np.asarray(X, dtype=float), np.asarray(W, dtype=float)
    cols = np.asarray(result.outlier_cols)
    keep = np.setdiff1d(np.arange(X.shape[1]), cols)
    X_O = np.zeros_like(X)
    X_O[:, cols] = X[:, cols]
    W_O = np.zeros_like(W)
    W_O[cols] = W[cols]
    panels = [
        [(X_O, "$X_O$ (fp16)"), (W_O, "$W_O$ (fp16)"), (np.asarray(result.out_fp16), "$X_O W_O$")],
        [
            (X * np.isin(np.arange(X.shape[1]), keep), r"$X_\mathrm{rest}$ → int8" "\nrow scales $s_x$"),
            (
                W * np.isin(np.arange(W.shape[0]), keep)[:, None],
                r"$W_\mathrm{rest}$ → int8" "\ncolumn scales $s_w$",
            ),
            (np.asarray(result.out_int8), r"$X_q W_q \,/\, (s_x \otimes s_w)$"),
        ],
    ]
    fig, axes = plt.subplots(2, 4, figsize=(7.6, 4.7), gridspec_kw={"width_ratios": [1.2, 1, 1, 1]})
    for r, row in enumerate(panels):
        for c, (M, title) in enumerate(row):
            ax = axes[r, c]
            scale = np.abs(M).max() or 1  # each panel on its own symmetric colour scale
            im = ax.imshow(M, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
            _bar_under(fig, im, ax)
            ax.set_title(title, fontsize=10)
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
            if c < 2:
                ax.text(1.04, 0.5, "×" if c == 0 else "=", transform=ax.transAxes, fontsize=14, va="center")
    out = np.asarray(result.out)
    ax = axes[0, 3]
    im = ax.imshow(out, cmap="RdBu_r", vmin=-np.abs(out).max(), vmax=np.abs(out).max(), aspect="auto")
    _bar_under(fig, im, ax)
    ax.set_title("$C$ = sum of the two", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    axes[1, 3].axis("off")
    axes[1, 3].text(
        0.0,
        0.5,
        f"outlier dimensions:\n{list(map(int, cols))}\n"
        f"{len(keep)} of {X.shape[1]} in int8,\n"
        f"{100 * len(keep) / X.shape[1]:.1f}% of the\nmultiply-adds",
        va="center",
    )
    fig.suptitle("LLM.int8(): outlier dimensions in 16-bit, everything else in 8-bit", x=0.02, ha="left")
    return fig


@styled
def error_curves(thresholds, err_threshold, magnitudes, err_by_method: dict, baseline: float | None = None):
    """Left: LLM.int8() error against the threshold τ. Right: error against the outliers' size, per method."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.1))
    ax1.loglog(thresholds, err_threshold, "o-", color=PALETTE["blue"], ms=3)
    ax1.axvline(OUTLIER_THRESHOLD, color=PALETTE["grey"], ls="--", lw=1)
    ax1.text(OUTLIER_THRESHOLD * 1.07, max(err_threshold), f"τ = {OUTLIER_THRESHOLD:g}", va="top")
    if baseline is not None:
        ax1.axhline(baseline, color=PALETTE["green"], ls=":", label="fp16 matmul")
        ax1.legend(loc="center right")
    ax1.set(xlabel="threshold τ", ylabel=r"relative error $\|C - XW\| \,/\, \|XW\|$")
    ax1.set_title("LLM.int8() against τ", loc="left")
    for (label, errs), marker in zip(err_by_method.items(), "osd^"):
        ax2.semilogy(magnitudes, errs, marker + "-", ms=3, label=label)
    ax2.set(xlabel="outlier magnitude (× the other features)", ylabel="relative error")
    ax2.set_title("against the size of the outliers", loc="left")
    ax2.legend(loc="lower left", bbox_to_anchor=(0.0, 0.1))  # between LLM.int8() and fp16, left
    return fig


@styled
def error_bars(errors: dict, title: str):
    """Relative error of each way of computing X·W, as labelled bars on a log scale."""
    fig, ax = plt.subplots(figsize=(7.6, 2.9))
    colours = [PALETTE[c] for c in ("red", "orange", "blue", "sky", "purple", "green")]
    bars = ax.bar(range(len(errors)), list(errors.values()), color=colours[: len(errors)])
    label_bars(ax, bars, texts=[scientific(e, ".2e") for e in errors.values()])
    names = [name.replace(" (", "\n(", 1) for name in errors]  # two lines: four names fit across
    ax.margins(y=0.12)  # room above the tallest bar for its label, under the title
    ax.set(xticks=range(len(errors)), xticklabels=names, yscale="log", ylabel="relative error")
    ax.set_title(title, loc="left")
    return fig


@styled
def footprints(sizes: dict):
    """get_memory_footprint() of one model loaded three ways, in MB."""
    fig, ax = plt.subplots(figsize=(4.6, 2.5))
    bars = ax.bar(list(sizes), [v / 1e6 for v in sizes.values()], color=PALETTE["blue"])
    label_bars(ax, bars, "{:,.1f} MB")
    ax.margins(y=0.12)  # room above the tallest bar for its label, under the title
    ax.set(ylabel="memory footprint (MB)")
    ax.set_title("one OPT-shaped model, loaded three ways", loc="left")
    return fig
