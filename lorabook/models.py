"""The book's model shapes, built without weights: exact parameter counts from the meta device.

The configs are the published ones (hub `config.json`), written out so that nothing is downloaded:
facebook/opt-6.7b and facebook/opt-125m (Zhang et al. 2022, Table 1), bigscience/bloom (176B).
"""

from __future__ import annotations

import torch

OPT_CONFIGS = {
    # name: (hidden_size, num_hidden_layers, num_attention_heads, ffn_dim)
    "opt-125m": (768, 12, 12, 3072),
    "opt-350m": (1024, 24, 16, 4096),  # the one OPT of another shape: see OPT_350M
    "opt-1.3b": (2048, 24, 32, 8192),
    "opt-6.7b": (4096, 32, 32, 16384),
    "opt-13b": (5120, 40, 40, 20480),
    "opt-66b": (9216, 64, 72, 36864),  # the 65B class of QLoRA's headline
}
OPT_VOCAB, OPT_POSITIONS = 50272, 2048
# OPT-350m embeds in 512 dimensions and projects in and out of its 1024-wide layers, and it puts each
# LayerNorm after its block (post-LN), so it has no final LayerNorm.
OPT_350M = dict(word_embed_proj_dim=512, do_layer_norm_before=False)


def opt_config(name: str = "opt-6.7b", **overrides):
    """The transformers OPTConfig of facebook/<name>, with any field overridden."""
    from transformers import OPTConfig

    if name not in OPT_CONFIGS:
        raise ValueError(f"name must be one of {sorted(OPT_CONFIGS)}, got {name!r}")
    d, layers, heads, ffn = OPT_CONFIGS[name]
    fields = dict(
        hidden_size=d,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        ffn_dim=ffn,
        vocab_size=OPT_VOCAB,
        max_position_embeddings=OPT_POSITIONS,
        word_embed_proj_dim=d,
    )
    fields.update(OPT_350M if name == "opt-350m" else {})
    fields.update(overrides)
    return OPTConfig(**fields)


# The book's one tiny OPT: the shape that the tests, the LoRA chapter's demonstrations and the GPU check's
# quick size start from. Callers override only what they vary.
TINY_OPT = dict(
    hidden_size=64,
    num_attention_heads=4,
    ffn_dim=128,
    num_hidden_layers=2,
    vocab_size=100,
    max_position_embeddings=64,
)


def tiny_opt_config(**overrides):
    """The OPTConfig of TINY_OPT with `overrides`; the embedding width follows hidden_size unless given."""
    fields = {**TINY_OPT, **overrides}
    fields.setdefault("word_embed_proj_dim", fields["hidden_size"])
    return opt_config("opt-125m", **fields)


def bloom_config():
    """bigscience/bloom (176B): 70 layers, d_model 14336, 112 heads, a 250,880-token vocabulary."""
    from transformers import BloomConfig

    return BloomConfig(vocab_size=250880, hidden_size=14336, n_layer=70, n_head=112)


def meta_model(config):
    """A causal LM for `config` on the meta device: shapes and counts, no memory, no download.

    tie_weights() makes lm_head share the input embedding, as the real checkpoint does; without it the tied
    matrix is counted twice.
    """
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    model.tie_weights()
    return model


def parameter_count(model, trainable_only: bool = False) -> int:
    """Parameters of `model`, each shared tensor counted once (`model.parameters()` already deduplicates)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def opt_parameter_formula(config) -> int:
    """OPT's parameter count in closed form, from the config alone (checked against the meta model).

    With d the hidden size, e the embedding width (word_embed_proj_dim), f the FFN width, V the vocabulary and
    P the positions:
    - embeddings V·e, learned positions (P + 2)·d (OPT offsets positions by 2);
    - when e ≠ d (OPT-350m), project_in e·d and project_out d·e, without biases;
    - per layer: 4 attention projections d·d + d, fc1 d·f + f, fc2 f·d + d, two LayerNorms 2·2d;
    - a final LayerNorm 2d, only in the pre-LayerNorm models (do_layer_norm_before; OPT-350m is post-LN).
    lm_head is tied to the embeddings, so it adds nothing.
    """
    d, f, L = config.hidden_size, config.ffn_dim, config.num_hidden_layers
    V, P, e = config.vocab_size, config.max_position_embeddings, config.word_embed_proj_dim
    per_layer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d
    projections = 2 * e * d if e != d else 0
    final_norm = (
        2 * d if config.do_layer_norm_before and not getattr(config, "_remove_final_layer_norm", False) else 0
    )
    return V * e + (P + 2) * d + projections + L * per_layer + final_norm


def random_model(config, seed: int = 0, dtype=torch.float32):
    """A causal LM for `config` with random (not pretrained) weights, reproducibly."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config, dtype=dtype)


# GPT-2 medium's shape (Radford et al. 2019), as OPTConfig fields: the model of the LoRA paper's Table 1.
GPT2_MEDIUM = dict(
    hidden_size=1024, num_attention_heads=16, ffn_dim=4096, num_hidden_layers=24, word_embed_proj_dim=1024
)
