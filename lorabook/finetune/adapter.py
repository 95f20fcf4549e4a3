"""Step 3 of the seed's recipe and LoRA's family: the adapter's peft config (LoRA, rsLoRA, DoRA, PiSSA, OLoRA
or VeRA), putting it into the model, and LoRA+'s optimizer."""

from __future__ import annotations

import torch

from .config import FinetuneConfig
from .steps import prepare


def lora_config(cfg: FinetuneConfig):
    """The seed's LoraConfig, with the family's switches (DoRA, PiSSA, OLoRA, rsLoRA); VeRA's VeraConfig for
    method="vera", its projections drawn from the run's seed as LoRA's A is."""
    from peft import LoraConfig, VeraConfig

    if cfg.method == "vera":
        return VeraConfig(
            r=cfg.r,
            target_modules=list(cfg.target_modules),
            vera_dropout=cfg.lora_dropout,
            bias=cfg.bias,
            projection_prng_key=cfg.seed,
            task_type="CAUSAL_LM",
        )
    return LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.lora_alpha,
        target_modules=list(cfg.target_modules),
        lora_dropout=cfg.lora_dropout,
        bias=cfg.bias,
        use_rslora=cfg.use_rslora,
        use_dora=cfg.use_dora,
        init_lora_weights=cfg.init_lora_weights,
        task_type="CAUSAL_LM",
    )


def apply_lora(model, cfg: FinetuneConfig):
    """get_peft_model, after checking that every target module names a layer of this model."""
    from peft import get_peft_model

    from ..lora import matches

    names = [n for n, _ in model.named_modules()]
    missing = [t for t in cfg.target_modules if not any(matches(n, [t]) for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if not list(m.children())})
        raise ValueError(
            f"target_modules {missing} match no module of {cfg.model_name}; its layers include {leaves}"
        )
    return get_peft_model(model, lora_config(cfg))


def lora_model(base, cfg: FinetuneConfig, reentrant: bool = True):
    """Steps 2–3 on a loaded base: prepared for k-bit training, then LoRA. The one builder of the book's LoRA
    models: the fine-tune, the memory measurement (lorabook.profiling) and the GPU check use it."""
    return apply_lora(prepare(base, cfg, reentrant), cfg)


def optimizer(model, cfg: FinetuneConfig):
    """LoRA+'s AdamW when cfg.loraplus_lr_ratio is set (B's rate λ times A's: peft's
    create_loraplus_optimizer); otherwise None, and the Trainer makes its AdamW at one rate."""
    if not cfg.loraplus_lr_ratio:
        return None
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model, torch.optim.AdamW, lr=cfg.learning_rate, loraplus_lr_ratio=cfg.loraplus_lr_ratio
    )
