"""The activations a training step keeps for its backward pass, counted tensor by tensor per token.

saved_bytes_per_token counts, operation by operation, what transformers' OPT keeps for the backward pass in
full fine-tuning, LoRA and 8-bit LoRA, with and without (reentrant or non-reentrant) checkpointing;
lorabook.profiling.measure_step checks it against the CPU allocator's events (tests/test_memory.py).
"""

from __future__ import annotations

import torch

from ._checks import check_int
from .seed import SEED
from .sizes import Estimate, bytes_per, check_workload, shape

TRAINING = ("full", "lora", "lora-int8")
_INT64_BYTES = torch.empty((), dtype=torch.int64).element_size()
LORA_INPUT_SHARING = ("q_proj", "k_proj", "v_proj")  # the projections that read the same LayerNorm output


def saved_bytes_per_token(
    config,
    seq: int,
    training: str = "full",
    *,
    target_modules=SEED.target_modules,
    r: int = SEED.r,
    lora_dropout: float = SEED.lora_dropout,
    checkpointing: bool = False,
    reentrant: bool = True,
    attention: str = "sdpa",
    bytes_per_value: int = 4,
    mask_bytes: int | None = None,
) -> dict:
    """Bytes one token leaves allocated for backward in transformers' OPTForCausalLM, by part.

    Counted op by op (autograd's saved tensors, plus what bitsandbytes keeps on its ctx) and checked against
    the CPU allocator in tests/test_memory.py. With h hidden, f the MLP width, a heads, T LoRA targets of
    rank r, values per token and layer:

        LayerNorm inputs and their mean, 1/std          2h + 4
        attention: q, k, v, output, log-sum-exp         4h + a        (eager attention: a·s probabilities)
        MLP: the ReLU output that fc2 reads             f
        dropout masks after out_proj and fc2            2h            (when config.dropout > 0)
        inputs of trained projections (full FT)         2h            (q, k, v share LN₁'s output; fc1: LN₂'s)
        the same two inputs kept by bitsandbytes        2h            (int8: MatMul8bitFp keeps ctx.A)
        LoRA, per target: dropout mask, dropout output, A·x    h + h + r

    Layer 0 of a frozen model without checkpointing sees an input that needs no gradient, so its first
    LayerNorm, its LoRA dropout masks and bitsandbytes' copy of LN₁'s output are not kept. Then the final
    LayerNorm (h + 2), the lm_head input when it trains (h), the log-probabilities the loss keeps (V, in fp32
    whatever the model's dtype, since transformers' loss upcasts the logits), the int64 labels and, in full
    fine-tuning, the int64 token and position ids the embeddings' backward reads.

    With checkpointing each layer keeps only its input (h); a frozen model's embedding output is made a leaf
    that requires grad (enable_input_require_grads), which the graph keeps too (h). Non-reentrant
    checkpointing (use_reentrant=False) frees only autograd's saved tensors, so on an 8-bit model the inputs
    bitsandbytes keeps as attributes of its ctx stay: LN₁'s output, the attention output, LN₂'s output and the
    ReLU output, 3h + f per layer. Reentrant checkpointing (what peft's prepare_model_for_kbit_training asks
    for) runs the layer's forward without a graph, so nothing is kept.
    """
    s = check_int(seq, "seq", 1)
    h, layers, heads = shape(config)
    if training not in TRAINING:
        raise ValueError(f"training must be one of {list(TRAINING)}, got {training!r}")
    if attention not in ("sdpa", "eager"):
        raise ValueError(f"attention must be 'sdpa' or 'eager', got {attention!r}")
    T = 0 if training == "full" else len(target_modules)
    if T and not set(target_modules) <= set(LORA_INPUT_SHARING):
        allowed = list(LORA_INPUT_SHARING)
        raise ValueError(f"target_modules must be among {allowed} for this count, got {list(target_modules)}")
    bpv, mask = bytes_per_value, bytes_per_value if mask_bytes is None else mask_bytes
    f = getattr(config, "ffn_dim", None) or 4 * h  # BLOOM and GPT-style configs: a 4h-wide MLP
    masks = 2 * h * mask if getattr(config, "dropout", 0.0) > 0 else 0
    linear_inputs = 2 * h * bpv if training in ("full", "lora-int8") else 0
    if T and lora_dropout > 0:
        lora = T * (h * mask + h * bpv + r * bpv)
    elif T:  # nn.Identity: lora_A reads LN₁'s output itself, which the int8 path already keeps
        lora = (0 if training == "lora-int8" else h * bpv) + T * r * bpv
    else:
        lora = 0
    layer = {
        "LayerNorms": (2 * h + 4) * bpv,
        "attention": (4 * h + (heads if attention == "sdpa" else heads * s)) * bpv,
        "MLP (ReLU output)": f * bpv,
        "dropout masks": masks,
        (
            "inputs kept for weight gradients" if training == "full" else "inputs kept by bitsandbytes"
        ): linear_inputs,
        "LoRA (mask, dropout output, A·x)": lora,
    }
    layer = {k: v for k, v in layer.items() if v}
    frozen_input = training != "full" and not checkpointing  # layer 0's input needs no gradient
    layer0_saving = 0
    if frozen_input:  # LN₁, the LoRA masks, and bitsandbytes' copy of LN₁'s output
        layer0_saving = (h + 2) * bpv + (T * h * mask if lora_dropout > 0 else 0)
        layer0_saving += h * bpv if training == "lora-int8" else 0
    final = {
        "final LayerNorm": (h + 2) * bpv,
        "lm_head input": h * bpv if training == "full" else 0,
        "log-probabilities (fp32)": config.vocab_size * bytes_per("fp32"),
        "labels and ids (int64)": (3 if training == "full" else 1) * _INT64_BYTES,
    }
    out = {f"per layer: {k}": layers * v for k, v in layer.items()}
    if checkpointing:
        out = {"checkpointed layer inputs": layers * h * bpv}
        if training != "full":
            out["embedding output (a leaf that requires grad)"] = h * bpv
        if training == "lora-int8" and not reentrant:
            out["kept by bitsandbytes on ctx (non-reentrant)"] = layers * (3 * h + f) * bpv
    elif layer0_saving:
        out["layer 0: input needs no gradient"] = -layer0_saving
    out.update({k: v for k, v in final.items() if v})
    return out


def activations(
    config,
    batch: int,
    seq: int,
    training: str = "full",
    *,
    checkpointing: bool = False,
    reentrant: bool = True,
    bytes_per_value: int = 2,
    mask_bytes: int = 1,
    target_modules=SEED.target_modules,
    r: int = SEED.r,
    lora_dropout: float = SEED.lora_dropout,
    attention: str = "sdpa",
) -> Estimate:
    """Activations a training step keeps for backward, and the largest short-lived buffer of the backward.

    bytes_per_value: 2 for fp16/bf16 activations, 4 for fp32. mask_bytes: 1 for CUDA's bool dropout masks;
    the CPU kernel keeps them in the activations' dtype. The transient is the larger of the loss's two
    gradient buffers (2·V fp32 values per token) and, with checkpointing, one layer recomputed. That assumes,
    as in OPT (V = 50,272 against an MLP 16,384 wide at 6.7B), that the vocabulary is wider than the MLP; a
    toy model with V < f peaks in its MLP's backward instead.
    """
    b, s = check_workload(batch, seq)
    count = dict(
        target_modules=target_modules,
        r=r,
        lora_dropout=lora_dropout,
        attention=attention,
        bytes_per_value=bytes_per_value,
        mask_bytes=mask_bytes,
    )
    per_token = saved_bytes_per_token(
        config, s, training, checkpointing=checkpointing, reentrant=reentrant, **count
    )
    # what one layer keeps without checkpointing: the buffer that a checkpointed layer rebuilds in backward
    unchecked = saved_bytes_per_token(config, s, training, **count)
    one_layer = sum(v for k, v in unchecked.items() if k.startswith("per layer:")) // shape(config)[1]
    loss_grads = 2 * config.vocab_size * bytes_per("fp32")
    transient = max(loss_grads, one_layer if checkpointing else 0)
    kept = b * s * sum(per_token.values())
    if checkpointing:  # each checkpoint keeps the CPU RNG state, to replay dropout identically
        kept += shape(config)[1] * torch.get_rng_state().numel()
    return Estimate(
        {"activations": kept, "backward transient": b * s * transient},
        {"activations": "activations", "backward transient": "transient"},
    )
