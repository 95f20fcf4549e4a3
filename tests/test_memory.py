"""The memory estimator: exact counts, components that scale as they should, and predicted = measured for the
parts that can be summed tensor by tensor."""

import pytest
import torch
from transformers import BloomConfig

from lorabook import memory as M
from lorabook import models

TINY = dict(hidden_size=64, num_attention_heads=4, ffn_dim=128, num_hidden_layers=2, vocab_size=100,
            max_position_embeddings=64, word_embed_proj_dim=64)  # fmt: skip


@pytest.mark.parametrize("name", ["opt-125m", "opt-6.7b"])
def test_parameter_groups_are_exact_counts_of_the_config(name):
    config = models.opt_config(name)
    g = M.parameter_groups(config)
    d, f, L = config.hidden_size, config.ffn_dim, config.num_hidden_layers
    assert g.total == models.opt_parameter_formula(config)
    assert g.linear == L * (4 * d * d + 2 * d * f)
    assert g.linear_rows == L * (4 * d + f + d)


def test_bytes_per_element_come_from_torch():
    for name, dtype in M.DTYPES.items():
        assert M.bytes_per(name) == torch.empty(0, dtype=dtype).element_size()


def test_full_finetune_costs_16_bytes_per_parameter_by_zero_and_18_by_hf():
    g = M.ParameterGroups(linear=1000, linear_rows=10, other=24)
    assert M.full_finetune(g, "mixed", "zero").total == 16 * g.total
    assert M.full_finetune(g, "mixed", "hf").total == 18 * g.total
    assert M.full_finetune(g, "fp32").total == 16 * g.total


def test_int8_weights_are_one_byte_plus_a_scale_per_row_plus_the_float_rest():
    g = M.ParameterGroups(linear=1000, linear_rows=10, other=24)
    assert M.weights(g, "int8").total == 1000 + 4 * 10 + 2 * 24
    assert M.weights(g, "int8", prepared_for_training=True).total == 1000 + 4 * 10 + 4 * 24


def test_components_scale_as_they_should():
    config = models.opt_config("opt-125m", **TINY)
    act = lambda b, s, c=False: M.activations(config, b, s, c).total  # noqa: E731
    assert act(4, 32) == 4 * act(1, 32)  # linear in batch
    assert act(2, 64, True) < act(2, 64)  # checkpointing keeps less
    assert M.kv_cache(config, 3, 40).total == 2 * M.kv_cache(config, 3, 20).total  # linear in tokens
    lora = M.estimate(config, "lora-int8", batch=2, seq=16)
    assert not any(k.startswith("gradients") for k in lora.components)  # frozen weights have no gradients
    assert sum(lora.components.values()) == lora.total


def test_measured_bytes_of_a_full_fp32_step_equal_the_prediction():
    config = models.opt_config("opt-125m", **TINY)
    model = models.random_model(config)
    opt = torch.optim.Adam(model.parameters())
    ids = torch.randint(0, 100, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    tensor_bytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)  # noqa: E731
    measured = {
        "weights (fp32)": tensor_bytes(model.parameters()),
        "gradients (fp32)": tensor_bytes(p.grad for p in model.parameters()),
        "Adam m, v (fp32)": tensor_bytes(t for s in opt.state.values() for k, t in s.items() if k != "step"),
    }
    assert measured == M.full_finetune(M.parameter_groups(config), "fp32").components


def test_measured_bytes_of_an_8_bit_base_equal_the_prediction(tmp_path):
    from lorabook import bnb

    config = models.opt_config("opt-125m", **TINY)
    loaded = bnb.load_in_dtypes(models.random_model(config), ("int8",))["int8"]
    linear = bnb.linear_weight_bytes(loaded)
    predicted = M.weights(M.parameter_groups(config), "int8").components
    assert linear["weights"] == predicted["weights (int8 linear)"]
    assert linear["scales"] == predicted["int8 scales (fp32, one per row)"]


def test_bad_input_is_refused_with_the_allowed_values():
    config = models.opt_config("opt-125m", **TINY)
    with pytest.raises(
        ValueError, match=r"dtype must be one of \['bf16', 'fp16', 'fp32', 'int8'\], got 'fp8'"
    ):
        M.bytes_per("fp8")
    with pytest.raises(ValueError, match="batch must be >= 1, got 0"):
        M.activations(config, 0, 16)
    with pytest.raises(ValueError, match="seq must be >= 1, got -3"):
        M.kv_cache(config, 1, -3)
    with pytest.raises(ValueError, match="mode must be one of"):
        M.estimate(config, "qlora", groups=M.ParameterGroups(1, 1, 1))
    bad = BloomConfig()
    bad.hidden_size = 0
    with pytest.raises(ValueError, match="config must have a hidden size"):
        M.kv_cache(bad, 1, 1)


@pytest.mark.parametrize(
    "h,a,f,layers,vocab,b,s,attention",
    [
        (64, 4, 256, 2, 100, 2, 32, "sdpa"),
        (96, 6, 200, 3, 150, 3, 24, "sdpa"),
        (64, 4, 256, 2, 100, 2, 40, "eager"),
    ],
)
def test_saved_activations_match_the_per_token_count(h, a, f, layers, vocab, b, s, attention):
    config = models.opt_config("opt-125m", hidden_size=h, num_attention_heads=a, ffn_dim=f,
                               num_hidden_layers=layers, vocab_size=vocab, max_position_embeddings=128,
                               word_embed_proj_dim=h)  # fmt: skip
    model = models.random_model(config).train()
    model.config._attn_implementation = attention
    measured = M.measure_saved_bytes(model, torch.randint(0, vocab, (b, s)))
    predicted = b * s * M.opt_saved_values_per_token(config, s, attention) * 4  # fp32 values
    assert abs(measured - predicted) <= 0.01 * predicted


def test_bloom_weights_need_five_a100s_and_full_finetuning_about_35():
    g = M.parameter_groups(models.bloom_config())
    assert M.gpus_needed(M.weights(g, "fp16").total) == 5  # 352 GB over 80 GB cards
    assert (
        M.gpus_needed(M.full_finetune(g, "mixed", "zero").total) == 36
    )  # 16 B/param: 35.2 cards, rounded up
    assert M.gpus_needed(M.full_finetune(g, "mixed", "hf").total) == 40


def test_tokens_to_fill_is_the_budget_left_over_per_token_cost():
    config = models.opt_config("opt-125m", **TINY)
    per_token = M.activation_bytes_per_token(config, 32)
    assert M.tokens_to_fill(1000 + 10 * per_token, 1000, config, 32) == 10
    assert M.tokens_to_fill(500, 1000, config, 32) == 0
