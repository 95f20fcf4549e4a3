"""LoRA+ (Hayou, Ghosh and Yu 2024, arXiv:2402.12354): B learns λ times faster than A.

LoRA trains A and B with one learning rate η. The paper analyses LoRA as the width n of the model grows:
with one rate the adapter either becomes unstable or learns its features inefficiently, and efficient
learning needs B's rate to exceed A's by a ratio that grows with n. LoRA+ therefore gives the two their own

    η_A = η,      η_B = λ·η,      λ > 1 (the paper's experiments favour λ around 2⁴ = 16),

and changes nothing else: same layer, same initialisation, same optimizer, different parameter groups.

peft's create_loraplus_optimizer (peft/optimizers/loraplus.py) sorts every trainable parameter into four
groups, which this module reproduces for the book's layers (and for peft's names, so that both can be
compared):
    A            (lr η,    weight decay w): every matrix not on B's side;
    embedding    (lr η_e,  weight decay w): A and B of an adapter on an nn.Embedding, η_e = 1e-6 by default;
    B            (lr λ·η,  weight decay w): B, and every vector (ndim 1) that decays;
    B, no decay  (lr λ·η,  weight decay 0): the vectors that do not decay: biases and LayerNorm parameters.
"On B's side" is peft's rule: a name with lora_B in it (the book's B), or any parameter with one dimension.
So DoRA's magnitude m, VeRA's λ vectors, and any bias or LayerNorm left trainable get λ·η as well.
A parameter decays unless "bias" is in its name or it lives inside an nn.LayerNorm (transformers' rule).
"""

from __future__ import annotations

import torch
from torch import nn


def on_b_side(name: str, param: torch.Tensor) -> bool:
    """B's matrices (the book's `B`, peft's `lora_B`) and every parameter with a single dimension."""
    return name.split(".")[-1] == "B" or "lora_B" in name or param.ndim == 1


def adapts_embedding(model: nn.Module, name: str) -> bool:
    """Whether parameter `name` is part of an adapter on an nn.Embedding: its owner (the book: layer.A) or its
    owner's owner (peft keeps them in a dict: layer.lora_embedding_A.default) wraps a frozen nn.Embedding."""
    parts = name.split(".")
    for cut in (1, 2):
        if len(parts) > cut:
            owner = model.get_submodule(".".join(parts[:-cut]))
            bases = (getattr(owner, "base", None), getattr(owner, "base_layer", None))
            if any(isinstance(base, nn.Embedding) for base in bases):
                return True
    return False


def decays(model: nn.Module, name: str) -> bool:
    """Weight decay applies unless the parameter is a bias or belongs to an nn.LayerNorm."""
    parts = name.split(".")
    owners = (model.get_submodule(".".join(parts[:i])) for i in range(1, len(parts)))
    in_norm = any(isinstance(owner, nn.LayerNorm) for owner in owners)
    return not in_norm and "bias" not in name


def loraplus_groups(
    model: nn.Module, lr: float, ratio: float, weight_decay: float = 0.0, lr_embedding: float = 1e-6
) -> list[dict]:
    """The four parameter groups (A, embedding, B, B without decay), in peft's order, each with its lr and
    weight decay; `ratio` is λ = η_B / η_A. Frozen parameters are left out."""
    groups = {key: [] for key in ("A", "embedding", "B", "B no decay")}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if adapts_embedding(model, name):
            groups["embedding"].append(param)
        elif on_b_side(name, param):
            groups["B" if decays(model, name) else "B no decay"].append(param)
        else:
            groups["A"].append(param)
    settings = {
        "A": (lr, weight_decay),
        "embedding": (lr_embedding, weight_decay),
        "B": (lr * ratio, weight_decay),
        "B no decay": (lr * ratio, 0.0),
    }
    return [{"params": groups[k], "lr": settings[k][0], "weight_decay": settings[k][1]} for k in groups]


def loraplus_optimizer(
    model: nn.Module,
    optimizer_cls: type[torch.optim.Optimizer] = torch.optim.AdamW,
    *,
    lr: float,
    ratio: float,
    weight_decay: float = 0.0,
    lr_embedding: float = 1e-6,
    **kwargs,
) -> torch.optim.Optimizer:
    """`optimizer_cls` over loraplus_groups(...): LoRA+ as an ordinary optimizer with four groups."""
    return optimizer_cls(loraplus_groups(model, lr, ratio, weight_decay, lr_embedding), lr=lr, **kwargs)


def learning_rates(optimizer: torch.optim.Optimizer) -> dict[int, tuple[float, float]]:
    """{id(parameter): (lr, weight decay)} of every parameter an optimizer updates."""
    return {id(p): (g["lr"], g.get("weight_decay", 0.0)) for g in optimizer.param_groups for p in g["params"]}
