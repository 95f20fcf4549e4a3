"""A GPU-memory estimator that shows its arithmetic: weights, gradients, optimizer states, LoRA, activations,
KV cache, each returned separately, for any transformers config.

Per-parameter costs (bytes per parameter, p = parameters):
    inference, 16-bit weights                  2
    full fine-tune, fp32 + Adam                4 weights + 4 gradients + 8 Adam (m, v)            = 16
    full fine-tune, mixed precision (ZeRO)     2 fp16 weights + 2 fp16 gradients
                                               + 12 fp32 master copy, m and v                    = 16
    full fine-tune, mixed precision (HF)       4 fp32 weights + 2 fp16 copy + 4 fp32 gradients
                                               + 8 Adam (m, v)                                   = 18
Sources: Rajbhandari et al. 2020 (ZeRO), §3.1; the Hugging Face "model training anatomy" guide (18 bytes).
They differ in where the fp32 copy lives and in the gradients' precision, not in what Adam keeps.

Activations are counted in lorabook.saved, and measured in lorabook.profiling; the chapter's summaries of
these estimates are in lorabook.budget. KV cache for inference: 2 (K and V) · layers · b · s · h · bytes per
element. This module is arithmetic only: it imports neither the fine-tune nor torch's profiler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from . import cited
from ._checks import check_int
from .nf4 import BLOCK as NF4_BLOCK  # QLoRA's block sizes: 64 weights per absmax, 256 absmax per scale
from .nf4 import BLOCK2 as NF4_BLOCK2
from .saved import activations, saved_bytes_per_token
from .seed import SEED
from .sizes import Estimate, bytes_per, check_workload, shape

# ---------------------------------------------------------------------------- the model's parameters


@dataclass(frozen=True)
class ParameterGroups:
    """Parameter counts by what 8-bit loading does with them (exact, from a meta-device model)."""

    linear: int  # nn.Linear weights inside the decoder layers: stored as int8 by LLM.int8()
    linear_rows: int  # their output rows: one fp32 absmax scale each in int8
    other: int  # embeddings, positions, LayerNorms, biases: stay in floating point

    @property
    def total(self) -> int:
        return self.linear + self.other


def parameter_groups(config) -> ParameterGroups:
    """Count the parameters of `config`'s causal LM on the meta device (nothing downloaded or allocated)."""
    from .models import meta_model, parameter_count

    shape(config)  # a config without a hidden size is refused here, by name
    model = meta_model(config)
    linear = rows = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and (".layers." in name or ".h." in name):
            linear += module.weight.numel()
            rows += module.out_features
    return ParameterGroups(linear, rows, parameter_count(model) - linear)


# ---------------------------------------------------------------------------- components


def weights(
    groups: ParameterGroups, dtype: str, prepared_for_training: bool = False, double_quant: bool = False
) -> Estimate:
    """The weights in `dtype`; for int8 and nf4, the scales and the float parts too.

    int8 (LLM.int8(), bitsandbytes): one byte per linear weight and one fp32 absmax per output row.
    nf4 (QLoRA): half a byte per linear weight and one fp32 absmax per block of 64; with double_quant, each
    absmax in 8 bits and one fp32 scale per 256 of them (lorabook.nf4).
    prepared_for_training: prepare_model_for_kbit_training casts every non-quantized parameter to fp32.
    """
    if dtype not in ("int8", "nf4"):
        return Estimate({f"weights ({dtype})": groups.total * bytes_per(dtype)})
    other = "fp32" if prepared_for_training else "fp16"
    rest = {f"weights ({other}: embeddings, norms, biases)": groups.other * bytes_per(other)}
    if dtype == "nf4":
        blocks = math.ceil(groups.linear / NF4_BLOCK)
        if double_quant:
            outer = math.ceil(blocks / NF4_BLOCK2) * bytes_per("fp32")
            scales = {
                "nf4 scales (8-bit, one per 64)": blocks * bytes_per("int8"),
                "their scales (fp32, one per 256)": outer,
            }
        else:
            scales = {"nf4 scales (fp32, one per 64)": blocks * bytes_per("fp32")}
        return Estimate({"weights (nf4 linear)": groups.linear // 2, **scales, **rest})
    scales = groups.linear_rows * bytes_per("fp32")
    return Estimate(
        {
            "weights (int8 linear)": groups.linear * bytes_per("int8"),
            "int8 scales (fp32, one per row)": scales,
            **rest,
        }
    )


ADAM8BIT_BLOCK = 256  # bitsandbytes' block size for 8-bit optimizer states


def adam_states(n: int, optimizer: str = "adamw") -> int:
    """Bytes of Adam's m and v for n parameters: fp32 (8 bytes each), or bitsandbytes' blockwise 8-bit
    (2 bytes, plus one fp32 absmax per block of 256 per state; Dettmers et al. 2022, 8-bit optimizers)."""
    n = check_int(n, "n", 0)
    if optimizer == "adamw":
        return 2 * n * bytes_per("fp32")
    if optimizer == "adamw-8bit":
        return 2 * (n * bytes_per("int8") + math.ceil(n / ADAM8BIT_BLOCK) * bytes_per("fp32"))
    raise ValueError(f"optimizer must be 'adamw' or 'adamw-8bit', got {optimizer!r}")


GRADIENTS = "gradients"


RULES = ("zero", "hf")  # the two rules of thumb for mixed-precision Adam: ZeRO §3.1 and HF's anatomy guide


def full_finetune(
    groups: ParameterGroups, precision: str = "mixed", rule: str = "zero", optimizer: str = "adamw"
) -> Estimate:
    """Weights, gradients and Adam states of full fine-tuning (activations not included)."""
    p = groups.total
    adam = {f"Adam m, v ({'fp32' if optimizer == 'adamw' else '8-bit'})": adam_states(p, optimizer)}
    if precision == "fp32":
        parts = {"weights (fp32)": 4 * p, "gradients (fp32)": 4 * p}
    elif precision != "mixed":
        raise ValueError(f"precision must be 'fp32' or 'mixed', got {precision!r}")
    elif rule == "zero":  # ZeRO §3.1: 2 + 2 + K·p with K = 12
        parts = {"weights (fp16)": 2 * p, "gradients (fp16)": 2 * p, "fp32 master copy": 4 * p}
    elif rule == "hf":  # HF's anatomy guide: fp32 weights + fp16 copy, fp32 gradients
        parts = {"weights (fp32)": 4 * p, "fp16 copy for compute": 2 * p, "gradients (fp32)": 4 * p}
    else:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    parts.update(adam)
    return Estimate(parts, {k: GRADIENTS for k in parts if k.startswith("gradients")})


def lora_states(n_lora: int, optimizer: str = "adamw") -> Estimate:
    """LoRA's own parameters, trained in fp32: weights, gradients, Adam m and v (16 bytes each with AdamW)."""
    n_lora = check_int(n_lora, "n_lora", 0)
    return Estimate(
        {
            "LoRA weights (fp32)": 4 * n_lora,
            "LoRA gradients (fp32)": 4 * n_lora,
            "LoRA Adam m, v": adam_states(n_lora, optimizer),
        },
        {"LoRA gradients (fp32)": GRADIENTS},
    )


def kv_cache(config, batch: int, seq: int, dtype: str = "fp16") -> Estimate:
    """Keys and values of every layer for `seq` tokens of `batch` sequences."""
    b, s = check_workload(batch, seq)
    h, layers, _ = shape(config)
    return Estimate({"KV cache": 2 * layers * b * s * h * bytes_per(dtype)})


# ---------------------------------------------------------------------------- whole workloads


MODES = (
    "inference-fp32",
    "inference-fp16",
    "inference-int8",
    "inference-nf4",
    "full-fp32",
    "full-mixed",
    "lora-fp32",
    "lora-fp16",
    "lora-int8",
    "lora-nf4",
)


def estimate(
    config,
    mode: str,
    batch: int = 1,
    seq: int = SEED.seq,
    *,
    r: int = SEED.r,
    target_modules=SEED.target_modules,
    checkpointing: bool = False,
    rule: str = "zero",
    optimizer: str = "adamw",
    device: str = "cuda",
    activation_bytes: int | None = None,
    reentrant: bool = True,
    groups=None,
    double_quant: bool = False,
) -> Estimate:
    """Memory of one workload (see MODES): the weights, then for training the gradients, optimizer states and
    activations of one step of `batch` sequences of `seq` tokens; for inference, the KV cache of `seq` tokens.

    activation_bytes: bytes per activation value; by default 4 for fp32 modes and 2 otherwise (the seed's
    8-bit recipe runs under fp16 autocast). Device "cuda" keeps dropout masks as bools, "cpu" in the
    activations' dtype. lora-nf4 counts activations as the fp16 LoRA path does (no measurement
    here backs its bitsandbytes internals).
    """
    from .lora import lora_parameter_count

    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if device not in ("cuda", "cpu"):
        raise ValueError(f"device must be 'cuda' or 'cpu', got {device!r}")
    groups = groups or parameter_groups(config)
    kind, dtype = mode.split("-", 1)
    if kind == "inference":
        return weights(groups, dtype) + kv_cache(config, batch, seq)
    bpv = activation_bytes or (4 if dtype == "fp32" else 2)
    act = dict(
        checkpointing=checkpointing,
        reentrant=reentrant,
        bytes_per_value=bpv,
        mask_bytes=1 if device == "cuda" else bpv,
    )
    if kind == "full":
        states = full_finetune(groups, "fp32" if dtype == "fp32" else "mixed", rule, optimizer)
        return states + activations(config, batch, seq, "full", **act)
    quantized = dtype in ("int8", "nf4")
    return (
        weights(groups, dtype, prepared_for_training=quantized, double_quant=double_quant)
        + lora_states(lora_parameter_count(config, r, target_modules), optimizer)
        + activations(
            config,
            batch,
            seq,
            "lora-int8" if dtype == "int8" else "lora",
            target_modules=target_modules,
            r=r,
            **act,
        )
    )


# ------------------------------------------------------------------------ GPUs, and the seed's BLOOM figures

A100_80GB = cited.A100_MEMORY.value  # bytes


def gpus_needed(n_bytes: float, gpu_bytes: float = A100_80GB) -> int:
    """The smallest whole number of GPUs whose memory holds n_bytes (before any parallelism overhead)."""
    return math.ceil(n_bytes / gpu_bytes)


def tokens_to_fill(budget_bytes: float, fixed_bytes: float, config, seq: int, training="full") -> float:
    """How many tokens' 16-bit activations fit in budget_bytes once fixed_bytes (weights, states) are paid."""
    per_token = saved_bytes_per_token(config, seq, training, bytes_per_value=2, mask_bytes=1)
    return max(0.0, budget_bytes - fixed_bytes) / sum(per_token.values())
