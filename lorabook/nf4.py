"""4-bit NormalFloat (NF4) and double quantization, from their definitions (Dettmers et al. 2023, QLoRA §3).

The NF4 code book: 16 levels at quantiles of the standard normal, asymmetric so that zero is a level,

    positive: Φ⁻¹(pᵢ) for 8 probabilities pᵢ equally spaced from δ down towards ½ (½ itself left out),
    negative: −Φ⁻¹(pⱼ) for 7 probabilities equally spaced from δ down towards ½,
    zero;     all divided by Φ⁻¹(δ), so that the levels span [−1, 1],

with δ = ½·[(1 − 1/(2·15)) + (1 − 1/(2·16))] ≈ 0.9677: the extreme level's probability, pulled in from 1,
where Φ⁻¹ is infinite. Each side is equally spaced in probability, which is the sense in which the levels
share the normal's mass equally: the 8 positive ones with steps (δ − ½)/8, the 7 negative ones with
(δ − ½)/7.

Weights are quantized in blocks of 64 (block-wise absmax): each block is divided by its largest |w| and
every value is replaced by the index of the nearest level. Storage: 4 bits per weight plus one fp32 absmax
per block, 4 + 32/64 = 4.5 bits. Double quantization stores the absmax values themselves in 8 bits, in
blocks of 256 with one fp32 scale each: 4 + 8/64 + 32/(64·256) ≈ 4.127 bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch

from ._checks import check_int

BLOCK = 64  # QLoRA's block size for the weights
BLOCK2 = 256  # its block size for the absmax values in double quantization
OFFSET = 0.5 * ((1 - 1 / (2 * 15)) + (1 - 1 / (2 * 16)))  # δ: the extreme level's quantile probability
PHI_INV = NormalDist().inv_cdf


def level_probabilities(offset: float = OFFSET) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative): the probabilities whose normal quantiles are the 8 positive, 7 negative levels"""
    if not 0.5 < offset < 1:
        raise ValueError(f"offset must be in (0.5, 1), got {offset}")
    return np.linspace(offset, 0.5, 9)[:-1], np.linspace(offset, 0.5, 8)[:-1]


def nf4_code(offset: float = OFFSET) -> np.ndarray:
    """The 16 NF4 levels in ascending order, in [−1, 1], with 0 among them."""
    positive, negative = level_probabilities(offset)
    levels = [PHI_INV(p) for p in positive] + [0.0] + [-PHI_INV(p) for p in negative]
    return np.sort(np.array(levels)) / PHI_INV(offset)


def int4_code() -> np.ndarray:
    """Symmetric absmax int4: the 15 levels k/7 for k = −7…7 (the int8 chapter's scheme with 4 bits)."""
    return np.arange(-7, 8) / 7


def fp4_code() -> np.ndarray:
    """FP4 E2M1 (1 sign, 2 exponent, 1 mantissa bit, as OCP's MX formats): ±{0, ½, 1, 1½, 2, 3, 4, 6}, /6."""
    magnitudes = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6]) / 6
    return np.unique(np.concatenate([-magnitudes, magnitudes]))


CODES = {"NF4": nf4_code, "int4": int4_code, "FP4 (E2M1)": fp4_code}


# ---------------------------------------------------------------------------- block-wise quantization


@dataclass
class Quantized:
    """A tensor in a 4-bit code: one level index per value and one absmax per block."""

    indices: np.ndarray  # uint8, one per value (0..len(code)-1), padded to whole blocks
    absmax: np.ndarray  # float32, one per block
    code: np.ndarray  # the levels, ascending
    shape: tuple
    block: int

    def dequantize(self) -> np.ndarray:
        """code[index] · absmax of the block, in the original shape (float32)."""
        values = self.code.astype(np.float32)[self.indices].reshape(-1, self.block) * self.absmax[:, None]
        return values.reshape(-1)[: math.prod(self.shape)].reshape(self.shape)


def _as_float32(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"x must be a non-empty finite array, got shape {x.shape}")
    return x


def quantize(x, code=None, block: int = BLOCK) -> Quantized:
    """Block-wise absmax quantization of `x` (row-major) to the nearest level of `code` (NF4 by default)."""
    x = _as_float32(x)
    block = check_int(block, "block", 1)
    code = nf4_code() if code is None else np.sort(np.asarray(code, dtype=np.float64))
    flat = np.concatenate([x.reshape(-1), np.zeros(-x.size % block, np.float32)]).reshape(-1, block)
    absmax = np.abs(flat).max(axis=1)
    scaled = flat / np.where(absmax > 0, absmax, 1)[:, None]
    edges = (code[1:] + code[:-1]) / 2  # nearest level: which midpoints a value lies above
    indices = np.searchsorted(edges.astype(np.float32), scaled.reshape(-1), side="right").astype(np.uint8)
    return Quantized(indices, absmax.astype(np.float32), code, x.shape, block)


def pack(indices: np.ndarray) -> np.ndarray:
    """Two 4-bit indices per byte, the first in the high nibble (bitsandbytes' layout)."""
    pairs = np.asarray(indices, dtype=np.uint8).reshape(-1, 2)
    return (pairs[:, 0] << 4) | pairs[:, 1]


def unpack(packed) -> np.ndarray:
    b = np.asarray(packed, dtype=np.uint8).reshape(-1)
    return np.stack([b >> 4, b & 15], axis=1).reshape(-1)


def error(x, code=None, block: int = BLOCK) -> float:
    """Mean squared error of quantizing `x` to `code` block-wise and back."""
    x = _as_float32(x)
    return float(np.mean((quantize(x, code, block).dequantize() - x).astype(np.float64) ** 2))


def usage(x, code=None, block: int = BLOCK) -> np.ndarray:
    """The share of x's values that each level of `code` receives (padding left out)."""
    x = _as_float32(x)
    q = quantize(x, code, block)
    return np.bincount(q.indices[: x.size], minlength=q.code.size) / x.size


def extremes_per_block(x, code=None, block: int = BLOCK) -> np.ndarray:
    """How many values of each block land on the code's two extreme levels (±1 of the block's absmax).

    The block's absmax itself always does, so every block has at least one; any value within half a level's
    gap of ±absmax joins it.
    """
    q = quantize(x, code, block)
    ends = np.isin(q.indices, (0, len(q.code) - 1)).reshape(-1, block)
    return ends.sum(axis=1)


def entropy_bits(shares) -> float:
    """Entropy in bits of a distribution over levels: 4 for 16 levels used equally often."""
    p = np.asarray(shares, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


# ---------------------------------------------------------------------------- bits per parameter


def bits_per_parameter(double_quant: bool = False, block: int = BLOCK, block2: int = BLOCK2) -> float:
    """4 bits per weight plus its share of the scales: 4 + 32/64, or with double quantization
    4 + 8/64 + 32/(64·256)."""
    if double_quant:
        return 4 + 8 / block + 32 / (block * block2)
    return 4 + 32 / block


def measured_bits_per_parameter(packed: torch.Tensor, state) -> float:
    """Bits per parameter of a bitsandbytes 4-bit tensor, from the tensors it stores: the packed codes, the
    absmax values (fp32, or uint8 when double-quantized) and, when double-quantized, their fp32 scales.
    The per-tensor constants (the code books and the offset) are left out: they vanish for large tensors."""
    n = math.prod(state.shape)
    bits = packed.numel() * packed.element_size() * 8 + state.absmax.numel() * state.absmax.element_size() * 8
    if state.nested:
        bits += state.state2.absmax.numel() * state.state2.absmax.element_size() * 8
    return bits / n


# ---------------------------------------------------------------------------- bitsandbytes, for comparison


def bnb_quantize(x, quant_type: str = "nf4", double_quant: bool = False, block: int = BLOCK):
    """bitsandbytes' quantize_4bit on CPU, blocks of `block` (64, QLoRA's, by default): (packed uint8 codes,
    QuantState)."""
    import bitsandbytes.functional as bnbf

    x = torch.as_tensor(_as_float32(x))
    return bnbf.quantize_4bit(x, blocksize=block, quant_type=quant_type, compress_statistics=double_quant)


def bnb_dequantize(packed, state) -> np.ndarray:
    import bitsandbytes.functional as bnbf

    return bnbf.dequantize_4bit(packed, state).numpy()


def dequantized_weight(module) -> torch.Tensor:
    """The float weight a bitsandbytes Linear4bit computes with: its NF4 codes times their block absmax.

    Read it before the module's first forward pass on a CPU (see `repacked_for_cpu`)."""
    import bitsandbytes.functional as bnbf

    if getattr(module.weight.quant_state, "packing_format_for_cpu", False):
        raise ValueError(
            "module's weight was repacked for bitsandbytes' CPU kernel; read it before a forward pass"
        )
    return bnbf.dequantize_4bit(module.weight.data, module.weight.quant_state).float()


def repacked_for_cpu(model) -> bool:
    """Whether bitsandbytes has repacked any 4-bit weight of `model` for its CPU kernel (it does so at the
    first eval-mode forward pass on a CPU with AVX-512 BF16; the absmax values then become bf16)."""
    import bitsandbytes as bnb

    return any(
        getattr(m.weight.quant_state, "packing_format_for_cpu", False)
        for m in model.modules()
        if isinstance(m, bnb.nn.Linear4bit)
    )


def merge(peft_model):
    """peft's merge_and_unload, without its warning that merging into a 4-bit base rounds: the 4-bit chapter
    measures how much. On a CPU, merge before the first forward pass (see `repacked_for_cpu`)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Merge lora module to 4-bit linear", UserWarning)
        return peft_model.merge_and_unload()


def requantize_merge(w0: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Merging LoRA into a 4-bit base: W₀ + ΔW in float, quantized to NF4 again, and back to float."""
    merged = (w0.float() + delta.float()).numpy()
    return torch.from_numpy(quantize(merged).dequantize())
