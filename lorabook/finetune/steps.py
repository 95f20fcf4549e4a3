"""The seed's steps on today's stack: load in 8-bit, prepare, LoRA, the quotes, train, save, reload,
generate."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import torch
from torch import nn

from .. import files, standin
from .._checks import check_int
from .config import FinetuneConfig, Interrupted

KEEP_CHECKPOINTS = 2  # the newest, and one before it in case a kill cut the newest short

# ---------------------------------------------------------------------------- 1. load in 8-bit


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


def training_arguments(cfg: FinetuneConfig, progress: bool = True, keep: int | None = KEEP_CHECKPOINTS):
    """The seed's TrainingArguments on this machine; `keep` checkpoints at most (None: every one)."""
    from transformers import TrainingArguments

    if keep is not None:
        check_int(keep, "keep", 1)
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
        save_total_limit=keep,
        # DDP: LoRA uses every trainable parameter each step, so the search for unused ones is wasted work
        ddp_find_unused_parameters=False,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=[],
        disable_tqdm=not progress,
    )


def train(model, tokenizer, data, cfg: FinetuneConfig, resume=False, progress=True, keep=KEEP_CHECKPOINTS):
    """The seed's Trainer, resumable: resume=True continues from the newest complete checkpoint in
    cfg.output_dir (resume_point), a path from that checkpoint.

    With progress=True a bar, and one readable line per logged step (log_lines); with progress=False nothing
    is printed (the log stays in trainer.state.log_history), so a rendered notebook shows results, not logs.
    Ctrl-C raises Interrupted, which names the step and the checkpoint to resume from.
    """
    from transformers import DataCollatorForLanguageModeling, PrinterCallback, ProgressCallback, Trainer

    from .adapter import optimizer  # LoRA+'s, where the run asks for it

    trainer = Trainer(
        model=model,
        args=training_arguments(cfg, progress, keep),
        train_dataset=data,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),  # labels = inputs, pads = -100
        optimizers=(optimizer(model, cfg), None),  # None: the Trainer's own (AdamW, and its schedule)
    )
    trainer.remove_callback(PrinterCallback)  # both print each log as a Python dict of quoted numbers
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(log_lines())
    model.config.use_cache = False  # the KV cache is for generation; in training it only costs memory
    if resume is True:
        resume = resume_point(cfg.output_dir)
    try:
        trainer.train(resume_from_checkpoint=resume or None)
    except KeyboardInterrupt:
        for callback in trainer.callback_handler.callbacks:  # end the bar's line before the message
            if getattr(callback, "training_bar", None) is not None:
                callback.training_bar.close()
                callback.training_bar = None
        out = Path(cfg.output_dir)
        checkpoint = files.last_complete_checkpoint(out)[0] if out.is_dir() else None
        raise Interrupted(trainer.state.global_step, cfg.max_steps, checkpoint, cfg.save_steps) from None
    model.config.use_cache = True
    return trainer


def log_line(logs: dict, step: int, max_steps: int) -> str:
    """One logged step as a line: `step 20/200  loss 1.234  lr 7.00e-03  grad-norm 0.512`."""
    parts = [f"step {step}/{max_steps}"]
    shown = {
        "loss": ("loss", "{:.4f}"),
        "learning_rate": ("lr", "{:.2e}"),
        "grad_norm": ("grad-norm", "{:.3g}"),
    }
    for key, (name, fmt) in shown.items():
        if key in logs:
            parts.append(f"{name} {fmt.format(logs[key])}")
    if "train_loss" in logs:  # the Trainer's closing log: the mean loss over the run
        parts.append(f"mean loss {logs['train_loss']:.4f}, {logs.get('train_runtime', 0):.0f} s")
    return "  ".join(parts)


def log_lines():
    """transformers' progress bar, with each log written above it as one line (log_line), on rank 0 only."""
    from transformers import ProgressCallback

    class LogLines(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and self.training_bar is not None and logs:
                self.training_bar.write(log_line(logs, state.global_step, state.max_steps))

    return LogLines()


def resume_point(output_dir) -> str:
    """The newest complete checkpoint in output_dir; on stderr, the newer ones it skips, and why.

    A kill while transformers writes checkpoint-N/ leaves one without trainer_state.json.
    """
    checkpoint, skipped = files.last_complete_checkpoint(output_dir)
    for path, why in skipped:
        print(f"--resume: skipping {path.name} ({why})", file=sys.stderr)
    if checkpoint is None:
        raise FileNotFoundError(
            f"--resume was given, but {output_dir} holds no complete checkpoint; pass --overwrite instead"
            " to start again"
        )
    print(
        f"--resume: continuing from {checkpoint.name} (its weights, optimizer, schedule and random states:"
        " with the same arguments, the run goes on as if it had not stopped)",
        file=sys.stderr,
    )
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
