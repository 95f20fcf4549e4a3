"""`python -m lorabook.finetune`: the fine-tune from the command line, arguments checked first."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .config import METHODS, PROFILES, EnvironmentNotReady
from .run import run


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2, without the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def main(argv=None) -> int:
    about = sys.modules[__package__].__doc__.splitlines()[0]  # the package's first line
    parser = OneLineParser(prog="python -m lorabook.finetune", description=about)
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
