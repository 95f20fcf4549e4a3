"""Input checks shared by the public API: each error names the argument, the value and the allowed range."""

from __future__ import annotations

import numbers
import zlib

import numpy as np
import torch


def as_matrix(A, name: str = "A") -> np.ndarray:
    """Return `A` as a finite, real, 2-D float64 array, or raise an error that says what is wrong."""
    arr = np.asarray(A)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (a matrix), got ndim={arr.ndim} with shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, got {arr[bad]} at index {bad}")
    return arr


def check_int(value, name: str, lo: int, hi: int | None = None) -> int:
    """Return `value` as an int in lo..hi (inclusive; hi=None means no upper bound), or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    allowed = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return int(value)


def check_nonnegative(value, name: str, *, strict: bool = False) -> float:
    """Return `value` as a finite float >= 0 (> 0 when strict), or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    if not np.isfinite(value) or value < 0 or (strict and value == 0):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, got {value}")
    return float(value)


def check_positive(value, name: str) -> float:
    """Return `value` as a finite float > 0, or raise."""
    return check_nonnegative(value, name, strict=True)


def rng(seed: int, stream: str) -> np.random.Generator:
    """A generator for `seed` that is independent for each named stream.

    Functions that draw random matrices each use their own stream, so the same seed given to two of them
    does not give the same numbers (a random "rival" subspace must not secretly be the signal's subspace).
    """
    seed = check_int(seed, "seed", 0)
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def as_float_tensor(x, name: str) -> torch.Tensor:
    """`x` as a non-empty, finite floating-point tensor (fp16, bf16, fp32 or fp64), or raise."""
    t = torch.as_tensor(x)
    if t.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise TypeError(
            f"{name} must be a floating-point tensor (fp16, bf16, fp32 or fp64), got dtype {t.dtype}"
        )
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    bad = ~torch.isfinite(t)
    if bad.any():
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(f"{name} must be finite to quantize, got {t[idx].item()} at index {idx}")
    return t.to(torch.float64)  # scales in float64: 127 / absmax stays finite even for a subnormal absmax


def check_matmul_shapes(X: torch.Tensor, W: torch.Tensor) -> None:
    """Refuse X @ W unless X is n×h and W is h×o."""
    if X.ndim != 2 or W.ndim != 2 or X.shape[1] != W.shape[0]:
        raise ValueError(
            f"X @ W needs X (n×h) and W (h×o) with matching h, got X {tuple(X.shape)} and W {tuple(W.shape)}"
        )
