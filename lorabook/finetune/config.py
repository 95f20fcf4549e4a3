"""The fine-tune's configuration: the seed's recipe as FinetuneConfig, the stand-in's profile beside it, the
variants the chapter compares, and the checks that run before anything loads."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch

from .. import standin
from .._checks import check_int, check_positive
from ..lora import ALL_LINEAR
from ..seed import SEED

# The completion the seed article shows for its prompt after the real OPT-6.7B fine-tune on english_quotes.
SEED_PROMPT, SEED_COMPLETION = SEED.prompt, SEED.completion


@dataclass
class FinetuneConfig:
    """One fine-tune. The defaults are the seed's (the opt-6.7b profile); the stand-in changes a few."""

    profile: str = "opt-6.7b"
    model_name: str = SEED.model  # the stand-in's is its cache directory
    dataset: str = SEED.dataset
    load_in_8bit: bool = SEED.load_in_8bit  # BitsAndBytesConfig(load_in_8bit=True): LLM.int8() weights
    load_in_4bit: bool = False  # QLoRA's base instead: NF4 weights with double quantization (see NF4_CONFIG)
    method: str = "lora"  # "lora", or "full": every weight trains (a full-precision base; no adapter)
    # LoRA (the seed's LoraConfig)
    r: int = SEED.r
    lora_alpha: int = SEED.lora_alpha
    target_modules: tuple = SEED.target_modules
    lora_dropout: float = SEED.lora_dropout
    bias: str = SEED.bias
    use_rslora: bool = False  # scale by alpha / sqrt(r) (rsLoRA, Kalajdzievski 2023) instead of alpha / r
    # LoRA's family (lorabook.family): one peft switch each, all off in the seed's recipe (VeRA: method)
    use_dora: bool = False  # DoRA: a trained magnitude times the direction of W₀ + s·BA (Liu et al. 2024)
    init_lora_weights: bool | str = True  # True: A random, B = 0; "pissa", "olora": from W₀'s SVD, QR
    loraplus_lr_ratio: float = 0.0  # LoRA+: B's learning rate this many times A's (0: one rate, as LoRA)
    # Trainer (the seed's TrainingArguments)
    per_device_train_batch_size: int = SEED.per_device_train_batch_size
    gradient_accumulation_steps: int = SEED.gradient_accumulation_steps
    warmup_steps: int = SEED.warmup_steps
    max_steps: int = SEED.max_steps
    learning_rate: float = SEED.learning_rate
    fp16: bool = SEED.fp16  # mixed precision; needs CUDA
    gradient_checkpointing: bool = True  # prepare_model_for_kbit_training's default
    logging_steps: int = 1
    save_steps: int = 50  # a resumable checkpoint every 50 optimizer steps
    seed: int = 42
    output_dir: str = "outputs/opt-6.7b-lora"
    prompt: str = SEED.prompt
    max_new_tokens: int = 32
    append_eos: bool = False  # the seed trains on the quotes alone, so its model never learns where one ends

    def validate(self) -> None:
        """Refuse a bad configuration before anything is loaded."""
        check_int(self.r, "r", 1)
        check_positive(self.lora_alpha, "lora_alpha")
        check_int(self.max_steps, "max_steps", 1)
        check_int(self.per_device_train_batch_size, "per_device_train_batch_size", 1)
        check_int(self.gradient_accumulation_steps, "gradient_accumulation_steps", 1)
        check_int(self.warmup_steps, "warmup_steps", 0)
        check_int(self.save_steps, "save_steps", 1)  # 0 or less would leave no checkpoint to resume from
        check_int(self.logging_steps, "logging_steps", 1)
        check_int(self.max_new_tokens, "max_new_tokens", 1)
        check_int(self.seed, "seed", 0)
        check_positive(self.learning_rate, "learning_rate")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one module, got an empty list")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.load_in_8bit and self.load_in_4bit:
            raise ValueError("load_in_8bit and load_in_4bit are exclusive: choose one base, got both True")
        if self.method == "full" and (self.load_in_8bit or self.load_in_4bit):
            got = "load_in_8bit=True" if self.load_in_8bit else "load_in_4bit=True"
            msg = f"method='full' trains every weight, and int8 or 4-bit weights cannot train: got {got}"
            raise ValueError(msg)
        self._validate_family()

    def _validate_family(self) -> None:
        if self.init_lora_weights not in INITS:
            raise ValueError(f"init_lora_weights must be one of {INITS}, got {self.init_lora_weights!r}")
        if not (self.loraplus_lr_ratio == 0 or self.loraplus_lr_ratio >= 1):
            raise ValueError(f"loraplus_lr_ratio must be 0 (off) or at least 1, got {self.loraplus_lr_ratio}")
        switched = [k for k, off in FAMILY_OFF.items() if getattr(self, k) != off]
        if switched and self.method != "lora":
            msg = f"{', '.join(switched)} change LoRA's adapter: method must be 'lora', got {self.method!r}"
            raise ValueError(msg)
        if self.init_lora_weights is not True and (self.load_in_8bit or self.load_in_4bit):
            raise ValueError(
                f"init_lora_weights={self.init_lora_weights!r} rewrites the base as W₀ − s·BA, which the book"
                " does on a full-precision base only: set load_in_8bit=False and load_in_4bit=False"
                " (lorabook.family.qpissa_errors shows what quantizing the residual does)"
            )


METHODS = ("lora", "full", "vera")  # vera: VeRA's shared frozen projections and trained vectors, rank r
INITS = (True, "pissa", "olora")
# The family's switches and the value that leaves LoRA as it was. They came after runs were shipped, so a
# run's key leaves them out at that value (`key_fields`) and those runs stay current.
FAMILY_OFF = {"use_dora": False, "init_lora_weights": True, "loraplus_lr_ratio": 0.0}


def key_fields(cfg: FinetuneConfig) -> dict:
    """The configuration as a shipped run's key hashes it: every field, less the family's switches if off."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if not (k in FAMILY_OFF and _is_off(k, v))}


def _is_off(field: str, value) -> bool:
    off = FAMILY_OFF[field]
    return type(value) is type(off) and value == off  # init_lora_weights=1 is not True


STANDIN_LR = 7e-3  # at 2e-2 the q,v LoRA run diverges; 7e-3 gives 17–19 of 19 quotes over seeds 0–3 and 42
STANDIN_FULL_LR = 3e-4  # full fine-tuning moves every weight, so it takes a smaller step than LoRA
# SmolLM2-135M (lorabook.smollm2): in 40 full-batch steps its q,v adapter learns no quote at the seed's
# 2e-4 and all of them at 2e-3 (lorabook.real_runs measures both, the latter over seeds)
SMOLLM2_LR = 2e-3

PROFILES = {
    "opt-6.7b": FinetuneConfig(),
    "stand-in": FinetuneConfig(
        profile="stand-in",
        model_name="",  # filled in with the pretrained stand-in's directory
        dataset="zen-of-python",  # english_quotes' columns, built offline from PEP 20
        # Differs from the seed, and why: the stand-in has 19 quotes, not 2,508, and trains on a 2-core CPU.
        per_device_train_batch_size=19,  # seed 4: its 4 × 4 = 16 rows a step was sized for 2,508 quotes;
        gradient_accumulation_steps=1,  # seed 4: 19 fit in one batch, so a step is one pass over all of them
        # max_steps: the seed's 200 (for the seed, 1.3 passes over english_quotes; here 200 passes)
        warmup_steps=20,  # seed 100, half of the run: a tenth is enough for a batch that never changes
        learning_rate=STANDIN_LR,  # seed 2e-4: here it takes the loss from 5.6 only to 4.6, learning no quote
        fp16=False,  # no fp16 training on CPU: fp32 compute (the int8 weights stay int8)
        gradient_checkpointing=False,  # the stand-in's activations are tiny; checkpointing only costs time
        append_eos=True,  # end each quote with EOS, so that the fine-tuned model stops where the quote stops
        output_dir="outputs/stand-in-lora",
        prompt="Errors should never",
        max_new_tokens=16,
    ),
    "smollm2": FinetuneConfig(
        profile="smollm2",
        model_name="",  # filled in with the cached fp16 copy of SmolLM2-135M-Instruct (lorabook.smollm2)
        dataset="zen-of-python",
        # Differs from the seed, and why: a real 135M model, 19 quotes, and a 2-core CPU.
        per_device_train_batch_size=19,  # seed 4 × 4: all 19 quotes in one batch, as the stand-in
        gradient_accumulation_steps=1,
        max_steps=40,  # seed 200: a pretrained model learns the 19 quotes in 40 full-batch steps
        warmup_steps=4,  # seed 100, half of the run: a tenth of the run, as the stand-in
        learning_rate=SMOLLM2_LR,  # seed 2e-4: see SMOLLM2_LR
        fp16=False,  # no fp16 training on CPU: fp32 compute (the int8 weights stay int8)
        gradient_checkpointing=False,  # 19 short quotes: the activations are small; checkpointing costs time
        append_eos=True,  # end each quote with <|im_end|>, so that the model stops where the quote stops
        output_dir="outputs/smollm2-lora",
        max_new_tokens=24,
    ),
}


# What the fine-tune chapter runs beside the seed's q,v LoRA, as changes to the stand-in profile. Both
# learn all 19 quotes in half the seed's 200 steps, so they get half, which keeps the chapter within its time.
HALF = dict(max_steps=100, warmup_steps=10)
VARIANTS = {
    "all-linear LoRA": dict(target_modules=ALL_LINEAR, **HALF),  # LoRA on all six linear layers of each block
    "full": dict(method="full", load_in_8bit=False, learning_rate=STANDIN_FULL_LR, **HALF),  # all, in fp32
}


# ---------------------------------------------------------------------------- the environment


class EnvironmentNotReady(RuntimeError):
    """The profile needs something this machine does not have (a GPU, the hub)."""


class Interrupted(RuntimeError):
    """Training stopped by Ctrl-C (SIGINT) at `step`; `checkpoint` is the newest complete one, or None."""

    def __init__(self, step: int, max_steps: int, checkpoint, save_steps: int):
        self.step, self.checkpoint = step, checkpoint
        if checkpoint is None:
            hint = (
                f"no checkpoint was saved yet (the first comes at step {save_steps}); rerun with --overwrite"
                " to start again"
            )
        else:
            hint = f"rerun with --resume to continue from {checkpoint.name}"
        super().__init__(f"interrupted at step {step} of {max_steps}; {hint}")


def warmup_for(profile: FinetuneConfig, max_steps: int) -> int:
    """The warm-up for a run of `max_steps`: the profile's share of its own run (the seed's 100 of 200, the
    stand-in's 20 of 200), so that a short run is not all warm-up."""
    return round(profile.warmup_steps * max_steps / profile.max_steps)


def preflight(cfg: FinetuneConfig) -> None:
    """Fail within seconds, before any download, if the opt-6.7b profile cannot run here."""
    if cfg.profile != "opt-6.7b":
        return
    problems = []
    if not torch.cuda.is_available():
        problems.append(
            "a CUDA GPU (bitsandbytes' 8-bit training of a 6.7B model needs one; this machine has none)"
        )
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline and not _in_hub_cache(cfg.model_name):
        problems.append(
            f"the weights of {cfg.model_name} (HF_HUB_OFFLINE is set and they are not in the cache)"
        )
    if problems:
        raise EnvironmentNotReady(
            "the opt-6.7b profile needs " + "; and ".join(problems) + ". "
            "Run the offline stand-in instead: python -m lorabook.finetune --profile stand-in"
        )


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def resolve(cfg: FinetuneConfig, progress: bool = True) -> FinetuneConfig:
    """The config with the local model's directory filled in: the stand-in's (pretrained on first use) or
    SmolLM2's fp16 copy (made from the wheel's GGUF file on first use)."""
    if cfg.profile == "stand-in" and not cfg.model_name:
        cfg = dataclasses.replace(cfg, model_name=str(standin.standin_path(progress=progress)))
    if cfg.profile == "smollm2" and not cfg.model_name:
        from .. import smollm2

        cfg = dataclasses.replace(cfg, model_name=str(smollm2.fp16_path(progress=progress)))
    return cfg
