"""What 16-bit training does to small numbers: underflow, loss scaling, and why master weights stay in FP32.

Sources: Micikevicius et al. 2018, "Mixed precision training" (§3: FP32 master copy, loss scaling; Fig. 3
shows activation gradients mostly below FP16's smallest subnormal); Kalamkar et al. 2019 (BF16 needs no loss
scaling).
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_int, check_positive, rng
from .formats import get_format

# ---------------------------------------------------------------------------- underflow and loss scaling


def synthetic_gradients(
    n: int = 100_000, log10_median: float = -6.0, log10_spread: float = 1.5, seed: int = 0
):
    """Gradients with log-normal magnitudes (median 10^log10_median, spread in decades) and random signs."""
    n = check_int(n, "n", 1)
    check_positive(log10_spread, "log10_spread")
    g = rng(seed, "synthetic_gradients")
    magnitude = 10.0 ** (log10_median + log10_spread * g.standard_normal(n))
    return np.where(g.random(n) < 0.5, -magnitude, magnitude)


def cast(values, fmt, loss_scale: float = 1.0) -> np.ndarray:
    """(values · loss_scale) stored in `fmt`, then read back as float64 and divided by loss_scale again."""
    f = get_format(fmt)
    loss_scale = check_positive(loss_scale, "loss_scale")
    scaled = torch.as_tensor(np.asarray(values, dtype=np.float64) * loss_scale)
    return scaled.to(f.dtype).to(torch.float64).numpy() / loss_scale


def underflow_fraction(values, fmt, loss_scale: float = 1.0) -> float:
    """Share of the nonzero values that become exactly zero when stored in `fmt` after scaling."""
    values = np.asarray(values, dtype=np.float64)
    nonzero = values != 0
    return float(np.mean(cast(values[nonzero], fmt, loss_scale) == 0))


def overflow_fraction(values, fmt, loss_scale: float = 1.0) -> float:
    """Share of the values that become ±inf when stored in `fmt` after scaling."""
    return float(np.mean(np.isinf(cast(values, fmt, loss_scale))))


def best_loss_scale(values, fmt, candidates=tuple(2.0**k for k in range(0, 33))) -> float:
    """The largest power-of-two scale that overflows nothing: what dynamic loss scaling settles near."""
    safe = [s for s in candidates if overflow_fraction(values, fmt, s) == 0]
    if not safe:
        raise ValueError(
            f"every candidate loss scale overflows {get_format(fmt).name}; the gradients are too large"
        )
    return max(safe)


# ---------------------------------------------------------------------------- master weights


def sgd_trajectory(
    w0: float, update: float, steps: int, weight_fmt="FP32", master: bool = False
) -> np.ndarray:
    """A weight after each of `steps` SGD steps w ← w - update, with the weight stored in `weight_fmt`.

    master=True keeps an FP32 master copy that takes the update and is rounded to `weight_fmt` only for
    compute, as mixed-precision training does (Micikevicius et al. 2018, §3.1). Returns the compute weights,
    steps + 1 of them.
    """
    steps = check_int(steps, "steps", 0)
    f = get_format(weight_fmt)
    w = torch.tensor(w0, dtype=torch.float32 if master else f.dtype)
    out = [torch.tensor(w0).to(f.dtype).item()]
    for _ in range(steps):
        w = w - torch.tensor(update, dtype=w.dtype)  # the update, in the storage precision of w
        out.append(w.to(f.dtype).item())
    return np.array(out)
