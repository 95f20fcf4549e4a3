"""NF4 and double quantization from their definitions (lorabook.nf4), checked against bitsandbytes on CPU."""

import math
from statistics import NormalDist

import numpy as np
import pytest
import torch

from lorabook import finetune as F
from lorabook import nf4 as N
from lorabook.plots import nf4 as P
from lorabook.plots.style import check_legible


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_nf4_code_is_bitsandbytes_table():
    _, state = N.bnb_quantize(_x(4, 64))
    np.testing.assert_allclose(N.nf4_code(), state.code.numpy(), rtol=0, atol=1e-6)  # float32 rounding
    assert N.CODES["NF4"] is N.nf4_code and len(N.CODES["NF4"]()) == 2**4 == state.code.numel()


def test_levels_sit_at_evenly_spaced_probabilities_on_each_side():
    """The construction's equal-mass property: Φ(level · Φ⁻¹(δ)) steps evenly, by (δ − ½)/8 above zero
    and by (δ − ½)/7 below, from δ at the extremes; zero is a level and the levels span [−1, 1]."""
    code, phi = N.nf4_code(), NormalDist()
    p = np.array([phi.cdf(q * phi.inv_cdf(N.OFFSET)) for q in code])
    above, below = p[code > 0], 1 - p[code < 0]
    step = N.OFFSET - 0.5
    np.testing.assert_allclose(np.diff(above), step / 8, rtol=1e-9)
    np.testing.assert_allclose(np.diff(below), -step / 7, rtol=1e-9)  # from δ at −1 down towards ½
    assert above[-1] == pytest.approx(N.OFFSET) and below[0] == pytest.approx(N.OFFSET)
    assert code.size == 16 and (code == 0).sum() == 1 and code[0] == -1 and code[-1] == 1
    assert N.OFFSET == pytest.approx(0.5 * ((1 - 1 / 30) + (1 - 1 / 32)))


@pytest.mark.parametrize("shape", [(64, 64), (3, 100), (1000,)])
def test_blockwise_codes_and_absmax_equal_bitsandbytes(shape):
    x = _x(*shape, seed=3) * torch.linspace(0.1, 3, math.prod(shape)).reshape(shape)  # blocks of many scales
    packed, state = N.bnb_quantize(x)
    ours = N.quantize(x)
    np.testing.assert_array_equal(N.pack(ours.indices[: x.numel()]), packed.numpy().reshape(-1))  # unpadded
    np.testing.assert_array_equal(ours.absmax, state.absmax.numpy())
    np.testing.assert_allclose(
        ours.dequantize(), N.bnb_dequantize(packed, state).reshape(shape), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(N.unpack(N.pack(ours.indices)), ours.indices)


def test_quantization_is_idempotent_and_exact_on_levels():
    q = N.quantize(_x(8, 64, seed=4))
    again = N.quantize(q.dequantize())
    np.testing.assert_array_equal(again.indices, q.indices)
    np.testing.assert_array_equal(again.absmax, q.absmax)


def test_the_block_sizes_are_qlora_s_and_bitsandbytes_defaults():
    import inspect

    import bitsandbytes.functional as bnbf

    # QLoRA (Dettmers et al. 2023, section 3): blocks of 64 weights, and of 256 absmax values when
    # double-quantized
    assert (N.BLOCK, N.BLOCK2) == (64, 256)
    assert inspect.signature(bnbf.quantize_4bit).parameters["blocksize"].default in (None, N.BLOCK)
    _, state = bnbf.quantize_4bit(_x(4, 1024, seed=5), compress_statistics=True)  # bitsandbytes' defaults
    assert (state.blocksize, state.state2.blocksize) == (N.BLOCK, N.BLOCK2)
    assert N.bits_per_parameter(False) == 4 + 32 / N.BLOCK  # the fp32 absmax of every block


def test_bits_per_parameter_match_bitsandbytes_tensors():
    x = _x(256, 64 * 256, seed=5)  # whole blocks of both levels, so the count is exact
    for dq, expected in ((False, 4.5), (True, 4 + 8 / 64 + 32 / (64 * 256))):
        assert N.bits_per_parameter(dq) == pytest.approx(expected)
        assert N.measured_bits_per_parameter(*N.bnb_quantize(x, double_quant=dq)) == pytest.approx(expected)


def test_nf4_has_the_smallest_error_on_gaussian_weights():
    x = _x(1 << 16, seed=6)
    errors = {name: N.error(x, make()) for name, make in N.CODES.items()}
    assert errors["NF4"] < min(errors["int4"], errors["FP4 (E2M1)"])
    assert N.error(torch.zeros(64)) == 0.0


def test_usage_and_extremes_follow_the_code_and_block_they_are_given():
    x = _x(1 << 12, seed=9).numpy()
    for code, block in ((N.int4_code(), 64), (N.nf4_code(), 32)):
        q = N.quantize(x, code, block)
        counts = np.bincount(q.indices[: x.size], minlength=code.size)
        np.testing.assert_array_equal(N.usage(x, code, block), counts / x.size)
        ends = np.isin(q.indices, (0, code.size - 1)).reshape(-1, block).sum(axis=1)
        np.testing.assert_array_equal(N.extremes_per_block(x, code, block), ends)
    assert not np.array_equal(N.usage(x, N.int4_code()), N.usage(x))
    # a level no value reaches still has its (zero) share: one share per level
    half = np.tile(np.float32([-1.0, 0.0]), 32)
    shares = N.usage(half)
    assert shares.size == 16 and shares[0] == shares[7] == 0.5
    assert N.entropy_bits(shares) == 1.0  # unused levels add nothing, not nan


def test_a_weight_repacked_for_the_cpu_kernel_is_seen_and_not_read():
    """bitsandbytes marks a repacked 4-bit weight with quant_state.packing_format_for_cpu: repacked_for_cpu
    sees the mark, and dequantized_weight refuses to read the repacked data as the original layout."""
    import bitsandbytes as bnb

    layer = bnb.nn.Linear4bit(64, 8, bias=False, quant_type="nf4")
    layer.weight = bnb.nn.Params4bit(_x(8, 64), requires_grad=False, quant_type="nf4")._quantize("cpu")
    model = torch.nn.Sequential(layer)
    assert not N.repacked_for_cpu(model) and N.dequantized_weight(layer).shape == (8, 64)
    layer.weight.quant_state.packing_format_for_cpu = True
    assert N.repacked_for_cpu(model)
    with pytest.raises(ValueError, match="^module's weight was repacked for bitsandbytes' CPU kernel"):
        N.dequantized_weight(layer)


def test_pack_writes_bytes():
    packed = N.pack([1, 2, 15, 0])
    assert packed.dtype == np.uint8 and packed.tolist() == [0x12, 0xF0]
    assert N.unpack(packed).tolist() == [1, 2, 15, 0]


def test_usage_sums_to_one_and_entropy_is_at_most_four_bits():
    shares = N.usage(_x(1 << 14, seed=7))
    assert shares.sum() == pytest.approx(1.0) and shares.size == 16
    assert 0 < N.entropy_bits(shares) <= 4
    assert N.entropy_bits(np.full(16, 1 / 16)) == pytest.approx(4.0)


def test_every_block_has_its_absmax_on_an_extreme_level_and_more_land_there_by_rounding():
    x = np.random.default_rng(0).standard_normal(64 * 500).astype(np.float32)
    ends = N.extremes_per_block(x)
    blocks = x.reshape(-1, 64) / np.abs(x.reshape(-1, 64)).max(axis=1, keepdims=True)
    code = N.nf4_code()  # a value nearer to ±1 than to the next level in rounds to the extreme level
    top, bottom = (1 + code[-2]) / 2, (-1 + code[1]) / 2
    np.testing.assert_array_equal(ends, ((blocks > top) | (blocks < bottom)).sum(axis=1))
    assert ends.min() >= 1 and ends.mean() > 1.5 and 0.2 < np.mean(ends == 1) < 0.6


def test_codes_int4_and_fp4():
    assert N.int4_code().size == 15 and N.fp4_code().size == 15  # ±0 is one level
    assert set(np.round(N.fp4_code() * 6, 6)) >= {0.5, 1.5, 3.0, 6.0, -6.0}


def test_requantized_merge_of_nothing_is_the_base():
    w0 = torch.from_numpy(N.quantize(_x(64, 64, seed=8)).dequantize())
    torch.testing.assert_close(N.requantize_merge(w0, torch.zeros_like(w0)), w0, rtol=0, atol=0)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="offset must be in"):
        N.nf4_code(1.0)
    with pytest.raises(ValueError, match="x must be a non-empty finite array"):
        N.quantize(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"x must be a non-empty finite array, got shape \(0,\)"):
        N.quantize(np.array([]))
    with pytest.raises(ValueError, match=r"offset must be in \(0.5, 1\), got 0.5"):
        N.nf4_code(0.5)
    assert N.error([0.1]) == 0.0  # read as float32: a lone value is its block's absmax and comes back exactly
    with pytest.raises(ValueError, match="load_in_8bit and load_in_4bit are exclusive"):
        F.FinetuneConfig(load_in_4bit=True).validate()


def test_nf4_figures_are_legible():
    codes = {name: make() for name, make in N.CODES.items()}
    figs = [
        P.levels(codes, 1.8),
        P.errors({"Gaussian": {"NF4": 1.0, "int4": 1.4}}, np.full(16, 1 / 16)),
        P.bases(
            {"fp32": [3.0, 1.0], "NF4": [3.0, 0.9]}, {"fp32": 19.0, "NF4": 2.4}, {"fp32": 17, "NF4": 19}, 19
        ),
        P.memory({"OPT-6.7B": {"int8": 7.9, "NF4": 4.7}}, 48.0, "one GPU"),
    ]
    for fig in figs:
        check_legible(fig)  # on a laptop and on a phone


def test_cli_selects_a_4bit_base():
    from lorabook.finetune import cli

    cfg = cli.config_from(cli.parser().parse_args(["--nf4", "--max-steps", "1"]))
    assert cfg.load_in_4bit and not cfg.load_in_8bit


def test_offset_is_the_one_qlora_types():
    from lorabook import cited

    assert N.OFFSET == pytest.approx(cited.QLORA_NF4_OFFSET.value, abs=1e-7)


def test_quantize_takes_any_block_from_one_and_names_a_block_below_it():
    x = np.array([0.5, -1.0, 0.25], dtype=np.float32)
    q = N.quantize(x, block=1)  # every value its own absmax: scaled to ±1, NF4's end levels, and back exactly
    assert q.dequantize().dtype == np.float32
    np.testing.assert_array_equal(q.dequantize(), x)
    np.testing.assert_array_equal(q.indices, [15, 0, 15])  # NF4's top and bottom levels
    with pytest.raises(ValueError, match="block must be >= 1, got 0"):
        N.quantize(x, block=0)
    assert N.quantize(torch.ones(2, 3, dtype=torch.float64), block=4).dequantize().dtype == np.float32
    zero = N.quantize(np.zeros(5, np.float32), block=4)  # a block of zeros: each on the code's 0 level
    np.testing.assert_array_equal(N.nf4_code()[zero.indices], 0)


def test_a_value_on_a_midpoint_goes_up_and_bitsandbytes_agrees_from_eight_ulps_away():
    """quantize picks the nearest level, a tie (a value exactly on a float32 midpoint) going to the upper one.
    bitsandbytes' kernel decides by its own thresholds, which lie within 7 float32 ulps of the midpoints: from
    8 ulps away on either side, the two pick the same level for each of the 15 midpoints."""
    code = N.nf4_code()
    mid = ((code[1:] + code[:-1]) / 2).astype(np.float32)

    def levels(values):  # the block's absmax is 1, so each value is its own scaled value
        x = np.zeros(64, np.float32)
        x[: values.size], x[-1] = values, 1.0
        ours = N.quantize(x).indices[: values.size]
        theirs = N.unpack(N.bnb_quantize(torch.from_numpy(x))[0].numpy())[: values.size]
        return ours, theirs

    np.testing.assert_array_equal(levels(mid)[0], np.arange(1, 16))
    for direction in (-np.inf, np.inf):
        away = mid
        for _ in range(8):
            away = np.nextafter(away, np.float32(direction))
        ours, theirs = levels(away)
        np.testing.assert_array_equal(ours, np.arange(15) + (direction > 0))
        np.testing.assert_array_equal(ours, theirs)
