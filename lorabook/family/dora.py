"""DoRA (Liu et al. 2024, arXiv:2402.09353): the adapted weight split into a magnitude and a direction.

With W₀ ∈ R^{d×k}, B ∈ R^{d×r}, A ∈ R^{r×k} and s the LoRA scale,

    W' = m ⊙ (W₀ + s·BA) / ‖W₀ + s·BA‖_c,        h = W'x + b,

where ‖V‖_c ∈ R^d holds one Euclidean norm per output unit and m ∈ R^d is trained. The paper writes the
weight as k × d (inputs × outputs, xW), so its "column-wise" norm is, in the book's d × k (outputs × inputs),
the norm of each row: torch.linalg.norm(W, dim=1), as peft's DoraLinearLayer.get_weight_norm computes it.
Each output unit's weight vector is a length m_j times a unit direction; LoRA's B A moves the direction.

Initialisation: A, B as LoRA's (B = 0) and m = ‖W₀‖_c, so W' = W₀ at step 0.

The paper's §4.3 treats the norm as a constant in the backward pass (it is detached): gradients reach m, and
reach B and A through W₀ + s·BA only, not through its norm. That saves the memory of the norm's graph.

peft assembles the output around the base layer's result W₀x + b, with g = m / ‖W₀ + s·BA‖_c (detached):

    h = (W₀x + b) + (g − 1) ⊙ W₀x̃ + g ⊙ s·BAx̃,

where x̃ = dropout(x). Without dropout (x̃ = x) this is g ⊙ (W₀ + s·BA)x + b = W'x + b. With dropout, in
training, the correction terms see the dropped-out input while W₀x + b sees x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..lora import LoRALinear


def row_norms(W: torch.Tensor) -> torch.Tensor:
    """‖W‖_c: the Euclidean norm of each output unit's weights, one per row of the d × k matrix."""
    return torch.linalg.norm(W, dim=1)


class DoRALinear(LoRALinear):
    """LoRALinear whose adapted weight is rescaled row by row to a trained magnitude m ∈ R^d."""

    def __init__(self, base: nn.Linear, r: int, alpha: float = 1.0, dropout: float = 0.0):
        super().__init__(base, r, alpha, dropout)
        with torch.no_grad():
            self.m = nn.Parameter(self.norm())  # = ‖W₀‖_c while B = 0
        self._merged_gain = None

    def norm(self) -> torch.Tensor:
        """‖W₀ + s·BA‖_c, detached: a constant for the backward pass (the paper's §4.3)."""
        return row_norms(self.base.weight + self.delta_weight().detach()).detach()

    def gain(self) -> torch.Tensor:
        """g = m / ‖W₀ + s·BA‖_c ∈ R^d: how much each output unit is stretched."""
        return self.m / self.norm()

    def adapted_weight(self) -> torch.Tensor:
        """W' = m ⊙ (W₀ + s·BA) / ‖W₀ + s·BA‖_c, each row of W₀ + s·BA rescaled to length m_j."""
        return self.gain()[:, None] * (self.base.weight + self.delta_weight())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)  # W₀x + b; after merge() this is already W'x + b
        if self.merged:
            return h
        g = self.gain()
        if isinstance(self.dropout, nn.Identity) or not self.training:
            x_dropped, base_out = x, h if self.base.bias is None else h - self.base.bias  # W₀x
        else:
            x_dropped = self.dropout(x)
            base_out = F.linear(x_dropped, self.base.weight)  # W₀x̃
        lora_out = self.scaling * (x_dropped @ self.A.T) @ self.B.T  # s·BAx̃
        return h + (g - 1) * base_out + g * lora_out

    def merged_weight(self) -> torch.Tensor:
        """W' for merge(). The gain g is kept: unmerging needs the norm of W₀ + s·BA, which W' no longer
        holds."""
        self._merged_gain = self.gain()
        return self.adapted_weight().to(self.base.weight.dtype)

    def unmerged_weight(self) -> torch.Tensor:
        """W₀ = W' / g − s·BA: the inverse of merge(), up to floating-point rounding."""
        weight = self.base.weight / self._merged_gain[:, None] - self.delta_weight()
        self._merged_gain = None
        return weight
