"""The memory chapter's summaries of lorabook.memory's estimates: bytes by category, GPU counts that tensor
parallelism allows, GPT-3's shape, and what each memory-saving technique saves."""

from __future__ import annotations

from . import cited, models
from ._checks import check_int
from .memory import ParameterGroups, estimate, parameter_groups
from .sizes import Estimate, shape

CATEGORIES = (
    "weights",
    "gradients",
    "optimizer states",
    "LoRA (weights, gradients, Adam)",
    "activations",
    "backward transient",
    "KV cache",
)


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
    h, _, heads = shape(config)
    return [
        n
        for n in range(max(1, at_least), heads + 1)
        if heads % n == 0 and h % n == 0 and config.vocab_size % n == 0
    ]


def gpt3_config():
    """GPT-3 175B's shape (Brown et al. 2020, Table 2.1) as an OPTConfig: 96 layers, d 12,288, 96 heads, a 4d
    MLP, GPT-2's 50,257-token vocabulary and 2,048 positions."""
    d = int(cited.GPT3_D_MODEL.value)
    return models.opt_config(
        "opt-125m",
        hidden_size=d,
        num_hidden_layers=int(cited.GPT3_LAYERS.value),
        num_attention_heads=96,
        ffn_dim=4 * d,
        vocab_size=50257,
        max_position_embeddings=2048,
        word_embed_proj_dim=d,
    )


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
            peak("lora-int8", accumulation * batch, True),
            peak("lora-int8", batch, True),
        ),
    }
