"""The fine-tunes of the stand-in that "What LoRA learned" compares: one table of runs, by id.

Every run is the stand-in profile of `lorabook.finetune` on an fp32 base, with the changes listed here.
The runs of seed 42 (the seed article's) keep what they trained, so the chapter measures them from their
weights; their replicates at other seeds, and the learning-rate sweep, keep only what was measured when they
were made (`metrics` in their record), which keeps the shipped folder small.
"""

from __future__ import annotations

from . import finetune as F

QV = ("q_proj", "v_proj")
ATTENTION = ("q_proj", "k_proj", "v_proj", "out_proj")
RANKS = (1, 2, 4, 8, 16, 64)  # the rank ablation, on q and v with α = 2r as the seed's r = 16, α = 32
SCALING_RANKS = (4, 16, 64)  # the scaling comparison: α/r against α/√r, both equal to the seed's at r = 16
SEED_ALPHA = F.PROFILES["stand-in"].lora_alpha  # 32
SEED_R = F.PROFILES["stand-in"].r  # 16
SEEDS = (42, 0, 1)  # the seed article's 42 first; every comparison that concludes uses all three
SWEEP_SEEDS = SEEDS[:2]


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

# Every run of seed 42 that a comparison concludes from (all but the smaller rates), at the other seeds.
REPLICATED = tuple(i for i in RUNS if "-lr" not in i)
KEEPS_WEIGHTS = (*RUNS, "qv-r64-seed0")  # seed 42's runs, and the replicate that φ across seeds reads
for _id in REPLICATED:
    for _seed in SEEDS[1:]:
        _label, _changes = RUNS[_id]
        RUNS[f"{_id}-seed{_seed}"] = (f"{_label}, seed {_seed}", dict(_changes, seed=_seed))


def seeds_of(run_id: str) -> list[str]:
    """The run and its replicates at the other seeds, seed 42's first."""
    return [run_id, *(f"{run_id}-seed{s}" for s in SEEDS[1:])]


# The learning-rate sweep: each method at 200 steps (the seed's), its rates on a half-decade grid around
# where it learns, at two seeds. Rates that match a run above reuse it.
SWEEP_METHODS = {
    "full": dict(method="full"),
    "LoRA q,v r=16": dict(),
    "LoRA all linear r=16": dict(target_modules=F.ALL_LINEAR),
}
SWEEP_RATES = {
    "full": (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3),
    "LoRA q,v r=16": (1e-3, 3e-3, F.STANDIN_LR, 1e-2, 3e-2, 1e-1),
    "LoRA all linear r=16": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
}
_SHORT = {"full": "full", "LoRA q,v r=16": "qv", "LoRA all linear r=16": "all"}


def _lora_form(method: str, run: dict) -> dict:
    """The q,v sweep's changes as the rank ablation writes them (r, α, targets; no rate if the seed's)."""
    if method != "LoRA q,v r=16":
        return run
    kept = {k: v for k, v in run.items() if (k, v) != ("learning_rate", F.STANDIN_LR)}
    return {**_rank_run(SEED_R), **kept}


def _same(changes: dict):
    """The id of a run above with exactly these changes, if there is one."""
    for run_id, (_, known) in RUNS.items():
        if known == changes:
            return run_id
    return None


SWEEP: dict[str, dict[float, list[str]]] = {}  # method → rate → run ids, one per seed
for _method, _changes in SWEEP_METHODS.items():
    SWEEP[_method] = {}
    for _lr in SWEEP_RATES[_method]:
        SWEEP[_method][_lr] = []
        for _seed in SWEEP_SEEDS:
            _run = dict(_changes, learning_rate=_lr, **({} if _seed == 42 else {"seed": _seed}))
            _found = _same(_run) or _same(_lora_form(_method, _run))
            if _found is None:
                _found = f"sweep-{_SHORT[_method]}-lr{_lr:.0e}" + ("" if _seed == 42 else f"-seed{_seed}")
                RUNS[_found] = (f"{_method}, lr {_lr:.0e}, seed {_seed}", _run)
            SWEEP[_method][_lr].append(_found)

QUANTIZED = ("qv-r16-int8", "qv-r16-nf4")  # the runs on an int8 or NF4 base; the others share the fp32 W₀
FP32_RUNS = tuple(i for i in KEEPS_WEIGHTS if i not in QUANTIZED)  # the runs the chapter loads and measures

SCALING = {  # the scaling comparison's runs by rule and r; the seed's own run is the shared point at r = 16
    "α/r": {r: "qv-r16" if r == SEED_R else f"alpha32-r{r}" for r in SCALING_RANKS},
    "α/√r": {r: "qv-r16" if r == SEED_R else f"rslora-r{r}" for r in SCALING_RANKS},
    "α = 2r": {r: f"qv-r{r}" for r in SCALING_RANKS},
}
