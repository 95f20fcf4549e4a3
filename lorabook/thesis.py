"""The book's thesis tested as a reviewer would: every comparison over seeds, learning rates matched.

`lorabook.learned` ships the runs. The runs of seed 42 keep their weights and the chapter measures them when
it is built (`learned.evaluate`); their replicates at seeds 0 and 1 and the learning-rate sweep keep what
was measured as they were made. This module reads both the same way:

* `measured(run_id, results)`: a run's exact match, losses and ‖ΔW‖, from `results` if measured now;
* `over_seeds(run_id, key, results)`: that measurement's median and range over the run's seeds;
* `truncated(results)`, `parts(results)`: the decisive test (`lorabook.truncation`) at every seed;
* `sweep(method, key)` and `best_rate(method)`: the learning-rate sweep, and each method's best rate:
  the smallest that learns as many quotes as any.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import numpy as np

from . import learned as L
from .spread import apart, described, in_words, spread  # noqa: F401  (the chapter reads them here)

KEYS = L.METRICS  # what `learned.measure` records of every run
OPTIONAL = ("amplification",)  # what it records of LoRA runs only


def measured(run_id: str, results: dict | None = None) -> dict:
    """What a run reproduced and cost: measured now if `results` (from `learned.evaluate`) holds it, else
    as it was when the run was made."""
    row = results[run_id] if results and run_id in results else L.info(run_id)["metrics"]
    return {k: row[k] for k in (*KEYS, *OPTIONAL) if k in row}


def over_seeds(run_id: str, key: str, results: dict | None = None) -> dict:
    """`key` of the run at each of its seeds (seed 42's and the replicates'): median, least, greatest."""
    if key not in (*KEYS, *OPTIONAL):
        raise ValueError(f"key must be one of {(*KEYS, *OPTIONAL)}, got {key!r}")
    return spread(measured(i, results)[key] for i in L.seeds_of(run_id))


def truncated(live: dict[int, dict]) -> list[dict[int, dict]]:
    """The truncation test at each seed of full fine-tuning: `live` (seed 42's, measured now), then the
    replicates' as recorded, each {r: measurements}."""
    rows = [live]
    for run_id in L.seeds_of("full")[1:]:
        rows.append({int(r): m for r, m in L.info(run_id)["metrics"]["truncated"].items()})
    return rows


def parts(live: dict[str, dict]) -> list[dict[str, dict]]:
    """Which parameters carry full fine-tuning's learning, at each seed: `live` first, then the replicates."""
    return [live, *(L.info(i)["metrics"]["parts"] for i in L.seeds_of("full")[1:])]


def across(rows: list[dict], key: str) -> dict:
    """{x: spread of rows[s][x][key] over seeds s}, for rows from `truncated` or `parts`."""
    return {x: spread(row[x][key] for row in rows) for x in rows[0]}


def sweep(method: str, key: str, results: dict | None = None) -> dict[float, dict]:
    """{learning rate: spread over the sweep's seeds of `key`} for one method of `learned.SWEEP`."""
    if method not in L.SWEEP:
        raise ValueError(f"method must be one of {list(L.SWEEP)}, got {method!r}")
    return {lr: spread(measured(i, results)[key] for i in ids) for lr, ids in L.SWEEP[method].items()}


def best_rate(method: str, results: dict | None = None) -> float:
    """The smallest rate of `method` that learns as many quotes as any of its rates (median over seeds).

    On a memorisation task the loss on the training quotes keeps falling as the rate grows, long after every
    quote is learned, so "the lowest loss" would pick the largest rate that does not diverge. Past this rate a
    larger step learns nothing more; it only moves the model further from W₀.
    """
    learned = sweep(method, "exact match", results)
    most = max(s["median"] for s in learned.values())
    return min(lr for lr, s in learned.items() if s["median"] == most)


def at_best(method: str, results: dict | None = None) -> dict[str, dict]:
    """Every measurement of `method` at its best rate, over the sweep's seeds."""
    lr = best_rate(method, results)
    return {k: sweep(method, k, results)[lr] for k in KEYS}


def noise(a: dict, b: dict) -> bool:
    """Whether two settings' spreads overlap, so that the runs cannot tell them apart."""
    return not apart(a, b)


def peft_intruders(model, top: int = 10, threshold: float = 0.5) -> dict[str, int]:
    """Intruder dimensions of each LoRA layer as peft's own detector counts them
    (`peft.tuners.lora.intruders.reduce_intruder_dimension`, Shuttleworth et al.'s definition: a top-`top`
    left singular vector of W₀ + ΔW whose largest |cosine| with any of W₀'s is below `threshold`).

    peft counts on its way to removing them, into a new adapter; this reads its count and leaves `model`'s
    active adapter as it was.
    """
    import copy

    from peft.tuners.lora.intruders import reduce_intruder_dimension

    from .delta import short_name

    counts: dict[str, int] = {}

    def sink(line: str) -> None:
        name, _, what = line.partition(": ")
        if what == "No intruders":
            counts[short_name(name)] = 0
        elif what.startswith("Intruders: "):
            counts[short_name(name)] = int(what.removeprefix("Intruders: "))

    with redirect_stdout(io.StringIO()):
        reduce_intruder_dimension(
            copy.deepcopy(model), top_k=top, threshold_epsilon=threshold, logging_sink=sink
        )
    return counts


def step_times(base, batch, ranks, repeats: int = 9, threads: int = 2) -> dict[int, dict]:
    """Seconds per training step (forward, backward, AdamW) of the q,v adapter at each rank in `ranks`, on the
    stand-in with the nineteen quotes as one batch: timed interleaved (`lorabook.latency`), and reported as
    each rank's per-round ratio to the first rank's time, with the median step seconds of each."""
    import copy

    import torch

    from . import finetune as F
    from .latency import interleaved_times, ratios

    def step_fn(r: int):
        torch.manual_seed(0)
        model = F.apply_lora(copy.deepcopy(base), L.config(f"qv-r{r}")).train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)

        def step():
            opt.zero_grad()
            model(**batch).loss.backward()
            opt.step()

        return step

    times = interleaved_times({r: step_fn(r) for r in ranks}, repeats=repeats, warmup=2, threads=threads)
    out = ratios(times, base=ranks[0])
    for r in ranks:
        out[r]["seconds"] = float(np.median(times[r]))
    return out
