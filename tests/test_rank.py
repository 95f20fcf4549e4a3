"""Claims of the matrix-rank chapter, as properties."""

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from strategies import chained_pairs, int_matrices, matrices, same_shape_pairs

from lorabook import rank as lr

# ---------------------------------------------------------------------------- exact rank


def test_seed_example_V_and_its_transpose_have_rank_one():
    V = np.array([[1, 2, 1], [-1, -2, -1]])
    # the dependencies the chapter names: col2 = 2·col1, col3 = col1, row2 = −row1
    assert np.array_equal(V[:, 1], 2 * V[:, 0]) and np.array_equal(V[:, 2], V[:, 0])
    assert np.array_equal(V[1], -V[0])
    assert lr.exact_rank(V) == lr.exact_rank(V.T) == lr.numerical_rank(V) == 1


@given(int_matrices())
def test_row_rank_equals_column_rank(M):
    assert lr.exact_rank(M) == lr.exact_rank(M.T)


@given(int_matrices())
def test_exact_rank_agrees_with_numpy_on_small_integer_matrices(M):
    # small integers are well conditioned enough that LAPACK's tolerance recovers the exact rank
    assert lr.exact_rank(M) == np.linalg.matrix_rank(M)


@given(same_shape_pairs())
def test_rank_of_sum_is_subadditive(pair):
    M, N = pair  # one shape for both, so every example asserts (two free shapes matched 1 time in 25)
    assert lr.exact_rank(M + N) <= lr.exact_rank(M) + lr.exact_rank(N)


@given(matrices(max_side=5, elements=st.floats(-10, 10, width=16)))
def test_exact_rank_agrees_with_sympy_on_the_exact_values_of_floats(M):
    exact = sympy.Matrix([[sympy.Rational(float(x)) for x in row] for row in M])  # float → its exact rational
    assert lr.exact_rank(M) == exact.rank()


def test_exact_rank_of_rounded_examples_agrees_with_sympy():
    outer = np.outer([0.1, 0.2, 0.3], [0.7, 1.1, 1.3, 0.3])
    for M in (outer, lr.hilbert(12)):
        assert lr.exact_rank(M) == sympy.Matrix([[sympy.Rational(float(x)) for x in row] for row in M]).rank()


def test_exact_rank_of_identity_and_zero():
    assert lr.exact_rank(np.eye(7)) == 7
    assert lr.exact_rank(np.zeros((3, 4))) == 0


# ---------------------------------------------------------------------------- numerical rank


def test_rounded_outer_product_has_exact_rank_above_numerical_rank():
    outer = np.outer([0.1, 0.2, 0.3], [0.7, 1.1, 1.3, 0.3])
    assert lr.numerical_rank(outer) == 1  # what was meant
    assert lr.exact_rank(outer) > 1  # what the rounded doubles are, as exact rationals


@given(
    st.lists(st.floats(0.1, 10), min_size=2, max_size=6),
    st.lists(st.floats(0.1, 10), min_size=2, max_size=6),
)
def test_any_float_outer_product_has_numerical_rank_one(u, v):
    assert lr.numerical_rank(np.outer(u, v)) == 1


@pytest.mark.parametrize("n", [12, 13])
def test_hilbert_matrix_is_invertible_but_numerically_singular(n):
    H = lr.hilbert(n)
    assert H[2, 3] == 1 / 6 and np.array_equal(H, H.T)
    assert lr.exact_rank(H) == n
    assert lr.numerical_rank(H) < n
    assert lr.singular_values(H)[-1] < lr.default_tolerance(H)


def test_default_tolerance_matches_numpy_matrix_rank_convention():
    A = np.random.default_rng(0).standard_normal((9, 5)) @ np.random.default_rng(1).standard_normal((5, 7))
    assert lr.numerical_rank(A) == np.linalg.matrix_rank(A) == 5


@given(matrices())
def test_numerical_rank_agrees_with_numpy_matrix_rank(A):
    assert lr.numerical_rank(A) == np.linalg.matrix_rank(A)


@given(matrices(), st.floats(0, 1e4), st.floats(0, 1e4))
def test_numerical_rank_falls_as_tolerance_rises(A, t1, t2):
    lo, hi = sorted((t1, t2))
    assert lr.numerical_rank(A, tol=hi) <= lr.numerical_rank(A, tol=lo) <= min(A.shape)


def test_singular_values_descend():
    S = lr.singular_values(np.random.default_rng(0).standard_normal((6, 9)))
    assert np.all(np.diff(S) <= 0) and np.all(S >= 0)


# ---------------------------------------------------------------------------- rank(BA) ≤ r


@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 40), st.integers(0, 2**16))
def test_rank_of_product_is_min_of_r_d_k(d, k, r, seed):
    # ≤ r always; = min(r, d, k) for Gaussian factors (almost surely)
    B, A = lr.random_factors(d, k, r, seed)
    assert lr.rank_of_product(d, k, r, seed) == np.linalg.matrix_rank(B @ A) == min(r, d, k)


@given(chained_pairs())
def test_rank_of_product_never_exceeds_either_factor_in_exact_arithmetic(pair):
    B, A = pair  # chained shapes, so every example asserts
    assert lr.exact_rank(B @ A) <= min(lr.exact_rank(B), lr.exact_rank(A), B.shape[1])


# ---------------------------------------------------------------------------- storage


def test_seed_storage_example_is_d_times_k_against_r_times_d_plus_k():
    d = k = 100
    assert lr.dense_params(d, k) == d * k == 10_000
    assert lr.low_rank_params(d, k, 1) == 1 * (d + k) == 200


@given(st.integers(1, 5000), st.integers(1, 5000), st.data())
def test_factors_are_cheaper_exactly_up_to_break_even_rank(d, k, data):
    r = data.draw(st.integers(1, min(d, k)))
    cheaper = lr.low_rank_params(d, k, r) < lr.dense_params(d, k)
    assert cheaper == (r <= lr.break_even_rank(d, k))


def test_factor_shapes_count_what_low_rank_params_says():
    B, A = lr.random_factors(40, 30, 3, seed=0)
    assert B.shape == (40, 3) and A.shape == (3, 30)
    assert B.size + A.size == lr.low_rank_params(40, 30, 3)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: lr.exact_rank([1, 2, 3]), ValueError, r"A must be a 2-D array .* got ndim=1"),
        (lambda: lr.numerical_rank(np.ones((2, 2, 2))), ValueError, r"A must be a 2-D array .* got ndim=3"),
        (
            lambda: lr.numerical_rank(np.zeros((0, 3))),
            ValueError,
            r"at least one row and one column, got shape \(0, 3\)",
        ),
        (
            lambda: lr.numerical_rank([[1.0, np.nan]]),
            ValueError,
            r"A must be finite, got nan at index \(0, 1\)",
        ),
        (lambda: lr.exact_rank([[1.0, np.inf]]), ValueError, r"A must be finite, got inf"),
        (lambda: lr.numerical_rank([[1j]]), TypeError, r"A must hold real numbers, got dtype complex128"),
        (lambda: lr.numerical_rank([["a"]]), TypeError, r"A must hold real numbers"),
        (
            lambda: lr.numerical_rank(np.eye(2), tol=-1e-3),
            ValueError,
            r"tol must be a finite number >= 0, got -0.001",
        ),
        (
            lambda: lr.numerical_rank(np.eye(2), tol=float("nan")),
            ValueError,
            r"tol must be a finite number >= 0, got nan",
        ),
        (lambda: lr.low_rank_params(100, 100, 0), ValueError, r"r must be in 1..100, got 0"),
        (lambda: lr.low_rank_params(100, 64, 65), ValueError, r"r must be in 1..64, got 65"),
        (lambda: lr.low_rank_params(100, 100, 1.5), TypeError, r"r must be an integer, got 1.5"),
        (lambda: lr.low_rank_params(100, 100, True), TypeError, r"r must be an integer, got True"),
        (lambda: lr.dense_params(0, 5), ValueError, r"d must be >= 1, got 0"),
        (lambda: lr.random_factors(3, 3, 1, seed=-1), ValueError, r"seed must be >= 0, got -1"),
    ],
)
def test_bad_input_names_argument_value_and_range(call, error, message):
    with pytest.raises(error, match=message):
        call()
