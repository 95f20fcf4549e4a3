"""LoRA's family from scratch (lorabook.family) equals peft: for rsLoRA, DoRA, PiSSA and OLoRA the initial
weights (and the rewritten base), the output and the gradients of the trained parameters; LoRA+'s learning
rate for every parameter; VeRA's shared projections, output, gradients and parameter count."""

import copy
import re

import numpy as np
import pytest
import torch
from peft import LoraConfig, VeraConfig, get_peft_model
from peft.optimizers import create_loraplus_optimizer
from torch import nn

from lorabook import family as F
from lorabook import lora, models, nf4
from lorabook.family import dora, loraplus, vera
from lorabook.family import runs as FR
from lorabook.seed import SEED

D_IN, D_OUT, R, ALPHA = 16, 24, 4, 8.0  # W₀ ∈ R^{24×16}; s = α/r = 2 and α/√r = 4, so a wrong scale shows
TOL = dict(rtol=1e-5, atol=1e-5)
TARGETS = ("q_proj", "v_proj")


class OneLinear(nn.Module):
    def __init__(self, base):
        super().__init__()
        self.lin = base

    def forward(self, x):
        return self.lin(x)


def base_linear(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(D_IN, D_OUT)


def close(a, b):
    torch.testing.assert_close(a, b, **TOL)


# ---------------------------------------------------------------------------- one 24×16 layer: ours, peft's

# variant: (peft's LoraConfig fields, our layer around a base)
VARIANTS = {
    "rslora": (dict(use_rslora=True), lambda base, p: F.RSLoRALinear(base, R, ALPHA, p)),
    "dora": (dict(use_dora=True), lambda base, p: F.DoRALinear(base, R, ALPHA, p)),
    "pissa": (
        dict(init_lora_weights="pissa"),
        lambda base, p: F.init_pissa(lora.LoRALinear(base, R, ALPHA, p)),
    ),
    "olora": (
        dict(init_lora_weights="olora"),
        lambda base, p: F.init_olora(lora.LoRALinear(base, R, ALPHA, p)),
    ),
    "pissa+rslora": (
        dict(init_lora_weights="pissa", use_rslora=True),
        lambda base, p: F.init_pissa(F.RSLoRALinear(base, R, ALPHA, p)),
    ),
    "olora+rslora": (
        dict(init_lora_weights="olora", use_rslora=True),
        lambda base, p: F.init_olora(F.RSLoRALinear(base, R, ALPHA, p)),
    ),
}
RANDOM_INIT = ("rslora", "dora")  # A is Kaiming-uniform: peft's draw is copied into ours


def peft_config(variant, dropout=0.0, targets=("lin",)):
    fields = VARIANTS[variant][0]
    return LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=dropout, target_modules=list(targets), **fields)


def trained(ours, theirs):
    """(ours, peft's) trained tensors of one layer, paired: A, B, and DoRA's magnitude m."""
    pairs = [(ours.A, theirs.lora_A["default"].weight), (ours.B, theirs.lora_B["default"].weight)]
    if isinstance(ours, F.DoRALinear):
        pairs.append((ours.m, theirs.lora_magnitude_vector["default"].weight))
    return pairs


def layer_pair(variant, dropout=0.0):
    """(ours, peft's layer, the untouched base): both built around copies of one nn.Linear."""
    base = base_linear()
    theirs = get_peft_model(
        OneLinear(copy.deepcopy(base)), peft_config(variant, dropout)
    ).base_model.model.lin
    ours = VARIANTS[variant][1](copy.deepcopy(base), dropout)
    if variant in RANDOM_INIT:
        with torch.no_grad():
            ours.A.copy_(theirs.lora_A["default"].weight)
    return ours, theirs, base


def train_b(ours, theirs, seed=1):
    """Give both the same nonzero B, as after some training: with B = 0 neither the scale nor the norm's
    gradient would show in the output or in A's gradient."""
    torch.manual_seed(seed)
    B = torch.randn(D_OUT, R)
    with torch.no_grad():
        ours.B.copy_(B)
        theirs.lora_B["default"].weight.copy_(B)


def forward_backward(layer, x, seed=2):
    torch.manual_seed(seed)  # the same dropout mask for both
    y = layer(x)
    (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
    return y


@pytest.mark.parametrize("variant", VARIANTS)
def test_initial_adapter_and_base_weights_equal_peft(variant):
    ours, theirs, base = layer_pair(variant)
    for mine, peft in trained(ours, theirs):
        close(mine.detach(), peft.detach())
    close(ours.base.weight, theirs.base_layer.weight)  # rewritten by PiSSA and OLoRA, untouched by the others
    close(ours.base.bias, theirs.base_layer.bias)
    assert ours.scaling == theirs.scaling["default"]
    x = torch.randn(5, D_IN)
    close(ours(x), base(x))  # every variant starts as the base layer


@pytest.mark.parametrize("dropout", [0.0, 0.5])
@pytest.mark.parametrize("variant", VARIANTS)
def test_output_and_gradients_equal_peft(variant, dropout):
    ours, theirs, _ = layer_pair(variant, dropout)
    if variant in RANDOM_INIT:
        train_b(ours, theirs)
    ours.train(), theirs.train()
    x = torch.randn(3, 7, D_IN)
    close(forward_backward(ours, x), forward_backward(theirs, x))
    for mine, peft in trained(ours, theirs):
        close(mine.grad, peft.grad)


def test_the_scales():
    assert F.lora_scaling(ALPHA, R) == ALPHA / R and F.rslora_scaling(ALPHA, R) == ALPHA / 2
    assert F.rslora_scaling(ALPHA, 1) == F.lora_scaling(ALPHA, 1)


def test_dora_magnitude_is_the_norm_of_each_output_row():
    ours, _, base = layer_pair("dora")
    assert ours.m.shape == (D_OUT,)
    close(ours.m.detach(), torch.stack([w.norm() for w in base.weight.detach()]))


def test_dora_norm_is_a_constant_in_the_backward_pass():
    """The norm is detached: gradients differ from those of the same W' with the norm kept in the graph."""
    ours, theirs, _ = layer_pair("dora")
    train_b(ours, theirs)
    x = torch.randn(4, D_IN)
    forward_backward(ours, x)
    detached = ours.B.grad.clone()
    ours.zero_grad()
    w = ours.base.weight + ours.delta_weight()
    y = nn.functional.linear(x, (ours.m / dora.row_norms(w))[:, None] * w, ours.base.bias)
    (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
    assert not torch.allclose(ours.B.grad, detached, **TOL)


def test_dora_merge_is_peft_merge_and_unmerge_restores_the_base():
    ours, theirs, base = layer_pair("dora")
    train_b(ours, theirs)
    ours.eval()
    x = torch.randn(5, D_IN)
    before = ours(x)
    ours.merge()
    close(ours(x), before)
    theirs.merge()
    close(ours.base.weight, theirs.base_layer.weight)
    ours.unmerge()
    close(ours.base.weight, base.weight)
    close(ours(x), before)


def test_pissa_adapter_is_the_best_rank_r_part_and_the_residual_the_rest():
    ours, _, base = layer_pair("pissa")
    S = torch.linalg.svdvals(base.weight.detach())
    close(torch.linalg.svdvals(ours.scaling * ours.B @ ours.A).detach()[:R], S[:R])
    close(torch.linalg.svdvals(ours.base.weight)[: D_IN - R], S[R:])
    close(ours.A.detach().norm(dim=1), ours.B.detach().norm(dim=0))  # √(S/s) on each side


def test_olora_b_is_orthonormal_and_not_divided_by_the_scale():
    ours, _, base = layer_pair("olora")
    close(ours.B.T @ ours.B, torch.eye(R))
    Q, Rm = torch.linalg.qr(base.weight.detach())
    close(ours.base.weight, base.weight - ours.scaling * Q[:, :R] @ Rm[:R])


def test_qpissa_residual_quantizes_with_a_smaller_nf4_error():
    torch.manual_seed(3)
    U, _ = torch.linalg.qr(torch.randn(64, 64))
    V, _ = torch.linalg.qr(torch.randn(128, 64))
    S = torch.cat([torch.tensor([40.0, 30.0, 20.0, 10.0]), torch.full((60,), 0.5)])
    W0 = (U * S) @ V.T  # a few dominant directions, as in a pretrained weight
    errors = F.qpissa_errors(W0, r=4, scaling=2.0)
    assert errors.residual < errors.base / 10
    A, B = F.pissa_factors(W0, 4, 2.0)
    residual = F.residual(W0, A, B, 2.0)
    assert errors == (nf4.error(W0), nf4.error(residual))
    for weight, error in zip((W0, residual), errors):  # the same error with bitsandbytes' NF4
        bnb = nf4.bnb_dequantize(*nf4.bnb_quantize(weight)).reshape(weight.shape)
        assert np.mean((bnb - weight.numpy()).astype(np.float64) ** 2) == pytest.approx(error, rel=1e-4)


# ---------------------------------------------------------------------------- a tiny OPT, ours and peft's


def tiny_opt():
    return models.random_model(models.tiny_opt_config(), seed=0).eval()


def peft_name(name):
    """Our parameter's name in the peft model: A, B, m become lora_A, lora_B, lora_magnitude_vector."""
    parent, _, leaf = name.rpartition(".")
    peft_leaf = {"A": "lora_A", "B": "lora_B", "m": "lora_magnitude_vector"}.get(leaf)
    return (
        f"base_model.model.{parent}.{peft_leaf}.default.weight" if peft_leaf else f"base_model.model.{name}"
    )


@pytest.mark.parametrize("variant", ["rslora", "dora", "pissa", "olora"])
def test_tiny_opt_logits_and_gradients_equal_peft(variant):
    theirs = get_peft_model(tiny_opt(), peft_config(variant, targets=TARGETS))
    ours = tiny_opt()
    F.inject(ours, lambda base: VARIANTS[variant][1](base, 0.0), TARGETS)
    peft_params = dict(theirs.named_parameters())
    torch.manual_seed(4)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if name.endswith(".A") and variant in RANDOM_INIT:
                p.copy_(peft_params[peft_name(name)])
            if name.endswith(".B") and variant in RANDOM_INIT:  # a trained B, the same in both
                p.normal_()
                peft_params[peft_name(name)].copy_(p)
    ids = torch.randint(0, 100, (2, 9))
    for model in (ours, theirs):
        model(input_ids=ids, labels=ids).loss.backward()
    close(ours(input_ids=ids).logits, theirs(input_ids=ids).logits)
    named = [(n, p) for n, p in ours.named_parameters() if p.requires_grad]
    per_layer = 3 if variant == "dora" else 2  # A, B (and m)
    assert (
        len(named) == len([p for p in theirs.parameters() if p.requires_grad]) == 2 * len(TARGETS) * per_layer
    )
    for name, p in named:
        close(p.grad, peft_params[peft_name(name)].grad)
    for name, layer in ours.named_modules():  # the bases, rewritten by PiSSA and OLoRA
        if isinstance(layer, lora.LoRALinear):
            close(layer.base.weight, theirs.get_submodule(f"base_model.model.{name}").base_layer.weight)


# ---------------------------------------------------------------------------- LoRA+


LR, RATIO, DECAY = 1e-4, 16.0, 0.01


def test_loraplus_learning_rates_of_our_dora_opt_equal_peft():
    """Our DoRA OPT and peft's, each with a trainable final LayerNorm and one trainable bias: every parameter
    gets the same (lr, weight decay) from our grouping as from create_loraplus_optimizer."""
    theirs = get_peft_model(tiny_opt(), peft_config("dora", targets=TARGETS))
    ours = tiny_opt()
    F.inject(ours, lambda base: F.DoRALinear(base, R, ALPHA), TARGETS)
    extra = ("model.decoder.final_layer_norm.weight", "model.decoder.final_layer_norm.bias")
    extra += ("model.decoder.layers.0.fc1.bias",)
    for name in extra:
        ours.get_parameter(name).requires_grad_(True)
        theirs.get_parameter(f"base_model.model.{name}").requires_grad_(True)
    mine = F.loraplus_optimizer(ours, torch.optim.AdamW, lr=LR, ratio=RATIO, weight_decay=DECAY)
    peft = create_loraplus_optimizer(
        theirs, torch.optim.AdamW, lr=LR, loraplus_lr_ratio=RATIO, loraplus_weight_decay=DECAY
    )
    theirs_by_name = {n: p for n, p in theirs.named_parameters() if p.requires_grad}
    ours_by_name = {peft_name(n): p for n, p in ours.named_parameters() if p.requires_grad}
    assert ours_by_name.keys() == theirs_by_name.keys()
    mine_lr, peft_lr = loraplus.learning_rates(mine), loraplus.learning_rates(peft)
    settings = {n: mine_lr[id(p)] for n, p in ours_by_name.items()}
    assert settings == {n: peft_lr[id(p)] for n, p in theirs_by_name.items()}
    assert {settings[n] for n in settings if ".lora_B." in n or "magnitude" in n} == {(LR * RATIO, DECAY)}
    assert {settings[n] for n in settings if ".lora_A." in n} == {(LR, DECAY)}
    assert {settings[f"base_model.model.{n}"] for n in extra} == {
        (LR * RATIO, 0.0)
    }  # vectors: B's lr, no decay


def test_loraplus_groups_of_a_peft_model_with_an_embedding_adapter_equal_peft():
    """The embedding group (lr 1e-6 for both A and B of an adapter on nn.Embedding), on peft's own names."""
    model = models.random_model(models.tiny_opt_config(tie_word_embeddings=False), seed=0)
    theirs = get_peft_model(
        model, LoraConfig(r=R, lora_alpha=ALPHA, target_modules=[*TARGETS, "embed_tokens"])
    )
    mine = F.loraplus_groups(theirs, LR, RATIO, DECAY)
    peft = create_loraplus_optimizer(
        theirs, torch.optim.AdamW, lr=LR, loraplus_lr_ratio=RATIO, loraplus_weight_decay=DECAY
    ).param_groups
    assert [len(g["params"]) for g in mine] == [len(g["params"]) for g in peft] == [4, 2, 4, 0]
    for ours_group, peft_group in zip(mine, peft):
        assert [id(p) for p in ours_group["params"]] == [id(p) for p in peft_group["params"]]
        assert (ours_group["lr"], ours_group["weight_decay"]) == (
            peft_group["lr"],
            peft_group["weight_decay"],
        )


def test_loraplus_optimizer_s_defaults_and_extra_arguments_are_peft_s():
    """Without a weight decay or an embedding rate, and with the optimizer's own arguments passed through:
    the same optimizer, groups and defaults as create_loraplus_optimizer's."""
    model = models.random_model(models.tiny_opt_config(tie_word_embeddings=False), seed=0)
    theirs = get_peft_model(
        model, LoraConfig(r=R, lora_alpha=ALPHA, target_modules=[*TARGETS, "embed_tokens"])
    )
    mine = F.loraplus_optimizer(theirs, lr=LR, ratio=RATIO, betas=(0.8, 0.95))
    peft = create_loraplus_optimizer(
        theirs, torch.optim.AdamW, lr=LR, loraplus_lr_ratio=RATIO, betas=(0.8, 0.95)
    )
    assert type(mine) is type(peft) is torch.optim.AdamW
    assert loraplus.learning_rates(mine) == loraplus.learning_rates(peft)
    assert {lr for lr, _ in loraplus.learning_rates(mine).values()} == {LR, LR * RATIO, 1e-6}
    assert (
        mine.defaults == peft.defaults and mine.defaults["lr"] == LR and mine.defaults["betas"] == (0.8, 0.95)
    )
    slower = F.loraplus_optimizer(theirs, lr=LR, ratio=RATIO, lr_embedding=1e-5)
    assert {lr for lr, _ in loraplus.learning_rates(slower).values()} == {LR, LR * RATIO, 1e-5}


# ---------------------------------------------------------------------------- VeRA


class TwoLinear(nn.Module):
    """Two layers of different shapes: VeRA's shared A and B are sized to the widest and sliced per layer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.fc1, self.fc2 = nn.Linear(D_IN, D_OUT), nn.Linear(D_OUT, D_IN)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def vera_pair(key=7):
    theirs = get_peft_model(
        TwoLinear(), VeraConfig(r=R, target_modules=["fc1", "fc2"], projection_prng_key=key, d_initial=0.1)
    )
    ours = TwoLinear()
    F.inject_vera(ours, R, ("fc1", "fc2"), d_initial=0.1, key=key)
    return ours, theirs


def test_vera_shared_projections_and_initial_vectors_equal_peft():
    ours, theirs = vera_pair()
    shared = ours.fc1.projections
    assert ours.fc2.projections is shared and len(list(ours.buffers())) == 2
    close(shared.A, theirs.base_model.vera_A["default"])  # r × max d_in
    close(shared.B, theirs.base_model.vera_B["default"])  # max d_out × r
    assert shared.A.shape == (R, D_OUT) and shared.B.shape == (D_OUT, R)
    for name in ("fc1", "fc2"):
        mine, peft = getattr(ours, name), theirs.base_model.model.get_submodule(name)
        close(mine.lambda_d.detach(), peft.vera_lambda_d["default"].detach())
        close(mine.lambda_b.detach(), peft.vera_lambda_b["default"].detach())
    assert ours.fc1.lambda_d.tolist() == pytest.approx([0.1] * R) and not ours.fc1.lambda_b.any()


def test_vera_output_and_gradients_equal_peft():
    ours, theirs = vera_pair()
    torch.manual_seed(6)
    with torch.no_grad():  # a trained λ_b: at λ_b = 0 the update and λ_d's gradient are zero
        for name in ("fc1", "fc2"):
            lambda_b = torch.randn_like(getattr(ours, name).lambda_b)
            getattr(ours, name).lambda_b.copy_(lambda_b)
            theirs.base_model.model.get_submodule(name).vera_lambda_b["default"].copy_(lambda_b)
    x = torch.randn(3, D_IN)
    close(forward_backward(ours, x), forward_backward(theirs, x))
    for name in ("fc1", "fc2"):
        mine, peft = getattr(ours, name), theirs.base_model.model.get_submodule(name)
        close(mine.lambda_d.grad, peft.vera_lambda_d["default"].grad)
        close(mine.lambda_b.grad, peft.vera_lambda_b["default"].grad)
        close(mine.delta_weight(), peft.get_delta_weight("default"))


def printed_trainable(peft_model, capsys) -> int:
    capsys.readouterr()
    peft_model.print_trainable_parameters()
    return int(re.search(r"trainable params: ([\d,]+)", capsys.readouterr().out).group(1).replace(",", ""))


@pytest.mark.parametrize("r", [1, 8, 256])
def test_vera_parameter_count_equals_peft_on_the_tiny_opt(r, capsys):
    config = models.tiny_opt_config()
    theirs = get_peft_model(models.random_model(config), VeraConfig(r=r, target_modules=list(TARGETS)))
    ours = models.random_model(config)
    F.inject_vera(ours, r, TARGETS)
    expected = F.vera_parameter_count(config, r, TARGETS)
    assert printed_trainable(theirs, capsys) == lora.count_parameters(ours)[0] == expected
    assert expected == config.num_hidden_layers * len(TARGETS) * (config.hidden_size + r)


@pytest.mark.parametrize("r", [FR.VERA_R, 4 * FR.VERA_R])  # the book's rank, and the paper's largest
def test_vera_on_opt_6_7b_trains_and_stores_what_peft_does(r, capsys):
    config = models.opt_config("opt-6.7b")
    theirs = get_peft_model(models.meta_model(config), VeraConfig(r=r))
    assert printed_trainable(theirs, capsys) == F.vera_parameter_count(config, r)
    stored = theirs.base_model.vera_A["default"], theirs.base_model.vera_B["default"]
    assert F.vera_shared_size(config, r) == sum(t.numel() for t in stored)


def test_vera_against_lora_on_opt_6_7b(capsys):
    """The seed's LoRA (r = 16 on q_proj, v_proj) against VeRA at r = 256, as peft counts them on meta."""
    config = models.opt_config("opt-6.7b")
    vera_count, lora_count = F.vera_parameter_count(config, 256), lora.lora_parameter_count(config, SEED.r)
    assert (vera_count, lora_count) == (278_528, 8_388_608)
    assert (
        printed_trainable(get_peft_model(models.meta_model(config), VeraConfig(r=256)), capsys) == vera_count
    )
    seed_lora = LoraConfig(r=SEED.r, lora_alpha=SEED.lora_alpha, target_modules=list(SEED.target_modules))
    assert printed_trainable(get_peft_model(models.meta_model(config), seed_lora), capsys) == lora_count
    assert F.vera_shared_size(config, 256) == 2 * 256 * 4096


def test_vera_s_defaults_are_peft_s_and_its_arguments_reach_every_layer():
    """VeraConfig's defaults: projection_prng_key 0, d_initial 0.1, no dropout; and what inject_vera is given
    reaches each layer."""
    model = tiny_opt()
    F.inject_vera(model, r=R, target_modules=TARGETS)
    layers = [m for m in model.modules() if isinstance(m, F.VeRALinear)]
    assert layers and all(torch.equal(m.lambda_d, torch.full((R,), 0.1)) for m in layers)
    assert all(isinstance(m.dropout, nn.Identity) for m in layers)
    first = layers[0].projections
    key0 = vera.Projections(R, first.A.shape[1], first.B.shape[0], key=0)
    assert torch.equal(first.A, key0.A) and torch.equal(first.B, key0.B)
    assert torch.equal(vera.Projections(R, 5, 6).A, vera.Projections(R, 5, 6, key=0).A)
    assert not torch.equal(vera.Projections(R, 5, 6).A, vera.Projections(R, 5, 6, key=1).A)
    other = tiny_opt()
    F.inject_vera(other, r=R, target_modules=TARGETS, d_initial=0.5, key=1, dropout=0.25)
    layers = [m for m in other.modules() if isinstance(m, F.VeRALinear)]
    assert all(torch.equal(m.lambda_d, torch.full((R,), 0.5)) for m in layers)
    assert all(isinstance(m.dropout, nn.Dropout) and m.dropout.p == 0.25 for m in layers)
    assert not torch.equal(layers[0].projections.A, first.A)
    for alone in (
        vera.VeRALinear(nn.Linear(3, 2), vera.Projections(1, 3, 2)),
        vera.VeRALinear(nn.Linear(3, 2), vera.Projections(1, 3, 2), dropout=0.0),
    ):
        assert isinstance(alone.dropout, nn.Identity)


def test_vera_trains_in_its_base_s_float_dtype_and_in_fp32_on_an_integer_base():
    torch.manual_seed(0)
    base = nn.Linear(6, 4)
    layer = vera.VeRALinear(copy.deepcopy(base).to(torch.bfloat16), vera.Projections(3, 6, 4))
    assert layer.lambda_d.dtype == layer.lambda_b.dtype == torch.bfloat16
    with torch.no_grad():
        layer.lambda_b.fill_(0.5)
    x = torch.randn(2, 6)
    out = layer(x.to(torch.bfloat16))  # the shared fp32 pair is cast to the input's dtype
    assert out.dtype == torch.bfloat16
    reference = vera.VeRALinear(base, vera.Projections(3, 6, 4))
    with torch.no_grad():
        reference.lambda_b.fill_(0.5)
    torch.testing.assert_close(out.float(), reference(x), atol=0.05, rtol=0.02)
    integer = nn.Linear(6, 4)
    integer.weight = nn.Parameter(torch.zeros(4, 6, dtype=torch.int8), requires_grad=False)
    layer = vera.VeRALinear(integer, vera.Projections(3, 6, 4))
    assert layer.lambda_d.dtype == layer.lambda_b.dtype == torch.float32


@pytest.mark.parametrize("d_in, d_out", [(7, 4), (6, 5)])
def test_vera_refuses_shared_projections_too_small_for_either_side_of_a_layer(d_in, d_out):
    message = (
        "the shared projections, A (3, 6) and B (4, 3), "
        f"are too small for a layer with d_in={d_in}, d_out={d_out}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        vera.VeRALinear(nn.Linear(d_in, d_out), vera.Projections(3, 6, 4))


def test_dora_on_a_base_without_a_bias_is_its_merged_weight():
    torch.manual_seed(0)
    assert F.DoRALinear(nn.Linear(5, 3), 2).scaling == 1 / 2  # α = 1 by default, as LoRALinear's
    layer = F.DoRALinear(nn.Linear(5, 3, bias=False), 2, 4)
    with torch.no_grad():
        layer.B.normal_()
        layer.m.mul_(1.5)
    x = torch.randn(4, 5)
    for mode in (layer.train, layer.eval):
        mode()
        torch.testing.assert_close(layer(x), x @ layer.adapted_weight().T)


def test_loraplus_groups_decay_nothing_unless_asked_and_rates_read_a_group_without_decay_as_zero():
    model = models.random_model(models.tiny_opt_config(tie_word_embeddings=False), seed=0)
    theirs = get_peft_model(model, LoraConfig(r=R, lora_alpha=ALPHA, target_modules=TARGETS))
    assert {g["weight_decay"] for g in F.loraplus_groups(theirs, LR, RATIO)} == {0.0}
    params = [p for p in theirs.parameters() if p.requires_grad]
    rprop = torch.optim.Rprop(params, lr=0.5)  # an optimizer without weight decay
    assert "weight_decay" not in rprop.param_groups[0]
    assert set(loraplus.learning_rates(rprop).values()) == {(0.5, 0.0)}


class _EmbeddingAdapter(nn.Module):
    """An adapter of the book's own shape on an nn.Embedding: A and B beside a frozen `base`."""

    def __init__(self):
        super().__init__()
        self.base = nn.Embedding(10, 4).requires_grad_(False)
        self.A, self.B = nn.Parameter(torch.zeros(2, 10)), nn.Parameter(torch.zeros(4, 2))


def test_loraplus_finds_an_embedding_adapter_of_the_book_s_shape_and_a_norm_at_the_top():
    """The owner of layer.A (the book's adapters) as well as peft's layer.lora_embedding_A.default; and a
    LayerNorm directly under the model is a norm like any other."""
    model = nn.ModuleDict(
        {"emb": _EmbeddingAdapter(), "lin": lora.LoRALinear(nn.Linear(4, 4), 2), "ln": nn.LayerNorm(4)}
    )
    assert loraplus.adapts_embedding(model, "emb.A") and loraplus.adapts_embedding(model, "emb.B")
    assert not loraplus.adapts_embedding(model, "lin.A") and not loraplus.adapts_embedding(model, "ln.weight")
    groups = F.loraplus_groups(model, LR, RATIO)
    assert [id(p) for p in groups[1]["params"]] == [id(model["emb"].A), id(model["emb"].B)]
    assert not loraplus.decays(model, "ln.weight") and not loraplus.decays(model, "lin.base.bias")
    assert loraplus.decays(model, "lin.A")


@pytest.mark.parametrize("target", ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"])
def test_vera_counts_each_linear_layer_of_opt_as_peft_does(target, capsys):
    """Each of OPT's six linear layers alone, and all six, where fc1 and fc2 are not square."""
    config = models.tiny_opt_config()
    for targets in ([target], ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]):
        theirs = get_peft_model(models.meta_model(config), VeraConfig(r=4, target_modules=targets))
        assert printed_trainable(theirs, capsys) == F.vera_parameter_count(config, 4, targets)
    layers = "['fc1', 'fc2', 'k_proj', 'out_proj', 'q_proj', 'v_proj']"
    message = f"target_modules must be among {layers}, got ['lm_head']"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        F.vera_parameter_count(config, 4, [target, "lm_head"])


def test_stale_lists_every_run_a_folder_lacks_by_its_own_id_and_the_timing(tmp_path):
    """An empty folder lacks every run `make family` makes (the stand-in's LoRA at its rate comes from "What
    LoRA learned") and the timing; a record copied from the shipped folder is current there, a changed key is
    not; the shipped folder's sweeps being complete, each variant's best rate adds its other seeds."""
    import json
    import shutil

    from lorabook.family.compare import best_rate

    expected = [
        f"{m}/{FR.run_id(v, s)}"
        for m in FR.MODELS
        for v in FR.VARIANTS
        for s in FR.SEEDS[m]
        if not FR.from_learned(v, m)
    ]
    expected += [
        f"stand-in/{FR.run_id(v, s, lr)}"
        for v in FR.VARIANTS
        for lr in FR.SWEEP_RATES
        for s in FR.SWEEP_SEEDS
    ]
    assert FR.stale(tmp_path) == [*expected, "timing"]
    v, s, lr = next(iter(FR.VARIANTS)), FR.SWEEP_SEEDS[0], FR.SWEEP_RATES[0]
    (tmp_path / "stand-in").mkdir()
    for name in (FR.run_id(v, s, lr), FR.run_id(v, FR.SEEDS["smollm2"][0])):
        model = "stand-in" if name == FR.run_id(v, s, lr) else "smollm2"
        (tmp_path / model).mkdir(exist_ok=True)
        shutil.copy(FR.SHIPPED / model / f"{name}.json", tmp_path / model / f"{name}.json")
    assert FR.is_current(v, s, path=tmp_path, lr=lr) and FR.is_current(
        v, FR.SEEDS["smollm2"][0], "smollm2", tmp_path
    )
    assert f"stand-in/{FR.run_id(v, s, lr)}" not in FR.stale(tmp_path)
    record = json.loads((tmp_path / "stand-in" / f"{FR.run_id(v, s, lr)}.json").read_text())
    (tmp_path / "stand-in" / f"{FR.run_id(v, s, lr)}.json").write_text(json.dumps({**record, "key": "old"}))
    assert not FR.is_current(v, s, path=tmp_path, lr=lr)  # a changed key
    assert not FR.is_current(v, FR.SWEEP_SEEDS[1], path=tmp_path, lr=lr)  # no file
    extra = [
        (v, s, "stand-in", best_rate(v))
        for v in FR.VARIANTS
        if best_rate(v) in FR.SWEEP_RATES
        for s in FR.SEEDS["stand-in"]
        if s not in FR.SWEEP_SEEDS
    ]
    assert extra and FR.wanted() == FR.wanted(tmp_path) + extra


def test_the_stand_in_s_lora_at_each_seed_is_that_seed_s_run_in_what_lora_learned(monkeypatch):
    """LoRA's runs on the stand-in are lorabook.learned's qv-r16 (seed 42) and qv-r16-seed<s>: each seed reads
    its own record, and is current exactly when that run is."""
    from lorabook import learned

    own = {42: "qv-r16", 0: "qv-r16-seed0", 1: "qv-r16-seed1"}
    assert set(own) == set(FR.SEEDS["stand-in"])
    for seed, run in own.items():
        assert FR.learned_run(seed) == run
        assert (
            FR.record("lora", seed) == learned.info(run) and FR.record("lora", seed)["config"]["seed"] == seed
        )
        monkeypatch.setattr(learned, "is_current", lambda run_id, run=run: run_id == run)
        assert [FR.is_current("lora", s) for s in own] == [s == seed for s in own]
    with pytest.raises(ValueError, match=r"seed must be one of \(42, 0, 1\) for the stand-in, got 7"):
        FR.learned_run(7)


def test_wanted_gives_the_other_seeds_at_the_best_rate_of_the_folder_it_reads(tmp_path):
    """A folder whose sweep of one variant is complete, with its quotes learned at 3e-2 alone: the variant's
    third seed is wanted at 3e-2 there, whatever the shipped folder's best rate."""
    import json

    from lorabook.family.compare import best_rate

    variant, picked = "rslora", 3e-2
    assert best_rate(variant) != picked
    (tmp_path / "stand-in").mkdir()
    for lr in (*FR.SWEEP_RATES, None):
        for seed in FR.SWEEP_SEEDS:
            name = f"{FR.run_id(variant, seed, lr)}.json"
            record = json.loads((FR.SHIPPED / "stand-in" / name).read_text())
            record["metrics"]["exact match"] = 3 if lr == picked else 0
            (tmp_path / "stand-in" / name).write_text(json.dumps(record))
    assert best_rate(variant, tmp_path) == picked
    extra = [(variant, s, "stand-in", picked) for s in FR.SEEDS["stand-in"] if s not in FR.SWEEP_SEEDS]
    assert extra and FR.wanted(tmp_path)[-len(extra) :] == extra
    assert not any(w[0] == variant and w[3] == best_rate(variant) for w in FR.wanted(tmp_path)[-len(extra) :])
