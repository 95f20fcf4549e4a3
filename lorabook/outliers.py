"""Outlier features in a real model's activations: what LLM.int8() was built for, measured on SmolLM2-135M.

Dettmers et al. (2022, §4) find that from about 6.7B parameters a few feature dimensions of the hidden states
reach magnitudes far above the rest, in most layers and on most tokens, and that they are *systematic*: the
same dimensions in every layer. `inputs()` records the input X (tokens × features) of chosen linear layers of
a model on a text; `layer_table()` says, per layer and projection, the largest |x|, which dimensions reach the
threshold τ and on what share of tokens; `recurrence()` counts in how many layers each dimension does.
`systematic()` applies the paper's criterion. `decomposition()` multiplies one recorded X by its layer's
weight four ways, each measured against the same product in fp32.
"""

from __future__ import annotations

from collections import Counter

import torch

from . import bnb
from .quant import OUTLIER_THRESHOLD, llm_int8_matmul, relative_error, vectorwise_matmul

PROJECTIONS = (
    "q_proj",
    "v_proj",
    "down_proj",
)  # LoRA's two targets, and the MLP's output (its largest inputs)


@torch.no_grad()
def inputs(model, tokenizer, text: str, projections=PROJECTIONS) -> dict[tuple[int, str], torch.Tensor]:
    """(layer, projection) → the projection's input on `text`, tokens × features, in fp32."""
    found, hooks = {}, []
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in projections and ".layers." in name:
            layer = int(name.split(".layers.")[1].split(".")[0])

            def record(_module, args, key=(layer, leaf)):
                found[key] = args[0].detach().reshape(-1, args[0].shape[-1]).float().clone()

            hooks.append(module.register_forward_pre_hook(record))
    try:
        model(**tokenizer(text, return_tensors="pt"))
    finally:
        for h in hooks:
            h.remove()
    if not found:
        raise ValueError(f"projections {tuple(projections)} name no linear layer of this model")
    return found


def layer_table(found: dict, threshold: float = OUTLIER_THRESHOLD) -> list[dict]:
    """One row per (layer, projection): max |x|, the dimensions with some |x| ≥ τ, and for the largest of them
    the share of tokens on which it reaches τ."""
    rows = []
    for (layer, proj), X in sorted(found.items()):
        over = X.abs() >= threshold  # tokens × features
        dims = torch.nonzero(over.any(dim=0)).flatten().tolist()
        top = int(X.abs().amax(dim=0).argmax())
        rows.append(
            {
                "layer": layer,
                "projection": proj,
                "max_abs": X.abs().max().item(),
                "top_dim": top,
                "outlier_dims": dims,
                "top_dim_token_share": over[:, top].float().mean().item(),
                "token_shares": {d: over[:, d].float().mean().item() for d in dims},
                "tokens": X.shape[0],
            }
        )
    return rows


def recurrence(rows: list[dict], projection: str) -> Counter:
    """dimension → the number of layers in which it reaches τ at the input of `projection`."""
    return Counter(d for r in rows if r["projection"] == projection for d in r["outlier_dims"])


# Dettmers et al. (2022, §4.1) call a feature dimension a systematic outlier when its magnitude reaches 6
# in at least 25% of the layers and, there, on at least 6% of the sequence positions.
SYSTEMATIC_LAYERS, SYSTEMATIC_TOKENS = 0.25, 0.06


def systematic(rows: list[dict], projection: str) -> dict[int, int]:
    """dimension → layers in which it reaches τ (layer_table's) on at least SYSTEMATIC_TOKENS of the tokens,
    for the dimensions that do so in at least SYSTEMATIC_LAYERS of the layers: the paper's criterion."""
    mine = [r for r in rows if r["projection"] == projection]
    counts = Counter(d for r in mine for d, share in r["token_shares"].items() if share >= SYSTEMATIC_TOKENS)
    return {d: n for d, n in counts.items() if n >= SYSTEMATIC_LAYERS * len(mine)}


def decomposition(X: torch.Tensor, weight: torch.Tensor, threshold: float = OUTLIER_THRESHOLD) -> dict:
    """X @ Wᵀ of a real layer (`weight` as nn.Linear stores it, o×h) four ways, each error relative to fp32:
    plain vector-wise int8, LLM.int8() (ours), bitsandbytes' Linear8bitLt in eval mode, and fp16."""
    W = weight.detach().float().T.contiguous()  # h × o, the book's convention
    exact = X.double() @ W.double()
    ours = llm_int8_matmul(X, W, threshold)
    return {
        "vector-wise int8": relative_error(vectorwise_matmul(X, W), exact),
        "LLM.int8()": relative_error(ours.out, exact),
        "bitsandbytes": relative_error(bnb.bnb_matmul(X, W, threshold), exact),
        "fp16": relative_error((X.half() @ W.half()).double(), exact),
        "outlier_dims": ours.outlier_cols.tolist(),
        "int8_share": ours.int8_fraction,
    }
