"""What every memory count is made of: bytes per dtype, a sum of named components (Estimate), and a model's
shape read from any transformers config. lorabook.memory, lorabook.saved and lorabook.budget build on it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ._checks import check_int

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}


def bytes_per(dtype: str) -> int:
    """Bytes per element of a dtype name, from torch's element_size (not typed)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return torch.empty((), dtype=DTYPES[dtype]).element_size()


@dataclass
class Estimate:
    """Named components in bytes, each of a kind: resident (weights, optimizer states, KV cache), gradients,
    activations (kept from forward to backward) or transient (the backward's largest short-lived buffer).

    total is the plain sum. peak is what is allocated at once: the resident part plus the larger of
    activations + transient (at the start of the backward) and the gradients (at its end, once the activations
    are freed; gradients are None before the backward, as after zero_grad(set_to_none=True)).
    """

    components: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)  # component -> kind; missing means resident

    @property
    def total(self) -> int:
        return sum(self.components.values())

    def of_kind(self, kind: str) -> int:
        return sum(v for k, v in self.components.items() if self.kinds.get(k, "resident") == kind)

    @property
    def peak(self) -> int:
        during = self.of_kind("activations") + self.of_kind("transient")
        return self.of_kind("resident") + max(during, self.of_kind("gradients"))

    def __add__(self, other: Estimate) -> Estimate:
        merged = dict(self.components)
        for k, v in other.components.items():
            merged[k] = merged.get(k, 0) + v
        return Estimate(merged, {**self.kinds, **other.kinds})


def shape(config) -> tuple:
    """(hidden size, layers, attention heads) of an OPT, BLOOM or GPT-style config."""
    h = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not h:
        raise ValueError(
            f"config must have a hidden size (hidden_size or n_embd), got {type(config).__name__}"
        )
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    return h, layers, heads


def check_workload(batch: int, seq: int) -> tuple[int, int]:
    """`batch` sequences of `seq` tokens, each at least 1."""
    return check_int(batch, "batch", 1), check_int(seq, "seq", 1)
