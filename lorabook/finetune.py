"""The seed's 8-bit OPT LoRA fine-tune, on today's stack: one pipeline, two profiles.

    python -m lorabook.finetune --profile stand-in       # CPU, offline, minutes (the default)
    python -m lorabook.finetune --profile opt-6.7b       # facebook/opt-6.7b on a CUDA GPU with hub access
    accelerate launch --multi_gpu --num_processes 2 -m lorabook.finetune --profile stand-in     # DDP, CPU too

The steps, in the seed's order: load in 8-bit → prepare for k-bit training → LoRA → count → tokenize the
quotes → Trainer → save the adapter → reload it onto the 8-bit base → generate. transformers 5 dropped
`load_in_8bit=` (use `quantization_config=BitsAndBytesConfig(load_in_8bit=True)`), and peft dropped
`prepare_model_for_int8_training` (use `prepare_model_for_kbit_training`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import files, standin
from ._checks import check_int, check_positive
from .lora import count_parameters
from .seed import SEED

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


METHODS = ("lora", "full")
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")  # every linear layer of an OPT block


STANDIN_LR = 7e-3  # at 2e-2 the q,v LoRA run diverges; 7e-3 gives 17–19 of 19 quotes over seeds 0–3 and 42
STANDIN_FULL_LR = 3e-4  # full fine-tuning moves every weight, so it takes a smaller step than LoRA

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


# ---------------------------------------------------------------------------- 1. load in 8-bit


def resolve(cfg: FinetuneConfig, progress: bool = True) -> FinetuneConfig:
    """The config with the stand-in's model directory filled in (pretraining it on first use)."""
    if cfg.profile == "stand-in" and not cfg.model_name:
        cfg = dataclasses.replace(cfg, model_name=str(standin.standin_path(progress=progress)))
    return cfg


def load_tokenizer(cfg: FinetuneConfig):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(cfg.model_name, trust_remote_code=False)


def load_base(cfg: FinetuneConfig, dtype=None):
    """The causal LM, its nn.Linear layers in LLM.int8() when cfg.load_in_8bit (safetensors only)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if Path(cfg.model_name).is_dir():  # a local model (the stand-in, a saved full fine-tune): check its files
        files.check_saved(cfg.model_name)
    cuda = torch.cuda.is_available()
    kwargs = dict(
        dtype=dtype or (torch.float16 if cuda else torch.float32),
        device_map="auto" if cuda else {"": "cpu"},
        use_safetensors=True,
        trust_remote_code=False,
    )
    if cfg.load_in_8bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    if cfg.load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            **NF4_CONFIG, bnb_4bit_compute_dtype=kwargs["dtype"]
        )
    return AutoModelForCausalLM.from_pretrained(cfg.model_name, **kwargs)


# QLoRA's base (Dettmers et al. 2023): 4-bit NormalFloat weights in blocks of 64, their absmax quantized again
NF4_CONFIG = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)


# ---------------------------------------------------------------------------- 2. prepare for k-bit training


class CastOutputToFloat(nn.Sequential):
    """Wraps lm_head so that the logits come out in fp32 (a stable softmax and loss under fp16 weights)."""

    def forward(self, x):
        return super().forward(x).to(torch.float32)


def prepare_manually(model, gradient_checkpointing: bool = True):
    """The seed article's hand-written preparation, before peft had a function for it."""
    for param in model.parameters():
        param.requires_grad = False  # freeze the base model
        if param.ndim == 1:
            param.data = param.data.to(torch.float32)  # LayerNorm weights and biases in fp32, for stability
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()  # recompute activations in backward instead of storing them
    model.enable_input_require_grads()  # so that checkpointed blocks have an input that requires grad
    model.lm_head = CastOutputToFloat(model.lm_head)
    return model


def prepare(model, cfg: FinetuneConfig, reentrant: bool = True):
    """peft's prepare_model_for_kbit_training (the maintained version of prepare_manually).

    It checkpoints only a k-bit base; with cfg.gradient_checkpointing a full-precision base is checkpointed
    here the same way, so that the flag means what it says on any base.
    """
    from peft import prepare_model_for_kbit_training

    # Reentrant checkpointing, said explicitly (peft's default, which torch now wants spelled out): the
    # non-reentrant kind frees only autograd's saved tensors, and bitsandbytes keeps its matmul inputs on ctx,
    # so on an 8-bit model it would keep 3h + f values per token and layer (see lorabook.saved).
    kwargs = {"use_reentrant": reentrant}
    model = prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=cfg.gradient_checkpointing, gradient_checkpointing_kwargs=kwargs
    )
    if cfg.gradient_checkpointing and not model.is_activation_checkpointing:
        model.enable_input_require_grads()
        model.activation_checkpointing_enable(kwargs)
    return model


# ---------------------------------------------------------------------------- 3–4. LoRA, and the count


def lora_config(cfg: FinetuneConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.lora_alpha,
        target_modules=list(cfg.target_modules),
        lora_dropout=cfg.lora_dropout,
        bias=cfg.bias,
        use_rslora=cfg.use_rslora,
        task_type="CAUSAL_LM",
    )


def apply_lora(model, cfg: FinetuneConfig):
    """get_peft_model, after checking that every target module names a layer of this model."""
    from peft import get_peft_model

    from .lora import matches

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


# ---------------------------------------------------------------------------- 5. the quotes


def load_quotes(cfg: FinetuneConfig):
    """english_quotes from the hub, or the stand-in's quotes with the same columns (quote, author, tags)."""
    import datasets

    if cfg.dataset == "zen-of-python":
        quotes = standin.zen_of_python()
        return datasets.Dataset.from_dict(
            {
                "quote": quotes,
                "author": ["Tim Peters"] * len(quotes),
                "tags": [["python", "zen"]] * len(quotes),
            }
        )
    return datasets.load_dataset(cfg.dataset, split="train")


def tokenize(data, tokenizer, append_eos: bool = False):
    """The seed's step: tokenize the `quote` column in batches (with `append_eos`, each quote ends in EOS)."""
    if len(data) == 0:
        raise ValueError("the dataset is empty: there is nothing to fine-tune on")

    def encode(batch):
        enc = tokenizer(batch["quote"])
        if append_eos:
            enc = {
                k: [ids + [tokenizer.eos_token_id if k == "input_ids" else 1] for ids in v]
                for k, v in enc.items()
            }
        return enc

    return data.map(encode, batched=True, remove_columns=data.column_names, load_from_cache_file=False)


# ---------------------------------------------------------------------------- 6. train


def check_output_dir(path: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to write into a directory that holds something else, unless told to."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"output_dir {path} is a file, not a folder; give a folder for the checkpoints"
        )
    if not path.exists() or not any(path.iterdir()):
        if resume:
            raise FileNotFoundError(f"--resume was given, but {path} holds no checkpoint to resume from")
        return
    has_checkpoint = any(p.name.startswith("checkpoint-") for p in path.iterdir())
    if resume and has_checkpoint:
        return
    if overwrite:
        shutil.rmtree(path)
        return
    what = "checkpoints of an earlier run" if has_checkpoint else "files that are not checkpoints"
    raise FileExistsError(f"output_dir {path} already holds {what}; pass --resume to continue or --overwrite")


def training_arguments(cfg: FinetuneConfig, progress: bool = True):
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    return TrainingArguments(
        output_dir=cfg.output_dir,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        warmup_steps=cfg.warmup_steps,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        fp16=cfg.fp16 and cuda,
        use_cpu=not cuda,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=[],
        disable_tqdm=not progress,
    )


def train(model, tokenizer, data, cfg: FinetuneConfig, resume: bool | str = False, progress: bool = True):
    """The seed's Trainer, resumable: resume=True continues from the newest complete checkpoint in
    cfg.output_dir (resume_point), a path from that checkpoint.

    With progress=False nothing is printed: no bar, and no line per logged step (the log stays in
    trainer.state.log_history), so a rendered notebook shows results, not logs.
    """
    from transformers import DataCollatorForLanguageModeling, PrinterCallback, Trainer

    trainer = Trainer(
        model=model,
        args=training_arguments(cfg, progress),
        train_dataset=data,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),  # labels = inputs, pads = -100
    )
    if not progress:
        trainer.remove_callback(PrinterCallback)  # what Trainer prints each logging step instead of a bar
    model.config.use_cache = False  # the KV cache is for generation; in training it only costs memory
    if resume is True:
        resume = resume_point(cfg.output_dir)
    trainer.train(resume_from_checkpoint=resume or None)
    model.config.use_cache = True
    return trainer


def resume_point(output_dir) -> str:
    """The newest complete checkpoint in output_dir; on stderr, the newer ones it skips, and why.

    A kill while transformers writes checkpoint-N/ leaves one without trainer_state.json.
    """
    checkpoint, skipped = files.last_complete_checkpoint(output_dir)
    for path, why in skipped:
        print(f"--resume: skipping {path.name} ({why})", file=sys.stderr)
    if checkpoint is None:
        raise FileNotFoundError(f"--resume was given, but {output_dir} holds no complete checkpoint")
    if skipped:
        print(f"--resume: continuing from {checkpoint.name}", file=sys.stderr)
    return str(checkpoint)


# ---------------------------------------------------------------------------- 7–9. save, reload, generate


def saved_dir(cfg: FinetuneConfig) -> Path:
    """Where run() saves what was trained: the adapter, or for method="full" the whole model."""
    return Path(cfg.output_dir) / ("model" if cfg.method == "full" else "adapter")


def save_adapter(model, path) -> list[Path]:
    """adapter_config.json and adapter_model.safetensors: the LoRA matrices only."""
    model.save_pretrained(path)
    return sorted(Path(path).iterdir())


def reload(cfg: FinetuneConfig, adapter_dir):
    """A fresh 8-bit base with the saved adapter on top, as the seed reloads it (PeftConfig, PeftModel).

    For method="full", the saved folder is a whole model, loaded as it is.
    """
    from peft import PeftConfig, PeftModel

    files.check_saved(adapter_dir)  # a truncated or emptied file gives one line that names it
    if cfg.method == "full":
        return load_base(dataclasses.replace(cfg, model_name=str(adapter_dir))).eval()
    config = PeftConfig.from_pretrained(adapter_dir)
    base = load_base(dataclasses.replace(cfg, model_name=config.base_model_name_or_path))
    return PeftModel.from_pretrained(base, adapter_dir, is_trainable=False).eval()


def generate(model, tokenizer, prompt: str, max_new_tokens: int = 32) -> str:
    """Greedy completion of `prompt` (eval mode: bitsandbytes runs LLM.int8() here)."""
    model.eval()
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    with torch.no_grad():
        out = model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    return tokenizer.decode(out[0], skip_special_tokens=True)


def exact_match(model, tokenizer, quotes: list[str]) -> tuple[float, list[dict]]:
    """Share of quotes whose greedy continuation of their first half reproduces the second half exactly.

    The prompt is the first ⌈n/2⌉ of a quote's n words (at least one word, and one word left to predict): with
    fewer, two aphorisms can share a prompt ("If the implementation is hard/easy to explain, …").
    """
    rows = []
    for quote in quotes:
        words = quote.split()
        k = max(1, min(len(words) - 1, math.ceil(len(words) / 2)))
        prompt, target = " ".join(words[:k]), " " + " ".join(words[k:])
        n_new = len(tokenizer(target)["input_ids"]) + 2
        completion = generate(model, tokenizer, prompt, n_new)[len(prompt) :]
        rows.append(
            {
                "prompt": prompt,
                "target": target.strip(),
                "completion": completion.strip(),
                "match": completion.startswith(target),
            }
        )
    return sum(r["match"] for r in rows) / len(rows), rows


# ---------------------------------------------------------------------------- the whole run


@contextlib.contextmanager
def bars(progress: bool):
    """datasets' and transformers' progress bars on or off for the block, then as they were."""
    import datasets
    import transformers.utils.logging as tlog

    switches = [
        (datasets.enable_progress_bars, datasets.disable_progress_bars),
        (tlog.enable_progress_bar, tlog.disable_progress_bar),
    ]

    def set_to(states):
        for on, (enable, disable) in zip(states, switches):
            (enable if on else disable)()

    before = (datasets.is_progress_bar_enabled(), tlog.is_progress_bar_enabled())
    set_to((progress, progress))
    try:
        yield
    finally:
        set_to(before)


def trainable_model(cfg: FinetuneConfig):
    """Steps 1–3: the 8-bit base, prepared, with LoRA; or (method="full") the base, every weight trainable."""
    if cfg.method == "full":
        model = load_base(cfg)
        model.requires_grad_(True)
        return model
    return lora_model(load_base(cfg), cfg)


def run(cfg: FinetuneConfig, resume: bool = False, overwrite: bool = False, progress: bool = True):
    """Every step, in the seed's order. Returns (model, tokenizer, result); result.json holds the result.

    progress=False shows no progress bar (tokenizing, loading, training) and prints no training log.
    """
    with bars(progress):
        return _run(cfg, resume, overwrite, progress)


def _run(cfg: FinetuneConfig, resume: bool, overwrite: bool, progress: bool):
    cfg.validate()
    preflight(cfg)
    out = Path(cfg.output_dir)
    check_output_dir(out, resume, overwrite)
    start_from = resume_point(out) if resume else None  # before any loading: no complete checkpoint fails now
    cfg = resolve(cfg, progress)
    from transformers import set_seed

    set_seed(cfg.seed)  # LoRA's A is drawn in get_peft_model, before the Trainer seeds anything
    tokenizer = load_tokenizer(cfg)
    data = tokenize(load_quotes(cfg), tokenizer, cfg.append_eos)  # before the model: empty data fails fast
    model = trainable_model(cfg)
    start = time.perf_counter()
    trainer = train(model, tokenizer, data, cfg, resume=start_from or False, progress=progress)
    seconds = time.perf_counter() - start
    saved = save_adapter(model, saved_dir(cfg))
    result = {
        "config": dataclasses.asdict(cfg),
        "trainable": count_parameters(model),  # as peft counts, for an adapter or a whole model
        "train_seconds": seconds,
        "log_history": trainer.state.log_history,
        "global_step": trainer.state.global_step,
        "world_size": trainer.args.world_size,
        "adapter_files": {p.name: p.stat().st_size for p in saved},
        "completion": generate(model, tokenizer, cfg.prompt, cfg.max_new_tokens),
    }
    if trainer.is_world_process_zero():
        (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    return model, tokenizer, result


def summary(model, tokenizer, quotes: list[str], result: dict | None = None) -> dict:
    """One row of the chapter's comparison: exact match and, for a run's `result`, its final loss, the size of
    what it trained and saved, and its training seconds."""
    _, rows = exact_match(model, tokenizer, quotes)
    row = {"exact match": sum(r["match"] for r in rows)}
    if result is not None:
        losses = [h["loss"] for h in result["log_history"] if "loss" in h]
        saved = sum(v for k, v in result["adapter_files"].items() if k.endswith(".safetensors"))
        row.update(
            {
                "final loss": losses[-1],
                "trainable parameters": result["trainable"][0],
                "saved weights (MB)": saved / 1e6,
                "training seconds": result["train_seconds"],
            }
        )
    return {**row, "rows": rows}


def comparison(rows: dict[str, dict]):
    """The chapter's comparison table, formatted: one row per method, from summary()'s rows."""
    import pandas as pd

    table = pd.DataFrame({name: {k: v for k, v in row.items() if k != "rows"} for name, row in rows.items()})
    formats = {
        "exact match": "{:.0f}",
        "final loss": "{:.3f}",
        "trainable parameters": "{:,.0f}",
        "saved weights (MB)": "{:.2f}",
        "training seconds": "{:.0f}",
    }
    return table.T.astype(float).style.format(formats, na_rep="–")


def completions(before: list[dict], after: list[dict], width: int = 20):
    """Prompt, continuation after, whether it is exact, and before (shortened), for each quote."""
    import textwrap

    import pandas as pd

    return pd.DataFrame(
        {
            "prompt": [r["prompt"] for r in after],
            "after": [r["completion"] for r in after],
            "exact": ["✓" if r["match"] else "✗" for r in after],
            "before": [textwrap.shorten(r["completion"], width, placeholder=" …") for r in before],
        }
    )


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2, without the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m lorabook.finetune", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="stand-in")
    parser.add_argument("--output-dir", help="where checkpoints, the adapter and result.json go")
    parser.add_argument("--model", help="a local model directory or hub id instead of the profile's model")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (the profile's value if omitted)")
    parser.add_argument("--save-steps", type=int, help="checkpoint every this many steps")
    parser.add_argument("--r", type=int, help="LoRA rank")
    parser.add_argument("--target-modules", nargs="+", help="module names to adapt, e.g. q_proj v_proj")
    parser.add_argument("--no-8bit", action="store_true", help="load the base in full precision")
    parser.add_argument(
        "--nf4", action="store_true", help="load the base in 4-bit NF4 (QLoRA) instead of 8-bit"
    )
    parser.add_argument("--method", choices=METHODS, help="lora (the default), or full: train every weight")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in output-dir"
    )
    parser.add_argument("--overwrite", action="store_true", help="delete output-dir first")
    args = parser.parse_args(argv)
    if args.model and args.model.startswith((".", "/", "~")) and not Path(args.model).expanduser().is_dir():
        parser.error(f"--model {args.model}: no such folder (give a local model folder or a hub id)")
    overrides = {
        k: v
        for k, v in {
            "output_dir": args.output_dir,
            "model_name": args.model,
            "max_steps": args.max_steps,
            "save_steps": args.save_steps,
            "r": args.r,
            "target_modules": tuple(args.target_modules) if args.target_modules else None,
        }.items()
        if v is not None
    }
    if args.no_8bit or args.method == "full" or args.nf4:
        overrides["load_in_8bit"] = False
    if args.nf4:
        overrides["load_in_4bit"] = True
    if args.method:
        overrides["method"] = args.method
    cfg = dataclasses.replace(PROFILES[args.profile], **overrides)
    try:
        _, _, result = run(cfg, resume=args.resume, overwrite=args.overwrite)
    except (EnvironmentNotReady, ValueError, OSError) as exc:  # OSError: a path that cannot serve
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result["completion"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
