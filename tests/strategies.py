"""Hypothesis strategies shared by the tests."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

# Entries of moderate size: wide enough to mix scales, narrow enough that sums of squares stay exact-ish.
finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def matrices(draw, max_side=8, elements=finite):
    m = draw(st.integers(1, max_side))
    n = draw(st.integers(1, max_side))
    return draw(arrays(np.float64, (m, n), elements=elements))


small_ints = st.integers(-4, 4)


@st.composite
def int_matrices(draw, max_side=5):
    m = draw(st.integers(1, max_side))
    n = draw(st.integers(1, max_side))
    return draw(arrays(np.int64, (m, n), elements=small_ints))


@st.composite
def same_shape_pairs(draw, max_side=5):
    """Two integer matrices of one shape: a sum of them is always defined."""
    m, n = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    return draw(arrays(np.int64, (m, n), elements=small_ints)), draw(
        arrays(np.int64, (m, n), elements=small_ints)
    )


@st.composite
def chained_pairs(draw, max_side=5):
    """B (m×k) and A (k×n): a product B @ A is always defined."""
    m, k, n = (draw(st.integers(1, max_side)) for _ in range(3))
    return draw(arrays(np.int64, (m, k), elements=small_ints)), draw(
        arrays(np.int64, (k, n), elements=small_ints)
    )
