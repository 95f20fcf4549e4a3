"""The seed's 8-bit LoRA step, measured on a GPU: OPT-6.7B's shape with random weights (nothing downloaded),
loaded in 8-bit by transformers + bitsandbytes, the seed's LoRA, batch and sequence length (lorabook.seed),
fp16 autocast as the seed's Trainer(fp16=True) runs it. Writes peak allocated memory and tokens/s, with the
estimator's prediction beside them and the provenance (GPU, versions, date), to a JSON file the memory chapter
reads.

    python -m lorabook.gpu_memory                 # on a CUDA machine: writes lorabook/data/opt-6.7b-gpu.json
    python -m lorabook.gpu_memory --size tiny --out x.json   # a smoke test that runs anywhere

Random weights are enough: memory and speed do not depend on the values. The checkpoint is written to a
temporary directory (about 13 GB for OPT-6.7B in fp16) because loading through from_pretrained is the path
that quantizes to 8-bit, as the real fine-tune does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from . import files, models
from .seed import SEED

RESULT = Path(__file__).parent / "data" / "opt-6.7b-gpu.json"
RUNS = ((True, True), (True, False), (False, True))  # (checkpointing, reentrant)
SIZES = {  # configs by name: OPT-6.7B, and the book's tiny OPT for a quick check of the script
    "opt-6.7b": lambda: models.opt_config("opt-6.7b"),
    "tiny": lambda: models.tiny_opt_config(ffn_dim=256, vocab_size=512, max_position_embeddings=256),
}


def load_8bit(config, device: str, seed: int = 0):
    """A random model of `config`, saved and loaded back with BitsAndBytesConfig(load_in_8bit=True)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    with tempfile.TemporaryDirectory() as tmp:
        with torch.device(device):  # initialise on the GPU: seconds, where the CPU takes minutes at 6.7B
            models.random_model(config, seed=seed, dtype=torch.float16).save_pretrained(tmp)
        if device == "cuda":
            torch.cuda.empty_cache()
        return AutoModelForCausalLM.from_pretrained(
            tmp,
            dtype=torch.float16,
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),
            device_map={"": 0 if device == "cuda" else "cpu"},
        )


def measure(
    config,
    batch: int = SEED.per_device_train_batch_size,
    seq: int = SEED.seq,
    steps: int = 5,
    checkpointing: bool = True,
    reentrant: bool = True,
    seed: int = 0,
) -> dict:
    """Peak bytes allocated and tokens/s over `steps` training steps after one warm-up step."""
    from . import finetune, memory, profiling
    from ._checks import check_int

    check_int(steps, "steps", 1)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    cfg = dataclasses.replace(finetune.FinetuneConfig(), gradient_checkpointing=checkpointing)
    model = finetune.lora_model(load_8bit(config, device, seed), cfg, reentrant=reentrant)
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate, fused=True
    )
    scaler = torch.amp.GradScaler(device, enabled=cuda)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, config.vocab_size, (batch, seq), generator=gen).to(device)

    def step():
        with torch.autocast(device, dtype=torch.float16, enabled=cuda):
            loss = model(input_ids=ids, labels=ids).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: kernels chosen, optimizer states allocated
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    if cuda:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:  # the CPU allocator keeps no peak: the profiler's memory events, as in profiling.measure_step
        resident = profiling.model_bytes(model) + profiling.tensor_bytes(
            profiling.optimizer_states(optimizer)
        )
        peak = 0
        for _ in range(steps):
            peak = max(peak, resident + profiling.profiled(step)[1][1])
    seconds = time.perf_counter() - start
    on = dict(device="cuda") if cuda else dict(device="cpu", activation_bytes=4)  # fp32 activations on CPU
    predicted = memory.estimate(
        config,
        "lora-int8",
        batch,
        seq,
        r=cfg.r,
        target_modules=cfg.target_modules,
        checkpointing=checkpointing,
        reentrant=reentrant,
        **on,
    )
    return {
        "batch": batch,
        "seq": seq,
        "steps": steps,
        "gradient_checkpointing": checkpointing,
        "reentrant": reentrant if checkpointing else None,
        "peak_allocated_bytes": int(peak),
        "tokens_per_second": batch * seq * steps / seconds,
        "predicted_peak_bytes": int(predicted.peak),
        "predicted_total_bytes": int(predicted.total),
    }


def provenance() -> dict:
    import bitsandbytes
    import peft
    import transformers

    cuda = torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "device_memory_bytes": torch.cuda.get_device_properties(0).total_memory if cuda else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "bitsandbytes": bitsandbytes.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run(
    size: str = "opt-6.7b",
    batch: int = SEED.per_device_train_batch_size,
    seq: int = SEED.seq,
    steps: int = 5,
    out: Path = RESULT,
) -> dict:
    """Measure with reentrant, with non-reentrant and without checkpointing; write the JSON and return it."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    config = SIZES[size]()
    result = {
        "what": f"8-bit OPT base + LoRA r={SEED.r} on {', '.join(SEED.target_modules)}; fp16 autocast; "
        "fused AdamW; random weights",
        "model": size,
        "provenance": provenance(),
        "runs": [measure(config, batch, seq, steps, ckpt, reentrant) for ckpt, reentrant in RUNS],
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)  # atomic: an interrupted run leaves no half-written file
    return result


def load(path: Path = RESULT) -> dict | None:
    """The committed measurement, or None when no GPU run has been recorded."""
    path = Path(path)
    return files.read_json(path) if path.exists() else None


# Plain text: a glued string is pasted as it is, so Markdown in it would show as raw backticks on the page
NOT_MEASURED = (
    "Measured on a GPU: not yet. No GPU run has been recorded, so the numbers above are predictions only."
)


def summary(result: dict | None) -> tuple[str, list[dict]]:
    """A sentence saying what was measured where (or that nothing was), and one row per run."""
    if result is None:
        return NOT_MEASURED, []
    p = result["provenance"]
    status = (
        f"Measured on a GPU: {p['device']}, torch {p['torch']}, transformers {p['transformers']}, "
        f"bitsandbytes {p['bitsandbytes']}, on {p['date'][:10]}. The table below is that run."
    )
    rows = [
        {
            "checkpointing": {True: "reentrant", False: "non-reentrant", None: "off"}[r["reentrant"]],
            "peak allocated (GB)": r["peak_allocated_bytes"] / 1e9,
            "predicted peak (GB)": r["predicted_peak_bytes"] / 1e9,
            "predicted ÷ measured": r["predicted_peak_bytes"] / r["peak_allocated_bytes"],
            "tokens/s": r["tokens_per_second"],
        }
        for r in result["runs"]
    ]
    return status, rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lorabook.gpu_memory", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--size", default="opt-6.7b", choices=sorted(SIZES))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    if args.size == "opt-6.7b" and not torch.cuda.is_available():
        parser.error("--size opt-6.7b needs a CUDA GPU (about 10 GB); use --size tiny to try the script here")
    result = run(args.size, args.batch, args.seq, args.steps, args.out)
    for r in result["runs"]:
        mb, predicted = r["peak_allocated_bytes"] / 1e6, r["predicted_peak_bytes"] / 1e6
        print(
            f"checkpointing={r['gradient_checkpointing']} reentrant={r['reentrant']}: "
            f"peak {mb:,.1f} MB (predicted {predicted:,.1f}), "
            f"{r['tokens_per_second']:,.0f} tokens/s"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
