"""Timing that survives a noisy machine: variants run interleaved, each reported as a ratio to the base.

On a shared CPU the same forward pass can vary 2–4× between runs. Timing A, B, C, A, B, C, … after a
warm-up, with the thread count fixed, and dividing each variant's time by the base time of the *same round*,
cancels the slow drifts; the median of those per-round ratios, with its spread, is what we report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from ._checks import check_int
from ._threads import threads as on_threads
from .seed import SEED


def interleaved_times(
    fns: dict[str, Callable[[], object]], repeats: int = 7, warmup: int = 1, threads: int = 1
) -> dict[str, np.ndarray]:
    """Seconds per call of each function, in rounds that call every function once, in a rotating order."""
    repeats, warmup = check_int(repeats, "repeats", 1), check_int(warmup, "warmup", 0)
    threads = check_int(threads, "threads", 1)
    with on_threads(threads):
        names = list(fns)
        for _ in range(warmup):
            for name in names:
                fns[name]()
        times = {name: np.empty(repeats) for name in names}
        for i in range(repeats):
            order = names[i % len(names) :] + names[: i % len(names)]  # no variant always runs first
            for name in order:
                start = time.perf_counter()
                fns[name]()
                times[name][i] = time.perf_counter() - start
        return times


def ratios(times: dict[str, np.ndarray], base: str = "base") -> dict[str, dict[str, float]]:
    """For each variant: median, min and max of its per-round time ÷ the base's time in the same round."""
    if base not in times:
        raise ValueError(f"base must be one of {sorted(times)}, got {base!r}")
    out = {}
    for name, t in times.items():
        r = t / times[base]
        out[name] = {
            "median": float(np.median(r)),
            "min": float(r.min()),
            "max": float(r.max()),
            "q1": float(np.quantile(r, 0.25)),
            "q3": float(np.quantile(r, 0.75)),
        }
    return out


# ------------------------------------------------------------------ the variants of the LoRA paper's Table 1


def inference_variants(base, r: int = 4, bottleneck: int = 16, seed: int = 0) -> dict:
    """Copies of one OPT model: base, LoRA on q,v (unmerged, merged), AdapterL and AdapterH, all in eval mode.

    The LoRA B matrices get small random values, as after training, so that merging really changes W0.
    """
    import copy

    from .adapters import inject_adapters
    from .lora import inject_lora, lora_layers, merge_and_unload

    torch.manual_seed(seed)
    variants = {"base": copy.deepcopy(base)}
    for name in ("LoRA", "LoRA merged"):
        m = copy.deepcopy(base)
        inject_lora(m, SEED.target_modules, r=r, alpha=r)
        for layer in lora_layers(m):
            torch.nn.init.normal_(layer.B, std=0.02)
        if name == "LoRA merged":  # merged and unwrapped: the base computation, with W₀ + ΔW in the weights
            merge_and_unload(m)
        variants[name] = m
    for kind in ("L", "H"):
        m = copy.deepcopy(base)
        inject_adapters(m, kind, bottleneck)
        variants[f"Adapter{kind}"] = m
    return {k: v.eval() for k, v in variants.items()}


def lora_linear_pair(d_in: int, d_out: int, r: int, alpha: float = 16.0, seed: int = 0):
    """Our LoRALinear and peft's lora.Linear around copies of one nn.Linear, with the same A and B."""
    import copy

    from peft import LoraConfig, inject_adapter_in_model
    from torch import nn

    from .lora import LoRALinear

    torch.manual_seed(seed)
    base = nn.Linear(d_in, d_out)
    ours = LoRALinear(copy.deepcopy(base), r=r, alpha=alpha)
    torch.nn.init.normal_(ours.B, std=0.02)
    holder = nn.Module()
    holder.lin = copy.deepcopy(base)
    theirs = inject_adapter_in_model(
        LoraConfig(r=r, lora_alpha=alpha, target_modules=["lin"], lora_dropout=0.0), holder
    ).lin
    with torch.no_grad():
        theirs.lora_A["default"].weight.copy_(ours.A)
        theirs.lora_B["default"].weight.copy_(ours.B)
    return ours, theirs


def describe_ratio(stats: dict, reference: str = "the base") -> str:
    """A verdict on one variant's per-round ratios that is only as strong as the spread allows."""
    if stats["q1"] > 1:
        return f"slower than {reference} in more than three rounds out of four"
    if stats["q3"] < 1:
        return f"faster than {reference} in more than three rounds out of four"
    return f"not distinguishable from {reference}: its interquartile range contains 1"
