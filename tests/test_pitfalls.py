"""When it goes wrong (lorabook.pitfalls): each failure reproduced with the pinned libraries, and its fix
shown to work; the numbers for OPT-6.7B against the meta model; the source links against the installed
files."""

import copy
import importlib.metadata
import inspect
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from lorabook import lora as L
from lorabook import models, smollm2, standin
from lorabook import pitfalls as P
from lorabook.memory import parameter_groups
from lorabook.seed import SEED


@pytest.fixture(scope="module")
def stand_in():
    model, tokenizer = standin.load()
    ids = tokenizer("Beautiful is better than ugly. Explicit is better than implicit.", return_tensors="pt")
    return model, ids.input_ids


def test_source_link_names_the_installed_version_and_the_line_that_holds_the_text():
    from peft.utils import other

    text = "param.data = param.data.to(torch.float32)"
    link = P.source_link(other.prepare_model_for_kbit_training, text)
    version = importlib.metadata.version("peft")
    path, line = link.split("#L")
    assert path == f"https://github.com/huggingface/peft/blob/v{version}/src/peft/utils/other.py"
    assert text in Path(inspect.getsourcefile(other)).read_text().splitlines()[int(line) - 1]
    module_link = P.source_link(torch.amp.grad_scaler, "Attempting to unscale FP16 gradients")
    assert module_link.startswith(
        "https://github.com/pytorch/pytorch/blob/v2.13.0/torch/amp/grad_scaler.py#L"
    )
    with pytest.raises(ValueError, match="contains: 'no such line' is not in the source"):
        P.source_link(other.prepare_model_for_kbit_training, "no such line")
    with pytest.raises(ValueError, match="obj must come from one of"):
        P.source_link(P.caught)


def test_peft_upcasts_every_non_quantized_parameter_and_the_manual_way_only_the_norms_and_biases(stand_in):
    model = stand_in[0]
    sizes = P.kbit_upcast(standin.standin_path())
    loaded, peft_way, manual = sizes["loaded"], sizes["peft"], sizes["manual"]
    assert "float32" not in loaded and "float16" not in peft_way
    assert loaded["int8"] == peft_way["int8"] == manual["int8"]
    assert peft_way["float32"] - loaded["float16"] == P.upcast_bytes(model.config)  # the formula, measured
    one_d = sum(p.numel() for n, p in model.named_parameters() if p.ndim == 1 and "layers." in n)
    assert manual["float32"] >= 4 * one_d and manual["float16"] > 0.9 * loaded["float16"]


def test_the_upcast_on_opt_6_7b_is_two_more_bytes_for_each_parameter_outside_the_layers_linear_weights():
    config = models.opt_config("opt-6.7b")
    model = models.meta_model(config)
    linear = sum(
        m.weight.numel() for n, m in model.named_modules() if isinstance(m, nn.Linear) and ".layers." in n
    )
    assert P.upcast_bytes(config) == 2 * (sum(p.numel() for p in model.parameters()) - linear)
    assert P.upcast_bytes(config) == 2 * parameter_groups(config).other


def test_reentrant_checkpointing_leaves_lora_without_a_gradient_and_either_fix_gives_the_true_one():
    result = P.reentrant_checkpoint()
    first, second = result["reference"]  # no checkpointing
    assert first.abs().max() > 0 and second.abs().max() > 0
    broken = result["broken"]
    assert broken[0] is None  # silently: the layer after the block still trains
    torch.testing.assert_close(broken[1], second)
    assert result["warning"] == "None of the inputs have requires_grad=True. Gradients will be None"
    assert result["error"].startswith("RuntimeError: element 0 of tensors does not require grad")
    for fixed in ("non-reentrant", "input needs grad"):
        torch.testing.assert_close(result[fixed][0], first)
        torch.testing.assert_close(result[fixed][1], second)


def test_the_checkpointing_demo_s_gradients_are_its_recipe_s():
    """The gradients the chapter prints are those of the recipe its docstring states, rebuilt here without
    checkpointing: two LoRALinear(16 → 16, r = 4, α = 2r) layers drawn after torch.manual_seed(0), then a
    batch of 3 inputs, and the loss Σ second(first(x))²; the defaults are that recipe."""
    from lorabook.lora import LoRALinear

    result = P.reentrant_checkpoint()
    torch.manual_seed(0)
    first, second = (LoRALinear(nn.Linear(16, 16), r=4, alpha=8) for _ in range(2))
    x = torch.randn(3, 16)
    second(first(x)).square().sum().backward()
    for case in ("reference", "non-reentrant", "input needs grad"):
        torch.testing.assert_close(result[case][0], first.B.grad, rtol=0, atol=0)
        torch.testing.assert_close(result[case][1], second.B.grad, rtol=0, atol=0)
    again = P.reentrant_checkpoint(d=16, r=4, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(again["reference"], result["reference"]))
    other = P.reentrant_checkpoint(d=8, r=2, seed=1)
    assert other["reference"][0].shape == (8, 2) and other["non-reentrant"][0].shape == (8, 2)


def test_merging_into_int8_or_the_original_moves_the_logits_and_into_the_dequantized_copy_does_not(stand_in):
    from lorabook import learned

    result = P.merge_into_int8(stand_in[1])
    assert "8-bit linear may get different generations due to rounding errors" in result["warning"]
    assert result["dequantized"] < 1e-3  # float rounding only
    assert result["int8"] > 0.05 and result["original"] > 0.05
    assert result["delta"] == pytest.approx(learned.info("qv-r16-int8")["metrics"]["update norm"], rel=1e-4)


def test_wrong_target_names_raise_and_the_model_s_own_names_work(stand_in):
    model = stand_in[0]
    error = P.wrong_targets(model)
    assert error.startswith("NoMatchingPeftModuleError: Target modules")
    assert "not found in the base model" in error
    assert P.partial_targets(model, ("q_proj", "query", "value")) == (None, ["q_proj"])  # silently
    names = P.linear_names(model)
    assert {"q_proj", "v_proj", "out_proj", "fc1"} <= set(names)
    get_peft_model(models.random_model(models.tiny_opt_config()), LoraConfig(target_modules=names[:2]))
    llama = P.linear_names(models.meta_model(smollm2.load_config()))
    assert {"o_proj", "gate_proj"} <= set(llama) and "out_proj" not in llama


def test_modules_to_save_saves_the_whole_embedding_and_token_indices_only_their_rows(stand_in):
    model = stand_in[0]
    sizes = P.saved_sizes(model, tokens=(2, 3, 4))
    embedding = model.get_input_embeddings().weight
    assert sizes["modules_to_save"] - sizes["LoRA"] == pytest.approx(embedding.numel() * 4, rel=0.01)
    width = embedding.shape[1]
    assert 3 * width * 4 <= sizes["trainable_token_indices"] - sizes["LoRA"] < 3 * width * 4 + 1024
    opt = models.meta_model(models.opt_config("opt-6.7b"))
    assert P.embedding_bytes(opt.config) == 2 * opt.get_input_embeddings().weight.numel()


def test_a_tied_head_trained_as_a_copy_comes_apart_and_ensure_weight_tying_keeps_it_tied():
    model, tokenizer = smollm2.load("fp32"), smollm2.load_tokenizer()
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    ids = tokenizer("Beautiful is better than ugly.", return_tensors="pt").input_ids
    result = P.tied_embeddings(model, ids)
    assert "ensure_weight_tying" in result["warning"] and "no longer tied" in result["merge warning"]
    assert result["default"]["gap"] > 1e-3 and not result["default"]["tied after merge"]
    assert result["ensure"] == {"gap": 0.0, "tied after merge": True}
    # the gap rebuilt: the head as an untied copy of the embedding, all else frozen (LoRA's B = 0 changes no
    # first forward pass), one SGD step at the default rate 1e-2; embedding − head is then lr × the head's
    # gradient
    untied = copy.deepcopy(model).requires_grad_(False)
    untied.lm_head.weight = nn.Parameter(model.get_input_embeddings().weight.detach().clone())
    untied(input_ids=ids, labels=ids).loss.backward()
    gap = 1e-2 * untied.lm_head.weight.grad.abs().max().item()
    assert result["default"]["gap"] == pytest.approx(gap, rel=1e-3)
    assert (
        model.get_output_embeddings().weight is model.get_input_embeddings().weight
    )  # the caller's, as it was


def test_scaling_by_alpha_grows_the_first_step_with_r_alpha_over_r_shrinks_it_rslora_holds_it():
    steps = P.alpha_steps(ranks=(4, 16, 64))
    growth = {name: by_r[64] / by_r[4] for name, by_r in steps.items()}
    assert growth["α (the bug)"] > 3  # about √16 = 4
    assert growth["α/r (LoRA)"] < 1 / 3  # about 1/4
    assert 0.8 < growth["α/√r (rsLoRA)"] < 1.25
    for r in (4, 16, 64):  # at one rank the three differ only by their scale s
        ratio = steps["α (the bug)"][r] / steps["α/r (LoRA)"][r]
        assert ratio == pytest.approx(r, rel=0.05)


def test_fp16_adapters_fail_the_grad_scaler_peft_s_autocast_fixes_lora_but_not_a_module_to_save(stand_in):
    model, ids = stand_in
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = P.fp16_adapters(model, ids)
    refused = "ValueError: Attempting to unscale FP16 gradients."
    assert result["fp16 adapters"] == {"error": refused, "dtypes": ["float16"], "moved": 0.0}
    assert result["default, lm_head trained"] == {
        "error": refused,
        "dtypes": ["float16", "float32"],
        "moved": 0.0,
    }
    # where it runs, the step is AdamW's first at lr 1e-3: each entry with a gradient moves by lr·g/|g|
    ran = result["peft's default"]
    assert (ran["error"], ran["dtypes"]) == (None, ["float32"]) and ran["moved"] == pytest.approx(
        1e-3, rel=1e-4
    )
    for name, p in model.named_parameters():  # the caller's model, as it was: each case works on a copy
        assert p.dtype == before[name].dtype and torch.equal(p, before[name]), name


def test_caught_returns_the_error_and_the_warnings_as_text():
    import warnings

    def fails():
        warnings.warn("careful", UserWarning, stacklevel=2)
        raise KeyError("x")

    assert P.caught(fails) == ("KeyError: 'x'", ["careful"])
    assert P.caught(lambda: None) == (None, [])


def test_the_chapter_links_each_cause_to_its_line_in_the_installed_libraries():
    """The addresses typed in the chapter are the pinned lines: a new pin that moves a line fails here."""
    import re

    text = (Path(__file__).resolve().parents[1] / "chapters" / "11_pitfalls.md").read_text()
    linked = set(re.findall(r"\]\((https://github\.com/[^)]+/blob/[^)]+)\)", text))
    assert linked == {P.pinned_source(name) for name in P.SOURCES}
    with pytest.raises(ValueError, match="name must be one of"):
        P.pinned_source("nothing")


def test_the_alpha_demo_is_one_adamw_step_of_its_stated_recipe():
    """What the chapter prints, rebuilt: per scaling and rank, LoRALinear(256 → 256) drawn after
    torch.manual_seed(0) with its scaling set, a batch of 64 inputs and targets, one AdamW step (lr 1e-3, no
    weight decay) on the mean squared error; α = 16 and ranks 4, 16, 64 by default."""
    from lorabook.lora import LoRALinear

    steps = P.alpha_steps()
    assert list(steps) == list(P.adapter.SCALINGS) and all(
        list(by_r) == [4, 16, 64] for by_r in steps.values()
    )
    for name, scale in P.adapter.SCALINGS.items():
        for r in (4, 64):
            torch.manual_seed(0)
            layer = LoRALinear(nn.Linear(256, 256), r=r, alpha=16.0)
            layer.scaling = scale(16.0, r)
            x, target = torch.randn(64, 256), torch.randn(64, 256)
            optimizer = torch.optim.AdamW([layer.A, layer.B], lr=1e-3, weight_decay=0.0)
            (layer(x) - target).square().mean().backward()
            optimizer.step()
            assert steps[name][r] == layer.delta_weight().norm().item()


def test_the_saved_lora_adapter_holds_the_seed_s_rank_on_q_and_v_in_fp32():
    config = models.tiny_opt_config()
    sizes = P.saved_sizes(models.random_model(config, seed=0))
    weights = 4 * L.lora_parameter_count(config, SEED.r)  # r = 16 on q_proj, v_proj, 4 bytes each
    assert weights < sizes["LoRA"] < weights + 4096  # and a JSON header


def test_the_embedding_s_bytes_are_its_vocabulary_times_its_own_width():
    """OPT-350M projects a 512-wide embedding up to its 1,024-wide layers: the matrix is vocabulary × 512."""
    config = models.tiny_opt_config(word_embed_proj_dim=16)
    model = models.meta_model(config)
    assert config.hidden_size != 16 and model.get_input_embeddings().weight.shape[1] == 16
    assert P.embedding_bytes(config) == 2 * model.get_input_embeddings().weight.numel()
    assert P.embedding_bytes(config, bytes_per=4) == 4 * config.vocab_size * 16
    from transformers import LlamaConfig  # no word_embed_proj_dim: the width is hidden_size

    assert (
        P.embedding_bytes(LlamaConfig(vocab_size=100, hidden_size=24, num_attention_heads=4)) == 2 * 100 * 24
    )


def test_bytes_by_dtype_sums_each_dtype_s_parameters():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 5).half())
    assert P.bytes_by_dtype(model) == {"float32": (6 + 2) * 4, "float16": (10 + 5) * 2}


def test_load_8bit_keeps_the_rest_in_the_dtype_asked_and_evaluates():
    model = P.load_8bit(standin.SHIPPED, dtype=torch.float32)
    assert not model.training
    dtypes = {p.dtype for n, p in model.named_parameters() if "layers" not in n or "norm" in n or "bias" in n}
    assert dtypes == {torch.float32}
    assert torch.int8 in {p.dtype for p in model.parameters()}
    assert {p.dtype for p in P.load_8bit(standin.SHIPPED).parameters()} == {torch.int8, torch.float16}
