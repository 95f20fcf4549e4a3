"""The chapters' exercises: each one's data, and its answer computed by the library.

A chapter shows the data in a code cell, asks the question in its prose, and pastes the answer (glued from
here) into a solution the reader opens. tests/test_exercises.py checks every answer a second way: sympy for
exact rank, numpy for the SVD and the bit patterns, peft for parameter counts, torch for bfloat16.
"""

from __future__ import annotations

import math

import numpy as np

from . import formats, models, nf4, quant, rank, svd
from .delta import random_similarity
from .lora import ALL_LINEAR, lora_parameter_count
from .seed import SEED

# ---------------------------------------------------------------------------- rank

RANK_EXAMPLE = np.array([[1, 2, 3], [2, 4, 6], [1, 0, 1]])  # its second row is a multiple of its first
UPDATE_SHAPE, UPDATE_RANK = (4096, 4096), 8  # an OPT-6.7B projection, and a LoRA rank


def rank_answers() -> dict:
    d, k = UPDATE_SHAPE
    return {
        "rank": rank.exact_rank(RANK_EXAMPLE),
        "low_rank": rank.low_rank_params(d, k, UPDATE_RANK),
        "share": rank.low_rank_params(d, k, UPDATE_RANK) / rank.dense_params(d, k),
    }


# ---------------------------------------------------------------------------- SVD

SPECTRUM = np.array([5.0, 3.0, 1.0, 0.5])  # the singular values of a 4 × 4 matrix
TRUNCATE_TO = 2


def svd_answers() -> dict:
    frobenius, spectral = svd.eckart_young_error(SPECTRUM, TRUNCATE_TO)
    return {
        "frobenius": frobenius,
        "spectral": spectral,
        "energy": svd.energy_captured(SPECTRUM)[TRUNCATE_TO],
    }


# ---------------------------------------------------------------------------- LoRA

LORA_MODEL, LORA_RANK = "opt-1.3b", 8
SCALING_RANKS = (16, 64)  # the seed's rank, and a larger one, at the seed's α


def lora_answers() -> dict:
    count = lora_parameter_count(models.opt_config(LORA_MODEL), LORA_RANK, ALL_LINEAR)
    low, high = SCALING_RANKS
    return {
        "all_linear": count,
        "alpha_over_r": (SEED.lora_alpha / low, SEED.lora_alpha / high),
        "alpha_over_sqrt_r": (SEED.lora_alpha / math.sqrt(low), SEED.lora_alpha / math.sqrt(high)),
    }


# ---------------------------------------------------------------------------- memory

BATCHES = (4, 8)  # the seed's batch, and twice it


def memory_answers() -> dict:
    from .memory import estimate, full_finetune, parameter_groups

    config = models.opt_config("opt-6.7b")
    groups = parameter_groups(config)
    peaks = [
        estimate(config, "lora-int8", b, SEED.seq, checkpointing=True, groups=groups).peak for b in BATCHES
    ]
    adam8 = full_finetune(groups, "mixed", "zero", optimizer="adamw-8bit").total / groups.total
    return {"peaks": peaks, "adam8_bytes_per_param": adam8}


# ---------------------------------------------------------------------------- number formats

FP16_PATTERNS = (0x3C00, 0x7BFF, 0x0001)  # one, the largest finite value, the smallest subnormal
BF16_TARGET = 0.1


def _fields_text(f) -> str:
    """One decoded pattern's fields as the answer states them: sign, stored exponent, mantissa, and value."""
    width = f.fmt.mantissa_bits
    if f.kind == "normal":
        formula = f"2^({f.exponent} − {f.fmt.bias}) × (1 + {f.mantissa}/2^{width})"
    else:
        formula = f"2^(1 − {f.fmt.bias}) × {f.mantissa}/2^{width}"
    return (
        f"{f.pattern:#06x}: sign {f.sign}, "
        f"exponent field {f.exponent:0{f.fmt.exponent_bits}b} ({f.exponent}), "
        f"mantissa {f.mantissa:0{width}b} ({f.mantissa}), {f.kind}: {formula} = {f.value:g}"
    )


def formats_answers() -> dict:
    return {
        "fp16": [formats.decode(p, "FP16").value for p in FP16_PATTERNS],
        "fields": [_fields_text(formats.decode(p, "FP16")) for p in FP16_PATTERNS],
        "bf16": formats.round_to_format(BF16_TARGET, "BF16"),
    }


# ---------------------------------------------------------------------------- int8

ABSMAX_EXAMPLE = np.array([0.5, -1.2, 0.3], dtype=np.float32)
OUTLIER_DIMS, HIDDEN = 3, 1024


def int8_answers() -> dict:
    q = quant.absmax_quantize(ABSMAX_EXAMPLE)
    return {
        "codes": [int(c) for c in q.q.flatten()],
        "scale": float(np.asarray(q.scale).flatten()[0]),
        "int8_share": 1 - OUTLIER_DIMS / HIDDEN,
    }


# ---------------------------------------------------------------------------- NF4


def nf4_answers() -> dict:
    code = nf4.nf4_code()
    return {
        "bits": nf4.bits_per_parameter(double_quant=False),
        "bits_dq": nf4.bits_per_parameter(double_quant=True),
        "positive": int((code > 0).sum()),
        "negative": int((code < 0).sum()),
    }


# ---------------------------------------------------------------------------- What LoRA learned

PHI_RANKS, PHI_WIDTH = (8, 64), 256  # the chapter's two adapters, and the stand-in's width
SQUARE_RANK = 16  # the seed's rank, against itself


def learned_answers() -> dict:
    i, j = PHI_RANKS
    return {
        "chance": float(random_similarity(i, j, PHI_WIDTH)),
        "chance_square": float(random_similarity(SQUARE_RANK, SQUARE_RANK, PHI_WIDTH)),
    }


# ---------------------------------------------------------------------------- why fine-tune


def why_answers() -> dict:
    """How many of the seed's q,v adapters fit in the bytes of one more fp16 copy of OPT-6.7B."""
    config = models.opt_config("opt-6.7b")
    per_adapter = lora_parameter_count(config, SEED.r, SEED.target_modules)
    full = models.parameter_count(models.meta_model(config))
    d = config.hidden_size
    return {
        "adapter": per_adapter,
        "adapters_per_copy": full // per_adapter,
        "break_even": rank.break_even_rank(d, d),
    }


# ---------------------------------------------------------------------------- the fine-tune


def finetune_answers() -> dict:
    """The stand-in's trainable parameters with the seed's q,v LoRA, and with LoRA on every linear layer."""
    from .standin import Recipe, model_config

    config = model_config(Recipe())
    return {
        "qv": lora_parameter_count(config, SEED.r, SEED.target_modules),
        "all_linear": lora_parameter_count(config, SEED.r, ALL_LINEAR),
    }


# ---------------------------------------------------------------------------- the real model


def real_answers() -> dict:
    """SmolLM2's q,v adapter per layer, q's part and v's (grouped-query attention makes v narrower), in all;
    and a Q4_1 block's bytes and bits per weight against NF4's."""
    from .gguf_quants import BLOCK_BYTES, QK, bits_per_weight
    from .lora import llama_lora_parameter_count
    from .smollm2 import load_config

    config = load_config()
    return {
        "q": llama_lora_parameter_count(config, SEED.r, ("q_proj",)) // config.num_hidden_layers,
        "v": llama_lora_parameter_count(config, SEED.r, ("v_proj",)) // config.num_hidden_layers,
        "total": llama_lora_parameter_count(config, SEED.r, SEED.target_modules),
        "q4_1_bytes": BLOCK_BYTES["Q4_1"],
        "q4_1_weights": QK,
        "q4_1_bits": bits_per_weight("Q4_1"),
        "nf4_bits": nf4.bits_per_parameter(),
        "nf4_block": nf4.BLOCK,
        "scale_bits": (BLOCK_BYTES["Q4_1"] - QK // 2) * 8,  # d and m; NF4's fp32 absmax is as many bits
    }
