"""Figures of the matrix-rank chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..rank import break_even_rank, dense_params, low_rank_params, singular_values
from .style import PALETTE, styled

_FLOOR = 1e-20  # singular values that are exactly 0 are drawn here, so a log axis can show them


@styled
def singular_values_against_tolerance(cases):
    """One panel per matrix: its σᵢ on a log axis, the tolerance line, and exact against numerical rank.

    Args:
        cases: a list of (title, A, tol, exact_rank) tuples.
    """
    fig, axes = plt.subplots(1, len(cases), figsize=(3.3 * len(cases), 3.2), squeeze=False)
    for ax, (title, A, tol, exact) in zip(axes[0], cases):
        S = singular_values(A)
        i = np.arange(1, S.size + 1)
        above = S > tol
        ax.semilogy(i[above], S[above], "o", color=PALETTE["blue"], label=r"$\sigma_i >$ tol: counted")
        ax.semilogy(
            i[~above],
            np.maximum(S[~above], _FLOOR),
            "o",
            mfc="none",
            color=PALETTE["red"],
            label=r"$\sigma_i \leq$ tol: noise",
        )
        ax.axhline(tol, color=PALETTE["grey"], ls="--", lw=1, label="tolerance")
        ax.set(
            title=f"{title}\nexact rank {exact}, numerical rank {int(above.sum())}",
            xlabel="index i",
            ylabel=r"$\sigma_i$",
        )
        ax.set_xticks(i)
    axes[0, 0].legend(loc="upper right")  # clear of the tolerance line and the points, which sit low or left
    return fig


@styled
def product_rank(d: int, k: int, rs, ranks, example_r: int, example_S):
    """Left: rank(B A) against r, on the bound min(r, d, k). Right: the spectrum of one B A, cliff at r."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.4))
    rs = np.asarray(rs)
    ax1.plot(rs, ranks, "o", ms=5, color=PALETTE["blue"], label="numerical rank of B A")
    bound = np.minimum(rs, min(d, k))  # drawn over the dots, which it runs through, so that it stays visible
    ax1.plot(rs, bound, color=PALETTE["black"], lw=1.2, zorder=3, label="bound min(r, d, k)")
    ax1.set(xlabel="inner dimension r", ylabel="rank", title=f"B is {d}×r, A is r×{k}")
    ax1.legend()
    i = np.arange(1, len(example_S) + 1)
    ax2.semilogy(i, np.maximum(example_S, _FLOOR), ".", color=PALETTE["orange"])
    ax2.axvline(example_r + 0.5, color=PALETTE["grey"], ls="--", lw=1)
    ax2.annotate(f"r = {example_r}", (example_r + 1, example_S[0]), va="top")
    ax2.set(xlabel="index i", ylabel=r"$\sigma_i(BA)$", title=f"spectrum of B A for r = {example_r}")
    return fig


@styled
def parameter_counts(sizes, max_r: int | None = None):
    """Numbers stored for ΔW: d·k (flat) against r·(d + k) (growing with r), one panel per (d, k)."""
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.8 * len(sizes), 3.4), squeeze=False)
    for ax, (d, k) in zip(axes[0], sizes):
        rs = np.arange(1, (max_r or min(d, k)) + 1)
        ax.plot(rs, [low_rank_params(d, k, r) for r in rs], color=PALETTE["blue"], label="B and A: r·(d + k)")
        ax.axhline(dense_params(d, k), color=PALETTE["red"], label="ΔW itself: d·k")
        r_star = break_even_rank(d, k)
        ax.axvline(r_star, color=PALETTE["grey"], ls=":", lw=1)
        ax.annotate(
            f"break-even r = {r_star}",
            (r_star, dense_params(d, k) * 0.05),
            xytext=(4, 0),
            textcoords="offset points",
        )
        ax.set(xlabel="rank r", ylabel="parameters", yscale="log", title=f"d = {d:,}, k = {k:,}")
    axes[0, -1].legend(loc="lower right")  # under the flattening curve, away from the break-even label
    return fig
