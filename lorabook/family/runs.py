"""LoRA's family on one task: the seed's q,v fine-tune of the stand-in, one switch changed per variant.

Every run is "What LoRA learned"'s `qv-r16` (the stand-in profile on an fp32 base: r = 16, α = 32, q and v,
200 steps at the stand-in's rate, lorabook.learned) with one peft switch flipped, at the seeds of that
chapter. Nothing else is tuned: the comparison is what each flag does to the recipe a practitioner already
has, at equal steps. LoRA itself is that chapter's runs, read from its shipped records.

Training the 18 runs and timing a step take about 7 minutes on two cores, so they ship in
`lorabook/data/family/`:

    python -m lorabook.family.runs      # what `make family` runs: the runs that are missing or stale

Each `<variant>-seed<seed>.json` holds the run's configuration, its training losses, its trainable parameters
and what `truncation.measure` found when it was made, with a `key` that hashes the configuration and the
stand-in's recipe; a test fails while a key differs from today's. `timing.json` holds the time of one training
step of each variant, measured interleaved (`step_times`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import statistics
import time
from pathlib import Path

import torch

from .. import files, learned, shipping, standin, truncation
from .. import finetune as F
from ..learned_runs import SEEDS
from ..spread import spread

SHIPPED = Path(__file__).parent.parent / "data" / "family"
LORA_RUN = "qv-r16"  # the seed's adapter in "What LoRA learned": the baseline every variant changes
LORAPLUS_RATIO = 16.0  # Hayou et al.'s recommended λ = 2⁴ for decoder models
VERA_R = 256  # VeRA's shared rank: peft's default, and the stand-in's width (Kopiczko et al. use 256 to 1024)

# variant → (label, what it changes in LORA_RUN's configuration)
VARIANTS: dict[str, tuple[str, dict]] = {
    "lora": ("LoRA", {}),
    "rslora": ("rsLoRA", dict(use_rslora=True)),
    "dora": ("DoRA", dict(use_dora=True)),
    "pissa": ("PiSSA", dict(init_lora_weights="pissa")),
    "olora": ("OLoRA", dict(init_lora_weights="olora")),
    "loraplus": ("LoRA+", dict(loraplus_lr_ratio=LORAPLUS_RATIO)),
    "vera": ("VeRA", dict(method="vera", r=VERA_R)),
}
TRAINED = tuple(v for v in VARIANTS if v != "lora")  # LoRA's runs are lorabook.learned's


def config(variant: str, seed: int, output_dir: str = "outputs/family") -> F.FinetuneConfig:
    """The run's FinetuneConfig: LORA_RUN's at `seed`, with the variant's switch."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    if seed not in SEEDS:
        raise ValueError(f"seed must be one of {SEEDS}, got {seed!r}")
    base = learned.config(LORA_RUN, output_dir=output_dir)
    return dataclasses.replace(base, seed=seed, **VARIANTS[variant][1])


def run_id(variant: str, seed: int) -> str:
    return f"{variant}-seed{seed}"


def record(variant: str, seed: int, path: Path = SHIPPED) -> dict:
    """The run's record; LoRA's from lorabook.learned, in the same form."""
    if variant == "lora":
        rid = LORA_RUN if seed == SEEDS[0] else f"{LORA_RUN}-seed{seed}"
        return learned.info(rid)
    return files.read_json(Path(path) / f"{run_id(variant, seed)}.json")


def is_current(variant: str, seed: int, path: Path = SHIPPED) -> bool:
    if variant == "lora":
        return learned.is_current(LORA_RUN if seed == SEEDS[0] else f"{LORA_RUN}-seed{seed}")
    file = Path(path) / f"{run_id(variant, seed)}.json"
    return file.is_file() and files.read_json(file).get("key") == learned.config_key(config(variant, seed))


def stale(path: Path = SHIPPED) -> list[str]:
    """The runs missing from `path` or made from another configuration than today's, and the timing if so."""
    out = [run_id(v, s) for v in VARIANTS for s in SEEDS if not is_current(v, s, path)]
    timing = Path(path) / "timing.json"
    if not timing.is_file() or files.read_json(timing).get("key") != timing_key():
        out.append("timing")
    return out


# ---------------------------------------------------------------------------- making the runs


def train(variant: str, seed: int, progress: bool = True) -> dict:
    """Train one run with the fine-tune's pipeline and measure it as "What LoRA learned" measures LoRA."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(variant, seed, output_dir=tmp)
        cfg = dataclasses.replace(cfg, save_steps=cfg.max_steps)
        model, tokenizer, result = F.run(cfg, overwrite=True, progress=progress)
    batch, heldout = F.quotes_batch(tokenizer), F.heldout_sample(tokenizer)
    return {
        "id": run_id(variant, seed),
        "label": VARIANTS[variant][0],
        "key": learned.config_key(cfg),
        "config": {k: v for k, v in result["config"].items() if k not in ("model_name", "output_dir")},
        "losses": [h["loss"] for h in result["log_history"] if "loss" in h],
        "train_seconds": result["train_seconds"],
        "trainable": result["trainable"][0],
        "metrics": truncation.measure(model.eval(), tokenizer, batch, heldout),
        "versions": learned.versions(),
    }


def make(dest: Path = SHIPPED, progress: bool = True) -> list[str]:
    """Train each run that is missing or stale in `dest` (each file written whole), then the timing."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for variant in TRAINED:
        for seed in SEEDS:
            if not is_current(variant, seed, dest):
                files.write_json_atomic(
                    dest / f"{run_id(variant, seed)}.json", train(variant, seed, progress)
                )
                done.append(run_id(variant, seed))
    if "timing" in stale(dest):
        files.write_json_atomic(dest / "timing.json", step_times())
        done.append("timing")
    return done


# ---------------------------------------------------------------------------- the time of a step

ROUNDS, WARMUP, THREADS = 60, 3, 2


def timing_key(rounds: int = ROUNDS) -> str:
    cfgs = [F.key_fields(config(v, SEEDS[0])) for v in VARIANTS]
    what = json.dumps([cfgs, rounds, WARMUP, THREADS, standin.recipe_key(standin.RECIPE)], default=list)
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def step_times(rounds: int = ROUNDS, variants=tuple(VARIANTS)) -> dict:
    """Seconds of one optimizer step (forward, backward, update on the 19 quotes) of each variant, measured
    interleaved: every round times each variant once, in an order rotated each round, after WARMUP rounds
    untimed, on THREADS threads. The ratio to LoRA is taken within each round (`ratios`), so a slow moment of
    the machine slows both sides of it."""
    torch.set_num_threads(THREADS)
    _, tokenizer = standin.load()
    batch = F.quotes_batch(tokenizer)
    with F.bars(False):
        steps = {v: _stepper(v) for v in variants}
    seconds = {v: [] for v in variants}
    for i in range(WARMUP + rounds):
        order = list(variants)[i % len(variants) :] + list(variants)[: i % len(variants)]
        for v in order:
            start = time.perf_counter()
            steps[v](batch)
            if i >= WARMUP:
                seconds[v].append(time.perf_counter() - start)
    return {
        "key": timing_key(rounds),
        "rounds": rounds,
        "threads": THREADS,
        "seconds": seconds,
        "versions": learned.versions(),
    }


def _stepper(variant: str):
    """One training step of the variant's model as the Trainer takes it: AdamW (LoRA+'s where it is set,
    no weight decay), gradients clipped to norm 1, dropout on."""
    from transformers import set_seed

    cfg = F.resolve(config(variant, SEEDS[0]), progress=False)
    set_seed(cfg.seed)
    model = F.trainable_model(cfg).train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = F.optimizer(model, cfg) or torch.optim.AdamW(trained, lr=cfg.learning_rate, weight_decay=0.0)

    def step(batch):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()

    return step


def ratios(timing: dict, variant: str, to: str = "lora") -> dict:
    """The variant's step time over `to`'s within each round: the spread (median, min, max) of the ratios."""
    a, b = timing["seconds"][variant], timing["seconds"][to]
    return spread([x / y for x, y in zip(a, b, strict=True)])


# ---------------------------------------------------------------------------- what the chapter reads


def timing(path: Path = SHIPPED) -> dict:
    """The shipped step times (`step_times`)."""
    return files.read_json(Path(path) / "timing.json")


def summary(path: Path = SHIPPED) -> dict[str, dict]:
    """Per variant, over the seeds: trainable parameters, and the spread of exact match, final training loss,
    loss on the quotes and held-out loss; with the step-time ratio to LoRA."""
    steps = timing(path)
    out = {}
    for variant, (label, _) in VARIANTS.items():
        runs = [record(variant, s, path) for s in SEEDS]
        trainable = {r["trainable"] for r in runs}
        if len(trainable) != 1:
            raise ValueError(f"{variant}: its seeds trained different parameter counts {sorted(trainable)}")
        out[variant] = {
            "label": label,
            "trainable": trainable.pop(),
            **{
                m: spread(r["metrics"][m] for r in runs)
                for m in ("exact match", "quotes loss", "held-out loss")
            },
            "final loss": spread(r["losses"][-1] for r in runs),
            "step time": ratios(steps, variant),
            "step seconds": statistics.median(steps["seconds"][variant]),
        }
    return out


def against(summary: dict[str, dict], metric: str, to: str = "lora") -> dict[str, list[str]]:
    """The variants whose range over seeds of `metric` lies wholly above `to`'s ("above"), wholly below
    ("below"), or overlaps it ("noise": these runs cannot tell them apart), by label."""
    out = {"above": [], "below": [], "noise": []}
    ref = summary[to][metric]
    for variant, row in summary.items():
        if variant != to:
            s = row[metric]
            side = "above" if s["min"] > ref["max"] else "below" if s["max"] < ref["min"] else "noise"
            out[side].append(row["label"])
    return out


def curves(variant: str, path: Path = SHIPPED) -> list[list[float]]:
    """The training loss of each step, one list per seed (SEEDS' order)."""
    return [record(variant, s, path)["losses"] for s in SEEDS]


def main(argv=None) -> int:
    return shipping.main(argv, "lorabook.family.runs", __doc__, SHIPPED, stale, make)


if __name__ == "__main__":
    raise SystemExit(main())
