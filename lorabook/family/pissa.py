"""PiSSA (Meng et al. 2024, arXiv:2404.02948): LoRA started from W₀'s principal singular triplets.

With W₀ = U S Vᵀ ∈ R^{d×k} (singular values S₁ ≥ S₂ ≥ …) and U_r, S_r, V_r its top r triplets, PiSSA sets

    B = U_r · diag(√(S_r / s)) ∈ R^{d×r},      A = diag(√(S_r / s)) · V_rᵀ ∈ R^{r×k},

so that s·BA = U_r S_r V_rᵀ, the best rank-r approximation of W₀ (Eckart–Young), and replaces the frozen base
by the residual

    W_res = W₀ − s·BA = Σ_{i>r} Sᵢ uᵢ vᵢᵀ.

At step 0 the layer computes W_res x + s·BAx = W₀x, as LoRA does; but the trainable part now holds W₀'s
principal directions instead of zero, and training moves them. √S is split evenly between A and B (both get
diag(√(S_r/s))), and S_r is divided by s first so that the scale s of the forward pass gives back S_r:
peft's LoraLayer.pissa_init does exactly this. (The paper names the factors the other way round, A on the
left; the book keeps LoRA's names, B ∈ R^{d×r} on the left.)

QPiSSA quantizes the residual instead of W₀. The NF4 error of the whole adapted weight at step 0 is then
W_res − NF4(W_res), against QLoRA's W₀ − NF4(W₀). The residual has W₀'s largest singular values removed, so
its entries spread less and each block's absmax, which sets NF4's step, is smaller: on a weight with a few
dominant directions, as pretrained weights have, the residual quantizes with a smaller error.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .. import nf4
from ..lora import LoRALinear


def pissa_factors(W0: torch.Tensor, r: int, scaling: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) = (diag(√(S_r/s)) V_rᵀ, U_r diag(√(S_r/s))), from the SVD of W₀ in float32."""
    U, S, Vh = torch.linalg.svd(W0.float(), full_matrices=False)
    root = torch.sqrt(S[:r] / scaling)
    return root[:, None] * Vh[:r], U[:, :r] * root


def residual(W0: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float) -> torch.Tensor:
    """W_res = W₀ − s·BA: what stays in the frozen base once the adapter holds s·BA."""
    return W0.float() - scaling * B @ A


@torch.no_grad()
def start_from(layer: LoRALinear, A: torch.Tensor, B: torch.Tensor) -> LoRALinear:
    """Put A and B into `layer` and its base W₀ ← W₀ − s·BA, so the layer's output is unchanged."""
    if layer.merged:
        raise RuntimeError("re-initialise an unmerged layer: a merged base already holds s·BA")
    weight = layer.base.weight
    if not weight.dtype.is_floating_point:
        raise TypeError(
            f"the base must be floating-point to take the residual (quantize it after), got {weight.dtype}"
        )
    weight.copy_(residual(weight, A, B, layer.scaling).to(weight.dtype))
    layer.A.copy_(A)
    layer.B.copy_(B)
    return layer


def init_pissa(layer: LoRALinear) -> LoRALinear:
    """Re-initialise a LoRALinear (or RSLoRALinear) as PiSSA, in place: peft's init_lora_weights="pissa"."""
    return start_from(layer, *pissa_factors(layer.base.weight, layer.r, layer.scaling))


class NF4Errors(NamedTuple):
    """Mean squared NF4 error per weight: of W₀ (QLoRA's base) and of W_res (QPiSSA's)."""

    base: float
    residual: float


def qpissa_errors(W0: torch.Tensor, r: int, scaling: float = 1.0) -> NF4Errors:
    """The NF4 quantization error (block 64, the book's lorabook.nf4) of W₀ and of its PiSSA residual.

    Either is also the error of the whole adapted weight at step 0: QLoRA computes NF4(W₀) + s·BA with B = 0,
    QPiSSA NF4(W_res) + s·BA = W₀ + (NF4(W_res) − W_res). The scale s changes A and B, not the residual.
    """
    A, B = pissa_factors(W0, r, scaling)
    return NF4Errors(nf4.error(W0), nf4.error(residual(W0, A, B, scaling)))
