"""What LoRA learned: the fine-tunes of the stand-in that the chapter compares, made once and shipped.
The table of runs is `lorabook.learned_runs`.

Every run is the fine-tune chapter's pipeline (`lorabook.finetune.run`) on the nineteen quotes, with one
change for all of them: the base is the stand-in in fp32, not in 8-bit, so that LoRA and full fine-tuning
start from the same W₀ and ΔW = W − W₀ means the same thing for both. The runs vary what Hu et al. (2021)
vary in §7: the rank r, the adapted matrices, the seed, and the scaling of B·A (α/r, or α/√r in rsLoRA).

Training all of them takes about 35 minutes on two cores, so the results are shipped in
`lorabook/data/learned/`, one folder per run:

    python -m lorabook.learned      # what `make learned` runs: trains the runs that are missing or stale

Each folder holds the run's `run.json` (its configuration, training losses and seconds, what `measure` found
as it was made, and a `key`: a hash of the configuration and of the stand-in's recipe key) and, for the runs
in KEEPS_WEIGHTS, what it trained: the peft adapter, or for full fine-tuning ΔW of every parameter in fp16.
A test fails while a shipped key differs from today's, and another reruns the first steps of a run with
today's code and compares the losses with the shipped ones (past the warm-up, runs made on different CPUs
drift apart: sums in another order round differently, so `versions` records the CPU's vector width).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from . import files, shipping, standin, truncation
from . import finetune as F
from .delta import (
    amplification,
    base_weights,
    intruder_dimensions,
    lora_deltas,
    lora_factors,
    short_name,
    update_norm,
)
from .learned_runs import (  # noqa: F401  (the run table, re-exported)
    ATTENTION,
    FP32_RUNS,
    KEEPS_WEIGHTS,
    QV,
    RANKS,
    REPLICATED,
    RUNS,
    SCALING,
    SCALING_RANKS,
    SEEDS,
    SWEEP,
    SWEEP_SEEDS,
    seeds_of,
)

SHIPPED = Path(__file__).parent / "data" / "learned"
METRICS = ("exact match", "quotes loss", "held-out loss", "update norm", "intruders")  # every run's `measure`


def config(run_id: str, output_dir: str = "outputs/learned") -> F.FinetuneConfig:
    """The run's FinetuneConfig: the stand-in profile on an fp32 base, with the run's changes."""
    if run_id not in RUNS:
        raise ValueError(f"run_id must be one of {sorted(RUNS)}, got {run_id!r}")
    changes = {"load_in_8bit": False, **RUNS[run_id][1], "output_dir": output_dir}
    return dataclasses.replace(F.PROFILES["stand-in"], **changes)


# Flags FinetuneConfig gained after runs were shipped. Off, they change nothing a run does, so they stay out
# of the key while off: the runs made before them stay current (the family's switches: F.key_fields).
ADDED_OFF = ("load_in_4bit",)
UNKEYED = ("model_name", "output_dir", "save_steps")  # where a run is written, and how often it is saved


def run_key(run_id: str) -> str:
    return config_key(config(run_id))


def config_key(cfg: F.FinetuneConfig) -> str:
    """Hash of what makes a stand-in run: its configuration, less UNKEYED, and the stand-in's recipe."""
    skip = (*UNKEYED, *(k for k in ADDED_OFF if not getattr(cfg, k)))
    fields = {k: v for k, v in F.key_fields(cfg).items() if k not in skip}
    text = json.dumps(fields, sort_keys=True, default=list) + standin.recipe_key(standin.RECIPE)
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
    measure_missing(dest, run_ids)
    return todo


def _decisive(base, delta, tokenizer, batch, heldout) -> dict:
    """Full fine-tuning's ΔW cut to each rank, and applied by parts (`lorabook.truncation`)."""
    return {
        "truncated": truncation.by_rank(base, delta, tokenizer, batch, heldout),
        "parts": truncation.by_part(base, delta, tokenizer, batch, heldout),
    }


def measure_missing(dest: Path = SHIPPED, run_ids=None) -> list[str]:
    """Add `metrics` to the record of each run in `dest` made before runs recorded them, measured from its
    weights (and for full fine-tuning the truncation test). The run's key stays: what it trained is unchanged.
    Returns the ids it measured."""
    done = []
    for run_id in run_ids or RUNS:
        record = info(run_id, dest) if (Path(dest) / run_id / "run.json").is_file() else None
        wanted = (*METRICS, "amplification") if record and record["config"]["method"] == "lora" else METRICS
        measured = record is not None and all(k in record.get("metrics", {}) for k in wanted)
        if record is None or measured or run_id not in KEEPS_WEIGHTS:
            continue
        base, tokenizer = standin.load()
        batch, heldout = F.quotes_batch(tokenizer), F.heldout_sample(tokenizer)
        model = load(run_id, base, dest)
        metrics = measure(model, deltas(run_id, model, dest), base, tokenizer, batch, heldout)
        if record["config"]["method"] == "full":
            from safetensors.torch import load_file

            delta = {k: v.float() for k, v in load_file(Path(dest) / run_id / "delta.safetensors").items()}
            metrics.update(_decisive(base, delta, tokenizer, batch, heldout))
        files.write_json_atomic(Path(dest) / run_id / "run.json", {**record, "metrics": metrics})
        done.append(run_id)
    return done


def _train(run_id: str, tmp: Path, progress: bool) -> Path:
    cfg = config(run_id, output_dir=str(tmp / "out"))
    cfg = dataclasses.replace(cfg, save_steps=cfg.max_steps)  # one run is the unit of resumption
    model, _, result = F.run(cfg, overwrite=True, progress=progress)
    folder = tmp / "run"
    folder.mkdir()
    base, tokenizer = standin.load()
    if cfg.method == "full":
        w0 = base.state_dict()
        delta = {
            k: (v - w0[k]).contiguous()
            for k, v in model.state_dict().items()
            if k != "lm_head.weight" or not model.config.tie_word_embeddings
        }
        changed = {short_name(k): v for k, v in delta.items() if truncation.is_matrix(k)}
        if run_id in KEEPS_WEIGHTS:
            from safetensors.torch import save_file

            save_file({k: v.to(torch.float16) for k, v in delta.items()}, folder / "delta.safetensors")
    else:
        changed = lora_deltas(model)
        if run_id in KEEPS_WEIGHTS:
            saved = F.saved_dir(cfg)
            for name in ("adapter_model.safetensors", "adapter_config.json"):
                shutil.copy(saved / name, folder / name)
            adapter_config = files.read_json(folder / "adapter_config.json")
            adapter_config["base_model_name_or_path"] = "lorabook/data/standin"  # not this machine's path
            (folder / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2) + "\n")
    batch, heldout = F.quotes_batch(tokenizer), F.heldout_sample(tokenizer)
    metrics = measure(model, changed, base, tokenizer, batch, heldout)
    if cfg.method == "full":  # the decisive test of the low-rank claim, at this seed
        metrics.update(_decisive(base, delta, tokenizer, batch, heldout))
    log = result["log_history"]
    record = {
        "id": run_id,
        "label": RUNS[run_id][0],
        "key": run_key(run_id),
        "config": {k: v for k, v in result["config"].items() if k not in ("model_name", "output_dir")},
        "losses": [h["loss"] for h in log if "loss" in h],
        "train_seconds": result["train_seconds"],
        "trainable": result["trainable"][0],
        "metrics": metrics,  # measured as it was made (`truncation.measure`), with ΔW's norm
        "versions": versions(),
    }
    (folder / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    folder.chmod(0o755)
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder


def measure(model, changed: dict, base, tokenizer, batch, heldout) -> dict:
    """What the chapter compares of a run: quotes reproduced, loss on them and on held-out documentation
    (`truncation.measure`), ‖ΔW‖_F over the matrices it `changed`, and the intruder dimensions it made in
    the query and value projections (Shuttleworth et al.: a top-10 singular vector of W₀ + ΔW whose |cosine|
    with every singular vector of W₀ is below 0.5); for LoRA also the median amplification factor of its
    query and value updates at its own r (Hu et al. §7.3)."""
    out = truncation.measure(model.eval(), tokenizer, batch, heldout)
    out["update norm"] = update_norm(changed)
    qv = {n: d for n, d in changed.items() if n.endswith(QV)}
    w0 = base_weights(base, qv)
    out["intruders"] = sum(intruder_dimensions(w0[n], w0[n] + d.to(w0[n].dtype)) for n, d in qv.items())
    if qv and hasattr(model, "peft_config"):
        r = next(iter(lora_factors(model).values()))[0].shape[0]
        factors = [amplification(d, w0[n], r)["factor"] for n, d in qv.items()]
        out["amplification"] = float(statistics.median(factors))
    return out


def versions() -> dict:
    """The libraries' versions, Python's, and the CPU's vector width, as a shipped run records them."""
    from .real_runs import versions as libraries  # as the real model's runs record them

    # and the kernels' vector width: sums round by it, so runs made on other CPUs drift apart
    return {**libraries(), "python": sys.version.split()[0], "cpu": torch.backends.cpu.get_cpu_capability()}


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
    if run_id not in KEEPS_WEIGHTS:
        msg = f"run_id {run_id!r} keeps only what was measured (info(run_id)['metrics']), not its weights"
        raise ValueError(msg + f"; runs that keep them: {sorted(KEEPS_WEIGHTS)}")
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
    changed = deltas(run_id, model, path)
    out = {
        "label": record["label"],
        **measure(model, changed, base, tokenizer, batch, heldout),
        "final training loss": record["losses"][-1],
        "trainable parameters": record["trainable"],
        "training seconds": record["train_seconds"],
        "r": record["config"]["r"] if record["config"]["method"] == "lora" else None,
        "deltas": changed,
        "factors": lora_factors(model) if record["config"]["method"] == "lora" else {},
    }
    del model
    return out


def main(argv=None) -> int:
    return shipping.main(argv, "lorabook.learned", __doc__, SHIPPED, stale, make)


if __name__ == "__main__":
    raise SystemExit(main())
