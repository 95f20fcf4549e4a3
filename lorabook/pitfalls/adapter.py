"""The failures of the adapter's configuration: target names, modules_to_save, tied embeddings, α's
scaling, adapters in fp16."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import torch
from torch import nn

from ..seed import SEED
from .common import TARGETS, caught

# ---------------------------------------------------------------------------- 4. target module names


def linear_names(model) -> list[str]:
    """The distinct last names of a model's nn.Linear modules: what target_modules can name."""
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})


def wrong_targets(model, targets=("query", "value")) -> str:
    """The error peft raises for target names the model does not have (BERT's, on a decoder)."""
    return partial_targets(model, targets)[0]


def partial_targets(model, targets=("q_proj", "query", "value")) -> tuple[str | None, list[str]]:
    """(peft's error, the last names of the layers it adapted) for `targets`: when one name matches, the
    others are dropped without a word."""
    from peft import LoraConfig, get_peft_model

    made = {}
    config = LoraConfig(target_modules=list(targets))
    error, _ = caught(lambda: made.setdefault("model", get_peft_model(copy.deepcopy(model), config)))
    if error is not None:
        return error, []
    adapted = {n.rsplit(".", 1)[-1] for n, m in made["model"].named_modules() if hasattr(m, "lora_A")}
    return None, sorted(adapted)


# ---------------------------------------------------------------------------- 5. modules_to_save


def saved_sizes(model, tokens=(2, 3, 4)) -> dict:
    """Bytes of the saved adapter: LoRA on q and v; plus a whole trained copy of the input embeddings
    (modules_to_save, as for a resized vocabulary); plus only the rows of new tokens
    (trainable_token_indices)."""
    from peft import LoraConfig, get_peft_model

    configs = {
        "LoRA": {},
        "modules_to_save": dict(modules_to_save=["embed_tokens"]),
        "trainable_token_indices": dict(trainable_token_indices=list(tokens)),
    }
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in configs.items():
            config = LoraConfig(r=SEED.r, lora_alpha=SEED.lora_alpha, target_modules=list(TARGETS), **extra)
            get_peft_model(copy.deepcopy(model), config).save_pretrained(Path(tmp) / name)
            sizes[name] = (Path(tmp) / name / "adapter_model.safetensors").stat().st_size
    return sizes


def embedding_bytes(config, bytes_per: int = 2) -> int:
    """Bytes of a model's input embedding matrix (vocabulary × width) in fp16: what modules_to_save adds."""
    width = getattr(config, "word_embed_proj_dim", None) or config.hidden_size
    return config.vocab_size * width * bytes_per


# ---------------------------------------------------------------------------- 6. tied embeddings


def tied_embeddings(model, ids, module: str = "lm_head", lr: float = 1e-2) -> dict:
    """A model whose lm_head shares the input embedding, with `module` trained as a whole copy
    (modules_to_save), one SGD step; with and without peft's ensure_weight_tying.

    Returns peft's warning, and for each setting the largest |embedding − lm_head| after the step and whether
    the merged model still ties them."""
    from peft import LoraConfig, get_peft_model

    out = {}
    for ensure in (False, True):
        config = LoraConfig(
            r=4, target_modules=list(TARGETS), modules_to_save=[module], ensure_weight_tying=ensure
        )
        made = {}
        _, seen = caught(
            lambda c=config, m=made: m.setdefault("model", get_peft_model(copy.deepcopy(model), c))
        )
        tuned = made["model"].train()
        tuned(input_ids=ids, labels=ids).loss.backward()
        with torch.no_grad():
            for p in tuned.parameters():
                if p.requires_grad:
                    p -= lr * p.grad
        inner = tuned.base_model.model
        # a modules_to_save wrapper's .weight is its trained copy's: what the forward pass uses
        gap = (inner.get_input_embeddings().weight - inner.get_output_embeddings().weight).abs().max().item()
        merged = {}
        _, on_merge = caught(lambda t=tuned, m=merged: m.setdefault("model", t.merge_and_unload()))
        merged = merged["model"]
        tied = merged.get_output_embeddings().weight is merged.get_input_embeddings().weight
        out["ensure" if ensure else "default"] = {"gap": gap, "tied after merge": tied}
        if not ensure:
            out["warning"] = next(s for s in seen if "tie" in s)
            out["merge warning"] = next(s for s in on_merge if "tied" in s)
    return out


# ---------------------------------------------------------------------------- 7. α against α/r

SCALINGS = {
    "α (the bug)": lambda a, r: a,
    "α/r (LoRA)": lambda a, r: a / r,
    "α/√r (rsLoRA)": lambda a, r: a / r**0.5,
}


def alpha_steps(
    ranks=(4, 16, 64), alpha: float = 16.0, lr: float = 1e-3, d: int = 256, seed: int = 0
) -> dict:
    """‖ΔW‖ after one AdamW step from B = 0, per scaling of BA and rank, on the same layer and data.

    Adam's first step moves each entry of B by about lr, so ΔW = s·B·A has ‖ΔW‖ ≈ lr·s·‖sign(·)A‖ ∝ s√r:
    with s = α it grows with r (the effective rate grows with the rank), with α/r it shrinks as 1/√r, and
    with α/√r it stays put (Kalajdzievski 2023)."""
    from ..lora import LoRALinear

    out = {}
    for name, scale in SCALINGS.items():
        out[name] = {}
        for r in ranks:
            torch.manual_seed(seed)
            layer = LoRALinear(nn.Linear(d, d), r=r, alpha=alpha)
            layer.scaling = scale(alpha, r)
            x, target = torch.randn(64, d), torch.randn(64, d)
            optimizer = torch.optim.AdamW([layer.A, layer.B], lr=lr, weight_decay=0.0)
            (layer(x) - target).square().mean().backward()
            optimizer.step()
            out[name][r] = layer.delta_weight().norm().item()
    return out


# ---------------------------------------------------------------------------- 8. adapters in fp16


FP16_CASES = {  # name: (autocast_adapter_dtype, modules_to_save)
    "fp16 adapters": (False, None),
    "peft's default": (True, None),
    "default, lm_head trained": (True, ["lm_head"]),
}


def fp16_adapters(model, ids) -> dict:
    """One mixed-precision step (a GradScaler, fp16 autocast) of LoRA on an fp16 base, for each of FP16_CASES:
    with autocast_adapter_dtype=False the adapters are fp16 and the scaler refuses their gradients; with the
    default (True) peft makes LoRA's factors fp32 and the step runs, but a module_to_save's copy stays fp16
    and the scaler refuses it again. Returns each case's error (None: it ran), its trainable dtypes, and the
    largest change of a trainable parameter in the step ("moved": 0 where the scaler refused it, AdamW's rate
    where it ran, since Adam's first step moves each entry with a gradient by lr·g/|g|)."""
    from peft import LoraConfig, get_peft_model

    out = {}
    for case, (autocast, to_save) in FP16_CASES.items():
        config = LoraConfig(r=4, target_modules=list(TARGETS), modules_to_save=to_save)
        tuned = get_peft_model(copy.deepcopy(model).half(), config, autocast_adapter_dtype=autocast).train()
        params = [p for p in tuned.parameters() if p.requires_grad]
        optimizer, scaler = torch.optim.AdamW(params, lr=1e-3), torch.amp.GradScaler("cpu")

        def step(tuned=tuned, optimizer=optimizer, scaler=scaler):
            with torch.autocast("cpu", dtype=torch.float16):
                loss = tuned(input_ids=ids, labels=ids).loss
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            scaler.step(optimizer)
            scaler.update()

        before = [p.detach().clone() for p in params]
        error, _ = caught(step)
        moved = max((p.detach() - b).abs().max().item() for p, b in zip(params, before, strict=True))
        dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in params})
        out[case] = {"error": error, "dtypes": dtypes, "moved": moved}
    return out
