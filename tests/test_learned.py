"""The shipped runs of "What LoRA learned" (lorabook.learned): current, made by today's code, read right."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from lorabook import delta as D
from lorabook import finetune as F
from lorabook import learned as L
from lorabook import standin
from lorabook import thesis as T


@pytest.fixture(scope="module")
def base():
    return L.base_model()


def test_every_shipped_run_is_current():
    assert L.stale() == [], "run `make learned`: these runs were made from another configuration"


def test_shipped_runs_hold_only_json_and_safetensors_and_stay_small():
    files = [f for f in L.SHIPPED.rglob("*") if f.is_file()]
    assert {f.suffix for f in files} == {".json", ".safetensors"}
    assert sum(f.stat().st_size for f in files) < 25e6
    from safetensors import safe_open

    with safe_open(L.SHIPPED / "full" / "delta.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}


def test_todays_code_redoes_the_first_steps_of_a_shipped_run(tmp_path):
    """The first steps of the seed's q,v run at r = 16, trained again now, give the shipped losses."""
    cfg = dataclasses.replace(L.config("qv-r16", output_dir=str(tmp_path)), max_steps=3, save_steps=3)
    _, _, result = F.run(cfg, overwrite=True, progress=False)
    losses = [h["loss"] for h in result["log_history"] if "loss" in h]
    # within warm-up the schedule does not depend on max_steps, so these are the shipped run's first steps
    np.testing.assert_allclose(losses, L.info("qv-r16")["losses"][:3], rtol=1e-4)


def test_initial_factors_are_the_ones_a_run_starts_from(tmp_path, base):
    cfg = dataclasses.replace(
        L.config("qv-r4", output_dir=str(tmp_path)), max_steps=1, save_steps=1, learning_rate=1e-12
    )
    model, _, _ = F.run(cfg, overwrite=True, progress=False)
    after_one_tiny_step = D.lora_factors(model)
    for name, (A0, B0, s0) in L.initial_factors("qv-r4", base).items():
        A, B, s = after_one_tiny_step[name]
        torch.testing.assert_close(A, A0, rtol=0, atol=1e-9)
        assert s == s0 == cfg.lora_alpha / cfg.r and B0.abs().max() == 0


def test_lora_deltas_are_what_peft_merges_and_have_rank_at_most_r(base):
    from peft import get_peft_model

    for rslora in (False, True):
        cfg = dataclasses.replace(L.config("qv-r4"), use_rslora=rslora)
        torch.manual_seed(0)
        model = get_peft_model(L.copy.deepcopy(base), F.lora_config(cfg))
        for p in model.parameters():
            if p.requires_grad:
                torch.nn.init.normal_(p)  # B = 0 at the start; a trained-looking B and A instead
        deltas = D.lora_deltas(model)
        assert len(deltas) == 2 * base.config.num_hidden_layers
        w0 = D.base_weights(base, deltas)
        merged = model.merge_and_unload()
        w = D.base_weights(merged, deltas)
        scale = cfg.lora_alpha / (cfg.r**0.5 if rslora else cfg.r)
        for name, d in deltas.items():
            torch.testing.assert_close(w[name] - w0[name], d, rtol=1e-4, atol=1e-4)
            assert torch.linalg.matrix_rank(d).item() == cfg.r  # fp32 tolerance: 256 · eps · σ₁
        assert {
            s
            for _, _, s in D.lora_factors(get_peft_model(L.copy.deepcopy(base), F.lora_config(cfg))).values()
        } == {scale}


def test_full_run_delta_is_the_fine_tuned_model_minus_w0(base):
    model = L.load("full", base)
    deltas = L.full_deltas("full")
    assert len(deltas) == 6 * base.config.num_hidden_layers  # every linear layer of every block
    w, w0 = D.base_weights(model, deltas), D.base_weights(base, deltas)
    for name, d in deltas.items():
        torch.testing.assert_close(w[name] - w0[name], d, rtol=0, atol=1e-6)


def test_make_trains_what_is_missing_and_then_nothing(tmp_path, monkeypatch, base):
    monkeypatch.setitem(L.RUNS, "tiny", ("tiny", dict(r=1, lora_alpha=2, max_steps=2, warmup_steps=1)))
    monkeypatch.setattr(L, "KEEPS_WEIGHTS", (*L.KEEPS_WEIGHTS, "tiny"))
    (tmp_path / ".tiny.killed").mkdir()  # what a killed run leaves behind
    assert L.make(tmp_path, ["tiny"], progress=False) == ["tiny"]
    assert L.make(tmp_path, ["tiny"], progress=False) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]
    record = L.info("tiny", tmp_path)
    assert record["key"] == L.run_key("tiny") and len(record["losses"]) == 2
    assert (
        json.loads((tmp_path / "tiny" / "adapter_config.json").read_text())["base_model_name_or_path"]
        == "lorabook/data/standin"
    )
    _, tokenizer = standin.load()
    row = L.evaluate(
        "tiny", base, tokenizer, F.quotes_batch(tokenizer), F.heldout_sample(tokenizer, 40), tmp_path
    )
    assert 0 <= row["exact match"] <= len(standin.zen_of_python())
    assert set(row["deltas"]) == {f"{i}.{p}" for i in range(6) for p in ("q_proj", "v_proj")}
    recorded = record["metrics"]  # measured as it was made, by the code that measures it now
    assert recorded["exact match"] == row["exact match"] and recorded["intruders"] == row["intruders"]
    assert recorded["quotes loss"] == pytest.approx(row["quotes loss"], rel=1e-5)
    assert recorded["update norm"] == pytest.approx(D.update_norm(row["deltas"]), rel=1e-5)


def test_a_replicate_keeps_what_was_measured_and_no_weights(tmp_path, monkeypatch):
    monkeypatch.setitem(
        L.RUNS, "tiny-seed0", ("tiny", dict(r=1, lora_alpha=2, max_steps=1, warmup_steps=1, seed=0))
    )
    L.make(tmp_path, ["tiny-seed0"], progress=False)
    assert sorted(p.name for p in (tmp_path / "tiny-seed0").iterdir()) == ["run.json"]
    assert set(L.info("tiny-seed0", tmp_path)["metrics"]) == {*T.KEYS, "amplification"}
    with pytest.raises(ValueError, match="keeps only what was measured"):
        L.load("tiny-seed0", None, tmp_path)


def test_measure_missing_adds_metrics_to_an_old_record_and_keeps_its_key(tmp_path, monkeypatch, base):
    monkeypatch.setitem(L.RUNS, "tiny", ("tiny", dict(r=1, lora_alpha=2, max_steps=1, warmup_steps=1)))
    monkeypatch.setattr(L, "KEEPS_WEIGHTS", (*L.KEEPS_WEIGHTS, "tiny"))
    L.make(tmp_path, ["tiny"], progress=False)
    record = L.info("tiny", tmp_path)
    old = {k: v for k, v in record.items() if k != "metrics"}  # as runs made before metrics were recorded
    (tmp_path / "tiny" / "run.json").write_text(json.dumps(old))
    assert L.measure_missing(tmp_path, ["tiny"]) == ["tiny"] and L.measure_missing(tmp_path, ["tiny"]) == []
    again = L.info("tiny", tmp_path)
    assert (
        again["key"] == record["key"] and again["metrics"]["exact match"] == record["metrics"]["exact match"]
    )


def test_the_shipped_seed_runs_record_what_measuring_them_now_gives(base):
    """A shipped run that keeps its weights, measured now, gives what its record says was measured."""
    _, tokenizer = standin.load()
    row = L.evaluate("qv-r4", base, tokenizer, F.quotes_batch(tokenizer), F.heldout_sample(tokenizer))
    recorded = L.info("qv-r4")["metrics"]
    assert recorded["exact match"] == row["exact match"] and recorded["intruders"] == row["intruders"]
    for key in ("quotes loss", "held-out loss", "update norm"):
        assert recorded[key] == pytest.approx(
            row[key] if key != "update norm" else D.update_norm(row["deltas"]), rel=1e-4
        )


def test_the_book_s_intruder_detector_is_peft_s(base):
    model = L.load("qv-r16", base)
    deltas = D.lora_deltas(model)
    w0 = D.base_weights(base, deltas)
    ours = {n: D.intruder_dimensions(w0[n], w0[n] + d) for n, d in deltas.items()}
    assert T.peft_intruders(model) == ours and sum(ours.values()) > 0


def test_names_and_ids_are_checked():
    assert D.short_name("base_model.model.model.decoder.layers.3.self_attn.q_proj") == "3.q_proj"
    assert D.short_name("model.decoder.layers.10.fc2.weight") == "10.fc2"
    with pytest.raises(ValueError, match="name must name a linear layer"):
        D.short_name("model.decoder.embed_tokens.weight")
    with pytest.raises(ValueError, match="run_id must be one of"):
        L.config("r=3")
    with pytest.raises(ValueError, match="must be a peft model"):
        D.lora_factors(torch.nn.Linear(2, 2))


def test_runs_at_one_budget_train_about_as_many_parameters():
    """The targets ablation spends one budget: q,v at r = 16, within an eighth."""
    budget = L.info("qv-r16")["trainable"]
    for run_id in ("q-r32", "v-r32", "qkvo-r8", "all-r4"):
        assert abs(L.info(run_id)["trainable"] / budget - 1) <= 1 / 8


def test_full_fine_tuning_draws_nothing_at_random_so_its_seeds_agree():
    """No initialisation, the whole batch every step, no dropout in the stand-in: the seed changes nothing."""
    config = L.base_model().config
    assert config.dropout == config.attention_dropout == config.layerdrop == 0
    records = [L.info(i)["metrics"] for i in L.seeds_of("full")]
    for key in ("exact match", "intruders"):
        assert len({m[key] for m in records}) == 1, key
    for key in ("quotes loss", "held-out loss", "update norm"):  # the same run, up to float rounding
        # (seed 42's record is measured from the shipped fp16 ΔW, the others' from the fp32 one they trained)
        assert max(m[key] for m in records) == pytest.approx(min(m[key] for m in records), rel=1e-3), key
    rows = [m["truncated"] for m in records[1:]]
    assert all(r[k]["exact match"] == rows[0][k]["exact match"] for r in rows for k in rows[0])
