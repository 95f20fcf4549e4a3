"""LoRA from scratch (Hu et al. 2021, arXiv:2106.09685): the layer, its injection by name, and its counts.

A frozen linear layer W0 (d_out × d_in) is adapted by a low-rank update,

    h = W0 x + ΔW x,      ΔW = (α / r) · B A,      A: r × d_in,  B: d_out × r,      rank(ΔW) ≤ r      (§4.1)

A starts Kaiming-uniform and B at zero, so ΔW = 0 and the adapted model is the base model at step 0.
Only A and B train: r (d_in + d_out) parameters instead of d_in · d_out.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from . import models
from ._checks import check_int, check_nonnegative, check_positive
from .seed import SEED

# ---------------------------------------------------------------------------- the layer


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (α/r)·B·A.

    Args:
        base: the pretrained layer W0 (its weight and bias are frozen).
        r: the rank of the update, 1..min(d_in, d_out).
        alpha: the scaling numerator; the update is multiplied by alpha / r.
        dropout: dropout probability on the input of the LoRA path only.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float = 1.0, dropout: float = 0.0):
        super().__init__()
        d_out, d_in = base.weight.shape
        self.r = check_int(r, "r", 1, min(d_in, d_out))
        self.alpha = check_positive(alpha, "alpha")
        dropout = check_nonnegative(dropout, "dropout")
        if dropout >= 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.base = base.requires_grad_(False)
        device, dtype = base.weight.device, base.weight.dtype
        dtype = dtype if dtype.is_floating_point else torch.float32  # an int8 base still trains float A, B
        self.A = nn.Parameter(torch.empty(self.r, d_in, device=device, dtype=dtype))
        self.B = nn.Parameter(torch.zeros(d_out, self.r, device=device, dtype=dtype))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear, loralib and peft initialise A
        self.scaling = self.alpha / self.r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (α/r)·B·A, d_out × d_in, of rank at most r."""
        return self.scaling * self.B @ self.A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)  # W0 x (+ bias); after merge() this is already (W0 + ΔW) x
        if not self.merged:
            h = h + self.scaling * (self.dropout(x) @ self.A.T) @ self.B.T  # (…, d_out): x Aᵀ Bᵀ = (B A x)ᵀ
        return h

    @torch.no_grad()
    def merge(self, safe: bool = False) -> None:
        """W0 ← W0 + ΔW: inference then costs exactly one matmul, as the base layer did.

        Only a floating-point W0 can take ΔW in place: int8 codes would round it away (adding a small ΔW to
        codes changes none of them) while the LoRA path is dropped, so a quantized base is refused. With
        safe=True the sum is formed first and checked for inf and NaN before W0 changes (peft's safe_merge).
        """
        if self.merged:
            raise RuntimeError(f"this {type(self).__name__} is already merged; call unmerge() first")
        weight = self.base.weight
        if not weight.dtype.is_floating_point:
            raise TypeError(
                f"merge needs a floating-point base weight, got {weight.dtype}: adding ΔW to quantized codes "
                "would lose it; dequantize the base first, or keep the adapter unmerged"
            )
        merged = self.merged_weight()
        if safe and not torch.isfinite(merged).all():
            raise ValueError("merging would put inf or NaN into the base weight; the base was left unchanged")
        weight.copy_(merged)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W0 ← W0 − ΔW: the inverse of merge(), up to floating-point rounding."""
        if not self.merged:
            raise RuntimeError(f"this {type(self).__name__} is not merged; there is nothing to unmerge")
        self.base.weight.copy_(self.unmerged_weight())
        self.merged = False

    def merged_weight(self) -> torch.Tensor:
        """W0 + ΔW, in W0's dtype: what merge() writes into the base (a variant that merges otherwise, as
        DoRA does, overrides this and unmerged_weight, and keeps merge's checks)."""
        weight = self.base.weight
        return weight + self.delta_weight().to(weight.dtype)

    def unmerged_weight(self) -> torch.Tensor:
        """W0, recovered from the merged base: W0 + ΔW − ΔW."""
        weight = self.base.weight
        return weight - self.delta_weight().to(weight.dtype)

    def extra_repr(self) -> str:
        d_out, d_in = self.base.weight.shape
        return f"d_in={d_in}, d_out={d_out}, r={self.r}, alpha={self.alpha}, merged={self.merged}"


# ---------------------------------------------------------------------------- injection by module name


def matches(name: str, target_modules) -> bool:
    """peft's rule: a string is a regex that must match the whole name; a list matches a name equal to one of
    its entries or ending in "." + entry."""
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return any(name == t or name.endswith("." + t) for t in target_modules)


def inject_lora(
    model: nn.Module,
    target_modules=SEED.target_modules,
    r: int = 8,
    alpha: float = 8.0,
    dropout: float = 0.0,
) -> list[str]:
    """Replace every nn.Linear whose name matches `target_modules` by a LoRALinear, and freeze the rest.

    Returns the names of the adapted layers. After this, only the A and B matrices require gradients.
    """
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and matches(n, target_modules)]
    if not names:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(
            f"target_modules {target_modules!r} matched no nn.Linear in the model; "
            f"its linear layers are named {linear}"
        )
    model.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, dropout))
    return names


def lora_layers(model: nn.Module) -> list[LoRALinear]:
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def merge_all(model: nn.Module) -> None:
    for layer in lora_layers(model):
        layer.merge()


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every LoRA layer and put its plain base layer back (peft's `merge_and_unload`): the model is then
    the base architecture with W₀ + ΔW in its weights, with no wrapper left to call."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.base)
    return model


def unmerge_all(model: nn.Module) -> None:
    for layer in lora_layers(model):
        layer.unmerge()


# ---------------------------------------------------------------------------- counting


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameters, each shared tensor once, as peft's get_nb_trainable_parameters counts.

    An int8 weight of bitsandbytes counts one parameter per element, as peft counts it.
    """
    return models.parameter_count(model, trainable_only=True), models.parameter_count(model)


def trainable_summary(model: nn.Module) -> str:
    """The seed article's printout: 'trainable params: … || all params: … || trainable%: …'."""
    trainable, total = count_parameters(model)
    return f"trainable params: {trainable} || all params: {total} || trainable%: {100 * trainable / total}"


# every linear layer of an OPT block, in the order of its forward pass
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def lora_parameter_count(config, r: int, target_modules=SEED.target_modules) -> int:
    """LoRA's trainable parameters for an OPT config in closed form: layers × Σ_targets r (d_in + d_out)."""
    d, f = config.hidden_size, config.ffn_dim
    shapes = {
        "q_proj": (d, d),
        "k_proj": (d, d),
        "v_proj": (d, d),
        "out_proj": (d, d),
        "fc1": (d, f),
        "fc2": (f, d),
    }
    return _count(shapes, config.num_hidden_layers, r, target_modules)


def _count(shapes: dict, layers: int, r: int, target_modules) -> int:
    """layers × Σ_targets r (d_in + d_out), each target's (d_in, d_out) from `shapes`."""
    unknown = set(target_modules) - set(shapes)
    if unknown:
        raise ValueError(f"target_modules must be among {sorted(shapes)}, got {sorted(unknown)}")
    return layers * sum(r * (d_in + d_out) for d_in, d_out in map(shapes.get, target_modules))


def llama_lora_parameter_count(config, r: int, target_modules=SEED.target_modules) -> int:
    """The same for a Llama config (SmolLM2). Grouped-query attention makes k and v narrower than q: they have
    num_key_value_heads heads of head_dim, so v_proj is d × (kv · head_dim), not d × d."""
    d, f = config.hidden_size, config.intermediate_size
    heads = config.num_attention_heads * config.head_dim
    kv = config.num_key_value_heads * config.head_dim
    shapes = {
        "q_proj": (d, heads),
        "k_proj": (d, kv),
        "v_proj": (d, kv),
        "o_proj": (heads, d),
        "gate_proj": (d, f),
        "up_proj": (d, f),
        "down_proj": (f, d),
    }
    return _count(shapes, config.num_hidden_layers, r, target_modules)
