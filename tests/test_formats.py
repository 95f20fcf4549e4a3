"""Claims of the number-formats chapter: our bit decoding and rounding against numpy and torch."""

import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lorabook import formats as fm

FP16, BF16, FP32 = fm.FORMATS["FP16"], fm.FORMATS["BF16"], fm.FORMATS["FP32"]
FP8 = [fm.FORMATS["FP8-E4M3"], fm.FORMATS["FP8-E5M2"]]


def same(a: float, b: float) -> bool:
    """Equal as floats, NaN equal to NaN, and -0.0 told apart from +0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def torch_pattern(x: float, dtype) -> int:
    """The bit pattern torch stores for x in dtype (torch rounds from fp32, so x must be an fp32 value)."""
    t = torch.tensor(x, dtype=torch.float32).to(dtype)
    width = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[t.element_size()]
    return int(t.view(width).item()) & (2 ** (8 * t.element_size()) - 1)


# ---------------------------------------------------------------------------- decode, exhaustively


def test_fp16_decoding_matches_numpy_on_all_65536_patterns():
    values = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)
    kinds = {"zero": 0, "subnormal": 0, "normal": 0, "inf": 0, "nan": 0}
    for pattern, expected in enumerate(values):
        fields = fm.decode(pattern, FP16)
        assert same(fields.value, float(expected)), hex(pattern)
        assert fields.pattern == pattern
        kinds[fields.kind] += 1
    # 2 signs × (1 zero, 1023 subnormals, 30 binades × 1024 normals, 1 inf, 1023 NaNs)
    assert kinds == {"zero": 2, "subnormal": 2 * 1023, "normal": 2 * 30 * 1024, "inf": 2, "nan": 2 * 1023}


@pytest.mark.parametrize("fmt", [BF16, *FP8], ids=lambda f: f.name)
def test_small_format_decoding_matches_torch_on_every_pattern(fmt):
    width = {8: torch.uint8, 16: torch.int16}[fmt.bits]
    patterns = torch.arange(2**fmt.bits, dtype=torch.int32).to(width)
    values = patterns.view(fmt.dtype).to(torch.float64).tolist()
    for pattern, expected in enumerate(values):
        assert same(fm.decode(pattern, fmt).value, expected), (fmt.name, hex(pattern))


@given(st.integers(0, 2**32 - 1))
def test_fp32_decoding_matches_numpy(pattern):
    expected = float(np.array([pattern], dtype=np.uint32).view(np.float32)[0])
    assert same(fm.decode(pattern, FP32).value, expected)


# ------------------------------------------------------------------ encode: round to nearest, ties to even

finite64 = st.floats(allow_nan=False, allow_infinity=False, width=64)
finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(finite64)
def test_fp16_rounding_matches_numpy(x):
    with np.errstate(over="ignore"):  # overflow to inf is part of what is compared
        expected = int(np.array([x]).astype(np.float16).view(np.uint16)[0])
    assert fm.encode(x, FP16).pattern == expected


@given(finite32)
def test_bf16_rounding_matches_torch(x):
    assert fm.encode(x, BF16).pattern == torch_pattern(x, torch.bfloat16)


@given(finite32)
def test_fp32_encoding_matches_struct(x):
    assert fm.encode(x, FP32).pattern == struct.unpack("<I", struct.pack("<f", x))[0]


@pytest.mark.parametrize("fmt", FP8, ids=lambda f: f.name)
@given(x=st.floats(-1000, 1000, width=32))
def test_fp8_rounding_matches_torch(fmt, x):
    assert same(fm.decode(fm.encode(x, fmt).pattern, fmt).value, float(torch.tensor(x).to(fmt.dtype).float()))


@pytest.mark.parametrize("fmt", [FP16, BF16], ids=lambda f: f.name)
def test_exact_midpoints_round_to_the_even_neighbour(fmt):
    # 1 + ε/2 lies halfway between 1 (mantissa 0, even) and 1 + ε (mantissa 1, odd): it goes down.
    # 1 + 3ε/2 lies between 1 + ε (odd) and 1 + 2ε (even): it goes up.
    eps = fmt.epsilon
    assert fm.round_to_format(1 + eps / 2, fmt) == 1.0
    assert fm.round_to_format(1 + 3 * eps / 2, fmt) == 1 + 2 * eps
    assert fm.round_to_format(1 + eps / 2 + eps / 1024, fmt) == 1 + eps  # just above the midpoint goes up
    for x in (1 + eps / 2, 1 + 3 * eps / 2):
        assert fm.encode(x, fmt).pattern == torch_pattern(x, fmt.dtype)


@pytest.mark.parametrize("fmt", [FP16, BF16, FP32], ids=lambda f: f.name)
def test_every_pattern_survives_decode_then_encode(fmt):
    patterns = range(2**fmt.bits) if fmt.bits == 16 else np.random.default_rng(0).integers(0, 2**32, 20_000)
    for p in patterns:
        fields = fm.decode(int(p), fmt)
        if fields.kind != "nan":
            assert fm.encode(fields.value, fmt).pattern == int(p)


# ------------------------------------------------------------------ the seed's example and the range table


def test_0_15625_in_fp32_is_sign_0_exponent_124_mantissa_0x200000():
    f = fm.encode(0.15625, FP32)  # 0.15625 = 2^-3 · 1.25 = 2^(124 - 127) · (1 + 2^21 / 2^23)
    assert (f.sign, f.exponent, f.mantissa) == (0, 124, 0x200000)
    assert f.bit_string == "0 01111100 01000000000000000000000"
    assert f.value == 0.15625 and f.kind == "normal"


@pytest.mark.parametrize("fmt", [FP32, FP16, BF16], ids=lambda f: f.name)
def test_0_15625_is_exact_in_each_16_and_32_bit_format(fmt):
    assert fm.encode(0.15625, fmt).value == 0.15625


@pytest.mark.parametrize("fmt", list(fm.FORMATS.values()), ids=lambda f: f.name)
def test_range_and_precision_agree_with_torch_finfo(fmt):
    info = torch.finfo(fmt.dtype)
    assert fmt.max_finite == info.max
    assert fmt.min_normal == info.smallest_normal
    assert fmt.epsilon == info.eps
    assert fmt.bytes == info.bits // 8
    # the smallest subnormal is the smallest positive pattern
    assert fmt.min_subnormal == fm.decode(1, fmt).value


@pytest.mark.parametrize("name", list(fm.FORMATS))
def test_field_widths_are_torch_s(name):
    """Each format's mantissa width t from torch's epsilon, 2^-t; its exponent width from its total bits."""
    f, info = fm.FORMATS[name], torch.finfo(fm.FORMATS[name].dtype)
    t = -math.log2(info.eps)
    assert (f.mantissa_bits, f.exponent_bits, f.bits) == (t, info.bits - 1 - t, info.bits)


def test_bf16_keeps_fp32_exponent_range_with_fewer_mantissa_bits():
    assert BF16.exponent_bits == FP32.exponent_bits and BF16.min_normal == FP32.min_normal
    assert BF16.mantissa_bits < FP16.mantissa_bits < FP32.mantissa_bits
    assert BF16.max_finite > 1e38 > 1e5 > FP16.max_finite


def test_fp16_overflows_to_inf_not_nan_at_10k_times_10k():
    a = torch.tensor(10_000.0, dtype=torch.float16)
    product = (a * a).item()
    assert math.isinf(product) and not math.isnan(product)
    assert 10_000.0**2 > FP16.max_finite == 65504.0
    assert fm.round_to_format(1e8, FP16) == math.inf


def test_model_bytes_is_params_times_element_size():
    assert fm.model_bytes(10, torch.float32) == 40
    assert fm.model_bytes(10, "BF16") == 10 * torch.empty(0, dtype=torch.bfloat16).element_size()
    assert fm.model_bytes(176_000_000_000, torch.float16) == 352_000_000_000


# ---------------------------------------------------------------------------- bad input


def test_unknown_format_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"fmt must be one of .*got 'FP64'"):
        fm.get_format("FP64")
    with pytest.raises(ValueError, match="fmt must be one of"):
        fm.model_bytes(3, "int4")


def test_pattern_out_of_range_and_non_numbers_are_refused():
    with pytest.raises(ValueError, match=r"pattern must be in 0\.\.65535, got 65536"):
        fm.decode(2**16, FP16)
    with pytest.raises(TypeError, match="x must be a real number, got '1.0' of type str"):
        fm.encode("1.0", FP16)
