"""VeRA (Kopiczko, Blankevoort and Asano 2024, arXiv:2310.11454): one frozen random pair A, B for the whole
model, and two trained vectors per layer.

Every adapted layer W₀ ∈ R^{d×k} shares the same random, frozen A ∈ R^{r×k_max} and B ∈ R^{d_max×r} (k_max,
d_max: the largest input and output width among the adapted layers; a layer uses the top-left d × r block of
B and r × k block of A), and trains only two diagonal scalings, Λ_d = diag(λ_d) ∈ R^{r×r} and
Λ_b = diag(λ_b) ∈ R^{d×d}:

    h = W₀x + Λ_b B Λ_d A x,      ΔW = Λ_b B Λ_d A,      rank(ΔW) ≤ r.

There is no α/r: λ_d and λ_b are the scale. Initialisation (peft's VeraConfig): A and B Kaiming-uniform,
U(−√(6/fan_in), √(6/fan_in)) with fan_in = k_max for A and r for B, drawn in that order from one generator
seeded with projection_prng_key (0), so that the pair can be regenerated from the key instead of stored;
λ_d = d_initial = 0.1 and λ_b = 0, so ΔW = 0 at step 0, as LoRA's B = 0 makes it.

Trainable parameters per layer: d + r, against LoRA's r (d + k). The shared pair is frozen, so r can be large:
on OPT-6.7B's q_proj and v_proj, VeRA at r = 256 trains 32 × 2 × (4096 + 256) = 278,528 parameters, LoRA at
r = 16 trains 32 × 2 × 16 × (4096 + 4096) = 8,388,608, thirty times as many.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_int, check_nonnegative
from ..seed import SEED
from .inject import inject, targets

# ---------------------------------------------------------------------------- the shared random pair


def kaiming_uniform(shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """U(−√(6/fan_in), √(6/fan_in)) with fan_in = shape[1]: Kaiming-uniform for a ReLU gain √2."""
    bound = math.sqrt(3.0) * math.sqrt(2.0) / math.sqrt(shape[1])
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)


class Projections(nn.Module):
    """The frozen A ∈ R^{r×k_max} and B ∈ R^{d_max×r} that every VeRA layer of a model shares (as buffers)."""

    def __init__(self, r: int, d_in: int, d_out: int, key: int = 0):
        super().__init__()
        self.r = check_int(r, "r", 1)
        generator = torch.Generator(device="cpu").manual_seed(check_int(key, "key", 0))
        self.register_buffer("A", kaiming_uniform((self.r, d_in), generator))  # A first, then B, as peft
        self.register_buffer("B", kaiming_uniform((d_out, self.r), generator))


# ---------------------------------------------------------------------------- the layer


class VeRALinear(nn.Module):
    """A frozen nn.Linear plus Λ_b B Λ_d A, with A, B from the shared `projections` and λ_d, λ_b trained."""

    def __init__(
        self, base: nn.Linear, projections: Projections, d_initial: float = 0.1, dropout: float = 0.0
    ):
        super().__init__()
        d_out, d_in = base.weight.shape
        if projections.A.shape[1] < d_in or projections.B.shape[0] < d_out:
            raise ValueError(
                f"the shared projections, A {tuple(projections.A.shape)} and B {tuple(projections.B.shape)}, "
                f"are too small for a layer with d_in={d_in}, d_out={d_out}"
            )
        dropout = check_nonnegative(dropout, "dropout")
        self.base = base.requires_grad_(False)
        self.projections = projections  # one module, registered under every layer: shared, not copied
        self.r = projections.r
        dtype = base.weight.dtype if base.weight.dtype.is_floating_point else torch.float32
        d_initial = check_nonnegative(d_initial, "d_initial")
        self.lambda_d = nn.Parameter(torch.full((self.r,), d_initial, dtype=dtype))
        self.lambda_b = nn.Parameter(torch.zeros(d_out, dtype=dtype))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def A(self) -> torch.Tensor:
        """The r × k block of the shared A that this layer uses."""
        return self.projections.A[:, : self.base.in_features]

    def B(self) -> torch.Tensor:
        """The d × r block of the shared B that this layer uses."""
        return self.projections.B[: self.base.out_features]

    def delta_weight(self) -> torch.Tensor:
        """ΔW = Λ_b B Λ_d A, d × k: the rows of B scaled by λ_b, the rows of A by λ_d."""
        return (self.lambda_b[:, None] * self.B()) @ (self.lambda_d[:, None] * self.A())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        A, B = self.A().to(x.dtype), self.B().to(x.dtype)
        return self.base(x) + self.lambda_b * ((self.lambda_d * (self.dropout(x) @ A.T)) @ B.T)

    def extra_repr(self) -> str:
        return f"d_in={self.base.in_features}, d_out={self.base.out_features}, r={self.r}"


def inject_vera(
    model: nn.Module,
    r: int,
    target_modules=SEED.target_modules,
    d_initial: float = 0.1,
    key: int = 0,
    dropout: float = 0.0,
) -> list[str]:
    """Replace every matching nn.Linear by a VeRALinear, all sharing one Projections sized to the largest of
    them; freeze the rest. Returns the replaced names."""
    layers = targets(model, target_modules).values()
    shared = Projections(r, max(m.in_features for m in layers), max(m.out_features for m in layers), key)
    return inject(model, lambda base: VeRALinear(base, shared, d_initial, dropout), target_modules)


# ---------------------------------------------------------------------------- counting


def opt_shapes(config) -> dict[str, tuple[int, int]]:
    """{name: (d_in, d_out)} of the linear layers of one OPT block."""
    d, f = config.hidden_size, config.ffn_dim
    square = {name: (d, d) for name in ("q_proj", "k_proj", "v_proj", "out_proj")}
    return {**square, "fc1": (d, f), "fc2": (f, d)}


def vera_parameter_count(config, r: int, target_modules=SEED.target_modules) -> int:
    """VeRA's trainable parameters for an OPT config: layers × Σ_targets (d_out + r), λ_b and λ_d."""
    shapes = opt_shapes(config)
    unknown = set(target_modules) - set(shapes)
    if unknown:
        raise ValueError(f"target_modules must be among {sorted(shapes)}, got {sorted(unknown)}")
    return config.num_hidden_layers * sum(shapes[t][1] + r for t in target_modules)


def vera_shared_size(config, r: int, target_modules=SEED.target_modules) -> int:
    """Entries of the frozen shared pair, r·k_max + d_max·r: stored once for the whole model (peft saves them
    with the adapter by default, save_projection=True), or regenerated from the key."""
    shapes = [opt_shapes(config)[t] for t in target_modules]
    return r * max(k for k, _ in shapes) + max(d for _, d in shapes) * r
