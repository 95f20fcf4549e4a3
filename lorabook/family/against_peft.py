"""Each variant of the family beside peft's on one real weight: the largest difference, measured.

`differences(variant, base)` builds the book's layer and peft's around copies of the same nn.Linear (for the
chapter, a query projection of the stand-in), gives both the same random draws, runs one forward and backward
pass on the same input with the same dropout mask, and returns the largest |ours − peft's| of what each
trains at the start, of the base weight (which PiSSA and OLoRA rewrite), of the output and of the gradients.
LoRA+ changes no layer: its entry compares the learning rate each parameter of a two-layer model gets.
tests/test_family.py proves the same equalities on small layers; this measures them where the book trains.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..lora import LoRALinear
from ..seed import SEED
from .dora import DoRALinear
from .loraplus import learning_rates, loraplus_optimizer
from .olora import init_olora
from .pissa import init_pissa
from .rslora import RSLoRALinear
from .vera import Projections, VeRALinear

LAYERS = {  # ours, around a base; peft's LoraConfig fields for the same thing
    "rslora": (lambda base, r, a: RSLoRALinear(base, r, a), dict(use_rslora=True)),
    "dora": (lambda base, r, a: DoRALinear(base, r, a), dict(use_dora=True)),
    "pissa": (lambda base, r, a: init_pissa(LoRALinear(base, r, a)), dict(init_lora_weights="pissa")),
    "olora": (lambda base, r, a: init_olora(LoRALinear(base, r, a)), dict(init_lora_weights="olora")),
}
VARIANTS = (*LAYERS, "loraplus", "vera")


class _One(nn.Module):
    def __init__(self, lin):
        super().__init__()
        self.lin = lin

    def forward(self, x):
        return self.lin(x)


def differences(
    variant: str, base: nn.Linear, r: int = SEED.r, alpha: float = SEED.lora_alpha, seed: int = 0
) -> dict:
    """{what was compared: largest |ours − peft's|} for one variant on copies of `base`, in float32."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    base = copy.deepcopy(base).float()
    if variant == "loraplus":
        return _loraplus(base, r, alpha)
    ours, theirs, pairs = (_vera if variant == "vera" else _lora)(variant, base, r, alpha, seed)
    out = {
        "start": _largest(pairs(ours, theirs)),  # A, B (DoRA: and m), or VeRA's λ_d, λ_b
        "base": _largest([(ours.base.weight, theirs.base_layer.weight)]),  # PiSSA and OLoRA rewrite it
    }
    torch.manual_seed(seed + 1)  # a trained B (or λ_b): at zero, neither a scale nor DoRA's norm would show
    with torch.no_grad():
        for mine, peft in pairs(ours, theirs)[1:2]:
            mine.copy_(torch.randn_like(mine))
            peft.copy_(mine)
    x = torch.randn(4, 8, base.in_features, generator=torch.Generator().manual_seed(seed + 2))
    ys = []
    for layer in (ours, theirs):
        torch.manual_seed(seed + 3)  # the same dropout mask for both
        y = layer.train()(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        ys.append(y)
    out["output"] = _largest([ys])
    out["gradients"] = _largest([(m.grad, p.grad) for m, p in pairs(ours, theirs)])
    return out


def _lora(variant, base, r, alpha, seed):
    from peft import LoraConfig, get_peft_model

    make, fields = LAYERS[variant]
    torch.manual_seed(seed)
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.05, target_modules=["lin"], **fields)
    theirs = get_peft_model(_One(copy.deepcopy(base)), cfg).base_model.model.lin
    ours = make(copy.deepcopy(base), r, alpha)
    ours.dropout = nn.Dropout(0.05)
    if variant in ("rslora", "dora"):  # A is a random draw: peft's is copied into ours
        with torch.no_grad():
            ours.A.copy_(theirs.lora_A["default"].weight)

    def pairs(o, t):  # what trains: A, B, and DoRA's m
        out = [(o.A, t.lora_A["default"].weight), (o.B, t.lora_B["default"].weight)]
        if isinstance(o, DoRALinear):
            out.append((o.m, t.lora_magnitude_vector["default"].weight))
        return out

    return ours, theirs, pairs


def _vera(variant, base, r, alpha, seed):
    from peft import VeraConfig, get_peft_model

    cfg = VeraConfig(r=r, target_modules=["lin"], projection_prng_key=seed, vera_dropout=0.05)
    theirs = get_peft_model(_One(copy.deepcopy(base)), cfg).base_model.model.lin
    shared = Projections(r, base.in_features, base.out_features, key=seed)
    ours = VeRALinear(copy.deepcopy(base), shared, dropout=0.05)

    def pairs(o, t):  # what trains: λ_d, λ_b
        return [(o.lambda_d, t.vera_lambda_d["default"]), (o.lambda_b, t.vera_lambda_b["default"])]

    return ours, theirs, pairs


def _loraplus(base, r, alpha):
    """The learning rate of every trained parameter, ours against peft's create_loraplus_optimizer."""
    from peft import LoraConfig, get_peft_model
    from peft.optimizers import create_loraplus_optimizer

    model = get_peft_model(_One(base), LoraConfig(r=r, lora_alpha=alpha, target_modules=["lin"]))
    ratio, lr = 16.0, 1e-3
    theirs = learning_rates(
        create_loraplus_optimizer(model, torch.optim.AdamW, lr=lr, loraplus_lr_ratio=ratio)
    )
    ours = learning_rates(loraplus_optimizer(model, lr=lr, ratio=ratio))
    if theirs.keys() != ours.keys():
        return {"learning rates": float("inf")}
    return {"learning rates": max(abs(ours[k][0] - theirs[k][0]) for k in ours)}


def _largest(pairs) -> float:
    return max(float((a.detach().float() - b.detach().float()).abs().max()) for a, b in pairs)
