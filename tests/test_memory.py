"""The memory estimator: exact counts, components that scale as they should, and predicted = measured for the
parts that can be summed tensor by tensor."""

import math

import pytest
import torch
from transformers import BloomConfig

from lorabook import budget, models, profiling, sizes
from lorabook import memory as M


@pytest.mark.parametrize("name", sorted(models.OPT_CONFIGS))
def test_parameter_groups_are_exact_counts_of_the_config(name):
    config = models.opt_config(name)
    g = M.parameter_groups(config)
    d, f, L = config.hidden_size, config.ffn_dim, config.num_hidden_layers
    assert g.total == models.opt_parameter_formula(config)
    assert g.linear == L * (4 * d * d + 2 * d * f)
    assert g.linear_rows == L * (4 * d + f + d)


def test_the_formula_counts_opt_350m_with_its_narrow_embeddings_and_no_final_layernorm():
    """OPT-350m embeds in 512 dimensions, projects in and out of 1,024, and is post-LN: 331,196,416 parameters
    in its hub checkpoint, where counting it like the others would give 355,889,152."""
    config = models.opt_config("opt-350m")
    assert (config.word_embed_proj_dim, config.hidden_size, config.do_layer_norm_before) == (512, 1024, False)
    assert models.opt_parameter_formula(config) == 331_196_416
    model = models.meta_model(config)
    assert model.model.decoder.final_layer_norm is None and model.model.decoder.project_in is not None


def test_the_formula_leaves_out_the_final_layernorm_where_transformers_does():
    """transformers' OPTDecoder builds a final LayerNorm only when do_layer_norm_before and not
    _remove_final_layer_norm (a switch for some converted checkpoints): the formula follows it, each way."""
    for remove in (False, True):
        config = models.opt_config("opt-125m", num_hidden_layers=2, _remove_final_layer_norm=remove)
        model = models.meta_model(config)
        assert (model.model.decoder.final_layer_norm is None) == remove
        counted = sum(p.numel() for p in model.parameters())
        assert models.opt_parameter_formula(config) == counted


def test_bytes_per_element_come_from_torch():
    """Each name maps to the format it names: its width from torch's finfo or iinfo, not from sizes' table."""
    named = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}
    assert set(sizes.DTYPES) == set(named)
    for name, dtype in named.items():
        info = torch.iinfo(dtype) if name == "int8" else torch.finfo(dtype)
        assert M.bytes_per(name) * 8 == info.bits
        assert sizes.DTYPES[name] == dtype


def test_full_finetune_names_the_rules_and_precisions_it_accepts():
    g = M.ParameterGroups(linear=1000, linear_rows=10, other=24)
    with pytest.raises(ValueError, match=r"rule must be one of \('zero', 'hf'\), got 'deepspeed'"):
        M.full_finetune(g, "mixed", "deepspeed")
    with pytest.raises(ValueError, match="precision must be 'fp32' or 'mixed', got 'fp8'"):
        M.full_finetune(g, "fp8")


def test_full_finetune_costs_16_bytes_per_parameter_by_zero_and_18_by_hf():
    g = M.ParameterGroups(linear=1000, linear_rows=10, other=24)
    assert M.full_finetune(g, "mixed", "zero").total == 16 * g.total
    assert M.full_finetune(g, "mixed", "hf").total == 18 * g.total
    assert M.full_finetune(g, "fp32").total == 16 * g.total


def test_bytes_per_parameter_divides_each_component_by_every_parameter():
    """The chapter's table of bytes per parameter: each component over the whole count (linear and other)."""
    g = M.ParameterGroups(linear=3000, linear_rows=10, other=1000)
    zero = budget.bytes_per_parameter(M.full_finetune(g, "mixed", "zero"), g)
    assert zero == {"weights (fp16)": 2, "gradients (fp16)": 2, "fp32 master copy": 4, "Adam m, v (fp32)": 8}
    hf = budget.bytes_per_parameter(M.full_finetune(g, "mixed", "hf"), g)
    assert hf == {
        "weights (fp32)": 4,
        "fp16 copy for compute": 2,
        "gradients (fp32)": 4,
        "Adam m, v (fp32)": 8,
    }
    assert (
        M.full_finetune(g).components == M.full_finetune(g, "mixed", "zero", "adamw").components
    )  # defaults
    eight = budget.bytes_per_parameter(M.full_finetune(g, "mixed", "zero", "adamw-8bit"), g)
    # m and v: a byte each per parameter, and an fp32 scale per block of 256
    assert eight["Adam m, v (8-bit)"] == 2 * (4000 + 4 * math.ceil(4000 / 256)) / 4000


def test_int8_weights_are_one_byte_plus_a_scale_per_row_plus_the_float_rest():
    g = M.ParameterGroups(linear=1000, linear_rows=10, other=24)
    assert M.weights(g, "int8").total == 1000 + 4 * 10 + 2 * 24
    assert M.weights(g, "int8", prepared_for_training=True).total == 1000 + 4 * 10 + 4 * 24


def test_components_scale_as_they_should():
    config = models.tiny_opt_config()
    act = lambda b, s, c=False: M.activations(config, b, s, checkpointing=c).of_kind("activations")  # noqa: E731
    assert act(4, 32) == 4 * act(1, 32)  # linear in batch
    assert act(2, 64, True) < act(2, 64)  # checkpointing keeps less
    assert M.kv_cache(config, 3, 40).total == 2 * M.kv_cache(config, 3, 20).total  # linear in tokens
    lora = M.estimate(config, "lora-int8", batch=2, seq=16)
    assert not any(k.startswith("gradients") for k in lora.components)  # frozen weights have no gradients
    assert sum(lora.components.values()) == lora.total
    full = M.estimate(config, "full-mixed", batch=2, seq=16)
    assert full.of_kind("gradients") == 2 * M.parameter_groups(config).total  # fp16 gradients, 2 bytes each


def test_peak_is_resident_plus_the_larger_of_backward_start_and_end():
    kinds = {"g": "gradients", "a": "activations", "t": "transient"}
    e = M.Estimate({"w": 10, "g": 7, "a": 5, "t": 1}, kinds)
    assert e.total == 23 and e.peak == 10 + 7
    e.components["a"] = 9
    assert e.peak == 10 + 9 + 1


def test_measured_bytes_of_a_full_fp32_step_equal_the_prediction():
    config = models.tiny_opt_config()
    model = models.random_model(config)
    opt = torch.optim.Adam(model.parameters())
    ids = torch.randint(0, 100, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    tensor_bytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)  # noqa: E731
    measured = {
        "weights (fp32)": tensor_bytes(model.parameters()),
        "gradients (fp32)": tensor_bytes(p.grad for p in model.parameters()),
        "Adam m, v (fp32)": tensor_bytes(profiling.optimizer_states(opt)),
    }
    assert measured == M.full_finetune(M.parameter_groups(config), "fp32").components


def test_measured_bytes_of_an_8_bit_base_equal_the_prediction(tmp_path):
    from lorabook import bnb

    config = models.tiny_opt_config()
    loaded = bnb.load_in_dtypes(models.random_model(config), ("int8",))["int8"]
    linear = bnb.linear_weight_bytes(loaded)
    predicted = M.weights(M.parameter_groups(config), "int8").components
    assert linear["weights"] == predicted["weights (int8 linear)"]
    assert linear["scales"] == predicted["int8 scales (fp32, one per row)"]


def test_bad_input_is_refused_with_the_allowed_values():
    config = models.tiny_opt_config()
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


# Small, but shaped like a language model: the vocabulary wider than the MLP, more tokens than hidden units.
SMALL = dict(ffn_dim=256, vocab_size=1024, max_position_embeddings=128)


@pytest.mark.parametrize("mode", profiling.MEASURED_MODES)
@pytest.mark.parametrize("checkpointing", [False, "reentrant", "non-reentrant"])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_every_measured_component_matches_the_estimate(mode, checkpointing, dropout):
    config = models.tiny_opt_config(**SMALL, dropout=dropout)
    reentrant = checkpointing != "non-reentrant"
    compared = profiling.compare_step(config, mode, 4, 32, bool(checkpointing), reentrant=reentrant)
    for name, (predicted, measured) in compared.items():
        exact = name in ("weights", "gradients", "optimizer states")
        close = predicted == measured if exact else abs(predicted / measured - 1) < profiling.TOLERANCE_EXACT
        assert close, (name, predicted, measured)


def test_eager_attention_keeps_the_probabilities():
    config = models.tiny_opt_config(**SMALL)
    model = models.random_model(config).train()
    model.config._attn_implementation = "eager"
    ids = torch.randint(0, 1024, (2, 40))
    _, (kept, _) = profiling.profiled(lambda: model(input_ids=ids, labels=ids).loss)
    predicted = M.activations(config, 2, 40, attention="eager", bytes_per_value=4, mask_bytes=4)
    assert abs(predicted.of_kind("activations") / kept - 1) < 0.01


def test_the_stand_in_step_is_predicted_within_ten_percent():
    """The chapter's table: the stand-in's shape at the fine-tune's batch, within the issue's target."""
    from lorabook import standin

    config = standin.model_config(standin.Recipe())
    for mode in profiling.MEASURED_MODES:
        for name, (predicted, measured) in profiling.compare_step(config, mode, 4, 128).items():
            assert abs(predicted / measured - 1) <= profiling.TOLERANCE, (mode, name)


def test_8_bit_adam_states_are_two_bytes_plus_block_scales():
    import bitsandbytes as bnb

    p = torch.nn.Parameter(torch.randn(1000, 300))
    opt = bnb.optim.AdamW8bit([p])
    p.grad = torch.randn_like(p)
    opt.step()
    measured = profiling.tensor_bytes(
        t for k, t in opt.state[p].items() if torch.is_tensor(t) and "qmap" not in k
    )
    assert measured == M.adam_states(p.numel(), "adamw-8bit")
    assert M.adam_states(p.numel()) == 8 * p.numel()


def test_nf4_weights_are_half_a_byte_plus_one_scale_per_64():
    import bitsandbytes as bnb

    layer = bnb.nn.Linear4bit(256, 512, bias=False, quant_type="nf4", compress_statistics=False)
    layer.weight = bnb.nn.Params4bit(
        torch.randn(512, 256), requires_grad=False, quant_type="nf4", compress_statistics=False
    )._quantize("cpu")
    g = M.ParameterGroups(linear=512 * 256, linear_rows=512, other=0)
    predicted = M.weights(g, "nf4").components
    assert layer.weight.numel() * layer.weight.element_size() == predicted["weights (nf4 linear)"]
    absmax = layer.weight.quant_state.absmax
    assert absmax.numel() * absmax.element_size() == predicted["nf4 scales (fp32, one per 64)"]


@pytest.mark.parametrize("name", ["opt-6.7b", "opt-66b"])
def test_an_int8_nf4_and_double_quantized_base_differ_by_their_weights_alone(name):
    """Chapter 7b's peaks: a LoRA step on each base (the seed's adapter, checkpointing, batch 1 of 512) costs
    the same but for the weights' bytes, derived here per linear weight: int8 1 byte + 4 per row, NF4 ½ + 4
    per 64, double-quantized ½ + 1 per 64 + 4 per 64·256. On QLoRA's 48 GB GPU, OPT-66B trains on
    double-quantized NF4 and not on int8."""
    from lorabook import cited

    config = models.opt_config(name)
    g = M.parameter_groups(config)
    peak = {
        (mode, dq): M.estimate(config, mode, 1, 512, checkpointing=True, groups=g, double_quant=dq).peak
        for mode, dq in (("lora-int8", False), ("lora-nf4", False), ("lora-nf4", True))
    }
    int8 = g.linear + 4 * g.linear_rows
    nf4 = g.linear / 2 + 4 * math.ceil(g.linear / 64)
    nf4dq = g.linear / 2 + math.ceil(g.linear / 64) + 4 * math.ceil(g.linear / (64 * 256))
    assert peak["lora-int8", False] - peak["lora-nf4", False] == int8 - nf4
    assert peak["lora-nf4", False] - peak["lora-nf4", True] == nf4 - nf4dq
    if name == "opt-66b":
        assert peak["lora-int8", False] > cited.QLORA_GPU_MEMORY.value > peak["lora-nf4", True]


def test_the_stand_in_on_qlora_s_base_stores_what_the_estimate_predicts():
    """Chapter 7b's bits per linear weight of the NF4 base: bitsandbytes' tensors of the stand-in loaded as
    QLoRA loads a base (finetune.NF4_CONFIG: NF4, double quantization) hold the bytes memory.weights predicts,
    about 4.127 bits a weight (4 + 8/64 + 32/(64·256))."""
    import dataclasses

    from lorabook import bnb, finetune, nf4, standin

    profile = finetune.PROFILES["stand-in"]
    cfg = dataclasses.replace(
        profile, model_name=str(standin.standin_path()), load_in_8bit=False, load_in_4bit=True
    )
    model = finetune.load_base(cfg)
    groups = M.parameter_groups(model.config)
    stored = bnb.linear_weight_bytes(model)["total"]
    predicted = M.weights(groups, "nf4", double_quant=True).components
    assert stored == sum(v for k, v in predicted.items() if "embeddings" not in k)
    assert 8 * stored / groups.linear == pytest.approx(nf4.bits_per_parameter(True), rel=1e-3)
    base, _ = standin.load()  # the linear weights chapter 7b quantizes: every nn.Linear of the decoder layers
    linear = [m.weight for n, m in base.named_modules() if isinstance(m, torch.nn.Linear) and ".layers." in n]
    assert sum(w.numel() for w in linear) == groups.linear


def test_bloom_weights_need_five_a100s_and_full_finetuning_about_35():
    g = M.parameter_groups(models.bloom_config())
    assert M.gpus_needed(M.weights(g, "fp16").total) == 5  # 352 GB over 80 GB cards
    assert (
        M.gpus_needed(M.full_finetune(g, "mixed", "zero").total) == 36
    )  # 16 B/param: 35.2 cards, rounded up
    assert M.gpus_needed(M.full_finetune(g, "mixed", "hf").total) == 40


def test_tokens_to_fill_is_the_budget_left_over_per_token_cost():
    config = models.tiny_opt_config()
    per_token = M.activations(config, 1, 32, bytes_per_value=2, mask_bytes=1).of_kind("activations") / 32
    assert M.tokens_to_fill(1000 + 10 * per_token, 1000, config, 32) == 10
    assert M.tokens_to_fill(500, 1000, config, 32) == 0
    # LoRA saves less per token than full fine-tuning (no input of a frozen layer's weight gradient), so
    # the same budget fills with more tokens, and by the same rule
    lora = M.activations(config, 1, 32, "lora", bytes_per_value=2, mask_bytes=1).of_kind("activations") / 32
    assert lora < per_token
    assert M.tokens_to_fill(1000 + 10 * lora, 1000, config, 32, "lora") == pytest.approx(10)


@pytest.mark.slow
def test_the_gpu_script_runs_and_records_its_provenance(tmp_path):
    """The script the chapter's GPU figures come from, at a tiny size on this CPU (CUDA is not here)."""
    from lorabook import gpu_memory

    out = tmp_path / "gpu.json"
    result = gpu_memory.run("tiny", batch=2, seq=64, steps=1, out=out)
    assert gpu_memory.load(out) == result
    assert {"device", "torch", "transformers", "peft", "bitsandbytes", "date"} <= set(result["provenance"])
    assert [(r["gradient_checkpointing"], r["reentrant"]) for r in result["runs"]] == [
        (True, True),
        (True, False),
        (False, None),
    ]
    for r in result["runs"]:
        assert 0.9 <= r["predicted_peak_bytes"] / r["peak_allocated_bytes"] <= 1.1
    assert gpu_memory.load(tmp_path / "absent.json") is None
    status, rows = gpu_memory.summary(result)
    assert result["provenance"]["device"] in status and len(rows) == 3
    assert [r["checkpointing"] for r in rows] == ["reentrant", "non-reentrant", "off"]
    assert gpu_memory.summary(None) == (gpu_memory.NOT_MEASURED, [])
    with pytest.raises(ValueError, match="size must be one of"):
        gpu_memory.run("opt-175b", out=out)


def test_every_technique_lowers_the_peak_and_accumulation_saves_memory_not_work():
    config = models.opt_config("opt-6.7b")
    savings = budget.technique_savings(config, 4, 512, accumulation=4)
    assert all(after < before for before, after in savings.values())
    before, after = savings["gradient accumulation (8-bit LoRA, checkpointing)"]
    one_big = M.estimate(config, "lora-int8", 16, 512, checkpointing=True)
    micro = M.estimate(config, "lora-int8", 4, 512, checkpointing=True)
    # only the activations differ: weights and LoRA states are the same, the activations a quarter (but for
    # the checkpoints' RNG states, a few kB per layer whatever the batch)
    assert before - after == one_big.peak - micro.peak
    rng = config.num_hidden_layers * torch.get_rng_state().numel()
    assert (micro.of_kind("activations") - rng) * 4 == one_big.of_kind("activations") - rng
    # each pair is the estimate's two peaks at the batch and sequence length asked for
    short = budget.technique_savings(config, 2, 128, accumulation=3, groups=M.parameter_groups(config))
    assert short["int8 base (LLM.int8(), for LoRA)"] == (
        M.estimate(config, "lora-fp16", 2, 128).peak,
        M.estimate(config, "lora-int8", 2, 128).peak,
    )
    assert short["gradient accumulation (8-bit LoRA, checkpointing)"][0] == (
        M.estimate(config, "lora-int8", 6, 128, checkpointing=True).peak
    )


def test_breakdown_regroups_every_byte():
    e = M.estimate(models.tiny_opt_config(), "lora-int8", 2, 16)
    assert sum(budget.breakdown(e).values()) == e.total
    assert set(budget.breakdown(e)) <= set(budget.CATEGORIES)


# every component an estimate can hold, and the category the memory chapter's bars put it in
CATEGORY_OF = {
    "weights (fp32)": "weights",
    "weights (fp16)": "weights",
    "weights (int8 linear)": "weights",
    "weights (nf4 linear)": "weights",
    "weights (fp16: embeddings, norms, biases)": "weights",
    "weights (fp32: embeddings, norms, biases)": "weights",
    "int8 scales (fp32, one per row)": "weights",
    "nf4 scales (fp32, one per 64)": "weights",
    "gradients (fp16)": "gradients",
    "gradients (fp32)": "gradients",
    "Adam m, v (fp32)": "optimizer states",
    "fp32 master copy": "optimizer states",
    "LoRA weights (fp32)": "LoRA (weights, gradients, Adam)",
    "LoRA gradients (fp32)": "LoRA (weights, gradients, Adam)",
    "LoRA Adam m, v": "LoRA (weights, gradients, Adam)",
    "activations": "activations",
    "backward transient": "backward transient",
    "KV cache": "KV cache",
}


@pytest.mark.parametrize("mode", M.MODES)
def test_each_component_falls_in_its_category(mode):
    e = M.estimate(models.tiny_opt_config(), mode, 2, 16)
    for name in e.components:
        assert budget.category(name) == CATEGORY_OF[name], name
    by_hand = {}
    for name, nbytes in e.components.items():
        by_hand[CATEGORY_OF[name]] = by_hand.get(CATEGORY_OF[name], 0) + nbytes
    assert budget.breakdown(e) == {k: v for k, v in by_hand.items() if v}


def test_tensor_parallel_sizes_divide_heads_hidden_and_vocabulary():
    bloom = models.bloom_config()
    sizes = budget.tensor_parallel_sizes(bloom, at_least=5)
    assert sizes[:2] == [7, 8]
    for n in sizes:
        assert bloom.n_head % n == 0 and bloom.hidden_size % n == 0 and bloom.vocab_size % n == 0


def test_smallest_gpu_and_gpt3_shape():
    sizes = {"small": 10, "big": 20}
    assert budget.smallest_gpu(10, sizes) == "small" and budget.smallest_gpu(11, sizes) == "big"
    assert budget.smallest_gpu(21, sizes) == "more than big"
    g3 = M.parameter_groups(budget.gpt3_config())
    assert abs(g3.total / 175e9 - 1) < 0.01  # the published shape gives the published size


def test_non_reentrant_checkpointing_keeps_what_bitsandbytes_holds_on_ctx():
    """Only the 8-bit model pays: its matmul keeps its inputs as ctx attributes, which non-reentrant
    checkpointing (saved-tensor hooks) cannot free. 3h + f per token and layer."""
    config = models.tiny_opt_config(**SMALL)
    h, f, L = config.hidden_size, config.ffn_dim, config.num_hidden_layers
    act = lambda training, re: M.activations(
        config,
        4,
        32,
        training,
        checkpointing=True,  # noqa: E731
        reentrant=re,
    ).of_kind("activations")
    assert act("lora-int8", False) - act("lora-int8", True) == 4 * 32 * L * (3 * h + f) * 2
    assert act("lora", False) == act("lora", True) and act("full", False) == act("full", True)


def test_inference_holds_the_weights_and_the_kv_cache_alone():
    """Chapter 5's inference rows for OPT-6.7B: the weights in their dtype and the keys and values of every
    layer (2 × L × batch × seq × h × 2 bytes in fp16); nothing of training. batch 1 by default."""
    config = models.opt_config("opt-6.7b")
    g = M.parameter_groups(config)
    kv = 2 * 32 * 3 * 7 * 4096 * 2
    for mode, held in [
        ("inference-fp32", 4 * g.total),
        ("inference-fp16", 2 * g.total),
        ("inference-int8", g.linear + 4 * g.linear_rows + 2 * g.other),
    ]:
        e = M.estimate(config, mode, 3, 7)
        assert e.components["KV cache"] == kv and e.total == e.peak == held + kv, mode
    assert M.estimate(config, "inference-fp16", seq=7).total == 2 * g.total + kv // 3
    with pytest.raises(ValueError, match="device must be 'cuda' or 'cpu', got 'tpu'"):
        M.estimate(config, "lora-int8", device="tpu")


def test_lora_states_are_sixteen_bytes_a_parameter_with_adamw_and_ten_odd_with_8_bit_adam():
    assert M.lora_states(1000).components == {
        "LoRA weights (fp32)": 4000,
        "LoRA gradients (fp32)": 4000,
        "LoRA Adam m, v": 8000,
    }
    eight = M.lora_states(1000, "adamw-8bit").components["LoRA Adam m, v"]
    assert eight == 2 * (1000 + 4 * math.ceil(1000 / 256))
    assert M.lora_states(0).total == 0
    with pytest.raises(ValueError, match="n_lora must be >= 0, got -1"):
        M.lora_states(-1)


def test_estimates_add_by_component_and_bytes_stay_whole_numbers():
    a = sizes.Estimate({"x": 1, "y": 2}, {"y": "gradients"})
    b = sizes.Estimate({"x": 10, "z": 5}, {"z": "activations"})
    assert (a + b).components == {"x": 11, "y": 2, "z": 5}
    assert (a + b).kinds == {"y": "gradients", "z": "activations"}
    g = M.parameter_groups(models.opt_config("opt-6.7b"))
    for dtype, dq in [("fp16", False), ("int8", False), ("nf4", False), ("nf4", True)]:
        assert all(type(v) is int for v in M.weights(g, dtype, double_quant=dq).components.values()), dtype


def test_shape_reads_opt_bloom_and_gpt_style_names():
    from types import SimpleNamespace

    from transformers import GPT2Config

    assert sizes.shape(models.opt_config("opt-6.7b")) == (4096, 32, 32)
    assert sizes.shape(BloomConfig(hidden_size=64, n_layer=3, n_head=4)) == (64, 3, 4)
    assert sizes.shape(GPT2Config(n_embd=48, n_layer=2, n_head=6)) == (48, 2, 6)
    assert sizes.shape(SimpleNamespace(n_embd=12, n_layer=5, n_head=3)) == (12, 5, 3)  # GPT-2's own names
    assert sizes.shape(SimpleNamespace(hidden_size=8)) == (8, None, None)  # only the width is required
    with pytest.raises(
        ValueError, match=r"config must have a hidden size \(hidden_size or n_embd\), got object"
    ):
        sizes.shape(object())


def test_estimate_passes_the_workload_s_rank_targets_optimizer_and_device_to_each_part():
    """lora-int8 at r = 4 on q, k and v with 8-bit Adam on the CPU: LoRA's states count those layers at that
    rank with that optimizer, and the activations are saved.activations' for the same adapter, with the CPU's
    dropout masks in the activations' dtype (2 bytes) instead of CUDA's bools. Full fine-tuning's are
    saved.activations' of full training."""
    from lorabook.lora import lora_parameter_count
    from lorabook.saved import activations

    config, targets = models.tiny_opt_config(), ("q_proj", "k_proj", "v_proj")
    n = lora_parameter_count(config, 4, targets)
    assert n != lora_parameter_count(config, 4) != lora_parameter_count(config, 16, targets)
    e = M.estimate(
        config, "lora-int8", 2, 8, r=4, target_modules=targets, optimizer="adamw-8bit", device="cpu"
    )
    assert e.components["LoRA weights (fp32)"] == 4 * n
    assert e.components["LoRA Adam m, v"] == M.adam_states(n, "adamw-8bit")
    for device, masks in [("cpu", 2), ("cuda", 1)]:
        e = M.estimate(config, "lora-int8", 2, 8, r=4, target_modules=targets, device=device)
        saved = activations(config, 2, 8, "lora-int8", target_modules=targets, r=4, mask_bytes=masks)
        assert {k: e.components[k] for k in saved.components} == saved.components, device
    full = M.estimate(config, "full-mixed", 2, 8, device="cpu")
    saved = activations(config, 2, 8, "full", mask_bytes=2)
    assert {k: full.components[k] for k in saved.components} == saved.components
    assert saved.components != activations(config, 2, 8, "lora", mask_bytes=2).components


def test_adam_states_count_whole_bytes_from_zero_parameters_and_name_what_they_refuse():
    assert M.adam_states(0) == 0 and M.adam_states(3) == 24
    assert (
        M.adam_states(300, "adamw-8bit") == 2 * (300 + 4 * 2)
        and type(M.adam_states(300, "adamw-8bit")) is int
    )
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        M.adam_states(-1)
    with pytest.raises(ValueError, match="optimizer must be 'adamw' or 'adamw-8bit', got 'sgd'"):
        M.adam_states(3, "sgd")
    with pytest.raises(
        ValueError, match=r"config must have a hidden size \(hidden_size or n_embd\), got dict"
    ):
        M.parameter_groups({})


def test_opt_configs_default_to_6_7b_carry_only_opt_s_own_fields_and_name_what_they_refuse():
    from transformers import OPTConfig

    assert models.opt_config().to_dict() == models.opt_config("opt-6.7b").to_dict()
    for name in models.OPT_CONFIGS:
        assert models.opt_config(name).to_dict().keys() == OPTConfig().to_dict().keys(), name
    assert models.tiny_opt_config().to_dict().keys() == OPTConfig().to_dict().keys()
    with pytest.raises(ValueError) as refused:
        models.opt_config("opt-7b")
    assert str(refused.value) == f"name must be one of {sorted(models.OPT_CONFIGS)}, got 'opt-7b'"


def test_random_model_draws_from_seed_0_in_the_dtype_asked():
    config = models.tiny_opt_config()
    first, again = models.random_model(config), models.random_model(config, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), again.parameters(), strict=True))
    assert {p.dtype for p in models.random_model(config, dtype=torch.bfloat16).parameters()} == {
        torch.bfloat16
    }


def test_parameter_groups_count_bloom_s_blocks_under_their_own_name():
    """BLOOM's decoder blocks are transformer.h.<i>: each has query_key_value (h → 3h), dense (h → h) and an
    MLP of 4h, so 12h² linear weights and 9h output rows a block."""
    h, n = 64, 2
    g = M.parameter_groups(BloomConfig(hidden_size=h, n_layer=n, n_head=4, vocab_size=100))
    assert (g.linear, g.linear_rows) == (n * 12 * h * h, n * 9 * h)
