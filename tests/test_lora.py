"""Claims of the LoRA chapter: our layer is peft's, B = 0 changes nothing, merge/unmerge are inverses, and the
parameter counts are arithmetic identities of the configs."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, get_peft_model, inject_adapter_in_model
from torch import nn

from lorabook import adapters, cited, models, tasks
from lorabook import lora as L
from lorabook.rank import numerical_rank


class OneLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)


def tiny_opt(seed=0, **overrides):
    config = models.tiny_opt_config(**{"hidden_size": 32, "ffn_dim": 64, "vocab_size": 50, **overrides})
    return models.random_model(config, seed=seed).eval()


# ---------------------------------------------------------------------------- ours ≡ peft


@settings(max_examples=40)
@given(
    d_in=st.integers(1, 24),
    d_out=st.integers(1, 24),
    batch=st.integers(1, 5),
    alpha=st.floats(0.5, 64),
    data=st.data(),
)
def test_our_lora_linear_equals_peft_outputs_and_input_gradients(d_in, d_out, batch, alpha, data):
    r = data.draw(st.integers(1, min(d_in, d_out)))
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    base = nn.Linear(d_in, d_out).double()
    ours = L.LoRALinear(copy.deepcopy(base), r=r, alpha=alpha)
    torch.nn.init.normal_(ours.B)  # a trained B, so the LoRA path is not zero
    theirs = inject_adapter_in_model(
        LoraConfig(r=r, lora_alpha=alpha, target_modules=["lin"], lora_dropout=0.0), OneLinear(d_in, d_out)
    ).double()
    theirs.lin.base_layer.load_state_dict(base.state_dict())
    with torch.no_grad():
        theirs.lin.lora_A["default"].weight.copy_(ours.A)
        theirs.lin.lora_B["default"].weight.copy_(ours.B)
    x1 = torch.randn(batch, d_in, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = ours(x1), theirs.lin(x2)
    assert torch.allclose(y1, y2, atol=1e-12, rtol=1e-10)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    assert torch.allclose(x1.grad, x2.grad, atol=1e-12, rtol=1e-10)
    assert torch.allclose(ours.A.grad, theirs.lin.lora_A["default"].weight.grad, atol=1e-12, rtol=1e-10)


def test_our_counter_equals_peft_on_an_opt_config():
    config = models.opt_config("opt-125m", num_hidden_layers=3)
    ours, theirs = models.meta_model(config), models.meta_model(config)
    L.inject_lora(ours, ("q_proj", "v_proj"), r=16, alpha=32)
    peft_model = get_peft_model(
        theirs, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    assert L.count_parameters(ours) == peft_model.get_nb_trainable_parameters()


def test_each_task_s_adapter_is_its_lora_parameters_in_fp32_beside_one_base():
    """Chapter 4's modularity demonstration: the random OPT base and each task's adapter (r = 8 on every
    linear layer, through peft's multi-adapter API) take 4 bytes a parameter; the adapter's count is LoRA's
    closed form, layers × Σ r (d_in + d_out), and the base's the config's exact count."""
    from lorabook import memory

    config = models.tiny_opt_config(vocab_size=32, dropout=0.0, attention_dropout=0.0)
    base = models.random_model(config, seed=0)
    assert (
        sum(p.numel() * p.element_size() for p in base.parameters())
        == 4 * memory.parameter_groups(config).total
    )
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=list(L.ALL_LINEAR))
    model = get_peft_model(base, lora, adapter_name="add 1")
    model.add_adapter("add 3", lora)
    per_adapter = {
        name: sum(p.numel() * p.element_size() for n, p in model.named_parameters() if f".{name}." in n)
        for name in ("add 1", "add 3")
    }
    assert per_adapter["add 1"] == per_adapter["add 3"] == 4 * L.lora_parameter_count(config, 8, L.ALL_LINEAR)


def test_inject_lora_s_defaults_are_peft_s():
    """r, alpha and dropout left out, our LoRA is peft's LoraConfig() on the same layers."""
    model = models.random_model(models.tiny_opt_config(), seed=0)
    layers = [model.get_submodule(n) for n in L.inject_lora(model, ("q_proj",))]
    peft = LoraConfig()
    assert all(layer.A.shape[0] == peft.r for layer in layers)
    assert all(layer.scaling == peft.lora_alpha / peft.r for layer in layers)
    assert all(isinstance(layer.dropout, torch.nn.Identity) for layer in layers) and peft.lora_dropout == 0


def test_inject_lora_passes_its_rank_scale_and_dropout_to_every_layer():
    model = models.random_model(models.tiny_opt_config(), seed=0)
    names = L.inject_lora(model, ("q_proj", "v_proj"), r=2, alpha=6, dropout=0.1)
    layers = [model.get_submodule(n) for n in names]
    assert names and all(isinstance(layer, L.LoRALinear) for layer in layers)
    assert all(layer.A.shape[0] == 2 and layer.scaling == 3 and layer.dropout.p == 0.1 for layer in layers)


def test_initialisation_is_kaiming_uniform_for_A_and_zero_for_B():
    torch.manual_seed(0)
    layer = L.LoRALinear(nn.Linear(400, 300), r=64, alpha=16)
    bound = 1 / 400**0.5  # kaiming_uniform_(a=√5) on fan_in 400 gives U(−1/√400, 1/√400)
    assert layer.A.abs().max() <= bound and layer.A.abs().max() > 0.95 * bound
    assert torch.count_nonzero(layer.B) == 0
    assert layer.scaling == 16 / 64


# ---------------------------------------------------------------------------- B = 0, merge, rank


def test_b_zero_gives_the_base_models_logits():
    base = tiny_opt()
    adapted = copy.deepcopy(base)
    L.inject_lora(adapted, ("q_proj", "v_proj"), r=4, alpha=8)
    ids = torch.randint(0, 50, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(base(ids).logits, adapted(ids).logits)


def test_merge_then_unmerge_round_trips_and_merged_equals_unmerged():
    torch.manual_seed(0)
    model = tiny_opt()
    L.inject_lora(model, L.ALL_LINEAR, r=4, alpha=8)
    for layer in L.lora_layers(model):
        torch.nn.init.normal_(layer.B, std=0.1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = torch.randint(0, 50, (2, 10))
    with torch.no_grad():
        unmerged = model(ids).logits
        L.merge_all(model)
        merged = model(ids).logits
        L.unmerge_all(model)
    assert torch.allclose(merged, unmerged, atol=1e-5)
    for n, p in model.named_parameters():
        assert torch.allclose(p, before[n], atol=1e-5), n


def test_merge_and_unload_leaves_the_base_architecture_computing_the_same_logits():
    torch.manual_seed(0)
    model = tiny_opt()
    plain = {n: type(m) for n, m in model.named_modules()}
    L.inject_lora(model, L.SEED.target_modules, r=4, alpha=8)
    for layer in L.lora_layers(model):
        torch.nn.init.normal_(layer.B, std=0.1)
    ids = torch.randint(0, 50, (2, 10))
    with torch.no_grad():
        unmerged = model(ids).logits
        merged = L.merge_and_unload(model)(ids).logits
    assert L.lora_layers(model) == [] and {n: type(m) for n, m in model.named_modules()} == plain
    assert torch.allclose(merged, unmerged, atol=1e-5)
    assert not torch.allclose(merged, tiny_opt()(ids).logits, atol=1e-3)  # W₀ + ΔW, not W₀


@given(st.integers(2, 30), st.integers(2, 30), st.data())
def test_delta_weight_has_rank_at_most_r(d_in, d_out, data):
    r = data.draw(st.integers(1, min(d_in, d_out)))
    torch.manual_seed(0)
    layer = L.LoRALinear(nn.Linear(d_in, d_out).double(), r=r)
    torch.nn.init.normal_(layer.B)
    assert numerical_rank(layer.delta_weight().detach().numpy()) <= r


def test_only_lora_parameters_train_after_injection():
    model = tiny_opt()
    names = L.inject_lora(model, ("q_proj", "v_proj"), r=2)
    assert len(names) == 2 * 2  # two layers, two targets
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith((".A", ".B")) for n in trainable)


# ---------------------------------------------------------------------------- exact counts


def test_opt_6_7b_counts_are_arithmetic_identities_of_the_config(capsys):
    config = models.opt_config("opt-6.7b")
    model = models.meta_model(config)
    L.inject_lora(model, ("q_proj", "v_proj"), r=16, alpha=32)
    trainable, total = L.count_parameters(model)
    layers, d = config.num_hidden_layers, config.hidden_size
    assert trainable == layers * 2 * 16 * (d + d) == L.lora_parameter_count(config, 16)
    assert total == models.opt_parameter_formula(config) + trainable
    ours = L.trainable_summary(model)
    assert ours.startswith(f"trainable params: {trainable} || all params: {total} ||")
    # the line peft prints for the same adapter, its numbers written with commas and 4 decimals
    peft_model = get_peft_model(
        models.meta_model(config), LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"])
    )
    peft_model.print_trainable_parameters()
    theirs = capsys.readouterr().out.strip()
    numbers = [float(part.split(": ")[1].replace(",", "")) for part in theirs.split(" || ")]
    assert [float(part.split(": ")[1]) for part in ours.split(" || ")][:2] == numbers[:2]
    assert f"{float(ours.rsplit(': ', 1)[1]):.4f}" == theirs.rsplit(": ", 1)[1] == "0.1258"


def test_gpt3_lora_count_and_reduction():
    layers, d, r = cited.GPT3_LAYERS.value, cited.GPT3_D_MODEL.value, 4
    trainable = layers * 2 * r * (d + d)  # Wq and Wv, each d × d
    assert trainable == L.lora_parameter_count(
        models.opt_config("opt-125m", num_hidden_layers=layers, hidden_size=d, ffn_dim=4 * d), r
    )
    assert 9_000 < cited.GPT3_PARAMS.value / trainable < 10_000  # "10,000×" is a round figure


@pytest.mark.parametrize("kind,count", [("H", 2), ("L", 1)])
def test_adapters_are_placed_per_layer_and_start_as_the_identity(kind, count):
    base = tiny_opt()
    adapted = copy.deepcopy(base)
    assert len(adapters.inject_adapters(adapted, kind, bottleneck=4)) == count * 2
    ids = torch.randint(0, 50, (1, 6))
    with torch.no_grad():
        assert torch.equal(base(ids).logits, adapted(ids).logits)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("r", [0, -1, 9])
def test_rank_out_of_range_is_refused(r):
    with pytest.raises(ValueError, match=rf"r must be in 1\.\.8, got {r}"):
        L.LoRALinear(nn.Linear(8, 12), r=r)


@pytest.mark.parametrize("alpha", [0, -2.0])
def test_non_positive_alpha_is_refused(alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        L.LoRALinear(nn.Linear(8, 8), r=2, alpha=alpha)


def test_a_pattern_that_matches_nothing_is_refused_with_the_names_there_are():
    with pytest.raises(ValueError, match=r"matched no nn\.Linear .* named \['fc1', 'fc2', 'k_proj'"):
        L.inject_lora(tiny_opt(), ("query", "value"), r=2)


def test_merging_twice_and_unmerging_unmerged_are_refused():
    layer = L.LoRALinear(nn.Linear(4, 4), r=2)
    layer.merge()
    with pytest.raises(RuntimeError, match="already merged"):
        layer.merge()
    layer.unmerge()
    with pytest.raises(RuntimeError, match="not merged"):
        layer.unmerge()


# ------------------------------------------------------------------------ timing helpers and the toy tasks


def test_interleaved_timing_reports_every_variant_and_ratio_one_for_the_base():
    from lorabook import latency

    calls = {"base": lambda: sum(range(1000)), "slow": lambda: sum(range(20000))}
    times = latency.interleaved_times(calls, repeats=5, warmup=1)
    assert set(times) == {"base", "slow"} and all(len(t) == 5 for t in times.values())
    r = latency.ratios(times)
    assert r["base"]["median"] == 1.0 and r["slow"]["median"] > 1.0
    assert latency.describe_ratio(r["slow"]).startswith("slower")


def test_describe_ratio_says_only_what_the_spread_allows():
    from lorabook import latency

    assert "not distinguishable" in latency.describe_ratio({"q1": 0.97, "q3": 1.04})
    assert latency.describe_ratio({"q1": 0.90, "q3": 0.95}).startswith("faster")


def test_counting_sequences_follow_their_rule():
    from lorabook import tasks

    ids = tasks.counting_sequences(3, vocab=32, n=10, length=8, seed=1)
    assert ((ids[:, 1:] - ids[:, :-1]) % 32 == 3).all()
    with pytest.raises(ValueError, match=r"k must be in 0\.\.31, got 32"):
        tasks.counting_sequences(32, vocab=32, n=1, length=2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_merge_on_a_float_base_equals_the_unmerged_layer(dtype):
    torch.manual_seed(0)
    layer = L.LoRALinear(torch.nn.Linear(32, 24).to(dtype), r=4, alpha=8)
    torch.nn.init.normal_(layer.B, std=0.1)
    x = torch.randn(5, 32, dtype=dtype)
    with torch.no_grad():
        assert layer.merged_weight().dtype == dtype  # W0 + ΔW in W0's dtype, though A and B are fp32
        unmerged = layer(x)
        layer.merge(safe=True)
        merged = layer(x)
        assert layer.unmerged_weight().dtype == dtype
    tol = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]
    assert torch.allclose(merged.float(), unmerged.float(), atol=tol)


def test_merge_refuses_an_int8_base_and_leaves_it_untouched():
    base = torch.nn.Linear(16, 8)
    base.weight = torch.nn.Parameter(torch.randint(-127, 128, (8, 16), dtype=torch.int8), requires_grad=False)
    layer = L.LoRALinear(base, r=2)
    torch.nn.init.normal_(layer.B)
    codes = base.weight.clone()
    with pytest.raises(TypeError, match=r"floating-point base weight, got torch.int8"):
        layer.merge()
    assert torch.equal(base.weight, codes) and not layer.merged


def test_safe_merge_refuses_an_update_that_overflows():
    layer = L.LoRALinear(torch.nn.Linear(8, 8).half(), r=2)
    with torch.no_grad():
        layer.B.fill_(300.0)
        layer.A.fill_(300.0)  # (α/r)·B·A = 0.5 · 2 · 9e4 = 9e4 > fp16's 65,504
    before = layer.base.weight.clone()
    with pytest.raises(ValueError, match="inf or NaN"):
        layer.merge(safe=True)
    assert torch.equal(layer.base.weight, before) and not layer.merged


@pytest.mark.slow
def test_two_adapters_on_one_frozen_base_each_learn_their_own_contradictory_task():
    """The property behind the LoRA chapter's modularity figures (ch4_acc_own, ch4_acc_other, ch4_acc_base):
    each adapter scores high on its task and near zero on the other, the base scores near zero on both, and
    switching adapters leaves the base's weights untouched."""
    from peft import LoraConfig, get_peft_model

    base = models.random_model(
        models.tiny_opt_config(vocab_size=32, dropout=0.0, attention_dropout=0.0), seed=0
    )
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    config = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "fc1", "fc2"]
    )
    model = get_peft_model(base, config, adapter_name="add 1")
    model.add_adapter("add 3", config)
    data = {k: tasks.counting_sequences(k, vocab=32, n=256, length=16, seed=k) for k in (1, 3)}
    held_out = {k: tasks.counting_sequences(k, vocab=32, n=64, length=16, seed=100 + k) for k in (1, 3)}
    for k in (1, 3):
        model.set_adapter(f"add {k}")
        tasks.train_lm(model, data[k], steps=120, lr=1e-2)
    for k, other in ((1, 3), (3, 1)):
        model.set_adapter(f"add {k}")
        assert tasks.next_token_accuracy(model, held_out[k]) > 0.9
        assert tasks.next_token_accuracy(model, held_out[other]) < 0.2
    with model.disable_adapter():
        assert max(tasks.next_token_accuracy(model, held_out[k]) for k in (1, 3)) < 0.2
    after = dict(model.get_base_model().named_parameters())
    for name, p in before.items():
        key = next(n for n in after if n.replace(".base_layer", "") == name)
        assert torch.equal(after[key], p), name


@pytest.mark.parametrize(
    "targets",
    [
        ("q_proj",),
        ("k_proj",),
        ("v_proj",),
        ("o_proj",),
        ("gate_proj",),
        ("up_proj",),
        ("down_proj",),
        ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    ],
)
def test_the_llama_count_is_peft_s_for_every_linear_layer_under_grouped_query_attention(targets):
    """A small Llama with SmolLM2's shape of attention: fewer key/value heads than query heads, and a head
    width that is not hidden_size / heads."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig

    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=96,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=24,
        num_hidden_layers=2,
        vocab_size=100,
    )
    peft_model = get_peft_model(models.meta_model(config), LoraConfig(r=8, target_modules=list(targets)))
    assert L.llama_lora_parameter_count(config, 8, targets) == peft_model.get_nb_trainable_parameters()[0]


def test_a_lora_layer_prints_its_shape_rank_alpha_and_whether_it_is_merged():
    layer = L.LoRALinear(nn.Linear(6, 4), r=2, alpha=4.0)
    assert layer.extra_repr() == "d_in=6, d_out=4, r=2, alpha=4.0, merged=False"
    assert repr(layer).splitlines()[:2] == ["LoRALinear(", "  d_in=6, d_out=4, r=2, alpha=4.0, merged=False"]


def test_the_closed_form_counts_refuse_a_layer_the_model_does_not_have():
    opt = "['fc1', 'fc2', 'k_proj', 'out_proj', 'q_proj', 'v_proj']"
    with pytest.raises(ValueError) as refused:
        L.lora_parameter_count(models.tiny_opt_config(), 4, ["q_proj", "lm_head", "gate_proj"])
    assert str(refused.value) == f"target_modules must be among {opt}, got ['gate_proj', 'lm_head']"


def test_matches_follows_peft_for_a_regex_and_for_a_list_of_names():
    from peft.tuners.tuners_utils import check_target_module_exists

    model = models.meta_model(models.tiny_opt_config())
    names = [n for n, _ in model.named_modules() if n]
    for targets in (
        r".*layers\.1\.self_attn\.(q|v)_proj",
        r"model\.decoder\.layers\.0\.fc1",
        ["q_proj", "fc2"],
    ):
        ours = [n for n in names if L.matches(n, targets)]
        theirs = [n for n in names if check_target_module_exists(LoraConfig(target_modules=targets), n)]
        assert ours == theirs and ours, targets
    assert not L.matches("model.decoder.layers.0.fc1", r"fc1")  # a regex matches the whole name
