"""The formats chapter's precision section: underflow, loss scaling and master weights, checked against numpy
and torch and against the arithmetic of the formats' smallest numbers."""

import numpy as np
import pytest
import torch

from lorabook import formats, precision


@pytest.fixture(scope="module")
def grads():
    return precision.synthetic_gradients(n=20_000, log10_median=-6.0, log10_spread=1.5, seed=0)


def test_fp16_loses_exactly_the_gradients_below_half_its_smallest_subnormal(grads):
    """IEEE rounding sends |g| below half the smallest subnormal (2^-25) to zero, and numpy agrees."""
    lost = precision.underflow_fraction(grads, "FP16")
    assert lost == pytest.approx(np.mean(grads.astype(np.float16) == 0))
    tiny = formats.get_format("FP16").min_subnormal
    assert lost == pytest.approx(np.mean(np.abs(grads) < tiny / 2), abs=1 / len(grads))
    assert 0 < lost < 1


def test_bf16_loses_none_of_them_and_matches_torch(grads):
    assert precision.underflow_fraction(grads, "BF16") == 0
    assert np.all(torch.as_tensor(grads).to(torch.bfloat16).to(torch.float64).numpy() != 0)


def test_the_best_loss_scale_is_the_largest_power_of_two_that_overflows_nothing(grads):
    scale = precision.best_loss_scale(grads, "FP16")
    assert np.log2(scale) == int(np.log2(scale))
    assert precision.overflow_fraction(grads, "FP16", scale) == 0
    assert precision.overflow_fraction(grads, "FP16", 2 * scale) > 0
    assert precision.underflow_fraction(grads, "FP16", scale) < precision.underflow_fraction(grads, "FP16")
    with pytest.raises(ValueError, match="every candidate loss scale overflows FP16"):
        precision.best_loss_scale([1e6], "FP16")


def test_an_update_below_half_the_gap_never_moves_a_16_bit_weight_but_moves_its_master_copy():
    eps = formats.get_format("FP16").epsilon
    update, steps = eps / 4, 100
    stuck = precision.sgd_trajectory(1.0, update, steps, "FP16")
    assert np.all(stuck == 1.0)
    moved = precision.sgd_trajectory(1.0, update, steps, "FP16", master=True)
    master = np.float32(1.0) - np.cumsum(
        np.full(steps, np.float32(update), dtype=np.float32), dtype=np.float32
    )
    assert moved[-1] == pytest.approx(float(np.float16(master[-1])), abs=eps)
    assert moved[-1] < 1.0 - steps * update / 2


def test_fp32_follows_plain_float32_arithmetic():
    out = precision.sgd_trajectory(1.0, 1e-4, 50, "FP32")
    w = np.float32(1.0)
    for _ in range(50):
        w = np.float32(w - np.float32(1e-4))
    assert out[-1] == float(w)
