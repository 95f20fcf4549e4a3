"""Numbers the book prints, each held by a second source: a published config, torch's finfo, a real model's
cache, or a hand derivation. Each test fails for a small, realistic change to the library that moves a printed
number (an outside check found eight such changes that no test caught)."""

import math

import numpy as np
import pytest
import torch

from lorabook import budget, delta, formats, memory, models, nf4, quant

# ---------------------------------------------------------------------------- the published shapes

# facebook/opt-*/config.json on the hub (Zhang et al. 2022, Table 1): hidden_size, num_hidden_layers,
# num_attention_heads, ffn_dim, vocab_size, max_position_embeddings, word_embed_proj_dim
PUBLISHED_OPT = {
    "opt-125m": (768, 12, 12, 3072, 50272, 2048, 768),
    "opt-350m": (1024, 24, 16, 4096, 50272, 2048, 512),
    "opt-1.3b": (2048, 24, 32, 8192, 50272, 2048, 2048),
    "opt-6.7b": (4096, 32, 32, 16384, 50272, 2048, 4096),
    "opt-13b": (5120, 40, 40, 20480, 50272, 2048, 5120),
    "opt-66b": (9216, 64, 72, 36864, 50272, 2048, 9216),
}
FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "ffn_dim",
    "vocab_size",
    "max_position_embeddings",
    "word_embed_proj_dim",
)


@pytest.mark.parametrize("name", PUBLISHED_OPT)
def test_each_opt_config_is_the_published_one(name):
    config = models.opt_config(name)
    assert tuple(getattr(config, f) for f in FIELDS) == PUBLISHED_OPT[name]


def test_opt_6_7b_has_the_parameters_the_seeds_printout_implies():
    """The seed printed `trainable params: 8388608 || all params: 6666862592` for LoRA r=16 on q and v."""
    config = models.opt_config("opt-6.7b")
    assert models.parameter_count(models.meta_model(config)) == 6666862592 - 8388608
    assert models.opt_parameter_formula(config) == 6666862592 - 8388608


def test_gpt3_has_gpt2s_vocabulary_and_its_count_to_the_last_digit():
    """Brown et al. (2020) use GPT-2's byte-level BPE: 50,257 tokens (Radford et al. 2019, §2.2)."""
    config = budget.gpt3_config()
    assert config.vocab_size == 50257
    d, layers = config.hidden_size, config.num_hidden_layers
    per_layer = 4 * d * d + 4 * d + 2 * d * 4 * d + 4 * d + d + 4 * d  # q,k,v,o with biases; fc1, fc2; 2 LNs
    embeddings = 50257 * d + (2048 + 2) * d  # tokens, and OPT's learned positions (offset 2)
    expected = layers * per_layer + embeddings + 2 * d  # final LayerNorm
    assert models.opt_parameter_formula(config) == expected


# bigscience/bloom's config.json: n_layer, hidden_size, n_head, vocab_size (Scao et al. 2022, Table 3)
PUBLISHED_BLOOM = (70, 14336, 112, 250880)
# gpt2-medium's config.json: n_embd, n_head, n_layer, n_inner (None: 4 × n_embd); Radford et al. 2019, Table 2
PUBLISHED_GPT2_MEDIUM = (1024, 16, 24, 4 * 1024)


def test_bloom_config_is_the_published_one():
    config = models.bloom_config()
    assert (config.n_layer, config.hidden_size, config.n_head, config.vocab_size) == PUBLISHED_BLOOM


def test_gpt2_medium_is_the_published_shape():
    g = models.GPT2_MEDIUM
    shape = (g["hidden_size"], g["num_attention_heads"], g["num_hidden_layers"], g["ffn_dim"])
    assert shape == PUBLISHED_GPT2_MEDIUM


# ---------------------------------------------------------------------------- formats and quantization


@pytest.mark.parametrize("name", ["FP32", "FP16", "BF16"])
def test_decimal_digits_are_log10_of_two_over_torchs_epsilon(name):
    """(m + 1)·log10 2 = −log10(ε/2): the digits a format keeps, from the spacing of its numbers at one."""
    fmt = formats.FORMATS[name]
    eps = torch.finfo(fmt.dtype).eps
    assert fmt.decimal_digits == pytest.approx(-math.log10(eps / 2), rel=1e-12)


def test_zero_point_quantization_uses_all_256_codes():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        x = torch.rand(64, generator=g) * 10 - 3  # both signs
        q = quant.zeropoint_quantize(x)
        assert q.q.min().item() == -128 and q.q.max().item() == 127
        span = x.max() - x.min()
        assert float(q.scale) == pytest.approx(255 / float(span), rel=1e-6)
        assert quant.quantization_error(x, q).max().item() <= 0.5 / float(q.scale) + 1e-6


def test_merging_into_nf4_quantizes_the_sum_not_the_base():
    g = np.random.default_rng(0)
    w0 = torch.from_numpy(g.standard_normal((64, 64)).astype(np.float32))
    dw = torch.from_numpy(0.3 * g.standard_normal((64, 64)).astype(np.float32))
    merged = nf4.requantize_merge(w0, dw)
    assert torch.equal(merged, torch.from_numpy(nf4.quantize((w0 + dw).numpy()).dequantize()))
    assert not torch.equal(merged, torch.from_numpy(nf4.quantize(w0.numpy()).dequantize()))
    # what the update keeps through the merge: most of it, not none
    kept = float(
        ((merged - torch.from_numpy(nf4.quantize(w0.numpy()).dequantize())) * dw).sum() / (dw * dw).sum()
    )
    assert 0.5 < kept < 1.5


# ---------------------------------------------------------------------------- memory and the update


def test_the_kv_cache_is_what_a_real_forward_pass_stores():
    """2 (K and V) · layers · batch · tokens · hidden · bytes, against the tensors transformers keeps."""
    from transformers import OPTForCausalLM

    config = models.tiny_opt_config()
    model = OPTForCausalLM(config).eval()
    batch, seq = 3, 17
    with torch.no_grad():
        out = model(input_ids=torch.randint(0, config.vocab_size, (batch, seq)), use_cache=True)
    cache = out.past_key_values
    stored = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert memory.kv_cache(config, batch, seq, "fp32").total == stored


@pytest.mark.parametrize("n", [4096, 10_000, 65_537])
def test_8_bit_adam_states_are_the_bytes_bitsandbytes_keeps(n):
    """bitsandbytes' Adam8bit keeps two uint8 states and one fp32 absmax per block of ADAM8BIT_BLOCK values
    each: the bytes of its real state after one step (on CPU) are what memory.adam_states counts."""
    import bitsandbytes as bnb

    p = torch.nn.Parameter(torch.randn(n))
    optimizer = bnb.optim.Adam8bit([p], lr=1e-3)
    p.grad = torch.randn(n)
    optimizer.step()
    state = optimizer.state[p]
    kept = sum(state[k].numel() * state[k].element_size() for k in ("state1", "state2", "absmax1", "absmax2"))
    assert memory.adam_states(n, "adamw-8bit") == kept
    assert state["absmax1"].numel() == math.ceil(n / memory.ADAM8BIT_BLOCK)


def test_moved_is_relative_to_the_starting_norm():
    A0 = {"l": (torch.ones(4, 8), torch.zeros(8, 4))}
    for scale in (1.0, 10.0):
        start = {"l": (scale * A0["l"][0], A0["l"][1])}
        after = {"l": (2 * scale * A0["l"][0], A0["l"][1])}
        assert delta.moved(after, start)["l"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------- killed mutants (make mutants)


def test_a_value_exactly_at_the_threshold_is_an_outlier_as_in_bitsandbytes():
    """bitsandbytes marks outliers with |x| >= threshold (backends/default/ops.py): 6.0 itself is one."""
    X = torch.tensor([[6.0, 1.0, -2.0], [0.5, 5.99, 1.0]])
    W = torch.eye(3)
    assert quant.outlier_columns(X, 6.0).tolist() == [0]
    for layout in (False, True):
        res = quant.llm_int8_matmul(X, W, 6.0, bitsandbytes_layout=layout)
        assert res.outlier_cols.tolist() == [0]
        assert float(res.out[0, 0]) == 6.0  # the outlier went through 16 bits, exactly


def test_an_all_zero_row_quantizes_to_zeros_not_nan():
    t = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    q = quant.absmax_float32(t, t.abs().amax(dim=1, keepdim=True))
    assert q.q[0].tolist() == [0, 0] and torch.isfinite(q.scale).all()
    assert q.q[1].tolist() == [64, -127]


def test_the_synthetic_activations_and_weights_have_the_stated_scales():
    """outlier_activations: N(0, 1) but for n_outliers dimensions scaled by magnitude; gaussian_weights:
    N(0, 1/h), an initialised layer's scale. Their defaults are the chapter's example."""
    X, dims = quant.outlier_activations(4000, 64)
    assert len(dims) == 3 and len(set(dims.tolist())) == 3
    std = X.std(dim=0)
    others = torch.ones(64, dtype=torch.bool)
    others[dims] = False
    assert std[dims].numpy() == pytest.approx([20.0] * 3, rel=0.05)
    assert std[others].mean().item() == pytest.approx(1.0, rel=0.02)
    again, _ = quant.outlier_activations(4000, 64, seed=0)
    assert torch.equal(X, again) and not torch.equal(X, quant.outlier_activations(4000, 64, seed=1)[0])
    W = quant.gaussian_weights(400, 300)
    assert W.dtype == torch.float32 and W.std().item() == pytest.approx(1 / math.sqrt(400), rel=0.02)
    assert torch.equal(W, quant.gaussian_weights(400, 300, seed=0))


def test_tensor_parallel_sizes_run_from_one_to_every_head():
    bloom = models.bloom_config()
    sizes = budget.tensor_parallel_sizes(bloom)
    assert sizes[0] == 1 and sizes[-1] == bloom.n_head  # 112 heads on 112 GPUs is the last split
    assert sizes == [n for n in range(1, 113) if 112 % n == 0 and 14336 % n == 0 and 250880 % n == 0]


def test_the_smallest_gpu_names_the_largest_when_none_fits():
    sizes = {"a": 10, "b": 20, "c": 40}
    assert [budget.smallest_gpu(n, sizes) for n in (5, 10, 11, 40)] == ["a", "a", "b", "c"]
    assert budget.smallest_gpu(41, sizes) == "more than c"


def test_gpt3_has_the_published_heads_and_context():
    config = budget.gpt3_config()
    assert (config.num_attention_heads, config.max_position_embeddings, config.ffn_dim) == (
        96,
        2048,
        4 * 12288,
    )
    assert config.word_embed_proj_dim == config.hidden_size == 12288


@pytest.mark.parametrize(
    "name,dtype", [("FP32", torch.float32), ("FP16", torch.float16), ("BF16", torch.bfloat16)]
)
def test_the_format_table_row_is_torchs_finfo(name, dtype):
    """Chapter 6's table of formats, row by row, against torch.finfo (a second source for every column)."""
    row = next(r for r in formats.format_table() if r["format"] == name)
    info = torch.finfo(dtype)
    assert row["bits"] == info.bits
    assert row["exponent bits"] + row["mantissa bits"] + 1 == info.bits
    assert row["mantissa bits"] == round(-math.log2(info.eps))
    assert row["bias"] == 2 ** (row["exponent bits"] - 1) - 1
    assert (row["max finite"], row["min normal"], row["epsilon"]) == (info.max, info.tiny, info.eps)
    assert row["min subnormal"] == info.smallest_normal * info.eps
    assert row["decimal digits"] == pytest.approx(math.log10(2 / info.eps))


def test_model_bytes_counts_zero_parameters_and_names_a_bad_count():
    assert formats.model_bytes(0, torch.float16) == 0 and formats.model_bytes(3, "BF16") == 6
    with pytest.raises(ValueError, match=r"n_params must be >= 0, got -1"):
        formats.model_bytes(-1, torch.float16)


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_saved_activations_take_4_bytes_in_fp32_and_2_in_16_bit_compute(device):
    """fp32 training saves fp32 activations, 16-bit training 16-bit ones."""
    c = models.tiny_opt_config()

    def saved(mode, **kw):
        return memory.estimate(c, mode, 2, 16, device=device, **kw).of_kind("activations")

    assert saved("lora-fp32") == saved("lora-fp16", activation_bytes=4) > saved("lora-fp16")
    assert saved("lora-fp16") == saved("lora-fp32", activation_bytes=2)


def test_nf4_double_quantization_stores_what_bitsandbytes_stores():
    """An NF4 weight with double quantization, against bitsandbytes' quantize_4bit on CPU: the packed codes,
    one 8-bit absmax per block of 64, and one fp32 scale per 256 of those."""
    import bitsandbytes.functional as bnbf

    W = torch.randn(256, 1000)
    packed, state = bnbf.quantize_4bit(W, blocksize=64, compress_statistics=True, quant_type="nf4")
    groups = memory.ParameterGroups(linear=W.numel(), linear_rows=W.shape[0], other=0)
    parts = memory.weights(groups, "nf4", double_quant=True).components
    assert parts["weights (nf4 linear)"] == packed.numel() * packed.element_size()
    assert parts["nf4 scales (8-bit, one per 64)"] == state.absmax.numel() * state.absmax.element_size()
    assert parts["their scales (fp32, one per 256)"] == state.state2.absmax.numel() * 4
    int8 = memory.weights(groups, "int8").components
    assert int8["weights (int8 linear)"] == W.numel() and int8["int8 scales (fp32, one per row)"] == 4 * 256
