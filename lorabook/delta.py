"""The update ΔW of a fine-tune, measured as Hu et al. (2021, arXiv:2106.09685) measure it in §7.

For a d × k weight W₀ that a fine-tune changes to W₀ + ΔW:

* spectrum: the singular values σ₁ ≥ σ₂ ≥ … of ΔW. LoRA's ΔW = s·B·A has rank ≤ r (s = α/r, or α/√r in
  rsLoRA), so σ_{r+1} = … = 0; full fine-tuning's ΔW can have any rank. How much of ‖ΔW‖_F² the top i
  directions hold is `lorabook.svd.energy_captured`, and by Eckart–Young the best rank-i approximation
  misses the rest (`lorabook.svd.relative_error`).

* subspace similarity (§7.2, eq. 4): for two LoRA factors A₁ (r₁ × k) and A₂ (r₂ × k) with right-singular
  vectors U₁ (k × r₁) and U₂ (k × r₂),

      φ(A₁, A₂, i, j) = ‖U₁[:, :i]ᵀ U₂[:, :j]‖_F² / min(i, j)   ∈ [0, 1],

  1 when one top subspace contains the other, 0 when they are orthogonal. For a uniformly random j-plane
  against a fixed i-plane in ℝᵏ, E[P_j] = (j/k)·I by symmetry, so E‖U_iᵀU_j‖_F² = tr(U_iᵀ E[P_j] U_i) = i·j/k
  and E[φ] = max(i, j)/k: the baseline that says "no more alike than chance".

* amplification (§7.3): with U (d × r) and Vᵀ (r × k) the top-r singular vectors of ΔW,

      amplification = ‖ΔW‖_F / ‖Uᵀ W₀ V‖_F,

  how strongly ΔW boosts directions that W₀ itself hardly uses. It is 1 when ΔW is W₀'s own top-r part.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from ._checks import as_matrix, check_int, rng


def as_array(W) -> np.ndarray:
    """A torch tensor or array as a finite float64 matrix."""
    if hasattr(W, "detach"):
        W = W.detach().double().cpu().numpy()
    return as_matrix(W, "W")


def singular_values(delta) -> np.ndarray:
    """σ₁ ≥ σ₂ ≥ … ≥ 0 of ΔW."""
    return np.linalg.svd(as_array(delta), compute_uv=False)


def top_directions(W, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(U_r, V_r): W's top-r left (d × r) and right (k × r) singular vectors."""
    W = as_array(W)
    r = check_int(r, "r", 1, min(W.shape))
    U, _, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, :r], Vt[:r].T


def right_singular_vectors(A) -> np.ndarray:
    """U_A: the right-singular vectors of a LoRA factor A (r × k), as the k × r columns, top first."""
    A = as_array(A)
    _, _, Vt = np.linalg.svd(A, full_matrices=False)
    return Vt.T


def subspace_similarity(A1, A2) -> np.ndarray:
    """φ(A₁, A₂, i, j) for i = 1..r₁ and j = 1..r₂, as an r₁ × r₂ array (entry [i-1, j-1])."""
    U1, U2 = right_singular_vectors(A1), right_singular_vectors(A2)
    if U1.shape[0] != U2.shape[0]:
        raise ValueError(
            f"A1 and A2 must have the same number of columns, got {U1.shape[0]} and {U2.shape[0]}"
        )
    overlap = (
        U1.T @ U2
    ) ** 2  # (uᵢ · vⱼ)²; ‖U₁[:, :i]ᵀ U₂[:, :j]‖_F² is its sum over the top-left i × j block
    cumulative = overlap.cumsum(axis=0).cumsum(axis=1)
    i, j = np.indices(cumulative.shape) + 1
    return cumulative / np.minimum(i, j)


def random_similarity(i, j, k: int):
    """E[φ] between a fixed i-dimensional and a uniformly random j-dimensional subspace of ℝᵏ: max(i, j)/k."""
    k = check_int(k, "k", 1)
    i, j = np.asarray(i), np.asarray(j)
    if (i < 1).any() or (j < 1).any() or (i > k).any() or (j > k).any():
        raise ValueError(f"i and j must be in 1..{k} (k = {k}), got i={i} and j={j}")
    return np.maximum(i, j) / k


def random_orthonormal(k: int, r: int, seed: int = 0) -> np.ndarray:
    """A k × r matrix with orthonormal columns spanning a uniformly random r-plane (QR of a Gaussian)."""
    k, r = check_int(k, "k", 1), check_int(r, "r", 1, k)
    Q, R = np.linalg.qr(rng(seed, "random_orthonormal").standard_normal((k, r)))
    return Q * np.sign(np.diag(R))  # signs fixed so that Q is Haar-distributed


def projection_norm(W, U, V) -> float:
    """‖Uᵀ W V‖_F: how much of W lies in the left directions U (d × r) and right directions V (k × r)."""
    return float(np.linalg.norm(U.T @ as_array(W) @ V))


def amplification(delta, W0, r: int, seed: int = 0) -> dict:
    """‖ΔW‖_F / ‖Uᵀ W₀ V‖_F with U, V ΔW's top-r singular vectors, and W₀ projected onto two references.

    Returns `factor`, the norms ‖ΔW‖_F and ‖W₀‖_F, and ‖Uᵀ W₀ V‖_F for U, V taken from ΔW (`onto_delta`),
    from W₀ itself (`onto_w0`, which is √(σ₁² + … + σ_r²) of W₀) and from random r-planes (`onto_random`).
    """
    delta, W0 = as_array(delta), as_array(W0)
    if delta.shape != W0.shape:
        raise ValueError(f"delta and W0 must have the same shape, got {delta.shape} and {W0.shape}")
    r = check_int(r, "r", 1, min(W0.shape))
    onto_delta = projection_norm(W0, *top_directions(delta, r))
    out = {
        "delta_norm": float(np.linalg.norm(delta)),
        "w0_norm": float(np.linalg.norm(W0)),
        "onto_delta": onto_delta,
        "onto_w0": projection_norm(W0, *top_directions(W0, r)),
        "onto_random": projection_norm(
            W0, random_orthonormal(W0.shape[0], r, seed), random_orthonormal(W0.shape[1], r, seed + 1)
        ),
    }
    out["factor"] = out["delta_norm"] / onto_delta
    return out


def relation(delta, other, r: int) -> dict:
    """How one update ΔW relates to another (LoRA's to full fine-tuning's, say), both d × k:

    * cosine: ⟨ΔW, ΔW'⟩_F / (‖ΔW‖_F ‖ΔW'‖_F), 1 when they point the same way, near 0 when unrelated;
    * norm ratio: ‖ΔW‖_F / ‖ΔW'‖_F;
    * overlap: ‖U_rᵀ U'_r‖_F² / r for their top-r left singular vectors, the fraction of one's top-r output
      subspace inside the other's (φ(r, r) of §7.2 on column spaces); a random r-plane gives r/d.
    """
    a, b = as_array(delta), as_array(other)
    if a.shape != b.shape:
        raise ValueError(f"delta and other must have the same shape, got {a.shape} and {b.shape}")
    r = check_int(r, "r", 1, min(a.shape))
    U, _ = top_directions(a, r)
    U2, _ = top_directions(b, r)
    return {
        "cosine": float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b))),
        "norm ratio": float(np.linalg.norm(a) / np.linalg.norm(b)),
        "overlap": float(np.linalg.norm(U.T @ U2) ** 2 / r),
        "chance": r / a.shape[0],
    }


def intruder_dimensions(W0, W, top: int = 10, threshold: float = 0.5) -> int:
    """How many of W's top-`top` left singular vectors are intruders: unlike every singular vector of W₀.

    Shuttleworth et al. (2024): for each of the top singular vectors uᵢ of the fine-tuned W, take
    max_j |uᵢ · u⁰_j| over all left singular vectors u⁰_j of W₀; uᵢ is an intruder when that is below
    `threshold`. A fine-tune that only re-weights W₀'s directions has none; one that adds a new direction
    stronger than W₀'s own makes it an intruder.
    """
    W0, W = as_array(W0), as_array(W)
    if W0.shape != W.shape:
        raise ValueError(f"W0 and W must have the same shape, got {W0.shape} and {W.shape}")
    top = check_int(top, "top", 1, min(W.shape))
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    U0, _, _ = np.linalg.svd(W0, full_matrices=False)
    U, _, _ = np.linalg.svd(W, full_matrices=False)
    best = np.abs(U[:, :top].T @ U0).max(axis=1)
    return int(np.sum(best < threshold))


# ---------------------------------------------------------------------------- ΔW out of a model

_LINEAR = re.compile(r"layers\.(\d+)\..*?\b(q_proj|k_proj|v_proj|out_proj|fc1|fc2)\b")


def short_name(name: str) -> str:
    """ "base_model.model.model.decoder.layers.3.self_attn.q_proj(.weight)" → "3.q_proj"."""
    found = _LINEAR.search(name)
    if not found:
        raise ValueError(f"name must name a linear layer of an OPT block, got {name!r}")
    return f"{found[1]}.{found[2]}"


def lora_factors(model) -> dict[str, tuple[torch.Tensor, torch.Tensor, float]]:
    """(A, B, s) of every LoRA layer of a peft model, by short name: ΔW = s·B·A, s = α/r (or α/√r)."""
    from peft.tuners.lora import LoraLayer

    found = {}
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            for adapter in module.active_adapters:
                A, B = module.lora_A[adapter].weight, module.lora_B[adapter].weight
                found[short_name(name)] = (A.detach(), B.detach(), float(module.scaling[adapter]))
    if not found:
        raise ValueError("model must be a peft model with LoRA layers; it has none")
    return found


def lora_deltas(model) -> dict[str, torch.Tensor]:
    """ΔW = s·B·A of every LoRA layer of a peft model, by short name (d_out × d_in, rank ≤ r)."""
    return {name: s * (B @ A) for name, (A, B, s) in lora_factors(model).items()}


def base_weights(base, names) -> dict[str, torch.Tensor]:
    """W₀ of the linear layers `names` (short names) of the base model."""
    found = {
        short_name(k): p.detach()
        for k, p in base.named_parameters()
        if k.endswith(".weight") and _LINEAR.search(k)
    }
    return {k: found[k] for k in names}


def update_norm(deltas: dict[str, torch.Tensor]) -> float:
    """‖ΔW‖_F over all the matrices a run changed: √(Σ ‖ΔWᵢ‖_F²)."""
    return math.sqrt(sum(float(d.double().norm()) ** 2 for d in deltas.values()))


def moved(factors: dict, initial: dict) -> dict[str, float]:
    """‖A − A₀‖_F / ‖A₀‖_F of each LoRA layer: how far training took A from its random start."""
    return {n: float((factors[n][0] - initial[n][0]).norm() / initial[n][0].norm()) for n in factors}
