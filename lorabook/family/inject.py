"""Putting any of the family's layers into a model: every nn.Linear whose name matches is replaced by
`make(linear)`, with the rule for names that lorabook.lora and peft use (`lora.matches`)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..lora import matches
from ..seed import SEED


def targets(model: nn.Module, target_modules=SEED.target_modules) -> dict[str, nn.Linear]:
    """{name: layer} of the nn.Linear layers of `model` whose names match `target_modules`."""
    linear = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    found = {n: m for n, m in linear.items() if matches(n, target_modules)}
    if not found:
        raise ValueError(f"target_modules {target_modules!r} matched no nn.Linear in the model")
    return found


def inject(model: nn.Module, make: Callable[[nn.Linear], nn.Module], target_modules=SEED.target_modules):
    """Freeze `model` and replace each matching nn.Linear `base` by `make(base)`; return the replaced names.

    `make` builds the adapted layer around its frozen base, e.g. `lambda base: DoRALinear(base, r, alpha)`.
    """
    names = list(targets(model, target_modules))
    model.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(getattr(parent, child)))
    return names
