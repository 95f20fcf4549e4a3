"""int8 quantization from scratch: absmax and zero-point, three granularities, and LLM.int8().

absmax (symmetric):    s = 127 / max|x|,                  q = round(s·x) ∈ [-127, 127],    x̂ = q / s
zero-point (affine):   s = 255 / (max x - min x),         z = round(-s·min x) - 128  (range widened to hold 0)
                       q = clamp(round(s·x) + z, -128, 127),                               x̂ = (q - z) / s
Rounding moves each value by at most half a step, so |x - x̂| ≤ 1 / (2s).

Vector-wise matmul (Dettmers et al. 2022, arXiv:2208.07339, §3.1): X (n×h) gets one scale per row, W (h×o) one
per column, the int8 product is accumulated in int32, and C = (Xq Wq) / (s_x ⊗ s_w).
LLM.int8() (§3.2) first takes out the feature columns of X that hold any |x| ≥ τ (τ = OUTLIER_THRESHOLD) and
multiplies them, with the matching rows of W, in fp16: C = X_O W_O (fp16) + vector-wise int8 (X_rest W_rest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import cited
from ._checks import as_float_tensor, check_int, check_matmul_shapes, check_nonnegative, check_positive, rng

# LLM.int8()'s outlier threshold (Dettmers et al. 2022, §3.2), as bitsandbytes' Linear8bitLt defaults to it:
# a feature dimension is an outlier when any |x| in it reaches this. Every default in the book reads it here.
OUTLIER_THRESHOLD = cited.INT8_THRESHOLD.value

GRANULARITIES = ("tensor", "row", "column")
INT8_MAX = 127

# ---------------------------------------------------------------------------- checks


def _reduce_dims(t: torch.Tensor, granularity: str):
    """Dimensions the absmax is taken over: all (tensor), the columns of each row (row), the rows (column)."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if granularity != "tensor" and t.ndim != 2:
        raise ValueError(f"{granularity}-wise scales need a 2-D tensor, got shape {tuple(t.shape)}")
    return {"tensor": tuple(range(t.ndim)), "row": (1,), "column": (0,)}[granularity]


# ---------------------------------------------------------------------------- absmax and zero-point


@dataclass
class Quantized:
    """int8 codes with the scale (and zero-point) that map them back: x̂ = (q - z) / s."""

    q: torch.Tensor  # int8
    scale: torch.Tensor  # s, broadcastable to q
    zero_point: torch.Tensor | None = None  # z (zero-point quantization only)

    @property
    def step(self) -> torch.Tensor:
        """The spacing between neighbouring codes, 1/s: the error bound is half of it."""
        return 1.0 / self.scale

    def dequantize(self) -> torch.Tensor:
        z = 0 if self.zero_point is None else self.zero_point
        return (self.q.to(torch.float64) - z) / self.scale


def absmax_quantize(x, granularity: str = "tensor") -> Quantized:
    """Symmetric int8: s = 127 / max|x| over each group, q = round(s·x).

    Args:
        x: a finite floating-point tensor.
        granularity: "tensor" (one scale), "row" (one per row) or "column" (one per column).
    """
    t = as_float_tensor(x, "x")
    absmax = t.abs().amax(dim=_reduce_dims(t, granularity), keepdim=True)
    scale = INT8_MAX / torch.where(absmax > 0, absmax, INT8_MAX)  # an all-zero group: s = 1, q = 0
    return Quantized(torch.round(t * scale).to(torch.int8), scale)


def zeropoint_quantize(x, granularity: str = "tensor") -> Quantized:
    """Asymmetric int8: the range [min(x, 0), max(x, 0)] is stretched over all 256 codes -128..127."""
    t = as_float_tensor(x, "x")
    dims = _reduce_dims(t, granularity)
    # the range is widened to hold 0, so that zero (padding, ReLU outputs) is represented exactly
    lo, hi = t.amin(dim=dims, keepdim=True).clamp_max(0), t.amax(dim=dims, keepdim=True).clamp_min(0)
    span = hi - lo
    scale = 255 / torch.where(span > 0, span, 255)  # an all-zero group: s = 1
    zero_point = torch.round(-scale * lo) - 128
    q = torch.clamp(torch.round(scale * t) + zero_point, -128, 127)
    return Quantized(q.to(torch.int8), scale, zero_point)


def quantization_error(x, quantized: Quantized) -> torch.Tensor:
    """Elementwise |x - x̂|."""
    return (torch.as_tensor(x, dtype=torch.float64) - quantized.dequantize()).abs()


# ---------------------------------------------------------------------------- int8 matmul


def int8_matmul(Xq: torch.Tensor, Wq: torch.Tensor) -> torch.Tensor:
    """Xq @ Wq for int8 inputs, accumulated exactly in int32.

    Each product is at most 127² = 16,129 in size, so h terms fit in int32 while h·127² < 2^31 (h ≤ 133,144).
    """
    for name, t in (("Xq", Xq), ("Wq", Wq)):
        if t.dtype != torch.int8:
            raise TypeError(f"{name} must be int8, got dtype {t.dtype}")
    check_matmul_shapes(Xq, Wq)
    h = Xq.shape[1]
    if h * INT8_MAX**2 >= 2**31:
        raise ValueError(
            f"inner dimension h must be < {2**31 // INT8_MAX**2 + 1} to accumulate in int32, got {h}"
        )
    return Xq.to(torch.int32) @ Wq.to(torch.int32)  # (n, o) int32


def vectorwise_matmul(X, W, granularity: str = "vector") -> torch.Tensor:
    """X @ W in int8: C ≈ (Xq Wq) / (s_x ⊗ s_w), with vector-wise (rows of X, columns of W) or one scale."""
    if granularity not in ("vector", "tensor"):
        raise ValueError(f"granularity must be 'vector' or 'tensor', got {granularity!r}")
    X, W = as_float_tensor(X, "X"), as_float_tensor(W, "W")
    check_matmul_shapes(X, W)
    qx = absmax_quantize(X, "row" if granularity == "vector" else "tensor")  # s_x: (n, 1) or (1, 1)
    qw = absmax_quantize(W, "column" if granularity == "vector" else "tensor")  # s_w: (1, o) or (1, 1)
    return int8_matmul(qx.q, qw.q).to(torch.float64) / (qx.scale * qw.scale)  # outer product of the scales


# ---------------------------------------------------------------------------- LLM.int8()


@dataclass
class LLMInt8Result:
    """LLM.int8()'s output and the pieces that made it, for drawing the decomposition."""

    out: torch.Tensor  # C = out_fp16 + out_int8, (n, o)
    outlier_cols: torch.Tensor  # feature dimensions of X (rows of W) multiplied in fp16
    out_fp16: torch.Tensor  # X[:, O] @ W[O, :] in fp16
    out_int8: torch.Tensor  # vector-wise int8 product of the other dimensions
    scale_x: torch.Tensor  # s_x, one per row of X (the outlier columns excluded), (n, 1)
    scale_w: torch.Tensor  # s_w, one per column of W, (1, o)
    h: int  # feature dimensions in all

    @property
    def int8_fraction(self) -> float:
        """Share of the multiply-adds done in int8: (h - |O|) / h."""
        return 1.0 - self.outlier_cols.numel() / self.h


def outlier_columns(X, threshold: float = OUTLIER_THRESHOLD) -> torch.Tensor:
    """Feature dimensions (columns of X) where any |x| ≥ threshold."""
    X = as_float_tensor(X, "X")
    threshold = check_nonnegative(threshold, "threshold")
    return torch.nonzero((X.abs() >= threshold).any(dim=0)).flatten()


def absmax_float32(t: torch.Tensor, absmax: torch.Tensor) -> Quantized:
    """round(t · 127/absmax) computed in float32, as bitsandbytes' int8_vectorwise_quant does."""
    scale = INT8_MAX / torch.where(absmax > 0, absmax, INT8_MAX).float()
    return Quantized(torch.round(t.float() * scale).to(torch.int8), scale.double())


def llm_int8_matmul(
    X, W, threshold: float = OUTLIER_THRESHOLD, *, bitsandbytes_layout: bool = False
) -> LLMInt8Result:
    """X @ W by LLM.int8(): outlier feature dimensions in fp16, the rest in vector-wise int8.

    Args:
        X: activations, n×h (tokens × features).
        W: weights, h×o (the transpose of nn.Linear's weight).
        threshold: τ; a feature dimension is an outlier if any |x| in it reaches τ
            (the paper and bitsandbytes use OUTLIER_THRESHOLD).
        bitsandbytes_layout: do what bitsandbytes 0.50 does for an inference layer (has_fp16_weights=False):
            W is kept only as int8, so the outlier rows are dequantized int8, not fp16; and each row's absmax
            is taken after zeroing only the outlier *values*, so small entries of outlier columns still count.
    """
    X, W = as_float_tensor(X, "X"), as_float_tensor(W, "W")
    check_matmul_shapes(X, W)
    cols = outlier_columns(X, threshold)
    keep = torch.ones(X.shape[1], dtype=torch.bool)
    keep[cols] = False
    if bitsandbytes_layout:  # bitsandbytes scales in float32; so do we here, or near-ties round differently
        qw = absmax_float32(W, W.abs().amax(dim=0, keepdim=True))
        W = qw.dequantize()  # the fp16 weights are gone; only the int8 codes and s_w are stored
        qx = absmax_float32(
            X * keep, torch.where(X.abs() >= threshold, 0.0, X).abs().amax(dim=1, keepdim=True)
        )
    else:
        qw = absmax_quantize(W * keep[:, None], "column")  # s_w: (1, o), the outlier rows zeroed out
        qx = absmax_quantize(X * keep, "row")  # s_x: (n, 1), the outlier dimensions zeroed out
    out_fp16 = (X[:, cols].half() @ W[cols, :].half()).double()  # X_O W_O, 16-bit
    out_int8 = int8_matmul(qx.q, qw.q * keep[:, None]).to(torch.float64) / (qx.scale * qw.scale)
    return LLMInt8Result(out_fp16 + out_int8, cols, out_fp16, out_int8, qx.scale, qw.scale, X.shape[1])


def relative_error(approx, exact) -> float:
    """‖approx - exact‖_F / ‖exact‖_F."""
    approx, exact = torch.as_tensor(approx, dtype=torch.float64), torch.as_tensor(exact, dtype=torch.float64)
    return float(torch.linalg.norm(approx - exact) / torch.linalg.norm(exact))


# ---------------------------------------------------------------------------- synthetic hidden states


def outlier_activations(
    n_tokens: int, h: int, n_outliers: int = 3, magnitude: float = 20.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states X (n_tokens×h) of N(0, 1) entries, except `n_outliers` feature dimensions scaled by
    `magnitude`: the systematic outlier features Dettmers et al. (2022, §4) find in every layer from 6.7B on.

    Returns X and the sorted indices of its outlier dimensions.
    """
    n_tokens, h = check_int(n_tokens, "n_tokens", 1), check_int(h, "h", 1)
    n_outliers = check_int(n_outliers, "n_outliers", 0, h)
    magnitude = check_positive(magnitude, "magnitude")
    g = rng(seed, "outlier_activations")
    X = g.standard_normal((n_tokens, h)).astype(np.float32)
    dims = np.sort(g.choice(h, size=n_outliers, replace=False))
    X[:, dims] *= magnitude
    return torch.from_numpy(X), torch.from_numpy(dims)


def gaussian_weights(h: int, o: int, seed: int = 0) -> torch.Tensor:
    """W (h×o) with N(0, 1/h) entries, the scale of an initialised linear layer."""
    h, o = check_int(h, "h", 1), check_int(o, "o", 1)
    W = rng(seed, "gaussian_weights").standard_normal((h, o)) / np.sqrt(h)
    return torch.from_numpy(W.astype(np.float32))
