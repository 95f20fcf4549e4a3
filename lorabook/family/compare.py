"""LoRA's family compared: what the shipped runs (lorabook.family.runs) say over seeds; the time of a step.

A measurement over seeds is a spread (lorabook.spread: median, least, greatest). One variant differs from
LoRA only where its range lies wholly above or below LoRA's (`against`); otherwise these runs cannot tell the
two apart, and the chapter calls the difference noise.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from pathlib import Path

import torch

from .. import files, standin
from .. import finetune as F
from ..spread import spread
from .runs import METRICS, SEEDS, SHIPPED, SWEEP_RATES, SWEEP_SEEDS, VARIANTS, config, record

# ---------------------------------------------------------------------------- the time of a step

ROUNDS, WARMUP, THREADS = 60, 3, 2


def timing_key(rounds: int = ROUNDS) -> str:
    cfgs = [F.key_fields(config(v, SEEDS["stand-in"][0])) for v in VARIANTS]
    what = json.dumps(
        [cfgs, rounds, WARMUP, THREADS, "shuffled, with a control", standin.recipe_key(standin.RECIPE)],
        default=list,
    )
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def timing_current(path: Path = SHIPPED) -> bool:
    file = Path(path) / "timing.json"
    return file.is_file() and files.read_json(file).get("key") == timing_key()


CONTROL = "lora (control)"  # a second LoRA model timed beside the first: the measurement's own bias and noise


def step_times(rounds: int = ROUNDS, variants=tuple(VARIANTS)) -> dict:
    """Seconds of one optimizer step (forward, backward, update on the 19 quotes) of each variant on the
    stand-in, on a CPU, measured interleaved: every round times each variant once, in an order shuffled each
    round (seeded), after WARMUP rounds untimed, on THREADS threads. A second LoRA model, CONTROL, is timed
    like the others: its ratio to LoRA shows what the measurement alone makes of two identical models. The
    ratio to LoRA is taken within each round (`ratios`), so a slow moment of the machine slows both sides."""
    import random

    torch.set_num_threads(THREADS)
    _, tokenizer = standin.load()
    batch = F.quotes_batch(tokenizer)
    with F.bars(False):
        steps = {v: _stepper(v) for v in variants}
        steps[CONTROL] = _stepper("lora")
    seconds = {v: [] for v in steps}
    shuffle = random.Random(0)
    for i in range(WARMUP + rounds):
        for v in shuffle.sample(list(steps), len(steps)):
            start = time.perf_counter()
            steps[v](batch)
            if i >= WARMUP:
                seconds[v].append(time.perf_counter() - start)
    return {
        "key": timing_key(rounds),
        "rounds": rounds,
        "threads": THREADS,
        "seconds": seconds,
        "cpu": torch.backends.cpu.get_cpu_capability(),
    }


def _stepper(variant: str):
    """One training step of the variant's model as the Trainer takes it: AdamW (LoRA+'s where it is set,
    no weight decay), gradients clipped to norm 1, dropout on."""
    from transformers import set_seed

    cfg = F.resolve(config(variant, SEEDS["stand-in"][0]), progress=False)
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


def timing(path: Path = SHIPPED) -> dict:
    """The shipped step times (`step_times`)."""
    return files.read_json(Path(path) / "timing.json")


# ---------------------------------------------------------------------------- what the chapter reads


def summary(model: str = "stand-in", path: Path = SHIPPED, rates: dict | None = None) -> dict[str, dict]:
    """Per variant, over the model's seeds: trainable parameters, the spread of quotes reproduced, final
    training loss, loss on the quotes and held-out loss; on the stand-in at the profile's rate, the step-time
    ratio to LoRA. `rates` maps a variant to the rate to read it at (`best_rates`); absent, the profile's."""
    rates = rates or {}
    out = {}
    for variant, (label, _) in VARIANTS.items():
        lr = rates.get(variant)
        runs = [record(variant, s, model, path, lr) for s in SEEDS[model]]
        trainable = {r["trainable"] for r in runs}
        if len(trainable) != 1:
            raise ValueError(f"{variant}: its seeds trained different parameter counts {sorted(trainable)}")
        out[variant] = {
            "label": label,
            "trainable": trainable.pop(),
            "learning rate": runs[0]["config"]["learning_rate"],
            **{m: spread(r["metrics"][m] for r in runs) for m in METRICS},
            "final loss": spread(r["losses"][-1] for r in runs),
        }
    if model == "stand-in" and not rates:
        steps = timing(path)
        for variant, row in out.items():
            row["step time"] = ratios(steps, variant)
            row["step seconds"] = statistics.median(steps["seconds"][variant])
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


def curves(variant: str, model: str = "stand-in", path: Path = SHIPPED) -> list[list[float]]:
    """The training loss of each step, one list per seed (in SEEDS[model]'s order)."""
    return [record(variant, s, model, path)["losses"] for s in SEEDS[model]]


def table(summary: dict[str, dict], n_quotes: int, rate: bool = False):
    """The chapter's table: a row per variant, its trainable parameters (or, with `rate`, the learning rate it
    was read at) and each spread as "median [range]"."""
    import pandas as pd

    from ..spread import described

    if rate:
        first = ("learning rate", lambda s: f"{s['learning rate']:g}")
    else:
        first = ("trainable parameters", lambda s: s["trainable"])
    columns = {
        first[0]: first[1],
        f"quotes reproduced (of {n_quotes})": lambda s: described(s["exact match"]),
        "final training loss": lambda s: described(s["final loss"]),
        "held-out loss": lambda s: described(s["held-out loss"]),
        "step time ÷ LoRA's": lambda s: described(s["step time"]) if "step time" in s else None,
    }
    frame = pd.DataFrame({c: {s["label"]: get(s) for s in summary.values()} for c, get in columns.items()})
    return frame.dropna(axis=1, how="all")


# ---------------------------------------------------------------------------- each variant at its own rate


def sweep(variant: str, path: Path = SHIPPED) -> dict[float, dict]:
    """{rate: {metric: spread over SWEEP_SEEDS}} on the stand-in, the profile's own rate included."""
    base = config(variant, SEEDS["stand-in"][0]).learning_rate
    out = {}
    for lr in sorted((*SWEEP_RATES, base)):
        runs = [record(variant, s, "stand-in", path, None if lr == base else lr) for s in SWEEP_SEEDS]
        out[lr] = {m: spread(r["metrics"][m] for r in runs) for m in METRICS}
    return out


def best_rate(variant: str, path: Path = SHIPPED) -> float:
    """The smallest rate at which the variant learns as many quotes as at any rate (median over
    SWEEP_SEEDS), as "What LoRA learned" picks LoRA's (lorabook.thesis.best_rate); where it learns none at
    any rate, the rate of its lowest loss on the quotes."""
    rows = sweep(variant, path)
    most = max(r["exact match"]["median"] for r in rows.values())
    if most == 0:
        return min(rows, key=lambda lr: rows[lr]["quotes loss"]["median"])
    return min(lr for lr, r in rows.items() if r["exact match"]["median"] == most)


def best_rates(path: Path = SHIPPED) -> dict[str, float | None]:
    """Each variant's `best_rate`, as `summary`'s `rates` (None where it is the profile's own)."""
    base = config("lora", SEEDS["stand-in"][0]).learning_rate
    return {v: (None if (lr := best_rate(v, path)) == base else lr) for v in VARIANTS}


def turning_point(curves: list[list[float]]) -> dict:
    """The lowest point of the median training-loss curve over seeds: {"step" (from 1), "loss"}."""
    median = [statistics.median(losses) for losses in zip(*curves, strict=True)]
    step = min(range(len(median)), key=median.__getitem__)
    return {"step": step + 1, "loss": median[step]}


def training_seconds(path: Path = SHIPPED) -> float:
    """Seconds of training in every run the chapter reads that this chapter makes (LoRA's on the stand-in at
    its profile's rate are "What LoRA learned"'s)."""
    from .runs import from_learned, wanted

    runs = [(v, s, m, lr) for v, s, m, lr in wanted(path) if not from_learned(v, m, lr)]
    return sum(record(v, s, m, path, lr)["train_seconds"] for v, s, m, lr in runs)


def lead(curves: dict[str, list[list[float]]], variant: str) -> int:
    """The last step up to which `variant`'s median training loss is the lowest of all, from step 2 on (at
    step 1 every model without dropout on its adapter computes the same loss); 0 if it never leads."""
    medians = {v: [statistics.median(step) for step in zip(*runs, strict=True)] for v, runs in curves.items()}
    last = 0
    for i in range(1, len(medians[variant])):
        if medians[variant][i] > min(m[i] for m in medians.values()):
            break
        last = i + 1
    return last
