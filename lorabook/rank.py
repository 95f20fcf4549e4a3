"""Matrix rank: exact, numerical (from singular values), and what a rank-r factorization costs to store.

rank(A) is the largest number of linearly independent columns of A; it equals the same count for rows,
so rank(A) = rank(Aᵀ) (Strang, *Linear Algebra and Its Applications*, §2.4).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ._checks import as_matrix, check_int, check_nonnegative, rng

# ---------------------------------------------------------------------------- exact rank


def exact_rank(A) -> int:
    """The rank of A in exact rational arithmetic: each float is taken as the exact number it stores.

    Gauss–Jordan elimination over `fractions.Fraction`, so no rounding happens anywhere. Cost is
    O(m·n·min(m, n)) operations on growing rationals: meant for the small matrices of the book.
    """
    M = [[Fraction(x) for x in row] for row in as_matrix(A).tolist()]
    m, n = len(M), len(M[0])
    rank = 0
    for col in range(n):
        pivot = next((i for i in range(rank, m) if M[i][col] != 0), None)
        if pivot is None:
            continue  # this column is a combination of the pivot columns before it
        M[rank], M[pivot] = M[pivot], M[rank]
        for i in range(m):
            if i != rank and M[i][col] != 0:
                f = M[i][col] / M[rank][col]
                M[i] = [a - f * b for a, b in zip(M[i], M[rank])]  # row_i -= f · row_pivot
        rank += 1
        if rank == m:
            break
    return rank


# ---------------------------------------------------------------------------- numerical rank


def singular_values(A) -> np.ndarray:
    """σ₁ ≥ σ₂ ≥ … ≥ σ_min(m,n) ≥ 0, the singular values of A in descending order."""
    return np.linalg.svd(as_matrix(A), compute_uv=False)


def default_tolerance(A) -> float:
    """σ₁ · max(m, n) · ε₆₄: below this a singular value is indistinguishable from rounding noise.

    The convention of LAPACK, NumPy's `matrix_rank` and Golub & Van Loan, *Matrix Computations*, §5.4.1.
    """
    A = as_matrix(A)
    return float(singular_values(A)[0] * max(A.shape) * np.finfo(np.float64).eps)


def numerical_rank(A, tol: float | None = None) -> int:
    """The number of singular values of A above `tol` (default: `default_tolerance(A)`).

    Args:
        A: a finite real matrix.
        tol: the threshold on σᵢ; must be >= 0. None picks σ₁ · max(m, n) · ε.
    """
    A = as_matrix(A)
    tol = default_tolerance(A) if tol is None else check_nonnegative(tol, "tol")
    return int((singular_values(A) > tol).sum())


# ---------------------------------------------------------------------------- storing ΔW = B A


def dense_params(d: int, k: int) -> int:
    """Numbers needed to store a d×k update ΔW entry by entry: d·k."""
    return check_int(d, "d", 1) * check_int(k, "k", 1)


def low_rank_params(d: int, k: int, r: int) -> int:
    """Numbers needed to store ΔW = B A with B of shape d×r and A of shape r×k: r·(d + k)."""
    d, k = check_int(d, "d", 1), check_int(k, "k", 1)
    r = check_int(r, "r", 1, min(d, k))
    return r * (d + k)


def break_even_rank(d: int, k: int) -> int:
    """The largest r with r·(d + k) < d·k: up to this rank the factors are cheaper than ΔW itself."""
    d, k = check_int(d, "d", 1), check_int(k, "k", 1)
    return (d * k - 1) // (d + k)  # largest integer strictly below d·k / (d + k)


def random_factors(d: int, k: int, r: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian factors B (d×r) and A (r×k); their product B A has rank ≤ r, and = r almost surely."""
    d, k = check_int(d, "d", 1), check_int(k, "k", 1)
    r = check_int(r, "r", 1)  # any r >= 1: past min(d, k) the rank saturates
    g = rng(seed, "random_factors")
    return g.standard_normal((d, r)), g.standard_normal((r, k))


def hilbert(n: int) -> np.ndarray:
    """The n×n Hilbert matrix H_ij = 1 / (i + j + 1): invertible, yet numerically singular from n = 12."""
    n = check_int(n, "n", 1)
    i, j = np.indices((n, n))
    return 1.0 / (i + j + 1)


def rank_of_product(d: int, k: int, r: int, seed: int = 0) -> int:
    """The numerical rank of B A for Gaussian B (d×r) and A (r×k): min(d, k, r) almost surely.

    rank(BA) ≤ min(rank B, rank A) ≤ r, and Gaussian factors meet the bound with probability 1.
    """
    B, A = random_factors(d, k, r, seed)
    return numerical_rank(B @ A)
