"""Figures of the truncated-SVD chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..svd import energy_captured, low_rank_approximation, relative_error, storage_ratio
from .style import PALETTE, styled


@styled
def eckart_young(ks, svd_errors, rival_errors, gd_k: int, gd_losses):
    """Left: ‖A − X‖_F of the truncated SVD against rank-k rivals. Right: gradient descent on B C.

    Args:
        ks: the ranks compared.
        svd_errors: ‖A − A_k‖_F for each k.
        rival_errors: for each k, a list of ‖A − X‖_F over rival rank-k matrices X.
        gd_k: the rank of the gradient-descent fit shown on the right.
        gd_losses: ‖A − B C‖_F after each gradient step.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.5))
    for j, (k, errs) in enumerate(zip(ks, rival_errors)):
        jitter = np.linspace(-0.25, 0.25, len(errs))
        ax1.plot(
            k + jitter,
            errs,
            ".",
            ms=3,
            alpha=0.6,
            color=PALETTE["orange"],
            label=r"random subspace $QQ^\top A$" if j == 0 else None,
        )
    ax1.plot(ks, svd_errors, "o-", color=PALETTE["blue"], label="truncated SVD $A_r$")
    ax1.set(xlabel="rank $r$", ylabel=r"$\|A - X\|_F$", title="no rank-$r$ matrix beats $A_r$")
    ax1.legend(loc="center right")  # between the rivals above and the SVD's curve below
    steps = np.arange(len(gd_losses))
    ax2.loglog(steps[1:], gd_losses[1:], color=PALETTE["green"])
    bound = svd_errors[list(ks).index(gd_k)]
    ax2.axhline(bound, color=PALETTE["blue"], ls="--")
    ax2.set(xlabel="gradient step", ylabel=r"$\|A - BC\|_F$", title="$BC$ reaches the bound, never below")
    # each line labelled where nothing else is drawn: the plateau is at the top left, the bound at the bottom
    ax2.text(
        0.98,
        0.96,
        f"gradient descent, $r$ = {gd_k}",
        transform=ax2.transAxes,
        ha="right",
        va="top",
        color=PALETTE["green"],
    )
    ax2.annotate(
        "Eckart–Young bound",
        (0.02, bound),
        xycoords=ax2.get_yaxis_transform(),
        xytext=(0, 3),
        textcoords="offset points",
        ha="left",
        va="bottom",
        color=PALETTE["blue"],
    )
    return fig


@styled
def energy_and_error(spectra: dict):
    """Energy kept E_k and relative error ‖A − A_k‖_F / ‖A‖_F against k, for each named spectrum."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.3))
    for name, S in spectra.items():
        k = np.arange(1, len(S) + 1)  # from k = 1: a log axis has no room for k = 0 (E_0 = 0, error 1)
        ax1.plot(k, energy_captured(S)[1:], label=name)
        ax2.plot(k, relative_error(S)[1:], label=name)
    ax1.set(
        xlabel="rank r (log scale)",
        ylabel="energy kept $E_k$",
        title=r"$E_k = \sum_{i \leq k} \sigma_i^2 \,/\, \sum_i \sigma_i^2$",
        xscale="log",
    )
    ax2.set(
        xlabel="rank r (log scale)",
        ylabel="relative error",
        title=r"$\Vert A - A_k \Vert_F \,/\, \Vert A \Vert_F$",
        xscale="log",
    )
    ax1.legend()
    return fig


@styled
def image_reconstructions(image, ks):
    """The image rebuilt from its r largest singular triplets; relative error and storage under each panel."""
    m, n = image.shape
    panels = len(ks) + 1
    cols = min(panels, 3)  # at most three across, so the labels stay legible at the book's width
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.6, 3.1 * rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[panels:]:
        ax.axis("off")
    norm = np.linalg.norm(image)
    for ax, k in zip(axes, list(ks) + [None]):
        shown = image if k is None else low_rank_approximation(image, k)
        ax.imshow(np.clip(shown, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if k is None:
            ax.set_title(f"original\n{m}×{n}")
            ax.set_xlabel("error 0\nstorage 100%")
        else:
            err = np.linalg.norm(image - shown) / norm
            ax.set_title(f"r = {k}")
            ax.set_xlabel(f"error {err:.1%}\nstorage {storage_ratio(m, n, k):.1%}")
    return fig


@styled
def spectra(named_spectra: dict, r: int):
    """Singular values over σ₁ of each named matrix, on a log axis; a structured one drops after r."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for name, S in named_spectra.items():
        ax.semilogy(np.arange(1, len(S) + 1), S / S[0], ".-", ms=3, lw=1, label=name)
    ax.axvline(r + 0.5, color=PALETTE["grey"], ls="--", lw=1)
    ax.annotate(f"r = {r}", (r + 1, 0.5))
    ax.set(xlabel="index i", ylabel=r"$\sigma_i / \sigma_1$", title="where is the cliff?")
    ax.legend()
    return fig
