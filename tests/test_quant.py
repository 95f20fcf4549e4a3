"""Claims of the int8 chapter: error bounds, exact int8 matmul, and LLM.int8() against bitsandbytes."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lorabook import bnb as B
from lorabook import quant as Q

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)
vectors = arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 8)), elements=finite)


# ---------------------------------------------------------------------------- error bound: half a step


@pytest.mark.parametrize("granularity", Q.GRANULARITIES)
@given(x=vectors)
def test_absmax_error_is_at_most_half_a_step(granularity, x):
    qx = Q.absmax_quantize(x, granularity)
    err = Q.quantization_error(x, qx)
    assert qx.q.dtype == torch.int8 and qx.q.abs().max() <= 127
    # half a step (the arithmetic is float64, so its own rounding is far below the bound)
    assert torch.all(err <= qx.step / 2 * (1 + 1e-12))


@pytest.mark.parametrize("granularity", Q.GRANULARITIES)
@given(x=vectors)
def test_zeropoint_error_is_at_most_half_a_step_and_uses_the_full_range(granularity, x):
    qx = Q.zeropoint_quantize(x, granularity)
    err = Q.quantization_error(x, qx)
    assert torch.all(err <= qx.step / 2 * (1 + 1e-9))
    assert qx.q.min() >= -128 and qx.q.max() <= 127


@pytest.mark.parametrize("granularity", Q.GRANULARITIES)
def test_zeropoint_stretches_each_group_s_range_with_zero_over_the_256_codes(granularity):
    """Per group (the tensor, each row or each column): s = 255 / (max(x, 0) − min(x, 0)), 1 for an
    all-zero group; z = round(−s·min(x, 0)) − 128; q = round(s·x) + z, so zero comes back exactly. The rows
    below are of mixed sign, all positive, all negative, narrower than 1, and all zero, to be read by row,
    by column and whole."""
    x = torch.tensor(
        [
            [-2.0, 0.5, 3.0, 1.0],
            [0.2, 0.5, 0.3, 0.4],
            [-0.7, -0.1, -0.4, -0.2],
            [0.01, -0.02, 0.03, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ],
        dtype=torch.float64,
    )
    qx = Q.zeropoint_quantize(x, granularity)
    groups = {"tensor": [x.reshape(-1)], "row": list(x), "column": list(x.T)}[granularity]
    scales = []
    for g in groups:
        lo, hi = min(g.min().item(), 0.0), max(g.max().item(), 0.0)
        scales.append(255 / (hi - lo) if hi > lo else 1.0)
    shape = {"tensor": (1, 1), "row": (-1, 1), "column": (1, -1)}[granularity]
    s = torch.tensor(scales, dtype=torch.float64).reshape(shape)
    torch.testing.assert_close(qx.scale.double(), s.expand_as(qx.scale), rtol=1e-12, atol=0)
    lo = torch.stack([torch.clamp(g.min(), max=0) for g in groups]).reshape(shape)
    z = torch.round(-s * lo) - 128
    torch.testing.assert_close(qx.zero_point.double(), z.expand_as(qx.zero_point), rtol=0, atol=0)
    assert qx.q.dtype == torch.int8
    assert torch.equal(qx.q.long(), (torch.round(s * x) + z).clamp(-128, 127).long())
    assert torch.all(qx.dequantize()[x == 0] == 0)  # zero is a code


def test_zeropoint_clamps_the_code_that_two_ties_round_past_127():
    """s = 1, z = round(1.5) − 128 = −126, and round(253.5) − 126 = 128: half-to-even rounds both ends up, so
    the top code must be clamped to 127 (the bottom cannot fall below −128: round(−a) = −round(a))."""
    qx = Q.zeropoint_quantize(torch.tensor([-1.5, 253.5], dtype=torch.float64))
    assert float(qx.scale) == 1.0 and float(qx.zero_point) == -126
    assert qx.q.tolist() == [-128, 127]


def test_absmax_maps_the_largest_magnitude_to_127():
    qx = Q.absmax_quantize(torch.tensor([1.2, -0.5, -4.3, 1.2, -3.1, 0.8, 2.4, 5.4]))
    assert qx.q.abs().max() == 127 and qx.q[-1] == 127
    assert torch.isclose(qx.scale, torch.tensor(127 / 5.4, dtype=torch.float64), rtol=1e-6).all()


def test_the_blog_example_error_is_0_00079_not_0_008():
    # [-1, 1] scaled by 127: 0.3 → round(38.1) = 38 → 38 / 127 = 0.29921…, so the error is 7.9e-4
    qx = Q.absmax_quantize(torch.tensor([-1.0, 0.3, 1.0]))
    assert qx.q[1] == 38
    err = Q.quantization_error(torch.tensor([-1.0, 0.3, 1.0]), qx)[1].item()
    assert abs(err - (0.3 - 38 / 127)) < 1e-7 and 7.8e-4 < err < 8.0e-4


def test_row_and_column_scales_have_one_entry_per_row_and_column():
    x = torch.randn(5, 7)
    assert Q.absmax_quantize(x, "row").scale.shape == (5, 1)
    assert Q.absmax_quantize(x, "column").scale.shape == (1, 7)
    assert Q.absmax_quantize(x, "tensor").scale.shape == (1, 1)


# ---------------------------------------------------------------------------- int8 matmul is exact


@given(st.integers(1, 8), st.integers(1, 64), st.integers(1, 8), st.integers(0, 2**16))
def test_int8_matmul_equals_an_exact_integer_reference(n, h, o, seed):
    g = np.random.default_rng(seed)
    a = g.integers(-127, 128, (n, h))
    b = g.integers(-127, 128, (h, o))
    ref = a.astype(object) @ b.astype(object)  # Python integers: no rounding, no overflow
    out = Q.int8_matmul(torch.tensor(a, dtype=torch.int8), torch.tensor(b, dtype=torch.int8))
    assert out.dtype == torch.int32
    assert (out.numpy().astype(object) == ref).all()


def test_int8_matmul_accumulates_the_worst_case_without_overflow():
    h = 2**31 // 127**2  # the largest inner dimension whose worst case fits in int32
    a = torch.full((1, h), -127, dtype=torch.int8)
    assert Q.int8_matmul(a, torch.full((h, 1), -127, dtype=torch.int8)).item() == h * 127**2


def test_vectorwise_beats_tensorwise_when_rows_differ_in_scale():
    X = torch.randn(32, 64) * torch.logspace(-2, 1, 32)[:, None]  # rows spanning three decades
    W = Q.gaussian_weights(64, 16)
    exact = X.double() @ W.double()
    vec, ten = Q.vectorwise_matmul(X, W), Q.vectorwise_matmul(X, W, "tensor")
    assert Q.relative_error(vec, exact) < Q.relative_error(ten, exact) / 2


# ---------------------------------------------------------------------------- LLM.int8()


def test_llm_int8_finds_exactly_the_outlier_columns():
    X, dims = Q.outlier_activations(64, 128, n_outliers=4, magnitude=30.0, seed=1)
    res = Q.llm_int8_matmul(X, Q.gaussian_weights(128, 32))
    assert torch.equal(res.outlier_cols, dims)
    assert torch.allclose(res.out, res.out_fp16 + res.out_int8)
    assert res.int8_fraction == 1 - 4 / 128


def test_without_outliers_llm_int8_is_plain_vectorwise_int8():
    X = torch.randn(16, 32).clamp(-5, 5)
    W = Q.gaussian_weights(32, 8)
    res = Q.llm_int8_matmul(X, W, threshold=6.0)
    assert res.outlier_cols.numel() == 0
    assert torch.allclose(res.out, Q.vectorwise_matmul(X, W), atol=1e-6)


@given(st.integers(0, 2**16), st.floats(8.0, 60.0))
def test_outlier_decomposition_is_far_more_accurate_than_vectorwise_int8(seed, magnitude):
    X, _ = Q.outlier_activations(48, 96, n_outliers=3, magnitude=magnitude, seed=seed)
    W = Q.gaussian_weights(96, 24, seed=seed)
    exact = X.double() @ W.double()
    assert Q.relative_error(Q.llm_int8_matmul(X, W).out, exact) < Q.relative_error(
        Q.vectorwise_matmul(X, W), exact
    )


def test_a_threshold_inside_the_ordinary_range_sends_more_to_fp16_and_errs_less():
    """τ below the ordinary values' size is no loss of accuracy: more dimensions go to fp16 and the error
    falls; what it costs is the int8 saving (int8_fraction)."""
    X, _ = Q.outlier_activations(128, 256, n_outliers=4, magnitude=20.0, seed=2)
    W = Q.gaussian_weights(256, 64, seed=2)
    exact = X.double() @ W.double()
    low, paper = (
        Q.llm_int8_matmul(X, W, threshold=2.0),
        Q.llm_int8_matmul(X, W, threshold=Q.OUTLIER_THRESHOLD),
    )
    assert len(low.outlier_cols) > 10 * len(paper.outlier_cols) and low.int8_fraction < paper.int8_fraction
    assert Q.relative_error(low.out, exact) < Q.relative_error(paper.out, exact) / 2


def test_vectorwise_error_grows_slower_than_the_outliers_and_levels_off():
    W = Q.gaussian_weights(256, 64, seed=1)
    errs = []
    for m in (1, 2, 4, 8, 16, 32, 64):
        X, _ = Q.outlier_activations(128, 256, n_outliers=4, magnitude=float(m), seed=1)
        errs.append(Q.relative_error(Q.vectorwise_matmul(X, W), X.double() @ W.double()))
    assert errs[-1] / errs[0] < 64 / 2  # far less than in proportion to the outliers' size
    assert errs[-1] / errs[-2] < errs[2] / errs[1]  # and the growth slows


@pytest.fixture(scope="module")
def outlier_case():
    # OPT-6.7B's width: at this size float64 and float32 scaling round some near-ties differently
    X, _ = Q.outlier_activations(64, 4096, n_outliers=7, magnitude=25.0, seed=3)
    X = X.half().float()  # bitsandbytes takes fp16 activations: give both the same input
    W = Q.gaussian_weights(4096, 256, seed=3).half().float()
    return X, W, X.double() @ W.double()


def test_llm_int8_in_the_bitsandbytes_layout_agrees_with_bitsandbytes(outlier_case):
    X, W, _ = outlier_case
    ours = Q.llm_int8_matmul(X, W, bitsandbytes_layout=True).out
    theirs = B.bnb_matmul(X, W, threshold=6.0)
    # Same int8 codes and scales, so what is left is rounding to fp16: bitsandbytes rounds the int8 result and
    # then the sum to fp16, and we round the outlier product to fp16: three half-ulps of fp16 at the output's
    # size.
    ulp = 2.0 ** (torch.floor(torch.log2(theirs.abs().max())) - 10)
    assert (ours - theirs).abs().max() <= 1.5 * ulp


def test_bitsandbytes_layout_stores_the_same_int8_weight_codes(outlier_case):
    X, W, _ = outlier_case
    layer = B.linear8bit(W)
    ours = Q.absmax_float32(W, W.abs().amax(dim=0, keepdim=True))
    assert torch.equal(ours.q.T, layer.weight.data)


def test_our_llm_int8_is_no_less_accurate_than_bitsandbytes(outlier_case):
    X, W, exact = outlier_case
    ours = Q.relative_error(Q.llm_int8_matmul(X, W).out, exact)
    theirs = Q.relative_error(B.bnb_matmul(X, W), exact)
    assert ours / theirs <= 1.1


def test_bitsandbytes_on_cpu_trains_with_weight_only_int8(outlier_case):
    X, W, _ = outlier_case
    layer = B.linear8bit(W)
    weight_only = (X.half().float() @ B.dequantized_weight(layer)).half().float()
    train = B.bnb_matmul(X, training=True, layer=layer)
    infer = B.bnb_matmul(X, training=False, layer=layer)
    ulp = 2.0 ** (torch.floor(torch.log2(train.abs().max())) - 10)
    assert (train - weight_only).abs().max() <= ulp  # X is never quantized in training mode
    assert (infer - weight_only).abs().max() > 4 * ulp  # in eval mode it is


def test_int8_linear_weights_take_half_of_fp16_plus_one_fp32_scale_per_row():
    from lorabook import models as M

    config = M.opt_config("opt-125m", num_hidden_layers=1, vocab_size=256, max_position_embeddings=64)
    loaded = B.load_in_dtypes(M.random_model(config), ("fp16", "int8"))
    fp16, int8 = (B.linear_weight_bytes(loaded[k]) for k in ("fp16", "int8"))
    d, f = config.hidden_size, config.ffn_dim
    rows = 4 * d + f + d  # output rows of q, k, v, out_proj, fc1, fc2
    assert int8["weights"] * 2 == fp16["weights"]
    assert int8["scales"] == rows * 4


# ---------------------------------------------------------------------------- bad input


def test_non_finite_values_are_refused_with_their_position():
    with pytest.raises(ValueError, match=r"x must be finite to quantize, got nan at index \(1,\)"):
        Q.absmax_quantize(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="x must be finite to quantize, got inf"):
        Q.zeropoint_quantize(torch.tensor([float("inf")]))


def test_a_negative_threshold_is_refused():
    with pytest.raises(ValueError, match=r"threshold must be a finite number >= 0, got -1\.0"):
        Q.llm_int8_matmul(torch.ones(2, 3), torch.ones(3, 2), threshold=-1.0)


def test_an_unsupported_dtype_is_refused():
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor .* got dtype torch\.int64"):
        Q.absmax_quantize(torch.arange(4))
    with pytest.raises(TypeError, match=r"Xq must be int8, got dtype torch\.float32"):
        Q.int8_matmul(torch.ones(2, 2), torch.ones(2, 2, dtype=torch.int8))


def test_mismatched_matmul_shapes_are_refused():
    with pytest.raises(ValueError, match=r"matching h, got X \(2, 3\) and W \(4, 2\)"):
        Q.llm_int8_matmul(torch.ones(2, 3), torch.ones(4, 2))
    with pytest.raises(ValueError, match="matching h"):
        Q.vectorwise_matmul(torch.ones(2, 3), torch.ones(4, 2))


def test_unknown_granularity_is_refused():
    with pytest.raises(
        ValueError, match=r"granularity must be one of \('tensor', 'row', 'column'\), got 'block'"
    ):
        Q.absmax_quantize(torch.ones(2, 2), "block")


def test_llm_int8_keeps_a_scale_per_row_of_x_and_column_of_w_each_without_the_outliers():
    """s_x = 127 / the row's absmax and s_w = 127 / the column's absmax, shaped (n, 1) and (1, o). Without the
    bitsandbytes layout the outlier dimensions are left out of both; with it, W keeps them, and X loses only
    its outlier values. The rows here stay below 1, and one value sits exactly at τ = 6."""
    X = (torch.rand(4, 16, generator=torch.Generator().manual_seed(0)) - 0.5) / 2
    X[1, 3], X[2, 3], X[0, 9] = 6.0, 0.2, -7.5  # dimensions 3 and 9 are outliers; 0.2 is not an outlier value
    W = Q.gaussian_weights(16, 5, seed=0)
    keep = torch.ones(16, dtype=torch.bool)
    keep[[3, 9]] = False
    plain = Q.llm_int8_matmul(X, W)
    assert plain.outlier_cols.tolist() == [3, 9]
    assert plain.scale_x.shape == (4, 1) and plain.scale_w.shape == (1, 5)
    close = lambda a, b: torch.testing.assert_close(a.double(), b.double(), rtol=1e-6, atol=0)  # noqa: E731
    close(plain.scale_x, 127 / (X * keep).abs().amax(dim=1, keepdim=True))
    close(plain.scale_w, 127 / (W * keep[:, None]).abs().amax(dim=0, keepdim=True))
    layout = Q.llm_int8_matmul(X, W, bitsandbytes_layout=True)
    assert layout.scale_x.shape == (4, 1) and layout.scale_w.shape == (1, 5)
    small = torch.where(X.abs() >= 6.0, 0.0, X)  # row 2 keeps its 0.2 in dimension 3
    close(layout.scale_x, 127 / small.abs().amax(dim=1, keepdim=True))
    close(layout.scale_w, 127 / W.abs().amax(dim=0, keepdim=True))


def test_an_all_zero_group_quantizes_to_zero_with_scale_one():
    q = Q.absmax_quantize(torch.tensor([[0.0, 0.0], [1.0, -2.0]]), "row")
    assert q.scale.flatten().tolist() == [1.0, 127 / 2] and q.q[0].tolist() == [0, 0]
    assert q.dequantize()[0].tolist() == [0.0, 0.0]


def test_row_and_column_scales_refuse_a_vector_by_its_shape():
    for granularity in ("row", "column"):
        message = rf"^{granularity}-wise scales need a 2-D tensor, got shape \(3,\)$"
        with pytest.raises(ValueError, match=message):
            Q.absmax_quantize(torch.ones(3), granularity)


def test_dequantized_codes_and_relative_errors_are_float64_whatever_came_in():
    q = Q.absmax_float32(torch.tensor([[0.1, -0.7]]), torch.tensor([[0.7]]))
    assert q.dequantize().dtype == torch.float64
    torch.testing.assert_close(q.dequantize(), q.q.double() / q.scale.double(), rtol=0, atol=0)
    g = torch.Generator().manual_seed(0)
    approx, exact = torch.randn(1000, generator=g), torch.randn(1000, generator=g)
    expected = ((approx.double() - exact.double()).norm() / exact.double().norm()).item()
    assert Q.relative_error(approx, exact) == expected
    assert Q.relative_error(approx, exact.double()) == Q.relative_error(approx.double(), exact) == expected
