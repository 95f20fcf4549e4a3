"""The shipped runs of "What LoRA learned" (lorabook.learned): current, made by today's code, read right."""

import dataclasses
import json
import statistics
import warnings

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


@pytest.mark.parametrize("run_id", ["qv-r4", "qv-r16-int8", "qv-r16-nf4", "full"])
def test_the_shipped_seed_runs_record_what_measuring_them_now_gives(base, run_id):
    """A shipped run that keeps its weights, measured now (learned.evaluate, as chapter 9 measures it),
    gives what its record says was measured: the replicates, which keep only that record, were measured by
    the same code when they were made, so chapter 9's medians over seeds rest on this."""
    _, tokenizer = standin.load()
    row = L.evaluate(run_id, base, tokenizer, F.quotes_batch(tokenizer), F.heldout_sample(tokenizer))
    recorded = L.info(run_id)["metrics"]
    assert recorded["exact match"] == row["exact match"] and recorded["intruders"] == row["intruders"]
    for key in ("quotes loss", "held-out loss", "update norm", "amplification"):
        if run_id == "full" and key == "amplification":
            assert key not in row and key not in recorded  # amplification is LoRA's, at its own r
            continue
        assert recorded[key] == pytest.approx(row[key], rel=1e-4)
    assert row["update norm"] == pytest.approx(D.update_norm(row["deltas"]), rel=1e-6)
    n_blocks = base.config.num_hidden_layers  # LoRA changes q and v of each block; full every linear weight
    assert len(row["deltas"]) == (6 if run_id == "full" else 2) * n_blocks


def test_over_seeds_spreads_each_seed_s_measurement():
    """A comparison over seeds reads seed 42's run and its replicates, measured now where `results` holds
    them and as recorded otherwise."""
    counts = [L.info(i)["metrics"]["exact match"] for i in L.seeds_of("qv-r16-int8")]
    assert len(counts) == len(L.SEEDS) == 3
    spread = T.over_seeds("qv-r16-int8", "exact match")
    assert spread == {"median": statistics.median(counts), "min": min(counts), "max": max(counts), "n": 3}
    now = T.over_seeds("qv-r16-int8", "exact match", {"qv-r16-int8": {k: -1 for k in T.KEYS}})
    assert now["min"] == -1 and now["n"] == 3
    with pytest.raises(ValueError, match="key must be one of"):
        T.over_seeds("qv-r16-int8", "exact matches")


def test_the_rank_ablation_is_the_lora_paper_s_ranks_and_the_seed_s():
    """Hu et al. (Table 6) adapt q and v at r = 1, 2, 4, 8 and 64; chapter 9 adds the seed's r = 16, each at
    α = 2r (the seed's α/r), and each shipped run trained at the rank it is filed under."""
    seed = F.PROFILES["stand-in"]
    assert set(L.RANKS) == {1, 2, 4, 8, 64} | {seed.r} and list(L.RANKS) == sorted(L.RANKS)
    for r in L.RANKS:
        config = L.info(f"qv-r{r}")["config"]
        assert (config["r"], config["lora_alpha"]) == (r, 2 * r) and seed.lora_alpha == 2 * seed.r


def test_no_part_of_full_fine_tuning_s_update_alone_keeps_its_quotes(base):
    """Chapter 9's parts: full fine-tuning's ΔW applied to one group of parameters (truncation.by_part) keeps
    none of the quotes the whole update learned, at seed 42 measured now and at the replicates as recorded,
    and the query and value projections alone move the loss on the quotes least. Seed 42's record is what
    measuring it now gives."""
    from safetensors.torch import load_file

    from lorabook import truncation as TR

    _, tokenizer = standin.load()
    batch, heldout = F.quotes_batch(tokenizer), F.heldout_sample(tokenizer)
    delta = {k: v.float() for k, v in load_file(L.SHIPPED / "full" / "delta.safetensors").items()}
    live = TR.by_part(base, delta, tokenizer, batch, heldout)
    recorded = L.info("full")["metrics"]["parts"]
    assert set(live) == set(recorded) == set(TR.PARTS)
    for part, m in live.items():
        assert m["exact match"] == recorded[part]["exact match"]
        assert m["quotes loss"] == pytest.approx(recorded[part]["quotes loss"], rel=1e-4)
    split = T.parts(live)
    part_em, part_quotes = T.across(split, "exact match"), T.across(split, "quotes loss")
    assert len(split) == len(L.seeds_of("full"))
    whole = T.over_seeds("full", "exact match")
    assert max(s["max"] for s in part_em.values()) < whole["min"]
    assert part_quotes["q,v"]["median"] == max(s["median"] for s in part_quotes.values())


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
    with pytest.raises(ValueError, match="^model must be a peft model with LoRA layers; it has none$"):
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


def test_merging_the_nf4_run_requantizes_w0_plus_delta_and_keeps_its_quotes(base):
    """Chapter 7b's merge: peft's merge_and_unload into the shipped NF4 run's base (nf4.merge, before any
    forward pass) is W₀ + ΔW quantized to NF4 again (nf4.requantize_merge): it loses part of each update, not
    all, and the merged model keeps the quotes and the loss of the adapter kept separate. After an eval-mode
    forward pass on a CPU that repacks the weights, merging breaks the model, and reading W₀ is refused."""
    from lorabook import nf4 as N

    _, tokenizer = standin.load()
    batch, quotes = F.quotes_batch(tokenizer), standin.zen_of_python()

    fresh = L.load("qv-r16-nf4", base)
    deltas = L.lora_deltas(fresh)

    def weights(model):
        """W of each adapted layer's 4-bit base, dequantized."""
        return {
            L.short_name(n): N.dequantized_weight(m)
            for n, m in model.named_modules()
            if type(m).__name__ == "Linear4bit" and "lora_" not in n and L.short_name(n) in deltas
        }

    assert len(deltas) == 2 * base.config.num_hidden_layers and not N.repacked_for_cpu(fresh)
    w0 = weights(fresh)
    adapter = sum(p.numel() * p.element_size() for n, p in fresh.named_parameters() if "lora_" in n)
    assert adapter == 4 * L.info("qv-r16-nf4")["trainable"]  # the adapter stays fp32 on a 4-bit base
    # the stand-in's updates are larger than W₀ itself (chapter 9 reads what that means)
    assert statistics.median(float(d.norm() / w0[n].norm()) for n, d in deltas.items()) > 1
    # merged without peft's warning that merging into 4 bits rounds: the chapter measures how much
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merged = N.merge(fresh)
    assert not [w for w in caught if "4-bit" in str(w.message)]
    w = weights(merged)
    for n, d in deltas.items():
        ours, exact = N.requantize_merge(w0[n], d), w0[n] + d
        lost = float((w[n] - exact).norm() / d.norm())
        assert 0 < lost < 0.5 and lost == pytest.approx(float((ours - exact).norm() / d.norm()), abs=0.01)
    separate = L.load("qv-r16-nf4", base).eval()
    kept = F.quotes_loss(separate, batch)
    _, rows = F.exact_match(merged, tokenizer, quotes)
    assert sum(r["match"] for r in rows) >= L.info("qv-r16-nf4")["metrics"]["exact match"] - 1
    assert F.quotes_loss(merged, batch) == pytest.approx(kept, rel=0.05)
    if N.repacked_for_cpu(separate):  # bitsandbytes repacked at the forward pass (AVX-512 BF16)
        with pytest.raises(ValueError, match="repacked"):
            N.dequantized_weight(next(m for m in separate.modules() if type(m).__name__ == "Linear4bit"))
        assert F.quotes_loss(N.merge(separate), batch) > 2 * kept
