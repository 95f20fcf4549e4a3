"""A GPU-memory estimator that shows its arithmetic: weights, gradients, optimizer states, LoRA, activations,
KV cache, each returned separately, for any transformers config.

Per-parameter costs (bytes per parameter, p = parameters):
    inference, 16-bit weights                  2
    full fine-tune, fp32 + Adam                4 weights + 4 gradients + 8 Adam (m, v)            = 16
    full fine-tune, mixed precision (ZeRO)     2 fp16 weights + 2 fp16 gradients
                                               + 12 fp32 master copy, m and v                    = 16
    full fine-tune, mixed precision (HF)       4 fp32 weights + 2 fp16 copy + 4 fp32 gradients
                                               + 8 Adam (m, v)                                   = 18
Sources: Rajbhandari et al. 2020 (ZeRO), §3.1; the Hugging Face "model training anatomy" guide (18 bytes).
They differ in where the fp32 copy lives and in the gradients' precision, not in what Adam keeps.

Activations: saved_bytes_per_token counts, operation by operation, what transformers' OPT keeps for the
backward pass in full fine-tuning, LoRA and 8-bit LoRA, with and without (reentrant or non-reentrant)
checkpointing; measure_step checks it against the CPU allocator's events. KV cache for inference:
2 (K and V) · layers · b · s · h · bytes per element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from . import cited
from ._checks import check_int
from .nf4 import BLOCK as NF4_BLOCK  # QLoRA's block sizes: 64 weights per absmax, 256 absmax per scale
from .nf4 import BLOCK2 as NF4_BLOCK2

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}


def bytes_per(dtype: str) -> int:
    """Bytes per element of a dtype name, from torch's element_size (not typed)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return torch.empty((), dtype=DTYPES[dtype]).element_size()


@dataclass
class Estimate:
    """Named components in bytes, each of a kind: resident (weights, optimizer states, KV cache), gradients,
    activations (kept from forward to backward) or transient (the backward's largest short-lived buffer).

    total is the plain sum. peak is what is allocated at once: the resident part plus the larger of
    activations + transient (at the start of the backward) and the gradients (at its end, once the activations
    are freed; gradients are None before the backward, as after zero_grad(set_to_none=True)).
    """

    components: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)  # component -> kind; missing means resident

    @property
    def total(self) -> int:
        return sum(self.components.values())

    def of_kind(self, kind: str) -> int:
        return sum(v for k, v in self.components.items() if self.kinds.get(k, "resident") == kind)

    @property
    def peak(self) -> int:
        during = self.of_kind("activations") + self.of_kind("transient")
        return self.of_kind("resident") + max(during, self.of_kind("gradients"))

    def __add__(self, other: Estimate) -> Estimate:
        merged = dict(self.components)
        for k, v in other.components.items():
            merged[k] = merged.get(k, 0) + v
        return Estimate(merged, {**self.kinds, **other.kinds})


# ---------------------------------------------------------------------------- the model's parameters


@dataclass(frozen=True)
class ParameterGroups:
    """Parameter counts by what 8-bit loading does with them (exact, from a meta-device model)."""

    linear: int  # nn.Linear weights inside the decoder layers: stored as int8 by LLM.int8()
    linear_rows: int  # their output rows: one fp32 absmax scale each in int8
    other: int  # embeddings, positions, LayerNorms, biases: stay in floating point

    @property
    def total(self) -> int:
        return self.linear + self.other


def parameter_groups(config) -> ParameterGroups:
    """Count the parameters of `config`'s causal LM on the meta device (nothing downloaded or allocated)."""
    from .models import count_parameters, meta_model

    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not hidden:
        raise ValueError(
            f"config must have a hidden size (hidden_size or n_embd), got {type(config).__name__}"
        )
    model = meta_model(config)
    linear = rows = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and (".layers." in name or ".h." in name):
            linear += module.weight.numel()
            rows += module.out_features
    return ParameterGroups(linear, rows, count_parameters(model) - linear)


def _shape(config):
    h = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not h:
        raise ValueError(
            f"config must have a hidden size (hidden_size or n_embd), got {type(config).__name__}"
        )
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    return h, layers, heads


def _check_workload(batch: int, seq: int) -> tuple[int, int]:
    return check_int(batch, "batch", 1), check_int(seq, "seq", 1)


# ---------------------------------------------------------------------------- components


def weights(groups: ParameterGroups, dtype: str, prepared_for_training: bool = False,
            double_quant: bool = False) -> Estimate:  # fmt: skip
    """The weights in `dtype`; for int8 and nf4, the scales and the float parts too.

    int8 (LLM.int8(), bitsandbytes): one byte per linear weight and one fp32 absmax per output row.
    nf4 (QLoRA): half a byte per linear weight and one fp32 absmax per block of 64; with double_quant, each
    absmax in 8 bits and one fp32 scale per 256 of them (lorabook.nf4).
    prepared_for_training: prepare_model_for_kbit_training casts every non-quantized parameter to fp32.
    """
    if dtype not in ("int8", "nf4"):
        return Estimate({f"weights ({dtype})": groups.total * bytes_per(dtype)})
    other = "fp32" if prepared_for_training else "fp16"
    rest = {f"weights ({other}: embeddings, norms, biases)": groups.other * bytes_per(other)}
    if dtype == "nf4":
        blocks = math.ceil(groups.linear / NF4_BLOCK)
        if double_quant:
            outer = math.ceil(blocks / NF4_BLOCK2) * bytes_per("fp32")
            scales = {"nf4 scales (8-bit, one per 64)": blocks * bytes_per("int8"),
                      "their scales (fp32, one per 256)": outer}  # fmt: skip
        else:
            scales = {"nf4 scales (fp32, one per 64)": blocks * bytes_per("fp32")}
        return Estimate({"weights (nf4 linear)": groups.linear // 2, **scales, **rest})
    scales = groups.linear_rows * bytes_per("fp32")
    return Estimate({"weights (int8 linear)": groups.linear * bytes_per("int8"),
                     "int8 scales (fp32, one per row)": scales, **rest})  # fmt: skip


ADAM8BIT_BLOCK = 256  # bitsandbytes' block size for 8-bit optimizer states


def adam_states(n: int, optimizer: str = "adamw") -> int:
    """Bytes of Adam's m and v for n parameters: fp32 (8 bytes each), or bitsandbytes' blockwise 8-bit
    (2 bytes, plus one fp32 absmax per block of 256 per state; Dettmers et al. 2022, 8-bit optimizers)."""
    n = check_int(n, "n", 0)
    if optimizer == "adamw":
        return 2 * n * bytes_per("fp32")
    if optimizer == "adamw-8bit":
        return 2 * (n * bytes_per("int8") + math.ceil(n / ADAM8BIT_BLOCK) * bytes_per("fp32"))
    raise ValueError(f"optimizer must be 'adamw' or 'adamw-8bit', got {optimizer!r}")


GRADIENTS = "gradients"


def full_finetune(groups: ParameterGroups, precision: str = "mixed", rule: str = "zero",
                  optimizer: str = "adamw") -> Estimate:  # fmt: skip
    """Weights, gradients and Adam states of full fine-tuning (activations not included)."""
    p = groups.total
    adam = {f"Adam m, v ({'fp32' if optimizer == 'adamw' else '8-bit'})": adam_states(p, optimizer)}
    if precision == "fp32":
        parts = {"weights (fp32)": 4 * p, "gradients (fp32)": 4 * p}
    elif precision != "mixed":
        raise ValueError(f"precision must be 'fp32' or 'mixed', got {precision!r}")
    elif rule == "zero":  # ZeRO §3.1: 2 + 2 + K·p with K = 12
        parts = {"weights (fp16)": 2 * p, "gradients (fp16)": 2 * p, "fp32 master copy": 4 * p}
    elif rule == "hf":  # HF's anatomy guide: fp32 weights + fp16 copy, fp32 gradients
        parts = {"weights (fp32)": 4 * p, "fp16 copy for compute": 2 * p, "gradients (fp32)": 4 * p}
    else:
        raise ValueError(f"rule must be 'zero' or 'hf', got {rule!r}")
    parts.update(adam)
    return Estimate(parts, {k: GRADIENTS for k in parts if k.startswith("gradients")})


def lora_states(n_lora: int, optimizer: str = "adamw") -> Estimate:
    """LoRA's own parameters, trained in fp32: weights, gradients, Adam m and v (16 bytes each with AdamW)."""
    n_lora = check_int(n_lora, "n_lora", 0)
    return Estimate({"LoRA weights (fp32)": 4 * n_lora, "LoRA gradients (fp32)": 4 * n_lora,
                     "LoRA Adam m, v": adam_states(n_lora, optimizer)},
                    {"LoRA gradients (fp32)": GRADIENTS})  # fmt: skip


TRAINING = ("full", "lora", "lora-int8")
_INT64_BYTES = torch.empty((), dtype=torch.int64).element_size()
LORA_INPUT_SHARING = ("q_proj", "k_proj", "v_proj")  # the projections that read the same LayerNorm output


def saved_bytes_per_token(
    config, seq: int, training: str = "full", *, target_modules=("q_proj", "v_proj"), r: int = 16,
    lora_dropout: float = 0.05, checkpointing: bool = False, reentrant: bool = True, attention: str = "sdpa",
    bytes_per_value: int = 4, mask_bytes: int | None = None,
) -> dict:  # fmt: skip
    """Bytes one token leaves allocated for backward in transformers' OPTForCausalLM, by part.

    Counted op by op (autograd's saved tensors, plus what bitsandbytes keeps on its ctx) and checked against
    the CPU allocator in tests/test_memory.py. With h hidden, f the MLP width, a heads, T LoRA targets of
    rank r, values per token and layer:

        LayerNorm inputs and their mean, 1/std          2h + 4
        attention: q, k, v, output, log-sum-exp         4h + a        (eager attention: a·s probabilities)
        MLP: the ReLU output that fc2 reads             f
        dropout masks after out_proj and fc2            2h            (when config.dropout > 0)
        inputs of trained projections (full FT)         2h            (q, k, v share LN₁'s output; fc1: LN₂'s)
        the same two inputs kept by bitsandbytes        2h            (int8: MatMul8bitFp keeps ctx.A)
        LoRA, per target: dropout mask, dropout output, A·x    h + h + r

    Layer 0 of a frozen model without checkpointing sees an input that needs no gradient, so its first
    LayerNorm, its LoRA dropout masks and bitsandbytes' copy of LN₁'s output are not kept. Then the final
    LayerNorm (h + 2), the lm_head input when it trains (h), the log-probabilities the loss keeps (V, in fp32
    whatever the model's dtype, since transformers' loss upcasts the logits), the int64 labels and, in full
    fine-tuning, the int64 token and position ids the embeddings' backward reads.

    With checkpointing each layer keeps only its input (h); a frozen model's embedding output is made a leaf
    that requires grad (enable_input_require_grads), which the graph keeps too (h). Non-reentrant
    checkpointing (use_reentrant=False) frees only autograd's saved tensors, so on an 8-bit model the inputs
    bitsandbytes keeps as attributes of its ctx stay: LN₁'s output, the attention output, LN₂'s output and the
    ReLU output, 3h + f per layer. Reentrant checkpointing (what peft's prepare_model_for_kbit_training asks
    for) runs the layer's forward without a graph, so nothing is kept.
    """
    s = check_int(seq, "seq", 1)
    h, layers, heads = _shape(config)
    if training not in TRAINING:
        raise ValueError(f"training must be one of {list(TRAINING)}, got {training!r}")
    if attention not in ("sdpa", "eager"):
        raise ValueError(f"attention must be 'sdpa' or 'eager', got {attention!r}")
    T = 0 if training == "full" else len(target_modules)
    if T and not set(target_modules) <= set(LORA_INPUT_SHARING):
        allowed = list(LORA_INPUT_SHARING)
        raise ValueError(f"target_modules must be among {allowed} for this count, got {list(target_modules)}")
    bpv, mask = bytes_per_value, bytes_per_value if mask_bytes is None else mask_bytes
    f = getattr(config, "ffn_dim", None) or 4 * h  # BLOOM and GPT-style configs: a 4h-wide MLP
    masks = 2 * h * mask if getattr(config, "dropout", 0.0) > 0 else 0
    linear_inputs = 2 * h * bpv if training in ("full", "lora-int8") else 0
    if T and lora_dropout > 0:
        lora = T * (h * mask + h * bpv + r * bpv)
    elif T:  # nn.Identity: lora_A reads LN₁'s output itself, which the int8 path already keeps
        lora = (0 if training == "lora-int8" else h * bpv) + T * r * bpv
    else:
        lora = 0
    layer = {
        "LayerNorms": (2 * h + 4) * bpv,
        "attention": (4 * h + (heads if attention == "sdpa" else heads * s)) * bpv,
        "MLP (ReLU output)": f * bpv,
        "dropout masks": masks,
        (
            "inputs kept for weight gradients" if training == "full" else "inputs kept by bitsandbytes"
        ): linear_inputs,
        "LoRA (mask, dropout output, A·x)": lora,
    }
    layer = {k: v for k, v in layer.items() if v}
    frozen_input = training != "full" and not checkpointing  # layer 0's input needs no gradient
    layer0_saving = 0
    if frozen_input:  # LN₁, the LoRA masks, and bitsandbytes' copy of LN₁'s output
        layer0_saving = (h + 2) * bpv + (T * h * mask if lora_dropout > 0 else 0)
        layer0_saving += h * bpv if training == "lora-int8" else 0
    final = {
        "final LayerNorm": (h + 2) * bpv,
        "lm_head input": h * bpv if training == "full" else 0,
        "log-probabilities (fp32)": config.vocab_size * bytes_per("fp32"),
        "labels and ids (int64)": (3 if training == "full" else 1) * _INT64_BYTES,
    }
    out = {f"per layer: {k}": layers * v for k, v in layer.items()}
    if checkpointing:
        out = {"checkpointed layer inputs": layers * h * bpv}
        if training != "full":
            out["embedding output (a leaf that requires grad)"] = h * bpv
        if training == "lora-int8" and not reentrant:
            out["kept by bitsandbytes on ctx (non-reentrant)"] = layers * (3 * h + f) * bpv
    elif layer0_saving:
        out["layer 0: input needs no gradient"] = -layer0_saving
    out.update({k: v for k, v in final.items() if v})
    return out


def activations(
    config, batch: int, seq: int, training: str = "full", *, checkpointing: bool = False,
    reentrant: bool = True, bytes_per_value: int = 2, mask_bytes: int = 1,
    target_modules=("q_proj", "v_proj"), r: int = 16, lora_dropout: float = 0.05, attention: str = "sdpa",
) -> Estimate:  # fmt: skip
    """Activations a training step keeps for backward, and the largest short-lived buffer of the backward.

    bytes_per_value: 2 for fp16/bf16 activations, 4 for fp32. mask_bytes: 1 for CUDA's bool dropout masks;
    the CPU kernel keeps them in the activations' dtype. The transient is the larger of the loss's two
    gradient buffers (2·V fp32 values per token) and, with checkpointing, one layer recomputed. That assumes,
    as in OPT (V = 50,272 against an MLP 16,384 wide at 6.7B), that the vocabulary is wider than the MLP; a
    toy model with V < f peaks in its MLP's backward instead.
    """
    b, s = _check_workload(batch, seq)
    count = dict(target_modules=target_modules, r=r, lora_dropout=lora_dropout, attention=attention,
                 bytes_per_value=bytes_per_value, mask_bytes=mask_bytes)  # fmt: skip
    per_token = saved_bytes_per_token(
        config, s, training, checkpointing=checkpointing, reentrant=reentrant, **count
    )
    # what one layer keeps without checkpointing: the buffer that a checkpointed layer rebuilds in backward
    unchecked = saved_bytes_per_token(config, s, training, **count)
    one_layer = sum(v for k, v in unchecked.items() if k.startswith("per layer:")) // _shape(config)[1]
    loss_grads = 2 * config.vocab_size * bytes_per("fp32")
    transient = max(loss_grads, one_layer if checkpointing else 0)
    kept = b * s * sum(per_token.values())
    if checkpointing:  # each checkpoint keeps the CPU RNG state, to replay dropout identically
        kept += _shape(config)[1] * torch.get_rng_state().numel()
    return Estimate(
        {"activations": kept, "backward transient": b * s * transient},
        {"activations": "activations", "backward transient": "transient"},
    )


def kv_cache(config, batch: int, seq: int, dtype: str = "fp16") -> Estimate:
    """Keys and values of every layer for `seq` tokens of `batch` sequences."""
    b, s = _check_workload(batch, seq)
    h, layers, _ = _shape(config)
    return Estimate({"KV cache": 2 * layers * b * s * h * bytes_per(dtype)})


# ---------------------------------------------------------------------------- whole workloads


MODES = ("inference-fp32", "inference-fp16", "inference-int8", "inference-nf4", "full-fp32", "full-mixed",
         "lora-fp32", "lora-fp16", "lora-int8", "lora-nf4")  # fmt: skip


def estimate(config, mode: str, batch: int = 1, seq: int = 512, *, r: int = 16,
             target_modules=("q_proj", "v_proj"), checkpointing: bool = False, rule: str = "zero",
             optimizer: str = "adamw", device: str = "cuda", activation_bytes: int | None = None,
             reentrant: bool = True, groups=None, double_quant: bool = False) -> Estimate:  # fmt: skip
    """Memory of one workload (see MODES): the weights, then for training the gradients, optimizer states and
    activations of one step of `batch` sequences of `seq` tokens; for inference, the KV cache of `seq` tokens.

    activation_bytes: bytes per activation value; by default 4 for fp32 modes and 2 otherwise (the seed's
    8-bit recipe runs under fp16 autocast). Device "cuda" keeps dropout masks as bools, "cpu" in the
    activations' dtype. lora-nf4 counts activations as the fp16 LoRA path does (no measurement
    here backs its bitsandbytes internals).
    """
    from .lora import lora_parameter_count

    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if device not in ("cuda", "cpu"):
        raise ValueError(f"device must be 'cuda' or 'cpu', got {device!r}")
    groups = groups or parameter_groups(config)
    kind, dtype = mode.split("-", 1)
    if kind == "inference":
        return weights(groups, dtype) + kv_cache(config, batch, seq)
    bpv = activation_bytes or (4 if dtype == "fp32" else 2)
    act = dict(checkpointing=checkpointing, reentrant=reentrant, bytes_per_value=bpv,
               mask_bytes=1 if device == "cuda" else bpv)  # fmt: skip
    if kind == "full":
        states = full_finetune(groups, "fp32" if dtype == "fp32" else "mixed", rule, optimizer)
        return states + activations(config, batch, seq, "full", **act)
    quantized = dtype in ("int8", "nf4")
    return (
        weights(groups, dtype, prepared_for_training=quantized, double_quant=double_quant)
        + lora_states(lora_parameter_count(config, r, target_modules), optimizer)
        + activations(config, batch, seq, "lora-int8" if dtype == "int8" else "lora",
                      target_modules=target_modules, r=r, **act)
    )  # fmt: skip


# ------------------------------------------------------------------------ GPUs, and the seed's BLOOM figures

A100_80GB = cited.A100_MEMORY.value  # bytes


def gpus_needed(n_bytes: float, gpu_bytes: float = A100_80GB) -> int:
    """The smallest whole number of GPUs whose memory holds n_bytes (before any parallelism overhead)."""
    return math.ceil(n_bytes / gpu_bytes)


def tokens_to_fill(budget_bytes: float, fixed_bytes: float, config, seq: int, training="full") -> float:
    """How many tokens' 16-bit activations fit in budget_bytes once fixed_bytes (weights, states) are paid."""
    per_token = saved_bytes_per_token(config, seq, training, bytes_per_value=2, mask_bytes=1)
    return max(0.0, budget_bytes - fixed_bytes) / sum(per_token.values())


# ---------------------------------------------------------------------------- measuring a training step


def _allocation_timeline(prof) -> tuple[int, int]:
    """(net, peak) bytes allocated over a torch.profiler region, from its memory events in time order."""
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    running = peak = 0
    for e in events:
        running += e.nbytes()
        peak = max(peak, running)
    return running, peak


def profiled(fn):
    """Run fn() under torch.profiler's memory accounting; return its result and the region's (net, peak)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
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
    (memory does not depend on their values), the seed's LoRA (r 16 on q_proj, v_proj, dropout 0.05), the
    8-bit base loaded by transformers + bitsandbytes, prepared by prepare_model_for_kbit_training."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    from . import bnb, finetune, models

    if mode not in MEASURED_MODES:
        raise ValueError(f"mode must be one of {list(MEASURED_MODES)}, got {mode!r}")
    model = models.random_model(config, seed=seed)
    if mode == "lora-int8":
        model = bnb.load_in_dtypes(model, ("int8",))["int8"]
    kwargs = {"use_reentrant": reentrant}
    if mode != "full-fp32":  # freezes the base, casts what is not int8 to fp32; checkpoints an 8-bit model
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing, gradient_checkpointing_kwargs=kwargs
        )
    if checkpointing and not model.is_activation_checkpointing:  # what prepare does for an 8-bit model
        if mode != "full-fp32":
            model.enable_input_require_grads()
        model.activation_checkpointing_enable(kwargs)
    if mode != "full-fp32":
        model = get_peft_model(model, finetune.lora_config(finetune.FinetuneConfig()))
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


def compare_step(config, mode: str, batch: int, seq: int, checkpointing: bool = False, seed: int = 0,
                 reentrant: bool = True) -> dict:  # fmt: skip
    """Predicted (this module's estimate, on CPU, fp32 activations) and measured (measure_step) bytes of one
    training step: {component: (predicted, measured)}."""
    b, s = _check_workload(batch, seq)
    model, optimizer = training_setup(config, mode, checkpointing, seed, reentrant)
    ids = torch.randint(0, config.vocab_size, (b, s), generator=torch.Generator().manual_seed(seed))
    measured = measure_step(model, optimizer, ids)
    from .finetune import FinetuneConfig

    cfg = FinetuneConfig()  # the seed's LoRA, as training_setup applies it
    predicted = predicted_step(
        estimate(config, mode, b, s, r=cfg.r, target_modules=cfg.target_modules, checkpointing=checkpointing,
                 reentrant=reentrant, device="cpu", activation_bytes=4)
    )  # fmt: skip
    return {k: (predicted[k], measured[k]) for k in measured}


# ---------------------------------------------------------------------------- summaries for the chapter

CATEGORIES = ("weights", "gradients", "optimizer states", "LoRA (weights, gradients, Adam)", "activations",
              "backward transient", "KV cache")  # fmt: skip


def category(component: str) -> str:
    """Which of CATEGORIES a component of an Estimate belongs to."""
    if component.startswith("LoRA"):
        return "LoRA (weights, gradients, Adam)"
    if component.startswith("gradients"):
        return "gradients"
    if "Adam" in component or "master copy" in component:
        return "optimizer states"
    if component in ("activations", "backward transient", "KV cache"):
        return component
    return "weights"  # weights in any dtype, their int8/nf4 scales, the fp16 compute copy


def breakdown(estimate_: Estimate) -> dict:
    """The estimate's bytes by category (CATEGORIES order; empty categories left out)."""
    out = dict.fromkeys(CATEGORIES, 0)
    for k, v in estimate_.components.items():
        out[category(k)] += v
    return {k: v for k, v in out.items() if v}


def tensor_parallel_sizes(config, at_least: int = 1) -> list[int]:
    """GPU counts ≥ at_least that split the attention heads, the hidden size and the vocabulary evenly (what
    Megatron-style tensor parallelism needs), up to the number of heads."""
    h, _, heads = _shape(config)
    return [n for n in range(max(1, at_least), heads + 1)
            if heads % n == 0 and h % n == 0 and config.vocab_size % n == 0]  # fmt: skip


def gpt3_config():
    """GPT-3 175B's shape (Brown et al. 2020, Table 2.1) as an OPTConfig: 96 layers, d 12,288, 96 heads, a 4d
    MLP, GPT-2's 50,257-token vocabulary and 2,048 positions."""
    from . import cited, models

    d = int(cited.GPT3_D_MODEL.value)
    return models.opt_config(
        "opt-125m", hidden_size=d, num_hidden_layers=int(cited.GPT3_LAYERS.value), num_attention_heads=96,
        ffn_dim=4 * d, vocab_size=50257, max_position_embeddings=2048, word_embed_proj_dim=d,
    )  # fmt: skip


def smallest_gpu(n_bytes: float, sizes: dict) -> str:
    """The name of the first of `sizes` ({name: bytes}, smallest first) that holds n_bytes."""
    fits = [name for name, size in sizes.items() if n_bytes <= size]
    return fits[0] if fits else f"more than {list(sizes)[-1]}"


def bytes_per_parameter(estimate_: Estimate, groups: ParameterGroups) -> dict:
    """An estimate's components divided by the parameter count."""
    return {k: v / groups.total for k, v in estimate_.components.items()}


def technique_savings(config, batch: int, seq: int, accumulation: int = 4, groups=None) -> dict:
    """{technique: (peak before, peak after)} for each memory-saving technique, each applied to the set-up it
    is used from. Gradient accumulation compares one batch of accumulation × batch sequences with
    `accumulation` micro-batches of `batch`: the same update, a fraction of the activations."""
    accumulation = check_int(accumulation, "accumulation", 1)
    groups = groups or parameter_groups(config)

    def peak(mode, b=batch, checkpointing=False, **kw):
        return estimate(config, mode, b, seq, checkpointing=checkpointing, groups=groups, **kw).peak

    return {
        "8-bit Adam (full fine-tune)": (peak("full-mixed"), peak("full-mixed", optimizer="adamw-8bit")),
        "LoRA instead of full (fp16 base)": (peak("full-mixed"), peak("lora-fp16")),
        "int8 base (LLM.int8(), for LoRA)": (peak("lora-fp16"), peak("lora-int8")),
        "4-bit NF4 base (QLoRA, for LoRA)": (peak("lora-fp16"), peak("lora-nf4")),
        "gradient checkpointing (8-bit LoRA)": (peak("lora-int8"), peak("lora-int8", checkpointing=True)),
        "gradient accumulation (8-bit LoRA, checkpointing)": (
            peak("lora-int8", accumulation * batch, True), peak("lora-int8", batch, True)),
    }  # fmt: skip
