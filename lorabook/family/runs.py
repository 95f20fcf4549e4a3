"""LoRA's family on one task: the seed's q,v fine-tune, one switch changed per variant, on two models.

On the stand-in, every run is "What LoRA learned"'s `qv-r16` (the stand-in profile on an fp32 base: r = 16,
α = 32, q and v, 200 steps at the stand-in's rate, lorabook.learned) with one peft switch flipped, at that
chapter's seeds; LoRA itself is that chapter's runs, read from its shipped records. On SmolLM2-135M, every run
is the `smollm2` profile of the fine-tune (40 steps at its rate, lorabook.real_runs) on an fp32 base, since
PiSSA and OLoRA rewrite the base weight, at seeds 0, 1 and 2, LoRA included. Nothing else is changed: the
comparison is what each flag does to the recipe a practitioner already has, at equal steps. A rate tuned for
LoRA favours LoRA, so on the stand-in each variant is also swept over SWEEP_RATES at two seeds, and trained at
its best rate (lorabook.family.compare.best_rate) at the third.

Training them takes about 50 minutes on two cores, so they ship in `lorabook/data/family/<model>/`:

    python -m lorabook.family.runs      # what `make family` runs: the runs that are missing or stale

Each `<variant>-seed<seed>.json` (`<variant>-lr<rate>-seed<seed>.json` for another rate) holds the run's
configuration, its training losses, its trainable parameters and what was measured when it was made (quotes
reproduced, loss on the quotes and on held-out text), with a `key` that hashes the configuration and the model
(the stand-in's recipe, or the real model's file and the libraries' versions); a test fails while a key
differs from today's. `timing.json` holds the time of one training step of each variant on the stand-in,
measured interleaved (lorabook.family.compare).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from .. import files, learned, real_runs, shipping, truncation
from .. import finetune as F
from .._threads import threads
from ..learned_runs import SEEDS as LEARNED_SEEDS
from ..learned_runs import seeds_of

SHIPPED = Path(__file__).parent.parent / "data" / "family"
LORA_RUN = "qv-r16"  # the seed's adapter in "What LoRA learned": the stand-in's baseline
LORAPLUS_RATIO = 16.0  # Hayou et al.'s recommended λ = 2⁴ for decoder models
VERA_R = 256  # VeRA's shared rank: peft's default, and the stand-in's width (Kopiczko et al. use 256 to 1024)
MODELS = ("stand-in", "smollm2")
SEEDS = {"stand-in": LEARNED_SEEDS, "smollm2": (0, 1, 2)}
METRICS = ("exact match", "quotes loss", "held-out loss")
# Each variant's learning rate, swept on the stand-in at two seeds around LoRA's (the stand-in profile's 7e-3,
# tuned for LoRA), on the half-decade grid "What LoRA learned" sweeps LoRA on; the best rate of each then gets
# the third seed (lorabook.family.compare.best_rate).
SWEEP_RATES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
SWEEP_SEEDS = LEARNED_SEEDS[:2]

# variant → (label, what it changes in the model's LoRA run)
VARIANTS: dict[str, tuple[str, dict]] = {
    "lora": ("LoRA", {}),
    "rslora": ("rsLoRA", dict(use_rslora=True)),
    "dora": ("DoRA", dict(use_dora=True)),
    "pissa": ("PiSSA", dict(init_lora_weights="pissa")),
    "olora": ("OLoRA", dict(init_lora_weights="olora")),
    "loraplus": ("LoRA+", dict(loraplus_lr_ratio=LORAPLUS_RATIO)),
    "vera": ("VeRA", dict(method="vera", r=VERA_R)),
}
TRAINED = tuple(v for v in VARIANTS if v != "lora")  # on the stand-in: LoRA's runs are lorabook.learned's


def config(variant: str, seed: int, model: str = "stand-in", output_dir: str = "outputs/family", lr=None):
    """The run's FinetuneConfig: the model's LoRA run at `seed`, with the variant's switch (and rate `lr`)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if seed not in SEEDS[model]:
        raise ValueError(f"seed must be one of {SEEDS[model]} for {model}, got {seed!r}")
    if model == "stand-in":
        base = learned.config(LORA_RUN, output_dir=output_dir)
    else:  # a run is a minute: no checkpoint
        base = dataclasses.replace(
            F.PROFILES["smollm2"], load_in_8bit=False, output_dir=output_dir, save_steps=10_000
        )
    if lr is not None and (model != "stand-in" or lr not in SWEEP_RATES):
        raise ValueError(
            f"lr must be one of {SWEEP_RATES} (swept on the stand-in only), got {lr!r} for {model}"
        )
    rate = {} if lr is None else {"learning_rate": lr}
    return dataclasses.replace(base, seed=seed, **VARIANTS[variant][1], **rate)


def key(cfg: F.FinetuneConfig, model: str) -> str:
    """The run's key: its configuration and the model, as lorabook.learned or lorabook.real_runs hash them."""
    return learned.config_key(cfg) if model == "stand-in" else real_runs.config_key(cfg)


def run_id(variant: str, seed: int, lr=None) -> str:
    return f"{variant}-seed{seed}" if lr is None else f"{variant}-lr{lr:.0e}-seed{seed}"


def from_learned(variant: str, model: str, lr=None) -> bool:
    return model == "stand-in" and variant == "lora" and lr is None


def learned_run(seed: int) -> str:
    """lorabook.learned's id of the stand-in's LoRA run at `seed` (at the first seed, the run itself)."""
    if seed not in LEARNED_SEEDS:
        raise ValueError(f"seed must be one of {LEARNED_SEEDS} for the stand-in, got {seed!r}")
    return dict(zip(LEARNED_SEEDS, seeds_of(LORA_RUN), strict=True))[seed]


def record(variant: str, seed: int, model: str = "stand-in", path: Path = SHIPPED, lr=None) -> dict:
    """The run's record; the stand-in's LoRA at its profile's rate from lorabook.learned, in the same form."""
    if from_learned(variant, model, lr):
        return learned.info(learned_run(seed))
    return files.read_json(Path(path) / model / f"{run_id(variant, seed, lr)}.json")


def is_current(variant: str, seed: int, model: str = "stand-in", path: Path = SHIPPED, lr=None) -> bool:
    if from_learned(variant, model, lr):
        return learned.is_current(learned_run(seed))
    file = Path(path) / model / f"{run_id(variant, seed, lr)}.json"
    expected = key(config(variant, seed, model, lr=lr), model)
    return file.is_file() and files.read_json(file).get("key") == expected


def wanted(path: Path = SHIPPED) -> list[tuple]:
    """Every run the chapter reads, as (variant, seed, model, lr): the profile's rate at every seed on both
    models, the sweep on the stand-in at SWEEP_SEEDS, and each variant's best rate at its other seeds (known
    once its sweep is made)."""
    from .compare import best_rate

    out = [(v, s, m, None) for m in MODELS for v in VARIANTS for s in SEEDS[m]]
    out += [(v, s, "stand-in", lr) for v in VARIANTS for lr in SWEEP_RATES for s in SWEEP_SEEDS]
    for v in VARIANTS:
        if all(is_current(v, s, "stand-in", path, lr) for lr in SWEEP_RATES for s in SWEEP_SEEDS):
            lr = best_rate(v, path)
            if lr in SWEEP_RATES:  # at the profile's rate every seed is there already
                out += [(v, s, "stand-in", lr) for s in SEEDS["stand-in"] if s not in SWEEP_SEEDS]
    return out


def stale(path: Path = SHIPPED) -> list[str]:
    """The runs missing from `path` or made from another configuration than today's, and the timing if so."""
    from .compare import timing_current

    out = [f"{m}/{run_id(v, s, lr)}" for v, s, m, lr in wanted(path) if not is_current(v, s, m, path, lr)]
    return out if timing_current(path) else [*out, "timing"]


# ---------------------------------------------------------------------------- making the runs


def train(variant: str, seed: int, model: str = "stand-in", progress: bool = True, lr=None) -> dict:
    """Train one run with the fine-tune's pipeline and measure it as the model's chapter measures LoRA."""
    with threads(real_runs.THREADS):  # sums in parallel depend on the thread count: fixed
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config(variant, seed, model, output_dir=tmp, lr=lr)
            cfg = dataclasses.replace(cfg, save_steps=cfg.max_steps)
            trained, tokenizer, result = F.run(cfg, overwrite=True, progress=progress)
        metrics = measure(trained.eval(), tokenizer, model)
    return {
        "id": run_id(variant, seed, lr),
        "label": VARIANTS[variant][0],
        "model": model,
        "key": key(
            config(variant, seed, model, lr=lr), model
        ),  # as `is_current` computes it: save_steps aside
        "config": {k: v for k, v in result["config"].items() if k not in ("model_name", "output_dir")},
        "losses": [h["loss"] for h in result["log_history"] if "loss" in h],
        "train_seconds": result["train_seconds"],
        "trainable": result["trainable"][0],
        "metrics": metrics,
        "versions": learned.versions(),
    }


def measure(model, tokenizer, which: str) -> dict:
    """Quotes reproduced, loss on the quotes and on held-out text: lorabook.truncation's measure on the
    stand-in, lorabook.real_runs' on SmolLM2 (with the completions of its prompts)."""
    if which == "stand-in":
        return truncation.measure(model, tokenizer, F.quotes_batch(tokenizer), F.heldout_sample(tokenizer))
    found = real_runs.evaluate(model, tokenizer)
    return {
        "exact match": found["exact_match"],
        "quotes loss": found["quotes_loss"],
        "held-out loss": found["heldout_loss"],
        "completions": found["completions"],
    }


def make(dest: Path = SHIPPED, progress: bool = True) -> list[str]:
    """Train each run that is missing or stale in `dest` (each file written whole), then the timing. Each
    variant's best rate is known once its sweep is made, so a second pass trains its other seeds there."""
    from .compare import step_times, timing_current

    done = []
    for _ in range(2):
        for variant, seed, model, lr in wanted(dest):
            if not is_current(variant, seed, model, dest, lr):
                file = Path(dest) / model / f"{run_id(variant, seed, lr)}.json"
                file.parent.mkdir(parents=True, exist_ok=True)
                files.write_json_atomic(file, train(variant, seed, model, progress, lr))
                done.append(f"{model}/{run_id(variant, seed, lr)}")
    if not timing_current(dest):
        files.write_json_atomic(Path(dest) / "timing.json", step_times())
        done.append("timing")
    return done


def main(argv=None) -> int:
    return shipping.main(argv, "lorabook.family.runs", __doc__, SHIPPED, stale, make)


if __name__ == "__main__":
    raise SystemExit(main())
