"""Floating-point formats from the bits up: FP32, FP16, BF16 (and FP8 as a look ahead).

A binary float with e exponent bits and m mantissa bits stores a sign s, a biased exponent E and a fraction M:

    normal     (0 < E < 2^e - 1):  x = (-1)^s · 2^(E - bias) · (1 + M / 2^m),   bias = 2^(e-1) - 1
    subnormal  (E = 0):            x = (-1)^s · 2^(1 - bias) · (M / 2^m)
    special    (E = 2^e - 1):      inf when M = 0, NaN otherwise (IEEE 754)

FP8 E4M3 ("fn": finite) has no infinities: only E = 1111, M = 111 is NaN, the rest of that binade is normal.
Sources: IEEE 754-2019 §3.4; Micikevicius et al. 2022, "FP8 formats for deep learning", Table 1.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import check_int

# ---------------------------------------------------------------------------- the formats


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format: its field widths and the torch dtype that stores it."""

    name: str
    exponent_bits: int
    mantissa_bits: int
    dtype: torch.dtype
    has_inf: bool = True  # False for E4M3FN: the all-ones exponent is a normal binade (except the NaN)

    @property
    def bits(self) -> int:
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def bias(self) -> int:
        return 2 ** (self.exponent_bits - 1) - 1

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number: 1 - bias."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite binade."""
        top = 2**self.exponent_bits - 1  # the all-ones field
        return (top if not self.has_inf else top - 1) - self.bias

    @property
    def max_finite(self) -> float:
        """Largest finite value: (2 - 2^-m) · 2^emax, one mantissa code less if it is NaN (E4M3FN)."""
        top_mantissa = 2**self.mantissa_bits - (1 if self.has_inf else 2)
        return math.ldexp(1 + top_mantissa / 2**self.mantissa_bits, self.emax)

    @property
    def min_normal(self) -> float:
        return math.ldexp(1.0, self.emin)

    @property
    def min_subnormal(self) -> float:
        return math.ldexp(1.0, self.emin - self.mantissa_bits)

    @property
    def epsilon(self) -> float:
        """Machine epsilon: the gap between 1 and the next larger number, 2^-m."""
        return math.ldexp(1.0, -self.mantissa_bits)

    @property
    def decimal_digits(self) -> float:
        """Decimal digits of precision: (m + 1) · log10(2), counting the implicit leading bit."""
        return (self.mantissa_bits + 1) * math.log10(2)

    @property
    def bytes(self) -> int:
        """Bytes per element, from torch (not typed)."""
        return torch.empty((), dtype=self.dtype).element_size()


FORMATS = {
    f.name: f
    for f in (
        FloatFormat("FP32", 8, 23, torch.float32),
        FloatFormat("FP16", 5, 10, torch.float16),
        FloatFormat("BF16", 8, 7, torch.bfloat16),
        FloatFormat("FP8-E4M3", 4, 3, torch.float8_e4m3fn, has_inf=False),
        FloatFormat("FP8-E5M2", 5, 2, torch.float8_e5m2),
    )
}


def get_format(fmt) -> FloatFormat:
    """A FloatFormat by name ("FP16"), by torch dtype, or itself; a clear error otherwise."""
    if isinstance(fmt, FloatFormat):
        return fmt
    for f in FORMATS.values():
        if fmt == f.dtype or (isinstance(fmt, str) and fmt.upper() == f.name):
            return f
    raise ValueError(f"fmt must be one of {sorted(FORMATS)} (or their torch dtypes), got {fmt!r}")


# ---------------------------------------------------------------------------- decode: bits → value


@dataclass(frozen=True)
class Fields:
    """One value's bit fields, the value they encode and its class."""

    fmt: FloatFormat
    sign: int
    exponent: int  # biased, as stored
    mantissa: int  # the m stored fraction bits, as an integer
    value: float
    kind: str  # "zero", "subnormal", "normal", "inf" or "nan"

    @property
    def pattern(self) -> int:
        f = self.fmt
        return (self.sign << (f.bits - 1)) | (self.exponent << f.mantissa_bits) | self.mantissa

    @property
    def bit_string(self) -> str:
        """The bits as 'sign exponent mantissa', e.g. '0 01111100 01000000000000000000000'."""
        f = self.fmt
        return (
            f"{self.sign} {self.exponent:0{f.exponent_bits}b} {self.mantissa:0{f.mantissa_bits}b}"
            if f.mantissa_bits
            else f"{self.sign} {self.exponent:0{f.exponent_bits}b}"
        )


def decode(pattern: int, fmt) -> Fields:
    """The value an integer bit pattern stands for in `fmt`, with its fields."""
    f = get_format(fmt)
    pattern = check_int(pattern, "pattern", 0, 2**f.bits - 1)
    m, e = f.mantissa_bits, f.exponent_bits
    sign = pattern >> (f.bits - 1)
    exponent = (pattern >> m) & (2**e - 1)
    mantissa = pattern & (2**m - 1)
    sgn = -1.0 if sign else 1.0
    all_ones = exponent == 2**e - 1
    if all_ones and f.has_inf:
        kind, value = ("inf", sgn * math.inf) if mantissa == 0 else ("nan", math.nan)
    elif all_ones and mantissa == 2**m - 1:  # E4M3FN: S.1111.111 is its only NaN
        kind, value = "nan", math.nan
    elif exponent == 0:
        kind = "zero" if mantissa == 0 else "subnormal"
        value = sgn * math.ldexp(mantissa, f.emin - m)  # 2^(1-bias) · M/2^m
    else:
        kind = "normal"
        value = sgn * math.ldexp(2**m + mantissa, exponent - f.bias - m)  # 2^(E-bias) · (1 + M/2^m)
    return Fields(f, sign, exponent, mantissa, value, kind)


# ---------------------------------------------------------------------------- encode: value → bits


def round_to_format(x: float, fmt) -> float:
    """`x` rounded to the nearest value of `fmt`, ties to even; overflow gives ±inf (E4M3FN saturates)."""
    f = get_format(fmt)
    x = _as_float(x)
    if math.isnan(x) or math.isinf(x):  # (zero goes on: n = 0 below, and copysign keeps -0.0)
        return x if f.has_inf or not math.isinf(x) else math.copysign(f.max_finite, x)
    m = f.mantissa_bits
    exp = max(math.frexp(abs(x))[1] - 1, f.emin)  # binade of |x| (subnormals share emin's spacing)
    quantum = math.ldexp(1.0, exp - m)  # spacing of representable numbers in that binade
    n = round(abs(x) / quantum)  # exact: dividing by a power of two; Python's round() is ties-to-even
    y = math.copysign(n * quantum, x)
    if abs(y) > f.max_finite:
        return math.copysign(math.inf if f.has_inf else f.max_finite, x)
    return y


def encode(x: float, fmt) -> Fields:
    """The fields of `x` in `fmt`, after rounding to nearest, ties to even."""
    f = get_format(fmt)
    y = round_to_format(x, f)
    m, top = f.mantissa_bits, 2**f.exponent_bits - 1
    if math.isnan(y):
        return decode((top << m) | (2**m - 1), f)  # a quiet NaN, every mantissa bit set (E4M3FN's only NaN)
    sign = int(np.signbit(y))  # 1 for -0.0 too
    if math.isinf(y):
        return decode((sign << (f.bits - 1)) | (top << m), f)
    a = abs(y)
    if a < f.min_normal:
        exponent, mantissa = 0, int(a / f.min_subnormal)  # a = M · 2^(emin - m)
    else:
        e = math.frexp(a)[1] - 1
        exponent, mantissa = e + f.bias, int(math.ldexp(a, m - e)) - 2**m  # a = 2^e (1 + M/2^m)
    return decode((sign << (f.bits - 1)) | (exponent << m) | mantissa, f)


def _as_float(x) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"x must be a real number, got {x!r} of type {type(x).__name__}")
    return float(x)


# ---------------------------------------------------------------------------- sizes


def model_bytes(n_params: int, dtype) -> int:
    """Bytes to hold `n_params` values of `dtype`: params × bytes per element (element_size from torch)."""
    n_params = check_int(n_params, "n_params", 0)
    if isinstance(dtype, torch.dtype):
        size = torch.empty((), dtype=dtype).element_size()
    else:
        size = get_format(dtype).bytes
    return n_params * size


def format_table() -> list[dict]:
    """One row per format: field widths, range and precision, for the chapter's table and figure."""
    return [
        {
            "format": f.name,
            "bits": f.bits,
            "exponent bits": f.exponent_bits,
            "mantissa bits": f.mantissa_bits,
            "bias": f.bias,
            "max finite": f.max_finite,
            "min normal": f.min_normal,
            "min subnormal": f.min_subnormal,
            "epsilon": f.epsilon,
            "decimal digits": f.decimal_digits,
        }
        for f in FORMATS.values()
    ]
