"""Every exercise's answer, checked a second way: sympy, numpy, torch, peft or arithmetic by hand."""

import math

import numpy as np
import pytest
import sympy
import torch

from lorabook import exercises as ex
from lorabook import models, standin
from lorabook.delta import random_orthonormal, subspace_similarity
from lorabook.seed import SEED


def peft_trainable(model, r, targets):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets), task_type="CAUSAL_LM")
    return get_peft_model(model, config).get_nb_trainable_parameters()[0]


def test_why_fine_tune_adapters_per_copy_against_peft():
    answers = ex.why_answers()
    config = models.opt_config("opt-6.7b")
    assert answers["adapter"] == peft_trainable(models.meta_model(config), SEED.r, SEED.target_modules)
    assert answers["adapters_per_copy"] * answers["adapter"] <= models.parameter_count(
        models.meta_model(config)
    )
    assert (answers["adapters_per_copy"] + 1) * answers["adapter"] > models.parameter_count(
        models.meta_model(config)
    )


def test_the_break_even_rank_is_the_last_that_saves():
    d = models.opt_config("opt-6.7b").hidden_size
    r = ex.why_answers()["break_even"]
    assert r * (d + d) < d * d <= (r + 1) * (d + d)


def test_rank_answers_against_sympy_and_the_count_by_hand():
    answers = ex.rank_answers()
    assert answers["rank"] == sympy.Matrix(ex.RANK_EXAMPLE.tolist()).rank()
    (d, k), r = ex.UPDATE_SHAPE, ex.UPDATE_RANK
    assert answers["low_rank"] == r * (d + k) and answers["share"] == pytest.approx(r * (d + k) / (d * k))


def test_svd_answers_against_a_matrix_with_that_spectrum():
    n, k = len(ex.SPECTRUM), ex.TRUNCATE_TO
    U, V = random_orthonormal(n, n, seed=1), random_orthonormal(n, n, seed=2)
    A = U @ np.diag(ex.SPECTRUM) @ V.T
    u, s, vt = np.linalg.svd(A)
    best = u[:, :k] @ np.diag(s[:k]) @ vt[:k]
    answers = ex.svd_answers()
    assert answers["frobenius"] == pytest.approx(np.linalg.norm(A - best, "fro"))
    assert answers["spectral"] == pytest.approx(np.linalg.norm(A - best, 2))
    assert answers["energy"] == pytest.approx(
        np.linalg.norm(best, "fro") ** 2 / np.linalg.norm(A, "fro") ** 2
    )


def test_lora_answers_against_peft():
    from peft import LoraConfig, get_peft_model

    answers = ex.lora_answers()
    meta = models.meta_model(models.opt_config(ex.LORA_MODEL))
    assert answers["all_linear"] == peft_trainable(meta, ex.LORA_RANK, ex.ALL_LINEAR)
    for rslora, key in ((False, "alpha_over_r"), (True, "alpha_over_sqrt_r")):
        for r, expected in zip(ex.SCALING_RANKS, answers[key]):
            tiny = models.random_model(models.tiny_opt_config())
            cfg = LoraConfig(r=r, lora_alpha=SEED.lora_alpha, target_modules=["q_proj"], use_rslora=rslora)
            layer = get_peft_model(tiny, cfg).base_model.model.model.decoder.layers[0].self_attn.q_proj
            assert layer.scaling["default"] == pytest.approx(expected)


def test_memory_answers_activations_grow_with_the_batch_and_8bit_adam_by_hand():
    from lorabook.memory import estimate

    answers = ex.memory_answers()
    config = models.opt_config("opt-6.7b")
    small, big = (estimate(config, "lora-int8", b, SEED.seq, checkpointing=True) for b in ex.BATCHES)
    assert big.of_kind("resident") == small.of_kind("resident")  # the weights and states do not grow
    # activations are affine in the batch: b·s tokens' worth, plus a fixed RNG state per checkpointed layer
    third = estimate(config, "lora-int8", 3 * ex.BATCHES[0], SEED.seq, checkpointing=True)
    step = big.of_kind("activations") - small.of_kind("activations")
    assert third.of_kind("activations") - big.of_kind("activations") == step > 0
    assert answers["peaks"] == [small.peak, big.peak]
    # ZeRO's mixed precision: fp16 weights 2 + fp16 gradients 2 + fp32 master 4 + 8-bit m and v with scales
    assert answers["adam8_bytes_per_param"] == pytest.approx(2 + 2 + 4 + 2 * (1 + 4 / 256), rel=1e-6)


def test_format_answers_against_numpy_and_torch():
    answers = ex.formats_answers()
    views = np.array(ex.FP16_PATTERNS, dtype=np.uint16).view(np.float16).astype(float)
    assert answers["fp16"] == list(views)
    for pattern, text in zip(ex.FP16_PATTERNS, answers["fields"]):  # the fields, read off the bits by hand
        b = f"{pattern:016b}"
        assert f"sign {b[0]}, exponent field {b[1:6]} ({int(b[1:6], 2)}), mantissa {b[6:]}" in text
    assert answers["bf16"] == torch.tensor(ex.BF16_TARGET, dtype=torch.bfloat16).item()


def test_int8_answers_by_hand():
    answers = ex.int8_answers()
    scale = 127 / np.abs(ex.ABSMAX_EXAMPLE).max()
    assert answers["scale"] == pytest.approx(scale)
    assert answers["codes"] == [int(c) for c in np.round(ex.ABSMAX_EXAMPLE * scale)]
    assert answers["int8_share"] == (ex.HIDDEN - ex.OUTLIER_DIMS) / ex.HIDDEN


def test_nf4_answers_by_hand():
    answers = ex.nf4_answers()
    assert answers["bits"] == 4 + 32 / 64
    assert answers["bits_dq"] == pytest.approx(4 + 8 / 64 + 32 / (64 * 256))
    assert (
        answers["positive"] + answers["negative"] + 1 == 16 and answers["positive"] == answers["negative"] + 1
    )


def test_learned_chance_level_against_random_subspaces():
    i, j = ex.PHI_RANKS
    draws = [
        subspace_similarity(
            random_orthonormal(ex.PHI_WIDTH, i, seed=s).T,
            random_orthonormal(ex.PHI_WIDTH, j, seed=1000 + s).T,
        )[i - 1, j - 1]
        for s in range(200)
    ]
    assert ex.learned_answers()["chance"] == pytest.approx(np.mean(draws), abs=0.01)
    r = ex.SQUARE_RANK
    square = [
        subspace_similarity(
            random_orthonormal(ex.PHI_WIDTH, r, seed=s).T, random_orthonormal(ex.PHI_WIDTH, r, seed=500 + s).T
        )[r - 1, r - 1]
        for s in range(200)
    ]
    assert ex.learned_answers()["chance_square"] == pytest.approx(np.mean(square), abs=0.01)


def test_finetune_answers_against_peft_on_the_stand_in():
    answers = ex.finetune_answers()
    config = standin.model_config(standin.Recipe())
    assert answers["qv"] == peft_trainable(models.meta_model(config), SEED.r, SEED.target_modules)
    assert answers["all_linear"] == peft_trainable(models.meta_model(config), SEED.r, ex.ALL_LINEAR)
    assert math.isclose(
        answers["all_linear"] / answers["qv"], 1 + 2 / 2 + 2 * (1 + config.ffn_dim / config.hidden_size) / 4
    )


def test_real_answers_against_peft_and_the_file():
    from accelerate import init_empty_weights
    from gguf import GGUFReader
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from lorabook import smollm2

    answers = ex.real_answers()
    config = smollm2.load_config()
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    peft_model = get_peft_model(model, LoraConfig(r=SEED.r, target_modules=list(SEED.target_modules)))
    trainable, _ = peft_model.get_nb_trainable_parameters()
    assert answers["total"] == trainable == config.num_hidden_layers * (answers["q"] + answers["v"])
    d, kv = config.hidden_size, config.num_key_value_heads * config.head_dim
    assert (answers["q"], answers["v"]) == (SEED.r * 2 * d, SEED.r * (d + kv))  # by hand
    q4 = [t for t in GGUFReader(smollm2.gguf_path()).tensors if t.tensor_type.name == "Q4_1"]
    bits = sum(int(t.n_bytes) for t in q4) * 8 / sum(int(t.n_elements) for t in q4)
    assert answers["q4_1_bits"] == bits == answers["q4_1_bytes"] * 8 / answers["q4_1_weights"]
    assert answers["nf4_bits"] == 4 + 32 / 64
    assert answers["scale_bits"] == 2 * 16 == torch.finfo(torch.float32).bits  # two fp16 against one fp32
    assert answers["nf4_bits"] - 4 == answers["scale_bits"] / answers["nf4_block"]
