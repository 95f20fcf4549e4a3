"""Singular value decomposition, its truncation, and the best low-rank approximation (Eckart–Young–Mirsky).

A = U Σ Vᵀ with U (m×p) and V (n×p) orthonormal columns, p = min(m, n), and Σ = diag(σ₁ ≥ … ≥ σ_p ≥ 0).
Truncating to the k largest singular values gives A_k = U_k Σ_k V_kᵀ, and no matrix of rank ≤ k is closer
to A in the Frobenius or the spectral norm (Eckart & Young 1936; Mirsky 1960):

    ‖A − A_k‖_F² = Σ_{i>k} σᵢ²        ‖A − A_k‖₂ = σ_{k+1}
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_matrix, check_int, check_nonnegative, check_positive, rng

# ---------------------------------------------------------------------------- decomposition


class SVD(NamedTuple):
    U: np.ndarray  # (m, p) orthonormal columns: the left singular vectors
    S: np.ndarray  # (p,) singular values, σ₁ ≥ σ₂ ≥ … ≥ σ_p ≥ 0
    Vt: np.ndarray  # (p, n) orthonormal rows: the right singular vectors, transposed


def svd(A) -> SVD:
    """The thin SVD A = U diag(S) Vt, singular values in descending order."""
    U, S, Vt = np.linalg.svd(as_matrix(A), full_matrices=False)  # LAPACK gesdd returns S descending
    return SVD(U, S, Vt)


def truncated_svd(A, k: int) -> SVD:
    """The first k singular triplets of A: U_k (m×k), σ₁..σ_k, V_kᵀ (k×n).

    Args:
        A: a finite real m×n matrix.
        k: how many singular values to keep, in 0..min(m, n).
    """
    A = as_matrix(A)
    k = check_int(k, "k", 0, min(A.shape))
    U, S, Vt = svd(A)
    return SVD(U[:, :k], S[:k], Vt[:k, :])


def low_rank_approximation(A, k: int) -> np.ndarray:
    """A_k = U_k Σ_k V_kᵀ, the best rank-≤k approximation of A (Eckart–Young–Mirsky)."""
    U, S, Vt = truncated_svd(A, k)
    return (U * S) @ Vt  # U diag(S) Vᵀ without forming diag(S): (m, k) · (k, n)


# ---------------------------------------------------------------------------- what truncation loses


def _check_spectrum(S) -> np.ndarray:
    """S as floats that can be singular values (finite, >= 0, descending), or an error naming a bad entry."""
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 1 or S.size == 0:
        raise ValueError(f"S must be a non-empty 1-D array of singular values, got shape {S.shape}")
    for problem, bad in [("finite", ~np.isfinite(S)), (">= 0", S < 0)]:
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"S must hold singular values that are {problem}, got S[{i}] = {S[i]}")
    rising = np.diff(S) > 0
    if rising.any():
        i = int(np.argmax(rising))
        raise ValueError(f"S must be in descending order, got S[{i}] = {S[i]} < S[{i + 1}] = {S[i + 1]}")
    return S


def eckart_young_error(S, k: int) -> tuple[float, float]:
    """The error of the best rank-k approximation from the spectrum alone: (‖A − A_k‖_F, ‖A − A_k‖₂).

    Frobenius: sqrt(Σ_{i>k} σᵢ²). Spectral: σ_{k+1}, or 0 when k keeps every singular value.
    """
    S = _check_spectrum(S)
    k = check_int(k, "k", 0, S.size)
    tail = S[k:]
    return float(np.sqrt(np.sum(tail**2))), float(tail[0]) if tail.size else 0.0


def energy_captured(S) -> np.ndarray:
    """E_k = Σ_{i≤k} σᵢ² / Σ σᵢ² for k = 0..p: the share of ‖A‖_F² that A_k keeps."""
    S = _check_spectrum(S)
    if S[0] == 0:
        raise ValueError("S is all zeros: the zero matrix has no energy to capture")
    s2 = (S / S[0]) ** 2  # scaled by σ₁ first, so squaring neither overflows nor underflows to 0
    return np.concatenate([[0.0], np.cumsum(s2)]) / np.sum(s2)


def relative_error(S) -> np.ndarray:
    """‖A − A_k‖_F / ‖A‖_F for k = 0..p, which is sqrt(1 − E_k)."""
    return np.sqrt(np.clip(1.0 - energy_captured(S), 0.0, None))


def rank_for_energy(S, energy: float) -> int:
    """The smallest k whose A_k keeps at least `energy` (in (0, 1]) of ‖A‖_F²."""
    energy = check_positive(energy, "energy")
    if energy > 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    E = energy_captured(S)
    return int(np.argmax(E >= energy - 1e-12))  # first k reaching the target (E is non-decreasing, E_p = 1)


def storage_ratio(m: int, n: int, k: int) -> float:
    """Numbers stored by U_k, σ₁..σ_k, V_kᵀ against the m·n of A itself: k·(m + n + 1) / (m·n)."""
    m, n = check_int(m, "m", 1), check_int(n, "n", 1)
    k = check_int(k, "k", 0, min(m, n))
    return k * (m + n + 1) / (m * n)


# ---------------------------------------------------------------------------- rivals of A_k


def best_in_random_subspace(A, k: int, seed: int = 0) -> np.ndarray:
    """The best approximation of A whose columns lie in a random k-dimensional subspace: Q Qᵀ A.

    Q (m×k) is an orthonormal basis of the span of k Gaussian vectors; Q Qᵀ A is the least-squares fit of
    every column of A inside that span, so it is the strongest rank-k rival that does not look at A's SVD.
    """
    A = as_matrix(A)
    k = check_int(k, "k", 0, min(A.shape))
    Q, _ = np.linalg.qr(rng(seed, "random_subspace").standard_normal((A.shape[0], k)))
    return Q @ (Q.T @ A)


def fit_low_rank_gd(A, k: int, steps: int = 3000, lr: float = 0.3, seed: int = 0):
    """Fit A ≈ B C with B (m×k) and C (k×n) by plain gradient descent on f = ½‖A − B C‖_F².

    ∇_B f = −(A − B C) Cᵀ and ∇_C f = −Bᵀ (A − B C). The step is lr / σ₁(A), and the start is small and
    random, so B C ≈ 0 as in LoRA training. Returns (B, C, losses) with losses[t] = ‖A − B C‖_F after t steps.

    Args:
        A: a finite real m×n matrix, not all zeros.
        k: the inner dimension (the rank of B C), in 1..min(m, n).
        steps: gradient steps, >= 1.
        lr: step size in units of 1/σ₁(A), > 0; values up to about 0.5 are stable.
        seed: seeds the initial B and C.
    """
    A = as_matrix(A)
    m, n = A.shape
    k = check_int(k, "k", 1, min(m, n))
    steps = check_int(steps, "steps", 1)
    lr = check_positive(lr, "lr")
    sigma1 = np.linalg.norm(A, 2)
    if sigma1 == 0:
        raise ValueError("A is all zeros: there is nothing to fit")
    g = rng(seed, "fit_low_rank_gd")
    B = 1e-2 * g.standard_normal((m, k))
    C = 1e-2 * g.standard_normal((k, n))
    eta = lr / sigma1
    losses = np.empty(steps + 1)
    for t in range(steps):
        R = A - B @ C  # residual, (m, n)
        losses[t] = np.linalg.norm(R)
        B, C = B + eta * R @ C.T, C + eta * B.T @ R  # simultaneous step along −∇f
    losses[steps] = np.linalg.norm(A - B @ C)
    return B, C, losses


# ---------------------------------------------------------------------------- test matrices


def low_rank_plus_noise(m: int, n: int, r: int, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """A structured matrix: rank-r signal with singular values r, r−1, …, 1, plus i.i.d. N(0, noise²) entries.

    The kind of matrix LoRA bets on: a few strong directions and a floor of small ones.
    """
    m, n = check_int(m, "m", 1), check_int(n, "n", 1)
    r = check_int(r, "r", 1, min(m, n))
    noise = check_nonnegative(noise, "noise")
    g = rng(seed, "low_rank_plus_noise")
    U, _ = np.linalg.qr(g.standard_normal((m, r)))
    V, _ = np.linalg.qr(g.standard_normal((n, r)))
    signal = (U * np.arange(r, 0, -1.0)) @ V.T  # U diag(r, …, 1) Vᵀ
    return signal + noise * g.standard_normal((m, n))


def gaussian_matrix(m: int, n: int, seed: int = 0) -> np.ndarray:
    """An m×n matrix of i.i.d. N(0, 1/n) entries: no preferred direction, so no cliff in its spectrum."""
    m, n = check_int(m, "m", 1), check_int(n, "n", 1)
    return rng(seed, "gaussian_matrix").standard_normal((m, n)) / np.sqrt(n)


def sample_image(name: str = "grace_hopper.jpg") -> np.ndarray:
    """A grayscale image from matplotlib's bundled sample data, as floats in [0, 1].

    Luminance Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601).
    """
    from matplotlib import cbook
    from matplotlib import image as mimage

    with cbook.get_sample_data(name) as f:
        pixels = mimage.imread(f)
    scale = np.iinfo(pixels.dtype).max if np.issubdtype(pixels.dtype, np.integer) else 1.0  # uint8 → /255
    img = pixels.astype(np.float64) / scale
    return img if img.ndim == 2 else img[..., :3] @ np.array([0.299, 0.587, 0.114])
