"""Measuring a training step's memory on the CPU, to check lorabook.memory's estimate component by component.

Weights, gradients and optimizer states are summed tensor by tensor; activations and the step's peak come
from the CPU allocator's events in torch.profiler. training_setup builds the book's fine-tune set-ups with
random weights (memory does not depend on their values), through the fine-tune's own builder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys

import torch

from . import bnb, finetune, models
from .memory import estimate
from .sizes import Estimate, check_workload


def _allocation_timeline(prof) -> tuple[int, int]:
    """(net, peak) bytes allocated over a torch.profiler region, from its memory events in time order."""
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    running = peak = 0
    for e in events:
        running += e.nbytes()
        peak = max(peak, running)
    return running, peak


@contextlib.contextmanager
def _kineto_notices_muted():
    """The process's file descriptor 2 pointed at os.devnull for the block, then restored.

    Kineto, torch.profiler's C++ backend, writes "USDT: ... profiler_start" as a profile starts and
    "... profiler_stop" as it stops, straight to fd 2: below sys.stderr, where neither logging nor
    contextlib.redirect_stderr reaches, and a Jupyter kernel (which captures fd 2) records each line as a
    stderr output. KINETO_LOG_LEVEL is read once per process, at the profiler's first start, and these
    notices rank above its ERROR level, so no setting silences them without silencing kineto's errors too.
    `profiled` holds this only while the profiler starts and stops, never while the profiled code runs;
    another thread's write to fd 2 in that moment is lost.
    """
    if sys.stderr is not None:
        sys.stderr.flush()  # what Python already wrote goes out before fd 2 moves
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profiled(fn):
    """Run fn() under torch.profiler's memory accounting; return its result and the region's (net, peak).
    The profiler's start and stop notices are muted (_kineto_notices_muted); fn's own output is not."""
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with _kineto_notices_muted():
        prof.__enter__()
    try:
        result = fn()
    finally:
        with _kineto_notices_muted():
            prof.__exit__(None, None, None)
    return result, _allocation_timeline(prof)


def tensor_bytes(tensors) -> int:
    """Bytes of the tensors' elements, each storage counted once."""
    storages = {}
    for t in tensors:
        if t is not None:
            storages[t.untyped_storage().data_ptr()] = t.numel() * t.element_size()
    return sum(storages.values())


def model_bytes(model) -> int:
    """Bytes of a model's parameters and buffers, int8 scales (bitsandbytes' SCB) included."""
    import bitsandbytes

    from .bnb import row_scales

    scales = [row_scales(m) for m in model.modules() if isinstance(m, bitsandbytes.nn.Linear8bitLt)]
    return tensor_bytes([*model.parameters(), *model.buffers(), *scales])


def optimizer_states(optimizer) -> list:
    """The optimizer's state tensors (Adam's m and v, 8-bit scales), without the step counters."""
    return [t for s in optimizer.state.values() for k, t in s.items() if torch.is_tensor(t) and k != "step"]


def measure_step(model, optimizer, input_ids) -> dict:
    """Bytes of one training step, measured: weights, gradients and optimizer states by summing tensors;
    activations (what the forward leaves allocated for backward) and the step's peak by the CPU allocator's
    events in torch.profiler. Runs one warm-up step first, so that the optimizer states exist.
    """

    def step():
        model(input_ids=input_ids, labels=input_ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    trainable = [p for p in model.parameters() if p.requires_grad]
    states = optimizer_states(optimizer)
    resident = model_bytes(model) + tensor_bytes(states)
    loss, (forward_net, forward_peak) = profiled(lambda: model(input_ids=input_ids, labels=input_ids).loss)
    _, (backward_net, backward_peak) = profiled(loss.backward)
    gradients = tensor_bytes(p.grad for p in trainable)
    del loss
    _, (_, step_peak) = profiled(optimizer.step)
    optimizer.zero_grad(set_to_none=True)
    return {
        "weights": model_bytes(model),
        "gradients": gradients,
        "optimizer states": tensor_bytes(states),
        "activations": forward_net,
        "peak": resident
        + max(forward_peak, forward_net + backward_peak, forward_net + backward_net + step_peak),
    }


MEASURED_MODES = ("full-fp32", "lora-fp32", "lora-int8")
# How close predicted must be to measured in the tests: every component on a second shape, and the chapter's
# table (the target). The count is exact up to a few small tensors (position ids, the loss's
# scalars), which are far below 1% once a step has a few hundred tokens.
TOLERANCE_EXACT, TOLERANCE = 0.01, 0.10


def training_setup(config, mode: str, checkpointing: bool = False, seed: int = 0, reentrant: bool = True):
    """A model and AdamW for one of MEASURED_MODES, set up as the book's fine-tune sets it up: random weights
    (memory does not depend on their values), the 8-bit base loaded by transformers + bitsandbytes, then the
    fine-tune's own `finetune.lora_model` with the seed's LoRA (lorabook.seed)."""
    if mode not in MEASURED_MODES:
        raise ValueError(f"mode must be one of {list(MEASURED_MODES)}, got {mode!r}")
    model = models.random_model(config, seed=seed)
    if mode == "lora-int8":
        model = bnb.load_in_dtypes(model, ("int8",))["int8"]
    if mode == "full-fp32":
        if checkpointing:
            model.activation_checkpointing_enable({"use_reentrant": reentrant})
    else:
        cfg = dataclasses.replace(finetune.FinetuneConfig(), gradient_checkpointing=checkpointing)
        model = finetune.lora_model(model, cfg, reentrant=reentrant)
    model.train()
    # fused, as Trainer's default optim (adamw_torch_fused): its step allocates nothing. The for-loop AdamW
    # would add two copies of the largest trainable tensor at the step, foreach one copy of all of them.
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)
    return model, optimizer


def predicted_step(estimate_: Estimate) -> dict:
    """An estimate grouped as measure_step measures it: weights, gradients, optimizer states, activations,
    peak."""
    states = sum(v for k, v in estimate_.components.items() if "Adam" in k)
    return {
        "weights": estimate_.of_kind("resident") - states,
        "gradients": estimate_.of_kind("gradients"),
        "optimizer states": states,
        "activations": estimate_.of_kind("activations"),
        "peak": estimate_.peak,
    }


def compare_step(
    config,
    mode: str,
    batch: int,
    seq: int,
    checkpointing: bool = False,
    seed: int = 0,
    reentrant: bool = True,
) -> dict:
    """Predicted (this module's estimate, on CPU, fp32 activations) and measured (measure_step) bytes of one
    training step: {component: (predicted, measured)}."""
    b, s = check_workload(batch, seq)
    model, optimizer = training_setup(config, mode, checkpointing, seed, reentrant)
    ids = torch.randint(0, config.vocab_size, (b, s), generator=torch.Generator().manual_seed(seed))
    measured = measure_step(model, optimizer, ids)
    cfg = finetune.FinetuneConfig()  # the seed's LoRA, as training_setup applies it
    predicted = predicted_step(
        estimate(
            config,
            mode,
            b,
            s,
            r=cfg.r,
            target_modules=cfg.target_modules,
            checkpointing=checkpointing,
            reentrant=reentrant,
            device="cpu",
            activation_bytes=4,
        )
    )
    return {k: (predicted[k], measured[k]) for k in measured}
