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

Activations per layer (Korthikanti et al. 2022, "Reducing activation recomputation", §4.1), for sequence s,
batch b, hidden h, heads a, 16-bit activations:  s·b·h·(34 + 5·a·s/h) bytes. With full activation
checkpointing a layer keeps only its input, 2·s·b·h bytes, and one layer's activations are rebuilt at a time.
KV cache for inference: 2 (K and V) · layers · b · s · h · bytes per element.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ._checks import check_int

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}


def bytes_per(dtype: str) -> int:
    """Bytes per element of a dtype name, from torch's element_size (not typed)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return torch.empty((), dtype=DTYPES[dtype]).element_size()


@dataclass
class Estimate:
    """Named components in bytes; the total is their sum."""

    components: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.components.values())

    def __add__(self, other: Estimate) -> Estimate:
        merged = dict(self.components)
        for k, v in other.components.items():
            merged[k] = merged.get(k, 0) + v
        return Estimate(merged)


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
    from .models import count_parameters, meta_model

    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not hidden:
        raise ValueError(
            f"config must have a hidden size (hidden_size or n_embd), got {type(config).__name__}"
        )
    model = meta_model(config)
    linear = rows = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and (".layers." in name or ".h." in name):
            linear += module.weight.numel()
            rows += module.out_features
    return ParameterGroups(linear, rows, count_parameters(model) - linear)


def _shape(config):
    h = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not h:
        raise ValueError(
            f"config must have a hidden size (hidden_size or n_embd), got {type(config).__name__}"
        )
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    return h, layers, heads


def _check_workload(batch: int, seq: int) -> tuple[int, int]:
    return check_int(batch, "batch", 1), check_int(seq, "seq", 1)


# ---------------------------------------------------------------------------- components


def weights(groups: ParameterGroups, dtype: str, prepared_for_training: bool = False) -> Estimate:
    """The weights in `dtype`; for int8, the scales and the float parts too.

    prepared_for_training: prepare_model_for_kbit_training casts every non-int8 parameter to fp32.
    """
    if dtype != "int8":
        return Estimate({f"weights ({dtype})": groups.total * bytes_per(dtype)})
    other = "fp32" if prepared_for_training else "fp16"
    return Estimate(
        {
            "weights (int8 linear)": groups.linear * bytes_per("int8"),
            "int8 scales (fp32, one per row)": groups.linear_rows * bytes_per("fp32"),
            f"weights ({other}: embeddings, norms, biases)": groups.other * bytes_per(other),
        }
    )


def full_finetune(groups: ParameterGroups, precision: str = "mixed", rule: str = "zero") -> Estimate:
    """Weights, gradients and Adam states of full fine-tuning (activations not included)."""
    p = groups.total
    if precision == "fp32":
        return Estimate({"weights (fp32)": 4 * p, "gradients (fp32)": 4 * p, "Adam m, v (fp32)": 8 * p})
    if precision != "mixed":
        raise ValueError(f"precision must be 'fp32' or 'mixed', got {precision!r}")
    if rule == "zero":  # ZeRO §3.1: 2 + 2 + K·p with K = 12
        return Estimate({"weights (fp16)": 2 * p, "gradients (fp16)": 2 * p, "fp32 master copy": 4 * p,
                         "Adam m, v (fp32)": 8 * p})  # fmt: skip
    if rule == "hf":  # HF's anatomy guide: fp32 weights + fp16 copy, fp32 gradients
        return Estimate({"weights (fp32)": 4 * p, "fp16 copy for compute": 2 * p, "gradients (fp32)": 4 * p,
                         "Adam m, v (fp32)": 8 * p})  # fmt: skip
    raise ValueError(f"rule must be 'zero' or 'hf', got {rule!r}")


def lora_states(n_lora: int) -> Estimate:
    """LoRA's own parameters, trained in fp32: weights, gradients, Adam m and v (16 bytes each)."""
    n_lora = check_int(n_lora, "n_lora", 0)
    return Estimate({"LoRA weights (fp32)": 4 * n_lora, "LoRA gradients (fp32)": 4 * n_lora,
                     "LoRA Adam m, v (fp32)": 8 * n_lora})  # fmt: skip


def activations(
    config, batch: int, seq: int, checkpointing: bool = False, bytes_per_value: int = 2
) -> Estimate:
    """Activations kept for the backward pass (Korthikanti et al. 2022, §4.1), 16-bit by default."""
    b, s = _check_workload(batch, seq)
    h, layers, heads = _shape(config)
    per_layer = s * b * h * (34 + 5 * heads * s / h) * bytes_per_value / 2  # the paper counts 2-byte values
    if checkpointing:
        return Estimate({"checkpointed layer inputs": layers * 2 * s * b * h * bytes_per_value // 2,
                         "one layer recomputed": int(per_layer)})  # fmt: skip
    return Estimate({"activations": int(layers * per_layer)})


def kv_cache(config, batch: int, seq: int, dtype: str = "fp16") -> Estimate:
    """Keys and values of every layer for `seq` tokens of `batch` sequences."""
    b, s = _check_workload(batch, seq)
    h, layers, _ = _shape(config)
    return Estimate({"KV cache": 2 * layers * b * s * h * bytes_per(dtype)})


# ---------------------------------------------------------------------------- whole workloads


def estimate(config, mode: str, batch: int = 1, seq: int = 512, *, r: int = 16,
             target_modules=("q_proj", "v_proj"), checkpointing: bool = False,
             groups=None) -> Estimate:  # fmt: skip
    """Memory of one workload: inference-fp32/fp16/int8, full-fp32, full-mixed, lora-fp16 or lora-int8."""
    from .lora import lora_parameter_count

    groups = groups or parameter_groups(config)
    if mode.startswith("inference-"):
        dtype = mode.split("-", 1)[1]
        return weights(groups, dtype) + kv_cache(config, batch, seq)
    if mode == "full-fp32":
        return full_finetune(groups, "fp32") + activations(config, batch, seq, checkpointing, 4)
    if mode == "full-mixed":
        return full_finetune(groups, "mixed") + activations(config, batch, seq, checkpointing)
    if mode in ("lora-fp16", "lora-int8"):
        base = weights(groups, mode.split("-")[1], prepared_for_training=mode == "lora-int8")
        return (
            base
            + lora_states(lora_parameter_count(config, r, target_modules))
            + activations(config, batch, seq, checkpointing)
        )
    raise ValueError(
        "mode must be one of inference-fp32, inference-fp16, inference-int8, full-fp32, full-mixed, "
        f"lora-fp16, lora-int8; got {mode!r}"
    )


# ---------------------------------------------------------------------------- activations, counted for OPT


def opt_saved_values_per_token(config, seq: int, attention: str = "sdpa") -> int:
    """Values autograd saves for backward, per token, in transformers' OPTForCausalLM (one training forward).

    Counted operation by operation and checked against saved_tensors_hooks (tests/test_memory.py): per layer
    10·h (LayerNorm inputs and outputs, q, k, v, attention output and its reshaped copy, …) + f (the ReLU
    output fc2 reads) + 4 (two LayerNorms' mean and 1/std) + a (sdpa's log-sum-exp per head; eager attention
    keeps the a·s probabilities instead); then 2·h + V + 8 for the final LayerNorm, the logits and the loss.
    """
    s = check_int(seq, "seq", 1)
    h, layers, heads = _shape(config)
    if attention not in ("sdpa", "eager"):
        raise ValueError(f"attention must be 'sdpa' or 'eager', got {attention!r}")
    attn = heads if attention == "sdpa" else heads * s
    f = getattr(config, "ffn_dim", None) or 4 * h  # BLOOM and GPT-style configs: a 4h-wide MLP
    return layers * (10 * h + f + 4 + attn) + 2 * h + config.vocab_size + 8


def measure_saved_bytes(model, input_ids) -> int:
    """Bytes of the tensors autograd saves for backward in one forward pass, parameters excluded.

    Each storage is counted once (views share it), via torch.autograd.graph.saved_tensors_hooks.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=input_ids, labels=input_ids)
    return sum(seen.values())


# ------------------------------------------------------------------------ GPUs, and the seed's BLOOM figures

A100_80GB = 80e9  # bytes


def gpus_needed(n_bytes: float, gpu_bytes: float = A100_80GB) -> int:
    """The smallest whole number of GPUs whose memory holds n_bytes (before any parallelism overhead)."""
    import math

    return math.ceil(n_bytes / gpu_bytes)


def activation_bytes_per_token(config, seq: int, bytes_per_value: int = 2, attention: str = "sdpa") -> int:
    """Activation bytes one token keeps for backward in an OPT-shaped model (opt_saved_values_per_token)."""
    return opt_saved_values_per_token(config, seq, attention) * bytes_per_value


def tokens_to_fill(budget_bytes: float, fixed_bytes: float, config, seq: int) -> float:
    """How many tokens' activations fit in budget_bytes once fixed_bytes (weights, states) are paid."""
    return max(0.0, budget_bytes - fixed_bytes) / activation_bytes_per_token(config, seq)
