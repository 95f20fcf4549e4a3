"""The failures of a quantized base: peft's fp32 upcast, reentrant checkpointing, merging into int8."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .common import bytes_by_dtype, caught, load_8bit

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


def as_trained(model):
    """Every Linear8bitLt of `model` in training mode: on CPU that multiplies by the dequantized weight W_q in
    float, as training did (in eval mode bitsandbytes runs LLM.int8(), quantizing the activations too)."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear8bitLt):
            module.train()
    return model


@torch.no_grad()
def merge_into_int8(ids, run_id: str = "qv-r16-int8") -> dict:
    """A LoRA adapter trained on the 8-bit stand-in (a shipped run of "What LoRA learned"), merged three ways,
    each against the model that trained, W_q + ΔW with W_q the dequantized int8 weight.

    Merging into the 8-bit layer rounds W_q + ΔW to int8 again; merging into the original float weights W0
    puts back the quantization error W0 − W_q of every layer, which the adapter was trained around; merging
    into a float copy of W_q leaves only float rounding. Returns the largest change in the logits of `ids`
    for each, peft's warning, and ‖ΔW‖ (Frobenius, over the adapted layers).
    """
    import bitsandbytes as bnb
    from peft import PeftModel

    from .. import learned
    from ..bnb import dequantized_weight
    from ..delta import update_norm
    from ..standin import load

    base = load()[0]
    folder = learned.SHIPPED / run_id
    trained = as_trained(learned.load(run_id, base))
    reference = trained(input_ids=ids).logits
    delta = update_norm({n: m.get_delta_weight("default") for n, m in _lora_layers(trained)})

    dequantized = copy.deepcopy(base)
    for name, module in trained.base_model.model.named_modules():
        if isinstance(module, bnb.nn.Linear8bitLt):
            weight = dequantized.get_submodule(name.removesuffix(".base_layer")).weight
            weight.copy_(dequantized_weight(module).T)  # bitsandbytes' is h × o
    merges = {
        "original": PeftModel.from_pretrained(copy.deepcopy(base), folder).merge_and_unload(),
        "dequantized": PeftModel.from_pretrained(dequantized, folder).merge_and_unload(),
    }
    _, seen = caught(lambda: merges.setdefault("int8", as_trained(trained.merge_and_unload())))
    change = {k: (m.eval() if k != "int8" else m)(input_ids=ids).logits for k, m in merges.items()}
    out = {k: (logits - reference).abs().max().item() for k, logits in change.items()}
    return {**out, "warning": seen[0], "delta": delta}


def _lora_layers(model):
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "get_delta_weight")]
