"""rsLoRA (Kalajdzievski 2023, arXiv:2312.03732): LoRA with the rank-stabilised scale α/√r in place of α/r.

The layer is LoRA's, h = W₀x + s·BAx with W₀ ∈ R^{d×k}, B ∈ R^{d×r}, A ∈ R^{r×k}; only the scale changes,

    LoRA:    s = α / r,        rsLoRA:    s = α / √r.

Why √r, roughly: the r terms of BAx = Σᵢ bᵢ (aᵢ·x) come from independently drawn rows of A, so their sum
grows like √r, not like r. Dividing by r therefore shrinks the update, and its gradients, as the rank grows:
a larger r learns more slowly and ends up no better. The paper proves that s ∝ 1/√r is the scale that keeps
both the adapter's outputs and its gradients of order one for every r, which it calls rank-stabilised.
At r = 1 the two scales agree; at r = 64 rsLoRA's is 8 times LoRA's, for the same α.
peft: LoraConfig(use_rslora=True), which sets scaling = lora_alpha / math.sqrt(r).
"""

from __future__ import annotations

import math

from torch import nn

from ..lora import LoRALinear


def lora_scaling(alpha: float, r: int) -> float:
    """LoRA's s = α/r (Hu et al. 2021, §4.1)."""
    return alpha / r


def rslora_scaling(alpha: float, r: int) -> float:
    """rsLoRA's s = α/√r."""
    return alpha / math.sqrt(r)


class RSLoRALinear(LoRALinear):
    """LoRALinear with s = α/√r: same A (Kaiming-uniform) and B (zero), same merge and unmerge."""

    def __init__(self, base: nn.Linear, r: int, alpha: float = 1.0, dropout: float = 0.0):
        super().__init__(base, r, alpha, dropout)
        self.scaling = rslora_scaling(self.alpha, self.r)
