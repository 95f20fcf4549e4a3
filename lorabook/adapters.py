"""Bottleneck adapters, the baseline LoRA is compared with (Houlsby et al. 2019; Lin et al. 2020).

An adapter is a small residual MLP inserted *in sequence* after a sublayer:

    h ← h + W_up σ(W_down h),      W_down: b × d,  W_up: d × b

so every token pays for two extra matmuls that cannot be merged away. AdapterH (Houlsby) puts one after the
attention output projection and one after the feed-forward block of every layer; AdapterL (Lin) puts one after
the feed-forward block only (LoRA paper, §5.1 and Table 1).
"""

from __future__ import annotations

from torch import nn

from ._checks import check_int

PLACEMENTS = {"H": ("self_attn.out_proj", "fc2"), "L": ("fc2",)}  # OPT's module names


class BottleneckAdapter(nn.Module):
    """h + W_up σ(W_down h), with W_up at zero so that a new adapter is the identity."""

    def __init__(self, d: int, bottleneck: int):
        super().__init__()
        bottleneck = check_int(bottleneck, "bottleneck", 1, d)
        self.down = nn.Linear(d, bottleneck)
        self.up = nn.Linear(bottleneck, d)
        self.act = nn.GELU()
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h):
        return h + self.up(self.act(self.down(h)))


class AdapterAfter(nn.Module):
    """`module` followed by an adapter on its output: y = adapter(module(x))."""

    def __init__(self, module: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.module, self.adapter = module, adapter

    def forward(self, x):
        return self.adapter(self.module(x))


def inject_adapters(model: nn.Module, kind: str = "H", bottleneck: int = 16) -> list[str]:
    """Put AdapterH ("H") or AdapterL ("L") adapters into each OPT decoder layer; freeze everything else."""
    if kind not in PLACEMENTS:
        raise ValueError(f"kind must be one of {sorted(PLACEMENTS)}, got {kind!r}")
    model.requires_grad_(False)
    wrapped = []
    for name, layer in model.named_modules():
        if not (hasattr(layer, "self_attn") and hasattr(layer, "fc2")):  # an OPT decoder layer
            continue
        for path in PLACEMENTS[kind]:
            parent_path, _, child = path.rpartition(".")
            parent = layer.get_submodule(parent_path) if parent_path else layer
            inner = getattr(parent, child)
            setattr(parent, child, AdapterAfter(inner, BottleneckAdapter(inner.out_features, bottleneck)))
            wrapped.append(f"{name}.{path}")
    if not wrapped:
        raise ValueError("found no OPT decoder layers (modules with self_attn and fc2) to adapt")
    return wrapped
