"""`python -m lorabook.finetune`: the fine-tune from the command line, arguments checked first.

It ends with a summary (where the adapter is, the steps, the final loss, the exact match, the time). Ctrl-C
stops it with exit status 130 and says how to continue; every error is one line that says what to do, with
exit status 2; under DDP only rank 0 prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from .config import INITS, METHODS, PROFILES, EnvironmentNotReady, Interrupted, warmup_for
from .run import run
from .steps import KEEP_CHECKPOINTS

SCORED_QUOTES = 20  # exact match is measured on the first quotes of the dataset (all 19 of the stand-in's)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2, without the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def by_profile(field: str) -> str:
    """`stand-in 200, smollm2 40, opt-6.7b 200`: a field's value in each profile, for --help."""
    values = {name: getattr(cfg, field) for name, cfg in PROFILES.items()}
    if len(set(values.values())) == 1:
        return f"{next(iter(values.values()))} in every profile"
    return ", ".join(f"{name} {value}" for name, value in values.items())


def parser() -> OneLineParser:
    about = sys.modules[__package__].__doc__.splitlines()[0]  # the package's first line
    p = OneLineParser(prog="python -m lorabook.finetune", description=about)
    add = p.add_argument
    add("--profile", choices=sorted(PROFILES), default="stand-in", help="the recipe (default: stand-in)")
    add("--output-dir", help=f"checkpoints, adapter and result.json (default: {by_profile('output_dir')})")
    add("--model", help="a local model folder or a hub id instead of the profile's model")
    add("--max-steps", type=int, help=f"optimizer steps (default: {by_profile('max_steps')})")
    add(
        "--warmup-steps",
        type=int,
        help=f"steps of linear warm-up (default: {by_profile('warmup_steps')}; with --max-steps, the"
        " profile's share of the run)",
    )
    add(
        "--save-steps",
        type=int,
        help=f"a checkpoint every this many steps (default: {by_profile('save_steps')})",
    )
    add(
        "--save-total-limit",
        type=int,
        default=KEEP_CHECKPOINTS,
        help=f"checkpoints kept, the newest ones (default: {KEEP_CHECKPOINTS}; 0 keeps every one)",
    )
    add("--r", type=int, help=f"LoRA rank (default: {by_profile('r')})")
    add("--target-modules", nargs="+", help="module names to adapt (default: q_proj v_proj, the seed's)")
    add("--no-8bit", action="store_true", help="load the base in full precision (default: 8-bit, LLM.int8())")
    add("--nf4", action="store_true", help="load the base in 4-bit NF4 (QLoRA) instead of 8-bit")
    add(
        "--method",
        choices=METHODS,
        default="lora",
        help="lora; full: train every weight; vera: VeRA's shared projections, --r its rank (default: lora)",
    )
    family = p.add_argument_group("LoRA's family (chapter \"LoRA's family\"; all off by default)")
    family.add_argument(
        "--rslora", action="store_true", help="rsLoRA: scale B·A by alpha/sqrt(r), not alpha/r"
    )
    family.add_argument("--dora", action="store_true", help="DoRA: train a magnitude per output unit as well")
    family.add_argument(
        "--init", choices=[i for i in INITS if i is not True], help="start A, B from W₀ (needs --no-8bit)"
    )
    family.add_argument(
        "--loraplus-ratio", type=float, help="LoRA+: B's learning rate this many times A's (e.g. 16)"
    )
    add("--resume", action="store_true", help="continue from the newest complete checkpoint in --output-dir")
    add("--overwrite", action="store_true", help="delete --output-dir first and start again")
    return p


# pairs of flags that ask for opposite things, and why
CONTRADICTIONS = [
    ("resume", "overwrite", "--resume continues the run in --output-dir, --overwrite deletes it; choose one"),
    ("nf4", "no_8bit", "--nf4 loads a 4-bit base, --no-8bit a full-precision one; choose one"),
]
FULL_ONLY_LORA = ("nf4", "r", "target_modules")  # meaningless or impossible when every weight trains
FAMILY_FLAGS = {
    "--rslora": "rslora",
    "--dora": "dora",
    "--init": "init",
    "--loraplus-ratio": "loraplus_ratio",
}


def refuse_contradictions(p: OneLineParser, args) -> None:
    for a, b, why in CONTRADICTIONS:
        if getattr(args, a) and getattr(args, b):
            p.error(why)
    if args.method == "full":
        for name in FULL_ONLY_LORA:
            if getattr(args, name):
                flag = "--" + name.replace("_", "-")
                p.error(f"{flag} is for LoRA; --method full trains every weight of a full-precision base")
    switched = [f for f, on in FAMILY_FLAGS.items() if getattr(args, on)]
    if switched and args.method != "lora":
        p.error(f"{', '.join(switched)} change LoRA's adapter; --method {args.method} has none")
    if args.init and not args.no_8bit:
        p.error(f"--init {args.init} rewrites the base as W₀ − s·BA: add --no-8bit (a full-precision base)")
    if args.save_total_limit < 0:
        p.error(f"--save-total-limit must be >= 0, got {args.save_total_limit}")
    steps = args.max_steps if args.max_steps is not None else PROFILES[args.profile].max_steps
    if args.warmup_steps is not None and not 0 <= args.warmup_steps <= steps:
        p.error(
            f"--warmup-steps must be in 0..{steps} (the run's steps), got {args.warmup_steps}: a longer"
            " warm-up would never reach the learning rate"
        )


def config_from(args):
    """The profile with the flags applied; the warm-up follows --max-steps unless given."""
    profile = PROFILES[args.profile]
    overrides = {
        k: v
        for k, v in {
            "output_dir": args.output_dir,
            "model_name": args.model,
            "max_steps": args.max_steps,
            "warmup_steps": args.warmup_steps,
            "save_steps": args.save_steps,
            "r": args.r,
            "target_modules": tuple(args.target_modules) if args.target_modules else None,
            "use_rslora": args.rslora or None,
            "use_dora": args.dora or None,
            "init_lora_weights": args.init,
            "loraplus_lr_ratio": args.loraplus_ratio,
        }.items()
        if v is not None
    }
    if args.max_steps is not None and args.warmup_steps is None and args.max_steps >= 1:
        overrides["warmup_steps"] = warmup_for(profile, args.max_steps)
        say(
            f"warm-up: {overrides['warmup_steps']} of {args.max_steps} steps, the profile's share of its run"
            f" ({profile.warmup_steps} of {profile.max_steps}); --warmup-steps sets it"
        )
    if args.no_8bit or args.method == "full" or args.nf4:
        overrides["load_in_8bit"] = False
    if args.nf4:
        overrides["load_in_4bit"] = True
    overrides["method"] = args.method
    return dataclasses.replace(profile, **overrides)


def rank_zero() -> bool:
    """True on the process that speaks: the only one, or rank 0 under accelerate launch / torchrun."""
    return os.environ.get("RANK", "0") == "0"


def say(message: str) -> None:
    if rank_zero():
        print(message, file=sys.stderr, flush=True)


def summary(cfg, model, tokenizer, result, seconds: float) -> str:
    """What a run leaves, in a few labelled lines."""
    from .scoring import exact_match
    from .steps import load_quotes, saved_dir

    quotes = list(load_quotes(cfg)["quote"][:SCORED_QUOTES])
    share, _ = exact_match(model, tokenizer, quotes)
    files_mb = sum(result["adapter_files"].values()) / 1e6
    what = "model" if cfg.method == "full" else "adapter"
    loss = result["final_loss"]
    lines = [
        f"done: {result['global_step']} steps in {seconds:.0f} s"
        + (f", resumed from {result['resumed_from']}" if result["resumed_from"] else ""),
        f"final loss: {loss:.4f}" if loss is not None else "final loss: none logged",
        f"exact match: {round(share * len(quotes))} of {len(quotes)} quotes (greedy, from each first half)",
        f"{what}: {saved_dir(cfg)} ({len(result['adapter_files'])} files, {files_mb:.1f} MB)",
        f"completion of {cfg.prompt!r}: {result['completion']!r}",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.model and args.model.startswith((".", "/", "~")) and not Path(args.model).expanduser().is_dir():
        p.error(f"--model {args.model}: no such folder (give a local model folder or a hub id)")
    refuse_contradictions(p, args)
    cfg = config_from(args)
    keep = args.save_total_limit or None
    start = time.perf_counter()
    try:
        model, tokenizer, result = run(cfg, resume=args.resume, overwrite=args.overwrite, keep=keep)
        text = summary(cfg, model, tokenizer, result, time.perf_counter() - start) if rank_zero() else ""
    except Interrupted as exc:
        say(f"{exc}")
        return 130
    except KeyboardInterrupt:
        say("interrupted before training started: nothing was trained; rerun the same command to start")
        return 130
    except (EnvironmentNotReady, ValueError) as exc:
        say(f"error: {exc}")
        return 2
    except OSError as exc:  # a path that cannot serve: name the flag, say what to do
        say(f"error: {os_error(exc, cfg)}")
        return 2
    if rank_zero():
        print(text, flush=True)
    return 0


def os_error(exc: OSError, cfg) -> str:
    where = Path(exc.filename) if getattr(exc, "filename", None) else None
    out = Path(cfg.output_dir)
    if where is not None and (where == out or out in where.parents or where in out.parents):
        reason = exc.strerror or str(exc)
        return f"--output-dir {cfg.output_dir}: {reason} ({where}); give a folder you can write to"
    return str(exc)
