"""Two contracts the chapters rely on, checked function by function.

- Each random matrix is numpy's PCG64 generator seeded with [seed, crc32(stream)], a stream per function
  (lorabook._checks.rng), at seed 0 unless told otherwise: a reader rerunning a chapter draws the very
  matrices whose numbers the page prints. Each draw is rebuilt here from that definition alone.
- Each checked argument (of rank, svd and budget), given a value outside its range, is refused by a
  ValueError that begins with the argument's own name, and its smallest allowed value is accepted.
"""

import zlib

import numpy as np
import pytest
import torch

from lorabook import budget, models, quant
from lorabook import delta as D
from lorabook import lora as L
from lorabook import rank as R
from lorabook import svd as S
from lorabook.family import vera


def stream(name, seed=0):
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def test_each_draw_is_numpy_s_generator_on_its_function_s_stream_at_seed_0():
    g = stream("random_factors")
    B, A = R.random_factors(4, 3, 2)
    np.testing.assert_array_equal(B, g.standard_normal((4, 2)))
    np.testing.assert_array_equal(A, g.standard_normal((2, 3)))

    np.testing.assert_array_equal(
        S.gaussian_matrix(5, 4), stream("gaussian_matrix").standard_normal((5, 4)) / 2
    )

    g = stream("low_rank_plus_noise")
    U, _ = np.linalg.qr(g.standard_normal((6, 2)))
    V, _ = np.linalg.qr(g.standard_normal((5, 2)))
    expected = U @ np.diag([2.0, 1.0]) @ V.T + 0.05 * g.standard_normal((6, 5))
    np.testing.assert_allclose(S.low_rank_plus_noise(6, 5, 2), expected, rtol=0, atol=1e-12)

    A = S.gaussian_matrix(6, 5, seed=3)
    Q, _ = np.linalg.qr(stream("random_subspace").standard_normal((6, 2)))
    np.testing.assert_allclose(S.best_in_random_subspace(A, 2), Q @ Q.T @ A, rtol=0, atol=1e-12)

    W = stream("gaussian_weights").standard_normal((4, 3)) / 2
    np.testing.assert_array_equal(quant.gaussian_weights(4, 3).numpy(), W.astype(np.float32))

    g = stream("fit_low_rank_gd")
    B0, C0 = 1e-2 * g.standard_normal((6, 2)), 1e-2 * g.standard_normal((2, 5))
    *_, losses = S.fit_low_rank_gd(A, 2)
    assert len(losses) == 3000 + 1 and losses[0] == pytest.approx(np.linalg.norm(A - B0 @ C0), rel=1e-12)


def test_the_seed_chooses_the_draw():
    assert not np.array_equal(S.gaussian_matrix(3, 3), S.gaussian_matrix(3, 3, seed=1))
    np.testing.assert_array_equal(
        S.gaussian_matrix(3, 3, seed=1), stream("gaussian_matrix", 1).standard_normal((3, 3)) / np.sqrt(3)
    )


A34 = np.arange(12.0).reshape(3, 4) + np.eye(3, 4)

# (function, the arguments it is called with, the argument varied, its smallest allowed value, a value below)
CHECKED = [
    (R.random_factors, dict(d=2, k=2, r=1), "d", 1, 0),
    (R.random_factors, dict(d=2, k=2, r=1), "k", 1, 0),
    (R.random_factors, dict(d=2, k=2, r=1), "r", 1, 0),
    (R.hilbert, dict(n=3), "n", 1, 0),
    (R.dense_params, dict(d=2, k=2), "d", 1, 0),
    (R.dense_params, dict(d=2, k=2), "k", 1, 0),
    (S.gaussian_matrix, dict(m=2, n=2), "m", 1, 0),
    (S.gaussian_matrix, dict(m=2, n=2), "n", 1, 0),
    (S.low_rank_plus_noise, dict(m=2, n=2, r=1), "m", 1, 0),
    (S.low_rank_plus_noise, dict(m=2, n=2, r=1), "n", 1, 0),
    (S.low_rank_plus_noise, dict(m=2, n=2, r=1), "r", 1, 0),
    (S.best_in_random_subspace, dict(A=A34, k=1), "k", 0, -1),
    (S.fit_low_rank_gd, dict(A=A34, k=1, steps=2), "k", 1, 0),
    (S.fit_low_rank_gd, dict(A=A34, k=1, steps=2), "steps", 1, 0),
    (budget.technique_savings, dict(config=models.tiny_opt_config(), batch=1, seq=8), "accumulation", 1, 0),
    (R.low_rank_params, dict(d=2, k=2, r=1), "d", 1, 0),
    (R.low_rank_params, dict(d=2, k=2, r=1), "k", 1, 0),
    (R.break_even_rank, dict(d=2, k=2), "d", 1, 0),
    (R.break_even_rank, dict(d=2, k=2), "k", 1, 0),
    (S.storage_ratio, dict(m=2, n=2, k=1), "m", 1, 0),
    (S.storage_ratio, dict(m=2, n=2, k=1), "n", 1, 0),
    (D.random_similarity, dict(i=1, j=1, k=2), "k", 1, 0),
    (quant.gaussian_weights, dict(h=2, o=2), "h", 1, 0),
    (quant.gaussian_weights, dict(h=2, o=2), "o", 1, 0),
    (L.LoRALinear, dict(base=torch.nn.Linear(3, 2), r=1), "dropout", 0.0, -0.5),
    (vera.Projections, dict(r=1, d_in=3, d_out=2), "r", 1, 0),
    (vera.Projections, dict(r=1, d_in=3, d_out=2), "key", 0, -1),
    (
        vera.VeRALinear,
        dict(base=torch.nn.Linear(3, 2), projections=vera.Projections(1, 3, 2)),
        "dropout",
        0.0,
        -0.5,
    ),
    (
        vera.VeRALinear,
        dict(base=torch.nn.Linear(3, 2), projections=vera.Projections(1, 3, 2)),
        "d_initial",
        0.0,
        -0.5,
    ),
]


@pytest.mark.parametrize("fn,kwargs,arg,low,below", CHECKED, ids=lambda v: getattr(v, "__name__", None))
def test_a_checked_argument_is_named_when_refused_and_its_smallest_value_accepted(
    fn, kwargs, arg, low, below
):
    fn(**{**kwargs, arg: low})
    with pytest.raises(ValueError, match=rf"^{arg} must be .*got {below}$"):
        fn(**{**kwargs, arg: below})


@pytest.mark.parametrize("fn", [S.best_in_random_subspace, S.fit_low_rank_gd])
def test_k_is_at_most_the_matrix_s_smaller_side(fn):
    fn(A34, 3)
    with pytest.raises(ValueError, match=r"^k must be in \d\.\.3, got 4$"):
        fn(A34, 4)


def test_rank_for_energy_counts_a_target_met_exactly_as_reached():
    assert S.rank_for_energy([1.0, 1.0], 0.5) == 1  # E_1 = 0.5 exactly
    assert S.rank_for_energy([3.0, 2.0, 1.0], 1.0) == 3
    assert S.rank_for_energy([3.0, 2.0, 1.0], 9 / 14) == 1


def test_one_gradient_step_is_the_simultaneous_step_along_minus_the_gradient_over_sigma_1():
    """B₁ = B₀ + η (A − B₀C₀) C₀ᵀ and C₁ = C₀ + η B₀ᵀ (A − B₀C₀), with η = lr / σ₁(A), the spectral norm."""
    A = S.low_rank_plus_noise(6, 5, 2)
    g = stream("fit_low_rank_gd")
    B0, C0 = 1e-2 * g.standard_normal((6, 2)), 1e-2 * g.standard_normal((2, 5))
    eta = 0.3 / np.linalg.svd(A, compute_uv=False)[0]
    R0 = A - B0 @ C0
    B, C, losses = S.fit_low_rank_gd(A, 2, steps=1)
    np.testing.assert_allclose(B, B0 + eta * R0 @ C0.T, rtol=1e-12)
    np.testing.assert_allclose(C, C0 + eta * B0.T @ R0, rtol=1e-12)
    assert losses.tolist() == pytest.approx([np.linalg.norm(R0), np.linalg.norm(A - B @ C)], rel=1e-12)


def test_an_all_zero_matrix_is_refused_in_words():
    with pytest.raises(ValueError, match=r"^A is all zeros: there is nothing to fit$"):
        S.fit_low_rank_gd(np.zeros((3, 3)), 1)
    with pytest.raises(ValueError, match=r"^S is all zeros: the zero matrix has no energy to capture$"):
        S.energy_captured([0.0, 0.0])


def test_lora_dropout_is_a_probability_below_one():
    L.LoRALinear(torch.nn.Linear(3, 2), r=1, dropout=0.99)
    for p in (1.0, 1.5):
        with pytest.raises(ValueError, match=rf"^dropout must be in \[0, 1\), got {p}$"):
            L.LoRALinear(torch.nn.Linear(3, 2), r=1, dropout=p)


def test_a_lora_layer_s_factors_live_where_its_base_does():
    """A and B are made on the base's device and in its dtype: on the meta device for the book's weightless
    OPT-6.7B, beside the weights on a GPU."""
    with torch.device("meta"):
        base = torch.nn.Linear(8, 4, dtype=torch.float16)
    layer = L.LoRALinear(base, r=2)
    assert {layer.A.device.type, layer.B.device.type} == {"meta"}
    assert layer.A.dtype == layer.B.dtype == torch.float16


def test_the_break_even_rank_is_the_largest_integer_strictly_below_dk_over_d_plus_k():
    for d, k in ((2, 3), (4, 4), (4096, 4096), (7, 5)):
        r = R.break_even_rank(d, k)
        assert isinstance(r, int) and r * (d + k) < d * k <= (r + 1) * (d + k)


def test_the_4_bit_rivals_are_their_formats():
    """int4: symmetric absmax with 4 bits, the 15 levels k/7; FP4 E2M1 from its bits: a 2-bit exponent with
    bias 1 and a 1-bit mantissa, subnormal at exponent 0 (value m/2), else 2^(e−1)·(1 + m/2); scaled by 6,
    its largest value, to [−1, 1]."""
    from lorabook import nf4

    np.testing.assert_array_equal(nf4.int4_code(), [k / 7 for k in range(-7, 8)])
    values = {
        s * (m / 2 if e == 0 else 2 ** (e - 1) * (1 + m / 2))
        for s in (-1, 1)
        for e in range(4)
        for m in range(2)
    }
    np.testing.assert_array_equal(nf4.fp4_code(), np.array(sorted(values)) / 6)


def test_nf4_error_uses_the_block_it_is_given():
    from lorabook import nf4

    x = stream("nf4 error").standard_normal(1 << 10).astype(np.float32)
    for block in (32, 64, 128):
        expected = np.mean((nf4.quantize(x, None, block).dequantize() - x).astype(np.float64) ** 2)
        assert nf4.error(x, None, block) == expected
    assert nf4.error(x, None, 32) < nf4.error(x, None, 128)  # a smaller block, a closer absmax


def test_outlier_activations_scale_distinct_dimensions_of_float32_states():
    X, dims = quant.outlier_activations(5, 8, n_outliers=8, magnitude=3.0)
    assert X.dtype == torch.float32 and sorted(set(dims.tolist())) == list(range(8))
    X0, none = quant.outlier_activations(5, 8, n_outliers=0)
    assert none.numel() == 0 and X0.abs().max() < 6
    quant.outlier_activations(1, 1, n_outliers=1)
    for kwargs, name in ((dict(n_tokens=0, h=4), "n_tokens"), (dict(n_tokens=2, h=0), "h")):
        with pytest.raises(ValueError, match=rf"^{name} must be"):
            quant.outlier_activations(**kwargs)
    with pytest.raises(ValueError, match=r"^n_outliers must be in 0\.\.4, got 5$"):
        quant.outlier_activations(2, 4, n_outliers=5)
    with pytest.raises(ValueError, match=r"^magnitude must be"):
        quant.outlier_activations(2, 4, magnitude=0)


def test_tensor_wise_int8_matmul_uses_one_scale_for_each_operand():
    X, W = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)), quant.gaussian_weights(6, 3)
    qx, qw = quant.absmax_quantize(X, "tensor"), quant.absmax_quantize(W, "tensor")
    expected = (qx.q.to(torch.int32) @ qw.q.to(torch.int32)).double() / (qx.scale * qw.scale)
    torch.testing.assert_close(
        quant.vectorwise_matmul(X, W, "tensor").double(), expected, rtol=1e-6, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"^granularity must be 'vector' or 'tensor', got 'row'$"):
        quant.vectorwise_matmul(X, W, "row")


def test_a_spectrum_that_rises_anywhere_is_refused_where_it_rises():
    with pytest.raises(ValueError, match=r"^S must be in descending order, got S\[1\] = 1.0 < S\[2\] = 2.0$"):
        S.energy_captured([3.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"got S\[0\] = 1.0 < S\[1\] = 1.5$"):
        S.energy_captured([1.0, 1.5])


def test_outlier_activations_are_drawn_from_their_stream():
    g = stream("outlier_activations")
    X = g.standard_normal((5, 8)).astype(np.float32)
    dims = np.sort(g.choice(8, size=3, replace=False))
    X[:, dims] *= 20.0
    Xq, found = quant.outlier_activations(5, 8)
    np.testing.assert_array_equal(Xq.numpy(), X)
    np.testing.assert_array_equal(found.numpy(), dims)


def test_int8_matmul_names_the_operand_it_refuses():
    X, W = torch.ones(2, 3), torch.ones(3, 2)
    with pytest.raises(ValueError, match=r"^X must be finite to quantize, got nan at index \(0, 0\)$"):
        quant.vectorwise_matmul(torch.full((2, 3), float("nan")), W)
    with pytest.raises(ValueError, match=r"^W must not be empty"):
        quant.vectorwise_matmul(X, torch.ones(3, 0))


def test_phi_names_both_column_counts_when_they_differ():
    with pytest.raises(ValueError, match=r"^A1 and A2 must have the same number of columns, got 4 and 5$"):
        D.subspace_similarity(np.ones((3, 4)), np.ones((3, 5)))


def test_the_int8_products_name_the_operand_they_refuse():
    X, W, codes = torch.ones(2, 3), torch.ones(3, 2), torch.ones(3, 2, dtype=torch.int8)
    integer = torch.ones(2, 3, dtype=torch.int64)
    for fn in (quant.llm_int8_matmul, lambda X, W: quant.outlier_columns(X)):
        with pytest.raises(TypeError, match=r"^X must be a floating-point tensor .*got dtype torch.int64$"):
            fn(integer, W)
    with pytest.raises(TypeError, match=r"^W must be a floating-point tensor .*got dtype torch.int64$"):
        quant.llm_int8_matmul(X, integer.T)
    with pytest.raises(TypeError, match=r"^Wq must be int8, got dtype torch.float32$"):
        quant.int8_matmul(codes.T, W)


def test_int8_matmul_accumulates_in_int32_up_to_the_last_inner_dimension_that_fits():
    """h products of at most 127² each fit in int32 while h·127² < 2³¹: up to h = 133,144."""
    last = 2**31 // 127**2
    assert last * 127**2 < 2**31 <= (last + 1) * 127**2
    out = quant.int8_matmul(
        torch.full((1, last), 127, dtype=torch.int8), torch.full((last, 1), 127, dtype=torch.int8)
    )
    assert out.item() == last * 127**2
    too_many = last + 1
    message = rf"^inner dimension h must be < {too_many} to accumulate in int32, got {too_many}$"
    with pytest.raises(ValueError, match=message):
        quant.int8_matmul(
            torch.ones(1, too_many, dtype=torch.int8), torch.ones(too_many, 1, dtype=torch.int8)
        )
