"""The seed's recipe on a real model: SmolLM2-135M-Instruct in 8-bit, LoRA on q and v, over several seeds.

Each run is the fine-tune's pipeline (`lorabook.finetune.run`, profile `smollm2`) with one seed, and then the
same measurements: exact match on the nineteen quotes, the completions of `PROMPTS`, the loss on the quotes
and on held-out text the model was not tuned on (Python's documentation, as for the stand-in). Full
fine-tuning of the same model (fp32, every weight) is run beside it at a rate of its own.

One LoRA run takes about a minute on two cores, so the real-model chapter trains one seed while the book
builds, and reads the others from `lorabook/data/smollm2/`, made by

    python -m lorabook.real_runs      # what `make real` runs: the runs that are missing or stale

Each run's file, `<run id>.json`, carries a `key`: a hash of its configuration, of the model file and of the
versions of the libraries that compute it. A test fails while a shipped key differs from today's; the
chapter's live run of seed 0 is compared with the shipped one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from pathlib import Path

import torch

from . import files, memo, shipping, smollm2
from . import finetune as F
from ._threads import threads
from .finetune.scoring import exact_match, heldout_sample, quotes_batch, quotes_loss
from .seed import SEED
from .spread import described, spread  # noqa: F401  (the chapter reads them here)

SHIPPED = Path(__file__).parent / "data" / "smollm2"
SEEDS = (0, 1, 2, 3, 4)
FULL_SEEDS = (0, 1, 2)
FULL_LR = (
    3e-5  # full fine-tuning's one rate, far below LoRA's: it moves every weight (not swept; see the chapter)
)
# the seed's prompt, then prompts the quotes do not start with: what the fine-tune does to other text
PROMPTS = (SEED.prompt, "The best way to learn a language is", "My favourite food is")
HELDOUT_EVERY = 15  # every 15th held-out window of 128 tokens: 20 windows (LLM.int8() on a CPU is slow)
THREADS = 2  # sums in parallel depend on the thread count: fixed, so that a run repeats the shipped one


RATES = (2e-4, 5e-4, 1e-3)  # LoRA at smaller rates (seed 0): the seed's own 2e-4, and two between


def _runs() -> dict[str, dict]:
    """run id → what the run changes: its method, seed and, for the rate runs, learning rate."""
    runs = {f"lora-seed{s}": dict(method="lora", seed=s) for s in SEEDS}
    runs |= {f"lora-lr{lr:.0e}-seed0": dict(method="lora", seed=0, learning_rate=lr) for lr in RATES}
    runs |= {f"full-seed{s}": dict(method="full", seed=s) for s in FULL_SEEDS}
    return runs


RUNS = _runs()


def config(rid: str, output_dir: str = "outputs/smollm2") -> F.FinetuneConfig:
    """The run's FinetuneConfig: the smollm2 profile with the run's seed (and rate); for full fine-tuning,
    every weight in fp32 at FULL_LR."""
    if rid not in RUNS:
        raise ValueError(f"run id must be one of {sorted(RUNS)}, got {rid!r}")
    changes = dict(RUNS[rid], output_dir=output_dir, save_steps=10_000)  # no checkpoint: a run is a minute
    if changes["method"] == "full":
        changes.update(load_in_8bit=False, learning_rate=FULL_LR)
    return dataclasses.replace(F.PROFILES["smollm2"], **changes)


def versions() -> dict:
    import bitsandbytes
    import peft
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "bitsandbytes": bitsandbytes.__version__,
    }


def run_key(rid: str) -> str:
    return config_key(config(rid))


def config_key(cfg: F.FinetuneConfig) -> str:
    """Hash of what makes a run: its configuration, the model file, the measurements and the versions."""
    return measured_key(cfg={k: v for k, v in F.key_fields(cfg).items() if k not in ("output_dir",)})


def measured_key(**what) -> str:
    """16 hex digits of sha256 over `what`, the model file, the prompts, the held-out stride and the versions:
    everything a measurement of SmolLM2 here depends on."""
    what |= dict(sha=smollm2.SHA256, prompts=PROMPTS, every=HELDOUT_EVERY, versions=versions())
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=list).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- measuring a model


def evaluate(model, tokenizer) -> dict:
    """What the chapter compares before and after: exact match, completions, quotes and held-out loss."""
    quotes = F.load_quotes(F.PROFILES["smollm2"])["quote"]
    _, rows = exact_match(model, tokenizer, quotes)
    return {
        "exact_match": sum(r["match"] for r in rows),
        "rows": rows,
        "completions": {
            p: F.generate(model, tokenizer, p, F.PROFILES["smollm2"].max_new_tokens) for p in PROMPTS
        },
        "quotes_loss": quotes_loss(model, quotes_batch(tokenizer)),
        "heldout_loss": heldout_loss(model, tokenizer),
    }


def before(precision: str = "int8") -> dict:
    """`evaluate` of the model before any fine-tune, loaded in `precision`: int8 is where the LoRA runs start,
    fp32 where full fine-tuning starts. On THREADS threads, and remembered for this version of the library as
    make_run's runs are (the test of the chapter's baseline and the chapter measure it once between them)."""
    if precision not in ("int8", "fp32"):
        raise ValueError(f"precision must be 'int8' or 'fp32', got {precision!r}")
    key = measured_key(threads=THREADS)
    return memo.remembered(f"real-before-{precision}", key, lambda: _evaluated(precision))


def _evaluated(precision: str) -> dict:
    with threads(THREADS):
        return evaluate(smollm2.load(precision), smollm2.load_tokenizer())


@torch.no_grad()
def heldout_loss(model, tokenizer) -> float:
    """Mean loss on text the model was not tuned on: every HELDOUT_EVERY-th window of Python's docs."""
    heldout = heldout_sample(tokenizer, HELDOUT_EVERY)
    return model(input_ids=heldout, labels=heldout).loss.item()


def make_run(rid: str, output_dir: str | None = None) -> dict:
    """Train one run (`lora-seed0`, `full-seed1`, …) and measure it. Returns what run.json holds.

    Without an output_dir the adapter is thrown away and the result is remembered for this version of the
    library (`lorabook.memo`): the test that checks seed 0 against the shipped run and chapter 8b, which shows
    it, then train it once between them."""
    if output_dir is None:
        return memo.remembered(f"real-run-{rid}", run_key(rid), lambda: _made(rid, None))
    return _made(rid, output_dir)


def _made(rid: str, output_dir: str | None) -> dict:
    with threads(THREADS), tempfile.TemporaryDirectory() as tmp:
        cfg = config(rid, output_dir or tmp)
        start = time.perf_counter()
        model, tokenizer, result = F.run(cfg, overwrite=True, progress=False)
        seconds = time.perf_counter() - start
        measured = evaluate(model, tokenizer)
    return {
        "id": rid,
        "key": run_key(rid),
        "seed": cfg.seed,
        "method": cfg.method,
        "learning_rate": cfg.learning_rate,
        "losses": [h["loss"] for h in result["log_history"] if "loss" in h],
        "train_seconds": result["train_seconds"],
        "run_seconds": seconds,
        "threads": THREADS,
        "trainable": result["trainable"][0],
        "saved_bytes": sum(v for k, v in result["adapter_files"].items() if k.endswith(".safetensors")),
        **measured,
    }


def info(rid: str, path: Path = SHIPPED) -> dict:
    return files.read_json(Path(path) / f"{rid}.json")


def is_current(rid: str, path: Path = SHIPPED) -> bool:
    file = Path(path) / f"{rid}.json"
    return file.is_file() and info(rid, path).get("key") == run_key(rid)


def stale(path: Path = SHIPPED) -> list[str]:
    return [rid for rid in RUNS if not is_current(rid, path)]


def make(dest: Path = SHIPPED, ids=None, progress: bool = True) -> list[str]:
    """Train each run that is missing or stale in `dest`; each file is written whole, after its run."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    todo = [rid for rid in (ids or RUNS) if not is_current(rid, dest)]
    for rid in tqdm(todo, desc="SmolLM2 runs", disable=not progress):
        out = make_run(rid)
        tmp = dest / f".{rid}.json.partial"
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        tmp.rename(dest / f"{rid}.json")  # a killed run leaves no half file: the next call trains it again
    return todo


def shipped(method: str = "lora", path: Path = SHIPPED) -> list[dict]:
    """The shipped runs of `method` at the profile's rate (full fine-tuning: FULL_LR), one per seed."""
    return [info(rid, path) for rid in RUNS if rid.startswith(f"{method}-seed")]


def rate_runs(path: Path = SHIPPED) -> list[dict]:
    """LoRA on seed 0 at each rate: the RATES runs and the profile's own, by rate."""
    ids = [f"lora-lr{lr:.0e}-seed0" for lr in RATES] + ["lora-seed0"]
    return sorted((info(rid, path) for rid in ids), key=lambda r: r["learning_rate"])


PEP20_PATTERN = "better than"  # eight of the nineteen quotes turn on it


def uses_pattern(run: dict, prompts) -> bool:
    """Whether a run completes any of `prompts` with PEP 20's pattern (the words PEP20_PATTERN)."""
    return any(PEP20_PATTERN in continuation(p, run["completions"][p]) for p in prompts)


def continuation(prompt: str, completion: str) -> str:
    """What the model added to `prompt`, on one line ("–" for nothing)."""
    added = " ".join(completion[len(prompt) :].split())
    return added or "–"


def stopped(tokenizer, prompt: str, completion: str) -> bool:
    """Whether a greedy completion ended before the profile's token limit: the model emitted its end token."""
    new = tokenizer(completion[len(prompt) :], add_special_tokens=False)["input_ids"]
    return len(new) < F.PROFILES["smollm2"].max_new_tokens


def main(argv=None) -> int:
    return shipping.main(argv, "lorabook.real_runs", __doc__, SHIPPED, stale, make)


if __name__ == "__main__":
    raise SystemExit(main())
