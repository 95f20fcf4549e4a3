"""Claims of the truncated-SVD chapter, as properties."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import matrices

from lorabook import svd as ls
from lorabook.rank import numerical_rank


def close(a, b, scale):
    return abs(a - b) <= 1e-9 * max(scale, 1.0)


# ---------------------------------------------------------------------------- decomposition


@given(matrices())
def test_svd_factors_are_orthonormal_descending_and_rebuild_A(A):
    U, S, Vt = ls.svd(A)
    p = min(A.shape)
    assert U.shape == (A.shape[0], p) and S.shape == (p,) and Vt.shape == (p, A.shape[1])
    assert np.all(np.diff(S) <= 0) and np.all(S >= 0)
    assert np.allclose(U.T @ U, np.eye(p), atol=1e-10)
    assert np.allclose(Vt @ Vt.T, np.eye(p), atol=1e-10)
    assert np.allclose((U * S) @ Vt, A, atol=1e-9 * max(1.0, np.abs(A).max()))


@given(matrices(), st.data())
def test_truncated_svd_keeps_the_first_k_triplets(A, data):
    k = data.draw(st.integers(0, min(A.shape)))
    U, S, Vt = ls.svd(A)
    Uk, Sk, Vtk = ls.truncated_svd(A, k)
    assert np.array_equal(Sk, S[:k]) and np.array_equal(Uk, U[:, :k]) and np.array_equal(Vtk, Vt[:k])


# ---------------------------------------------------------------------------- Eckart–Young–Mirsky


@given(matrices(), st.data())
def test_eckart_young_identities(A, data):
    k = data.draw(st.integers(0, min(A.shape)))
    S = ls.svd(A).S
    A_k = ls.low_rank_approximation(A, k)
    frob, spectral = ls.eckart_young_error(S, k)
    scale = S[0] if S.size else 1.0
    assert close(np.linalg.norm(A - A_k), frob, scale)  # ‖A − A_k‖_F² = Σ_{i>k} σᵢ²
    assert close(np.linalg.norm(A - A_k, 2), spectral, scale)  # ‖A − A_k‖₂ = σ_{k+1}
    assert numerical_rank(A_k, tol=1e-9 * max(scale, 1.0)) <= k


@given(matrices(max_side=7), st.data())
def test_no_rank_k_matrix_beats_truncated_svd(A, data):
    k = data.draw(st.integers(1, min(A.shape)))
    seed = data.draw(st.integers(0, 2**16))
    g = np.random.default_rng(seed)
    X = g.standard_normal((A.shape[0], k)) @ g.standard_normal((k, A.shape[1]))  # any rank-k matrix
    best_frob, best_spec = ls.eckart_young_error(ls.svd(A).S, k)
    slack = 1e-9 * max(1.0, np.linalg.norm(A))
    assert np.linalg.norm(A - X) >= best_frob - slack
    assert np.linalg.norm(A - X, 2) >= best_spec - slack
    # the strongest rival that ignores the SVD: the least-squares fit inside a random k-dim column space
    assert np.linalg.norm(A - ls.best_in_random_subspace(A, k, seed)) >= best_frob - slack


@pytest.mark.parametrize("k", [1, 3, 6])
def test_gradient_descent_on_BC_converges_to_the_bound_from_above(k):
    A = ls.low_rank_plus_noise(40, 30, 6, noise=0.01, seed=3)
    bound = ls.eckart_young_error(ls.svd(A).S, k)[0]
    B, C, losses = ls.fit_low_rank_gd(A, k, steps=3000, seed=1)
    assert B.shape == (40, k) and C.shape == (k, 30)
    assert losses[-1] == pytest.approx(np.linalg.norm(A - B @ C))
    assert np.all(losses >= bound * (1 - 1e-12))  # never below Eckart–Young
    assert losses[-1] <= bound * (1 + 1e-6)  # and it gets there
    assert losses[0] == pytest.approx(np.linalg.norm(A), rel=1e-2)  # from B C ≈ 0, as LoRA's B = 0 start


# ---------------------------------------------------------------------------- energy, error, storage


@given(matrices())
def test_energy_and_relative_error_are_consistent(A):
    if not np.abs(A).max() > 0:
        return
    A = A / np.abs(A).max()  # the claim is scale-free; this keeps norm() clear of underflow on tiny entries
    S = ls.svd(A).S
    E, rel = ls.energy_captured(S), ls.relative_error(S)
    assert E[0] == 0 and E[-1] == pytest.approx(1.0) and np.all(np.diff(E) >= 0)
    assert np.allclose(rel**2 + E, 1.0)
    for k in range(S.size + 1):
        measured = np.linalg.norm(A - ls.low_rank_approximation(A, k)) / np.linalg.norm(A)
        assert measured == pytest.approx(rel[k], abs=1e-7)


@given(st.lists(st.floats(0, 100), min_size=1, max_size=20), st.floats(0.01, 1.0))
def test_rank_for_energy_is_the_smallest_k_that_reaches_the_target(values, target):
    S = np.sort(np.array(values))[::-1]
    if S[0] == 0:
        return
    k = ls.rank_for_energy(S, target)
    E = ls.energy_captured(S)
    assert E[k] >= target - 1e-12
    assert k == 0 or E[k - 1] < target - 1e-12


@given(st.integers(1, 300), st.integers(1, 300), st.data())
def test_storage_ratio_counts_the_stored_factors(m, n, data):
    k = data.draw(st.integers(0, min(m, n)))
    U, S, Vt = ls.truncated_svd(np.ones((m, n)), k)
    assert ls.storage_ratio(m, n, k) == pytest.approx((U.size + S.size + Vt.size) / (m * n))


def test_sample_image_is_a_grayscale_matrix_in_unit_range():
    img = ls.sample_image()
    assert img.ndim == 2 and img.shape == (600, 512)
    assert 0 <= img.min() < img.max() <= 1


# ---------------------------------------------------------------------------- test matrices


def test_noise_free_structured_matrix_has_rank_r_and_singular_values_r_to_1():
    A = ls.low_rank_plus_noise(50, 40, 5, noise=0.0, seed=0)
    S = ls.svd(A).S
    assert numerical_rank(A) == 5
    assert np.allclose(S[:5], [5, 4, 3, 2, 1])


def test_structured_matrix_has_a_cliff_at_r_and_gaussian_has_none():
    S_struct = ls.svd(ls.low_rank_plus_noise(80, 60, 6, noise=0.01, seed=0)).S
    S_gauss = ls.svd(ls.gaussian_matrix(80, 60, seed=0)).S
    cliff = S_struct[5] / S_struct[6]
    assert np.argmax(S_struct[:-1] / S_struct[1:]) == 5  # the largest drop is right after σ_r
    assert cliff > 3 * np.max(S_gauss[:-1] / S_gauss[1:])


def test_same_seed_in_different_generators_gives_independent_draws():
    A = ls.low_rank_plus_noise(30, 20, 4, noise=0.0, seed=0)
    Q_fit = ls.best_in_random_subspace(A, 4, seed=0)
    # had both used default_rng(0), the "random" subspace would be A's own column space and fit it exactly
    assert np.linalg.norm(A - Q_fit) > 0.1 * np.linalg.norm(A)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ls.truncated_svd(np.ones((4, 3)), 4), ValueError, r"k must be in 0..3, got 4"),
        (lambda: ls.truncated_svd(np.ones((4, 3)), -1), ValueError, r"k must be in 0..3, got -1"),
        (lambda: ls.low_rank_approximation(np.ones(3), 1), ValueError, r"A must be a 2-D array"),
        (lambda: ls.svd([[np.inf]]), ValueError, r"A must be finite, got inf at index \(0, 0\)"),
        (lambda: ls.eckart_young_error([3.0, 1.0], 3), ValueError, r"k must be in 0..2, got 3"),
        (
            lambda: ls.eckart_young_error([1.0, 3.0], 1),
            ValueError,
            r"S must be in descending order, got S\[0\] = 1.0 < S\[1\] = 3.0",
        ),
        (
            lambda: ls.energy_captured([1.0, -1.0]),
            ValueError,
            r"S must hold singular values that are >= 0, got S\[1\] = -1.0",
        ),
        (
            lambda: ls.energy_captured([np.nan]),
            ValueError,
            r"S must hold singular values that are finite, got S\[0\] = nan",
        ),
        (lambda: ls.energy_captured([[1.0]]), ValueError, r"S must be a non-empty 1-D array"),
        (lambda: ls.energy_captured([0.0, 0.0]), ValueError, r"zero matrix"),
        (lambda: ls.rank_for_energy([2.0, 1.0], 1.5), ValueError, r"energy must be in \(0, 1\], got 1.5"),
        (lambda: ls.rank_for_energy([2.0, 1.0], 0), ValueError, r"energy must be a finite number > 0, got 0"),
        (lambda: ls.storage_ratio(10, 5, 6), ValueError, r"k must be in 0..5, got 6"),
        (lambda: ls.fit_low_rank_gd(np.ones((3, 3)), 0), ValueError, r"k must be in 1..3, got 0"),
        (
            lambda: ls.fit_low_rank_gd(np.ones((3, 3)), 1, lr=-0.1),
            ValueError,
            r"lr must be a finite number > 0, got -0.1",
        ),
        (lambda: ls.fit_low_rank_gd(np.ones((3, 3)), 1, steps=0), ValueError, r"steps must be >= 1, got 0"),
        (lambda: ls.fit_low_rank_gd(np.zeros((3, 3)), 1), ValueError, r"A is all zeros"),
        (
            lambda: ls.low_rank_plus_noise(5, 5, 2, noise=-1),
            ValueError,
            r"noise must be a finite number >= 0, got -1",
        ),
        (lambda: ls.low_rank_plus_noise(5, 4, 5), ValueError, r"r must be in 1..4, got 5"),
    ],
)
def test_bad_input_names_argument_value_and_range(call, error, message):
    with pytest.raises(error, match=message):
        call()
