"""What LoRA learned: the fine-tunes of the stand-in that the chapter compares, made once and shipped.

Every run is the fine-tune chapter's pipeline (`lorabook.finetune.run`) on the nineteen quotes, with one
change for all of them: the base is the stand-in in fp32, not in 8-bit, so that LoRA and full fine-tuning
start from the same W₀ and ΔW = W − W₀ means the same thing for both. The runs vary what Hu et al. (2021)
vary in §7: the rank r, the adapted matrices, the seed, and the scaling of B·A (α/r, or α/√r in rsLoRA).

Training all of them takes about ten minutes on two cores, so the results are shipped in
`lorabook/data/learned/`, one folder per run:

    python -m lorabook.learned      # what `make learned` runs: trains the runs that are missing or stale

Each folder holds the run's `run.json` (its configuration, training losses and seconds, and a `key`: a hash
of the configuration and of the stand-in's recipe key) and what it trained: the peft adapter, or for full
fine-tuning ΔW of every parameter in fp16. A test fails while a shipped key differs from today's, and another
reruns the first steps of a run with today's code and compares the losses with the shipped ones.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import files, pretrain, standin
from . import finetune as F
from .delta import lora_deltas, lora_factors, short_name
from .finetune.scoring import quotes_loss

SHIPPED = Path(__file__).parent / "data" / "learned"

QV = ("q_proj", "v_proj")
ATTENTION = ("q_proj", "k_proj", "v_proj", "out_proj")
RANKS = (1, 2, 4, 8, 16, 64)  # the rank ablation, on q and v with α = 2r as the seed's r = 16, α = 32
SCALING_RANKS = (4, 16, 64)  # the scaling comparison: α/r against α/√r, both equal to the seed's at r = 16
SEED_ALPHA = F.PROFILES["stand-in"].lora_alpha  # 32
SEED_R = F.PROFILES["stand-in"].r  # 16


def _rank_run(r: int, targets=QV, **more) -> dict:
    return dict(r=r, lora_alpha=2 * r, target_modules=tuple(targets), **more)


# id → (label, changes to the stand-in profile). Every LoRA run has the seed's dropout, rate and 200 steps.
RUNS: dict[str, tuple[str, dict]] = {
    **{f"qv-r{r}": (f"q,v r={r}", _rank_run(r)) for r in RANKS},
    # the targets at the budget of q,v at r = 16: 16 · (256 + 256) · 2 = 16,384 parameters per block
    "q-r32": ("q r=32", _rank_run(32, ("q_proj",))),
    "v-r32": ("v r=32", _rank_run(32, ("v_proj",))),
    "qkvo-r8": ("q,k,v,o r=8", _rank_run(8, ATTENTION)),
    "all-r4": ("all linear r=4", _rank_run(4, F.ALL_LINEAR)),  # 18,432 per block: the nearest to 16,384
    "qv-r64-seed0": ("q,v r=64, seed 0", _rank_run(64, seed=0)),  # a second seed, as the paper's Fig. 4
    # scaling: α fixed at the seed's 32 (α/r), and rsLoRA's α/√r with α = 8 (= 2 at r = 16, as the seed's)
    **{
        f"alpha32-r{r}": (f"α/r, α=32, r={r}", dict(r=r, lora_alpha=SEED_ALPHA))
        for r in SCALING_RANKS
        if r != SEED_R
    },
    **{
        f"rslora-r{r}": (f"α/√r, α=8, r={r}", dict(r=r, lora_alpha=8, use_rslora=True))
        for r in SCALING_RANKS
        if r != SEED_R
    },
    "full": ("full", F.VARIANTS["full"]),  # the fine-tune chapter's full fine-tuning: 100 steps, fp32
    # learning against forgetting depends on the step size: the seed's adapter at smaller rates too
    **{f"qv-r16-lr{lr:.0e}": (f"q,v r=16, lr {lr:.0e}", dict(learning_rate=lr)) for lr in (1e-3, 3e-3)},
    # the seed's adapter on quantized bases: LLM.int8() (the fine-tune chapter's) and QLoRA's NF4
    "qv-r16-int8": ("q,v r=16, int8 base", dict(load_in_8bit=True)),
    "qv-r16-nf4": ("q,v r=16, NF4 base", dict(load_in_4bit=True)),
}

RATES = {
    1e-3: "qv-r16-lr1e-03",
    3e-3: "qv-r16-lr3e-03",
    F.STANDIN_LR: "qv-r16",
}  # the seed's adapter, by rate

QUANTIZED = ("qv-r16-int8", "qv-r16-nf4")  # the runs on an int8 or NF4 base; the others share the fp32 W₀
FP32_RUNS = tuple(i for i in RUNS if i not in QUANTIZED)

SCALING = {  # the scaling comparison's runs by rule and r; the seed's own run is the shared point at r = 16
    "α/r": {r: "qv-r16" if r == SEED_R else f"alpha32-r{r}" for r in SCALING_RANKS},
    "α/√r": {r: "qv-r16" if r == SEED_R else f"rslora-r{r}" for r in SCALING_RANKS},
    "α = 2r": {r: f"qv-r{r}" for r in SCALING_RANKS},
}


def config(run_id: str, output_dir: str = "outputs/learned") -> F.FinetuneConfig:
    """The run's FinetuneConfig: the stand-in profile on an fp32 base, with the run's changes."""
    if run_id not in RUNS:
        raise ValueError(f"run_id must be one of {sorted(RUNS)}, got {run_id!r}")
    changes = {"load_in_8bit": False, **RUNS[run_id][1], "output_dir": output_dir}
    return dataclasses.replace(F.PROFILES["stand-in"], **changes)


# Flags FinetuneConfig gained after runs were shipped. Off, they change nothing a run does, so they stay out
# of the key while off: the runs made before them stay current.
ADDED_OFF = ("load_in_4bit",)


def run_key(run_id: str) -> str:
    """Hash of what makes the run: its configuration (where it is written aside) and the stand-in's recipe."""
    cfg = {
        k: v
        for k, v in dataclasses.asdict(config(run_id)).items()
        if k not in ("model_name", "output_dir", "save_steps") and not (k in ADDED_OFF and not v)
    }
    text = json.dumps(cfg, sort_keys=True, default=list) + standin.recipe_key(standin.RECIPE)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def info(run_id: str, path: Path = SHIPPED) -> dict:
    return files.read_json(Path(path) / run_id / "run.json")


def is_current(run_id: str, path: Path = SHIPPED) -> bool:
    file = Path(path) / run_id / "run.json"
    return file.is_file() and info(run_id, path).get("key") == run_key(run_id)


def stale(path: Path = SHIPPED) -> list[str]:
    """The runs missing from `path`, or made from another configuration than today's."""
    return [run_id for run_id in RUNS if not is_current(run_id, path)]


# ---------------------------------------------------------------------------- making the runs


def make(dest: Path = SHIPPED, run_ids=None, progress: bool = True) -> list[str]:
    """Train each run that is missing or stale in `dest`, and write its folder atomically.

    A run is the unit of work: killed half-way, `make` starts that run again and keeps the finished ones.
    Returns the ids it trained.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for leftover in dest.glob(".*.*"):  # the half-written folder of a run that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    todo = [i for i in (run_ids or RUNS) if not is_current(i, dest)]
    for run_id in todo:
        with tempfile.TemporaryDirectory(prefix=f".{run_id}.", dir=dest) as tmp:
            folder = _train(run_id, Path(tmp), progress)
            target = dest / run_id
            if target.exists():
                shutil.rmtree(target)
            folder.rename(target)
    return todo


def _train(run_id: str, tmp: Path, progress: bool) -> Path:
    cfg = config(run_id, output_dir=str(tmp / "out"))
    cfg = dataclasses.replace(cfg, save_steps=cfg.max_steps)  # one run is the unit of resumption
    model, _, result = F.run(cfg, overwrite=True, progress=progress)
    folder = tmp / "run"
    folder.mkdir()
    if cfg.method == "full":
        base, _ = standin.load()
        w0 = base.state_dict()
        delta = {
            k: (v - w0[k]).to(torch.float16).contiguous()
            for k, v in model.state_dict().items()
            if k != "lm_head.weight" or not model.config.tie_word_embeddings
        }
        from safetensors.torch import save_file

        save_file(delta, folder / "delta.safetensors")
    else:
        saved = F.saved_dir(cfg)
        for name in ("adapter_model.safetensors", "adapter_config.json"):
            shutil.copy(saved / name, folder / name)
        adapter_config = files.read_json(folder / "adapter_config.json")
        adapter_config["base_model_name_or_path"] = "lorabook/data/standin"  # not this machine's path
        (folder / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2) + "\n")
    log = result["log_history"]
    record = {
        "id": run_id,
        "label": RUNS[run_id][0],
        "key": run_key(run_id),
        "config": {k: v for k, v in result["config"].items() if k not in ("model_name", "output_dir")},
        "losses": [h["loss"] for h in log if "loss" in h],
        "train_seconds": result["train_seconds"],
        "trainable": result["trainable"][0],
        "versions": _versions(),
    }
    (folder / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    folder.chmod(0o755)
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder


def _versions() -> dict:
    import peft
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "python": sys.version.split()[0],
    }


# ---------------------------------------------------------------------------- loading them


def base_model():
    """W₀: the stand-in in fp32, in eval mode (the base every run starts from)."""
    model, _ = standin.load()
    return model


def load(run_id: str, base, path: Path = SHIPPED):
    """The run's model on a copy of `base`: a peft model for LoRA, the plain model + ΔW for full. A run on a
    quantized base gets a fresh base quantized the same way instead."""
    from peft import PeftModel

    folder = Path(path) / run_id
    files.check_saved(folder)  # the shipped adapter or ΔW, whole
    cfg = info(run_id, path)["config"]
    if cfg.get("load_in_8bit") or cfg.get("load_in_4bit"):  # a quantized base, loaded as the run had it
        with F.bars(False):
            model = F.load_base(F.resolve(config(run_id), progress=False))
    else:
        model = copy.deepcopy(base)
    if cfg["method"] == "full":
        from safetensors.torch import load_file

        delta = load_file(folder / "delta.safetensors")
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.add_(delta[name].to(p.dtype))
        return model.eval()
    return PeftModel.from_pretrained(model, folder, is_trainable=False).eval()


# ---------------------------------------------------------------------------- what each run changed


def full_deltas(run_id: str, path: Path = SHIPPED, names=None) -> dict[str, torch.Tensor]:
    """ΔW = W − W₀ of every linear layer (or those in `names`) of a full fine-tune, by short name."""
    from safetensors.torch import load_file

    delta = load_file(Path(path) / run_id / "delta.safetensors")
    found = {
        short_name(k): v.float()
        for k, v in delta.items()
        if k.endswith("proj.weight") or k.endswith(("fc1.weight", "fc2.weight"))
    }
    return {k: found[k] for k in (names or found)}


def deltas(run_id: str, model, path: Path = SHIPPED) -> dict[str, torch.Tensor]:
    """ΔW of each matrix the run changed: s·B·A of each adapted one for LoRA; W − W₀ of every one for full."""
    if info(run_id, path)["config"]["method"] == "full":
        return full_deltas(run_id, path)
    return lora_deltas(model)


def initial_factors(run_id: str, base) -> dict[str, tuple[torch.Tensor, torch.Tensor, float]]:
    """(A, B, s) as the run drew them before its first step: the same seed, then peft's initialisation."""
    from transformers import set_seed

    cfg = config(run_id)
    set_seed(cfg.seed)  # as finetune.run: the seed, then the model; loading and tokenizing draw nothing
    return lora_factors(F.apply_lora(copy.deepcopy(base), cfg))


def evaluate(run_id: str, base, tokenizer, batch, heldout, path: Path = SHIPPED) -> dict:
    """One run, measured: quotes reproduced, loss on the quotes and on held-out docs, its ΔW and factors.

    `batch` is `quotes_batch(tokenizer)` and `heldout` is `heldout_sample(tokenizer)`; training losses and
    seconds come from the run's record (measured when it was made).
    """
    record = info(run_id, path)
    model = load(run_id, base, path)
    _, rows = F.exact_match(model, tokenizer, standin.zen_of_python())
    out = {
        "label": record["label"],
        "exact match": sum(r["match"] for r in rows),
        "quotes loss": quotes_loss(model, batch),
        "held-out loss": pretrain.mean_loss(model, heldout),
        "final training loss": record["losses"][-1],
        "trainable parameters": record["trainable"],
        "training seconds": record["train_seconds"],
        "r": record["config"]["r"] if record["config"]["method"] == "lora" else None,
        "deltas": deltas(run_id, model, path),
        "factors": lora_factors(model) if record["config"]["method"] == "lora" else {},
    }
    del model
    return out


# ---------------------------------------------------------------------------- the chapter's summaries

COLUMNS = {
    "trainable parameters": "{:,.0f}",
    "exact match": "{:.0f}",
    "quotes loss": "{:.3f}",
    "held-out loss": "{:.3f}",
    "training seconds": "{:.0f}",
}


def table(results: dict[str, dict], run_ids, labels=None):
    """The runs `run_ids` side by side: what each trains, reproduces, and costs on the quotes and held-out."""
    import pandas as pd

    rows = {(labels or {}).get(i, results[i]["label"]): {c: results[i][c] for c in COLUMNS} for i in run_ids}
    return pd.DataFrame(rows).T.astype(float).style.format(COLUMNS, na_rep="–")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lorabook.learned", description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default=str(SHIPPED), help="the folder of runs (the shipped one)")
    parser.add_argument("--check", action="store_true", help="list stale runs; exit 1 if there are any")
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    if args.check:
        missing = stale(dest)
        print(f"{dest}: " + (f"stale or missing: {', '.join(missing)}" if missing else "current"))
        return 1 if missing else 0
    start = time.perf_counter()
    done = make(dest)
    print(f"{dest}: trained {len(done)} of {len(RUNS)} runs in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
