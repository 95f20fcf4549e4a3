"""LoRA's family from scratch: six variants, each a small change to the book's LoRALinear (lorabook.lora).

With W₀ ∈ R^{d×k} frozen, B ∈ R^{d×r}, A ∈ R^{r×k} and h = W₀x + s·BAx, each variant changes one thing:

- the scale:           rsLoRA  s = α/√r instead of α/r                                 (family.rslora)
- the parametrisation: DoRA    W' = m ⊙ (W₀ + s·BA) / ‖W₀ + s·BA‖_c, m trained           (family.dora)
- the start:           PiSSA   A, B from W₀'s top r singular triplets, base = residual  (family.pissa)
                       OLoRA   A, B from W₀'s QR decomposition, base = residual         (family.olora)
- the optimizer:       LoRA+   B's learning rate λ times A's                            (family.loraplus)
- what is trained:     VeRA    A, B random, frozen, shared; h = W₀x + Λ_b B Λ_d A x     (family.vera)

Each equals peft's implementation (LoraConfig(use_rslora=True), use_dora=True, init_lora_weights="pissa" or
"olora", create_loraplus_optimizer, VeraConfig): tests/test_family.py checks the initial weights, outputs and
gradients against it. `lorabook.family.inject` puts any of the layers into a model by module name.
"""

from .dora import DoRALinear, row_norms
from .inject import inject, targets
from .loraplus import learning_rates, loraplus_groups, loraplus_optimizer
from .olora import init_olora, olora_factors
from .pissa import NF4Errors, init_pissa, pissa_factors, qpissa_errors, residual
from .rslora import RSLoRALinear, lora_scaling, rslora_scaling
from .vera import Projections, VeRALinear, inject_vera, vera_parameter_count, vera_shared_size

__all__ = [
    "DoRALinear",
    "NF4Errors",
    "Projections",
    "RSLoRALinear",
    "VeRALinear",
    "init_olora",
    "init_pissa",
    "inject",
    "inject_vera",
    "learning_rates",
    "lora_scaling",
    "loraplus_groups",
    "loraplus_optimizer",
    "olora_factors",
    "pissa_factors",
    "qpissa_errors",
    "residual",
    "row_norms",
    "rslora_scaling",
    "targets",
    "vera_parameter_count",
    "vera_shared_size",
]
