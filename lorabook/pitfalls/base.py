"""The failures of a quantized base: peft's fp32 upcast, reentrant checkpointing, merging into int8."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..seed import SEED
from .common import TARGETS, bytes_by_dtype, caught, load_8bit

# ---------------------------------------------------------------------------- 1. the fp32 upcast


def kbit_upcast(path) -> dict:
    """Parameter bytes by dtype of an 8-bit model in fp16: as loaded, after peft's
    prepare_model_for_kbit_training (every non-quantized parameter to fp32), and after the seed's own
    preparation (finetune.prepare_manually: only the 1-D norms and biases)."""
    from peft import prepare_model_for_kbit_training

    from ..finetune.steps import prepare_manually

    loaded = bytes_by_dtype(load_8bit(path))
    peft_way = bytes_by_dtype(
        prepare_model_for_kbit_training(load_8bit(path), use_gradient_checkpointing=False)
    )
    seed_way = bytes_by_dtype(prepare_manually(load_8bit(path), gradient_checkpointing=False))
    return {"loaded": loaded, "peft": peft_way, "manual": seed_way}


def upcast_bytes(config) -> int:
    """Bytes prepare_model_for_kbit_training adds to an 8-bit model of `config` loaded in fp16: its
    non-quantized parameters (embeddings, norms, biases) go from 2 bytes each to 4."""
    from ..memory import parameter_groups

    return parameter_groups(config).other * 2


# ---------------------------------------------------------------------------- 2. reentrant checkpointing


def reentrant_checkpoint(d: int = 16, r: int = 4, seed: int = 0) -> dict:
    """Two frozen layers with LoRA, the first run under torch's activation checkpointing, on an input that
    needs no gradient, as a frozen base's embeddings give.

    Reentrant checkpointing replays the block in backward only if one of its *inputs* requires grad; the
    parameters inside do not count. So the first layer's B gets no gradient while the second trains, and
    nothing fails ("broken"); with the checkpointed block alone, backward fails ("error"). The fixes: the
    non-reentrant kind, or an input that requires grad (what transformers' enable_input_require_grads does to
    the embeddings' output). Each entry holds the (first, second) layers' gradients of B.
    """
    from torch.utils.checkpoint import checkpoint

    from ..lora import LoRALinear

    torch.manual_seed(seed)
    first, second = (LoRALinear(nn.Linear(d, d), r=r, alpha=2 * r) for _ in range(2))
    x = torch.randn(3, d)

    def b_grads(reentrant: bool | None, inputs_need_grad: bool = False):
        first.zero_grad(set_to_none=True)
        second.zero_grad(set_to_none=True)
        h = x.clone().requires_grad_(inputs_need_grad)
        h = first(h) if reentrant is None else checkpoint(first, h, use_reentrant=reentrant)
        second(h).square().sum().backward()
        return first.B.grad, second.B.grad

    out = {"reference": b_grads(None)}
    _, seen = caught(lambda: out.setdefault("broken", b_grads(True)))
    out["warning"] = seen[0]
    out["non-reentrant"] = b_grads(False)
    out["input needs grad"] = b_grads(True, inputs_need_grad=True)
    out["error"], _ = caught(lambda: checkpoint(first, x, use_reentrant=True).square().sum().backward())
    return out


# ---------------------------------------------------------------------------- 3. merging into int8


@torch.no_grad()
def merge_into_int8(path, ids, seed: int = 0) -> dict:
    """An adapter (peft's init_lora_weights=False: B not zero) on an 8-bit base, merged three ways.

    The model trained is W_q + ΔW, W_q the dequantized int8 weight. Merging into the 8-bit layer rounds the
    sum to int8 again; merging into the original float weights W0 adds the quantization error W0 − W_q;
    merging into a float copy of W_q is exact. Returns the Frobenius error of each against W_q + ΔW over the
    adapted layers, ‖ΔW‖ for scale, peft's warning, and the largest change in the 8-bit model's logits.
    """
    from peft import LoraConfig, get_peft_model

    from ..bnb import dequantized_weight
    from ..standin import load

    torch.manual_seed(seed)
    config = LoraConfig(
        r=SEED.r, lora_alpha=SEED.lora_alpha, target_modules=list(TARGETS), init_lora_weights=False
    )
    model = get_peft_model(load_8bit(path, torch.float32), config).eval()
    before = model(input_ids=ids).logits
    layers = {n: m for n, m in model.base_model.model.named_modules() if hasattr(m, "get_delta_weight")}
    deltas = {n: m.get_delta_weight("default") for n, m in layers.items()}
    trained = {n: dequantized_weight(m.base_layer).T + deltas[n] for n, m in layers.items()}  # bnb's: h × o
    delta = math.sqrt(sum(d.square().sum().item() for d in deltas.values()))
    original = dict(load(path)[0].named_modules())
    _, seen = caught(lambda: model.merge_and_unload())
    merged = dict(model.base_model.model.named_modules())
    after = model.base_model.model(input_ids=ids).logits

    def error(weights):
        return math.sqrt(sum((weights[n] - trained[n]).square().sum().item() for n in trained))

    return {
        "warning": seen[0],
        "logits change": (after - before).abs().max().item(),
        "int8": error({n: dequantized_weight(merged[n]).T for n in trained}),
        "original": error({n: original[n].weight + deltas[n] for n in trained}),
        "dequantized": error(trained),
        "delta": delta,
    }
