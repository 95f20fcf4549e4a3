"""The whole run, every step in the seed's order, resumable, with its result written to result.json."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path

from .. import files
from ..lora import count_parameters
from .adapter import lora_model
from .config import FinetuneConfig, preflight, resolve
from .steps import (
    KEEP_CHECKPOINTS,
    check_output_dir,
    generate,
    load_base,
    load_quotes,
    load_tokenizer,
    resume_point,
    save_adapter,
    saved_dir,
    tokenize,
    train,
)


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


def run(cfg: FinetuneConfig, resume=False, overwrite=False, progress=True, keep=KEEP_CHECKPOINTS):
    """Every step, in the seed's order. Returns (model, tokenizer, result); result.json holds the result.

    progress=False shows no progress bar (tokenizing, loading, training) and prints no training log. `keep`:
    the checkpoints kept in cfg.output_dir (None: all). Ctrl-C during training raises Interrupted.
    """
    with bars(progress):
        return _run(cfg, resume, overwrite, progress, keep)


def _run(cfg: FinetuneConfig, resume: bool, overwrite: bool, progress: bool, keep):
    cfg.validate()
    preflight(cfg)
    out = Path(cfg.output_dir)
    check_output_dir(out, resume, overwrite)
    start_from = resume_point(out) if resume else None  # before any loading: no complete checkpoint fails now
    if start_from and files.checkpoint_step(Path(start_from)) >= cfg.max_steps:
        raise ValueError(
            f"--resume: {Path(start_from).name} already reached max_steps={cfg.max_steps}, so there is"
            " nothing to train; give a larger --max-steps to go on, or --overwrite to start again"
        )
    cfg = resolve(cfg, progress)
    from transformers import set_seed

    set_seed(cfg.seed)  # LoRA's A is drawn in get_peft_model, before the Trainer seeds anything
    tokenizer = load_tokenizer(cfg)
    data = tokenize(load_quotes(cfg), tokenizer, cfg.append_eos)  # before the model: empty data fails fast
    model = trainable_model(cfg)
    start = time.perf_counter()
    trainer = train(model, tokenizer, data, cfg, resume=start_from or False, progress=progress, keep=keep)
    seconds = time.perf_counter() - start
    saved = save_adapter(model, saved_dir(cfg))
    result = {
        "config": dataclasses.asdict(cfg),
        "trainable": count_parameters(model),  # as peft counts, for an adapter or a whole model
        "train_seconds": seconds,
        "log_history": trainer.state.log_history,
        "global_step": trainer.state.global_step,
        "final_loss": next((h["loss"] for h in reversed(trainer.state.log_history) if "loss" in h), None),
        "resumed_from": Path(start_from).name if start_from else None,
        "world_size": trainer.args.world_size,
        "adapter_files": {p.name: p.stat().st_size for p in saved},
        "completion": generate(model, tokenizer, cfg.prompt, cfg.max_new_tokens),
    }
    if trainer.is_world_process_zero():
        (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    return model, tokenizer, result
