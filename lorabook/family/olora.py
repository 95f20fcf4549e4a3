"""OLoRA (Büyükakyüz 2024, arXiv:2406.01775): LoRA started from an orthonormal basis of W₀'s columns.

The reduced QR decomposition W₀ = QR (Q ∈ R^{d×p} with orthonormal columns, R ∈ R^{p×k} upper triangular,
p = min(d, k)) gives, from its first r columns of Q and rows of R,

    B = Q_r ∈ R^{d×r}  (orthonormal columns),      A = R_r ∈ R^{r×k},

and the frozen base becomes the residual W₀ − s·BA, so the layer's output at step 0 is W₀x, as LoRA's is.
B starts orthonormal, which the paper credits for faster convergence than LoRA's B = 0.

Unlike PiSSA, nothing is divided by the scale s: peft's LoraLayer.olora_init puts Q_r and R_r in
unchanged and subtracts s·Q_r R_r from W₀. So for s ≠ 1 the adapter holds s times W₀'s first r QR terms, and
the residual is W₀ − s·Q_r R_r, not the remaining QR terms Σ_{i>r} qᵢ rᵢᵀ (it is those only when s = 1).
Q_r spans the same space as W₀'s first r columns, not W₀'s top singular directions: QR, unlike the SVD,
takes the columns in the order they come.
"""

from __future__ import annotations

import torch

from ..lora import LoRALinear
from .pissa import start_from


def olora_factors(W0: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) = (R_r, Q_r): the first r rows of R and columns of Q of W₀ = QR, in float32."""
    Q, R = torch.linalg.qr(W0.float())
    return R[:r].contiguous(), Q[:, :r].contiguous()


def init_olora(layer: LoRALinear) -> LoRALinear:
    """Re-initialise a LoRALinear as OLoRA in place (base W₀ ← W₀ − s·BA): init_lora_weights="olora"."""
    return start_from(layer, *olora_factors(layer.base.weight, layer.r))
