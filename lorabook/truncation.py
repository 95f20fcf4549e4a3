"""The decisive test of the low-rank claim: cut full fine-tuning's update to rank r and see what it keeps.

LoRA's premise (Hu et al., 2021, §4) is that the change a fine-tune needs, ΔW, has a low "intrinsic rank".
The spectrum of a full fine-tune's ΔW (`lorabook.delta.singular_values`) answers a different question: how
much of ‖ΔW‖_F² a rank-r matrix holds. Whether the model still *does* what it learned is the functional
test. For every weight matrix W₀ (d × k) of the six linear layers of each block that full fine-tuning
changed, keep the best rank-r part of its ΔW (Eckart–Young: the top r singular triples),

    W = W₀ + U_r Σ_r V_rᵀ,        ΔW = U Σ Vᵀ,

leave every other parameter's change (embeddings, head, layer norms, biases) as full fine-tuning made it,
and measure the model: quotes reproduced, loss on the quotes, loss on held-out documentation. r = 0 keeps
only those other changes; r = min(d, k) is full fine-tuning itself.

`parts` asks the other question: which matrices carry the learning. It applies full fine-tuning's whole
ΔW to one group of parameters and none to the rest.
"""

from __future__ import annotations

import copy

import torch

from . import pretrain, standin
from .delta import _LINEAR, short_name
from .finetune.scoring import exact_match, quotes_loss

# The groups of parameters whose change `parts` applies alone, by the short names of their matrices or by
# what their full names contain.
PARTS = {
    "q,v": ("q_proj", "v_proj"),
    "k,o": ("k_proj", "out_proj"),
    "attention q,k,v,o": ("q_proj", "k_proj", "v_proj", "out_proj"),
    "MLP fc1,fc2": ("fc1", "fc2"),
    "embeddings, head, norms, biases": (),  # everything that is not a block's linear weight
}
GRID = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)  # r on a log grid, 0 (no matrix change) to full rank (256)


def is_matrix(name: str) -> bool:
    """Whether a parameter is the weight of one of a block's linear layers (q, k, v, o, fc1, fc2)."""
    return name.endswith(".weight") and bool(_LINEAR.search(name))


def truncate(delta: torch.Tensor, r: int) -> torch.Tensor:
    """ΔW's best rank-r approximation U_r Σ_r V_rᵀ (an SVD in float64, returned in ΔW's dtype); 0 at r = 0."""
    if not 0 <= r:
        raise ValueError(f"r must be at least 0, got {r}")
    if r == 0:
        return torch.zeros_like(delta)
    return _rank_r(torch.linalg.svd(delta.double(), full_matrices=False), r).to(delta.dtype)


def _rank_r(factors, r: int) -> torch.Tensor:
    """U_r Σ_r V_rᵀ from an SVD's (U, Σ, Vᵀ); every triple if r exceeds their number."""
    U, S, Vh = factors
    return (U[:, :r] * S[:r]) @ Vh[:r]


def _factors(delta: dict[str, torch.Tensor]) -> dict[str, tuple]:
    """U, Σ, Vᵀ of each linear weight's ΔW, computed once for every r."""
    return {k: torch.linalg.svd(v.double(), full_matrices=False) for k, v in delta.items() if is_matrix(k)}


def truncated_model(base, delta: dict[str, torch.Tensor], r: int, factors=None):
    """A copy of `base` with each linear weight moved by its ΔW cut to rank r, the rest by its whole ΔW.

    `delta` maps the base's parameter names to W − W₀, as `lorabook.learned` ships full fine-tuning's.
    """
    factors = factors if factors is not None else _factors(delta)
    model = copy.deepcopy(base)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in factors:
                p.add_(_rank_r(factors[name], r).to(p.dtype))
            else:
                p.add_(delta[name].to(p.dtype))
    return model.eval()


def part_model(base, delta: dict[str, torch.Tensor], part: str):
    """A copy of `base` moved by full fine-tuning's ΔW in the parameters of one of `PARTS` only."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {list(PARTS)}, got {part!r}")
    layers = PARTS[part]
    model = copy.deepcopy(base)
    with torch.no_grad():
        for name, p in model.named_parameters():
            chosen = short_name(name).split(".")[1] in layers if is_matrix(name) else not layers
            if chosen:
                p.add_(delta[name].to(p.dtype))
    return model.eval()


def measure(model, tokenizer, batch, heldout) -> dict:
    """What a model does with the quotes: how many it reproduces, its loss on them and on held-out docs."""
    _, rows = exact_match(model, tokenizer, standin.zen_of_python())
    return {
        "exact match": sum(r["match"] for r in rows),
        "quotes loss": quotes_loss(model, batch),
        "held-out loss": pretrain.mean_loss(model, heldout),
    }


def by_rank(base, delta, tokenizer, batch, heldout, grid=GRID) -> dict[int, dict]:
    """`measure` of the model with every linear ΔW cut to rank r, for each r in `grid`."""
    factors = _factors(delta)
    return {r: measure(truncated_model(base, delta, r, factors), tokenizer, batch, heldout) for r in grid}


def by_part(base, delta, tokenizer, batch, heldout) -> dict[str, dict]:
    """`measure` of the model with full fine-tuning's ΔW in one group of parameters only, for each part."""
    return {part: measure(part_model(base, delta, part), tokenizer, batch, heldout) for part in PARTS}


def kept_at(rows: dict[int, dict], share: float = 1.0) -> int:
    """The smallest r of a `by_rank` sweep from which on at least `share` of the largest r's quotes stay."""
    ranks = sorted(rows)
    goal = share * rows[ranks[-1]]["exact match"]
    for i, r in enumerate(ranks):
        if all(rows[s]["exact match"] >= goal for s in ranks[i:]):
            return r
    return ranks[-1]
