"""LoRA's family on one task (lorabook.family.runs) and in the fine-tune's pipeline: the switches, the shipped
runs (current, made by today's code), the timing, what the chapter reads from them, and the property each of
the chapter's sentences states."""

import dataclasses
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from lorabook import family, learned, real_runs, smollm2, standin
from lorabook import finetune as F
from lorabook.family import against_peft as AP
from lorabook.family import compare as FC
from lorabook.family import runs as FR
from lorabook.spread import listed, spread

# ---------------------------------------------------------------------------- the switches in FinetuneConfig


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(use_dora=True, method="full", load_in_8bit=False), "method must be 'lora'"),
        (dict(loraplus_lr_ratio=16.0, method="vera"), "loraplus_lr_ratio change LoRA's adapter"),
        (dict(init_lora_weights="gaussian"), "init_lora_weights must be one of"),
        (dict(loraplus_lr_ratio=0.5), "loraplus_lr_ratio must be 0 (off) or at least 1, got 0.5"),
        (dict(init_lora_weights="pissa", load_in_8bit=True), "full-precision base only"),
    ],
)
def test_contradictory_family_switches_are_refused_by_name(changes, message):
    cfg = dataclasses.replace(F.PROFILES["stand-in"], **changes)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cfg.validate()


def test_a_key_leaves_out_the_family_switches_only_while_they_are_off():
    cfg = F.PROFILES["stand-in"]
    assert not set(F.key_fields(cfg)) & {"use_dora", "init_lora_weights", "loraplus_lr_ratio"}
    on = F.key_fields(
        dataclasses.replace(cfg, use_dora=True, init_lora_weights="olora", loraplus_lr_ratio=2.0)
    )
    assert (on["use_dora"], on["init_lora_weights"], on["loraplus_lr_ratio"]) == (True, "olora", 2.0)
    assert "init_lora_weights" in F.key_fields(dataclasses.replace(cfg, init_lora_weights=1))  # 1 is not True


def test_the_pipeline_builds_peft_s_config_for_each_switch():
    from peft import LoraConfig, VeraConfig

    for variant, (_, changes) in FR.VARIANTS.items():
        made = F.lora_config(FR.config(variant, 0))
        if variant == "vera":
            assert isinstance(made, VeraConfig) and made.r == FR.VERA_R and made.projection_prng_key == 0
            continue
        assert isinstance(made, LoraConfig)
        for field, value in changes.items():
            if hasattr(made, field):
                assert getattr(made, field) == value


def test_loraplus_in_the_pipeline_gives_b_lambda_times_a_s_rate():
    cfg = F.resolve(FR.config("loraplus", 42), progress=False)
    model = F.trainable_model(cfg)
    rates = family.learning_rates(F.optimizer(model, cfg))
    by_name = {n: rates[id(p)][0] for n, p in model.named_parameters() if p.requires_grad}
    assert {r for n, r in by_name.items() if "lora_A" in n} == {cfg.learning_rate}
    assert {r for n, r in by_name.items() if "lora_B" in n} == {cfg.learning_rate * FR.LORAPLUS_RATIO}
    assert F.optimizer(model, FR.config("lora", 42)) is None  # the Trainer's own AdamW at one rate


def test_run_configs_change_one_switch_of_the_learned_chapter_s_run():
    lora = FR.config("lora", 42)
    for variant in FR.VARIANTS:
        changed = {k for k, v in dataclasses.asdict(FR.config(variant, 42)).items() if getattr(lora, k) != v}
        assert changed == set(FR.VARIANTS[variant][1])
    with pytest.raises(ValueError, match="variant must be one of"):
        FR.config("lora-xs", 42)
    with pytest.raises(ValueError, match=r"seed must be one of \(42, 0, 1\) for stand-in, got 7"):
        FR.config("dora", 7)
    with pytest.raises(ValueError, match=r"model must be one of \('stand-in', 'smollm2'\), got 'opt'"):
        FR.config("dora", 0, "opt")
    real = FR.config("pissa", 2, "smollm2")
    assert (real.profile, real.load_in_8bit, real.init_lora_weights, real.seed) == (
        "smollm2",
        False,
        "pissa",
        2,
    )
    for model, seed in (("stand-in", 42), ("smollm2", 0)):  # where train() asks its runs to write
        assert FR.config("rslora", seed, model, output_dir="elsewhere").output_dir == "elsewhere"
    with pytest.raises(
        ValueError, match=r"lr must be one of .* \(swept on the stand-in only\), got 0.01 for smollm2"
    ):
        FR.config("rslora", 0, "smollm2", lr=1e-2)
    with pytest.raises(ValueError, match=r"got 0.02 for stand-in"):
        FR.config("rslora", 42, lr=2e-2)


# ---------------------------------------------------------------------------- the shipped runs


def test_every_shipped_family_run_and_the_timing_are_current():
    assert FR.stale() == [], "run `make family`: these were made from another configuration"


REDONE = [("stand-in", v) for v in FR.TRAINED] + [("smollm2", v) for v in ("lora", "pissa", "vera")]


@pytest.mark.parametrize("model, variant", REDONE)
def test_todays_code_redoes_the_first_steps_of_each_shipped_run(model, variant, tmp_path):
    seed = FR.SEEDS[model][0]
    cfg = dataclasses.replace(FR.config(variant, seed, model, str(tmp_path)), max_steps=3, save_steps=3)
    # on the worker's own threads, not the two the runs were made on: a test that takes both cores starves the
    # other worker's subprocesses; over three steps the sums' order changes the losses far below the tolerance
    _, _, result = F.run(cfg, overwrite=True, progress=False)
    losses = [h["loss"] for h in result["log_history"] if "loss" in h]
    # within warm-up the schedule does not depend on max_steps, so these are the shipped run's first steps
    np.testing.assert_allclose(losses, FR.record(variant, seed, model)["losses"][:3], rtol=1e-4)
    assert result["trainable"][0] == FR.record(variant, seed, model)["trainable"]


@pytest.mark.parametrize("model", FR.MODELS)
def test_summary_is_the_spread_of_the_records(model):
    summary = FC.summary(model)
    for variant in FR.VARIANTS:
        records = [FR.record(variant, s, model) for s in FR.SEEDS[model]]
        assert summary[variant]["exact match"] == spread(r["metrics"]["exact match"] for r in records)
        assert summary[variant]["final loss"]["max"] == max(r["losses"][-1] for r in records)
        assert summary[variant]["trainable"] == records[0]["trainable"]
    if model == "stand-in":
        assert summary["lora"]["step time"] == spread([1.0] * FC.ROUNDS)


@pytest.mark.parametrize("model", FR.MODELS)
def test_trainable_counts_are_the_variants_formulas(model):
    """LoRA: r(d + k) per matrix; DoRA adds m, d per matrix; VeRA trains λ_d and λ_b, r + d per matrix."""
    summary = FC.summary(model)
    net = standin.load()[0] if model == "stand-in" else smollm2.load("fp32")
    shapes = [m.weight.shape for n, m in net.named_modules() if n.endswith(("q_proj", "v_proj"))]
    r = FR.config("lora", FR.SEEDS[model][0], model).r
    assert summary["lora"]["trainable"] == sum(r * (d + k) for d, k in shapes)
    assert summary["dora"]["trainable"] - summary["lora"]["trainable"] == sum(d for d, _ in shapes)
    assert summary["vera"]["trainable"] == sum(d + FR.VERA_R for d, _ in shapes)
    for same in ("rslora", "pissa", "olora", "loraplus"):
        assert summary[same]["trainable"] == summary["lora"]["trainable"]


# ---------------------------------------------------------------------------- reading runs against each other


def test_against_sorts_by_disjoint_ranges_only():
    rows = {
        "lora": {"label": "LoRA", "m": spread([10, 12])},
        "a": {"label": "A", "m": spread([13, 14])},
        "b": {"label": "B", "m": spread([12, 15])},  # touches LoRA's max: not apart
        "c": {"label": "C", "m": spread([2, 9.5])},
    }
    assert FC.against(rows, "m") == {"above": ["A"], "below": ["C"], "noise": ["B"]}


def test_ratios_are_taken_within_each_round():
    timing = {"seconds": {"lora": [1.0, 2.0, 4.0], "dora": [1.5, 2.0, 2.0]}}
    assert FC.ratios(timing, "dora") == spread([1.5, 1.0, 0.5])


def test_step_times_interleave_every_variant_and_a_control_in_shuffled_order(monkeypatch):
    calls = []
    monkeypatch.setattr(FC, "_stepper", lambda v: lambda batch: calls.append(v))
    out = FC.step_times(rounds=6, variants=("lora", "dora", "vera"))
    # the control is built from "lora" too, so its calls record "lora": count per round instead
    rounds = [calls[i : i + 4] for i in range(0, len(calls), 4)]
    assert len(rounds) == FC.WARMUP + 6 and all(sorted(r) == ["dora", "lora", "lora", "vera"] for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1  # the order changes between rounds
    assert {v: len(s) for v, s in out["seconds"].items()} == {"lora": 6, "dora": 6, "vera": 6, FC.CONTROL: 6}


def test_listed_reads_as_prose():
    assert [listed([]), listed(["A"]), listed(["A", "B"]), listed(["A", "B", "C"])] == [
        "none",
        "A",
        "A and B",
        "A, B and C",
    ]


# ------------------------------------------------------------------------ against peft, where the book trains


@pytest.fixture(scope="module")
def q_proj():
    return standin.load()[0].get_submodule("model.decoder.layers.0.self_attn.q_proj")


@pytest.mark.parametrize("variant", AP.VARIANTS)
def test_each_variant_equals_peft_on_a_stand_in_weight(variant, q_proj):
    found = AP.differences(variant, q_proj)
    assert found and max(found.values()) <= 1e-5, found
    if variant not in ("loraplus",):
        assert set(found) == {"start", "base", "output", "gradients"}


def test_a_wrong_scale_or_a_norm_with_a_graph_shows_as_a_difference(q_proj, monkeypatch):
    """The comparison can fail: rsLoRA with LoRA's α/r, and DoRA whose norm is not detached, both differ."""
    monkeypatch.setattr(family.rslora, "rslora_scaling", family.lora_scaling)
    assert AP.differences("rslora", q_proj)["output"] > 1e-3
    monkeypatch.undo()
    monkeypatch.setattr(
        family.DoRALinear, "norm", lambda self: family.row_norms(self.base.weight + self.delta_weight())
    )
    assert AP.differences("dora", q_proj)["gradients"] > 1e-6
    with pytest.raises(ValueError, match="variant must be one of"):
        AP.differences("qlora", q_proj)


# ------------------------------------------------------------------------ what the chapter's sentences state


def test_a_dora_step_takes_longer_than_a_lora_step_in_every_round():
    """ "DoRA costs time": it computes ‖W₀ + sBA‖ row by row in every forward pass."""
    assert FC.ratios(FC.timing(), "dora")["min"] > 1


@pytest.mark.parametrize("model", FR.MODELS)
def test_no_variant_reproduces_more_quotes_than_lora_at_every_seed(model):
    """ "Start with LoRA": with one switch flipped, none is above LoRA's range, on either model."""
    assert FC.against(FC.summary(model), "exact match")["above"] == []


@pytest.mark.parametrize("model", FR.MODELS)
def test_vera_learns_fewer_quotes_and_forgets_less_than_lora_at_every_seed(model):
    summary = FC.summary(model)
    assert "VeRA" in FC.against(summary, "exact match")["below"]
    assert FC.against(summary, "held-out loss")["below"] == ["VeRA"]


@pytest.mark.parametrize("model", FR.MODELS)
def test_rslora_pissa_olora_and_loraplus_forget_more_than_lora_and_dora_as_much(model):
    """ "Most switches cost forgetting": a higher held-out loss than LoRA's at every seed, on both models."""
    held_out = FC.against(FC.summary(model), "held-out loss")
    assert set(held_out["above"]) == {"rsLoRA", "PiSSA", "OLoRA", "LoRA+"} and held_out["noise"] == ["DoRA"]


def test_fine_tuning_raises_the_held_out_loss_above_the_base_model_s_except_vera_s_on_smollm2():
    """The base model's held-out loss, the chapter's reference line: every variant at every seed ends above it
    on the stand-in; on SmolLM2 every one but VeRA ends more than a nat above it, and VeRA within 0.01."""
    from lorabook import real_runs, truncation

    base, tokenizer = standin.load()
    stand_in = truncation.measure(base, tokenizer, F.quotes_batch(tokenizer), F.heldout_sample(tokenizer))
    assert stand_in["held-out loss"] < min(s["held-out loss"]["min"] for s in FC.summary().values())
    real = real_runs.heldout_loss(smollm2.load("fp32"), smollm2.load_tokenizer())
    summary = FC.summary("smollm2")
    assert all(summary[v]["held-out loss"]["min"] > real + 1 for v in FR.VARIANTS if v != "vera")
    vera = summary["vera"]["held-out loss"]
    assert real - 0.01 < vera["min"] <= vera["max"] < real + 0.01


def test_on_smollm2_dora_and_pissa_stay_inside_lora_s_range():
    summary = FC.summary("smollm2")
    for metric in ("exact match", "final loss", "held-out loss"):
        assert "DoRA" in FC.against(summary, metric)["noise"], metric
    assert "PiSSA" in FC.against(summary, "final loss")["noise"]


def test_qpissa_quantizes_the_stand_in_s_weights_with_less_error_than_qlora():
    model = standin.load()[0]
    cfg = FR.config("lora", 42)
    s = family.lora_scaling(cfg.lora_alpha, cfg.r)
    shares = [
        (e := family.qpissa_errors(m.weight, cfg.r, s)).residual / e.base
        for n, m in model.named_modules()
        if n.endswith(("q_proj", "v_proj"))
    ]
    assert max(shares) < 1 and statistics.median(shares) < 1


def test_pissa_ends_with_a_lower_training_loss_than_lora_at_every_seed_on_the_stand_in():
    assert "PiSSA" in FC.against(FC.summary(), "final loss")["below"]


def test_at_lora_s_rate_loraplus_rslora_and_dora_learn_fewer_quotes_on_the_stand_in():
    """LoRA+ multiplies B's rate by λ, rsLoRA the update by √r: on LoRA's tuned rate both overshoot."""
    assert {"LoRA+", "rsLoRA", "DoRA"} <= set(FC.against(FC.summary(), "exact match")["below"])


def test_chance_disjoint_counts_the_orderings_where_one_setting_s_runs_all_come_first():
    """2 / C(n + m, n), against the count over every ordering of n + m exchangeable runs."""
    from itertools import permutations

    from lorabook.spread import chance_disjoint

    for n, m in ((3, 3), (2, 2), (2, 3), (1, 4), (4, 1), (1, 1)):
        # the runs in sorted order, by which setting each came from: every labelling equally likely
        orders = set(permutations("a" * n + "b" * m))
        apart = sum(o in (tuple("a" * n + "b" * m), tuple("b" * m + "a" * n)) for o in orders)
        assert chance_disjoint(n, m) == pytest.approx(apart / len(orders))
    assert chance_disjoint(3, 3) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="n and m must be at least 1 run each, got n=0, m=3"):
        chance_disjoint(0, 3)
    with pytest.raises(ValueError, match="got n=3, m=0"):
        chance_disjoint(3, 0)


def test_pissa_and_olora_start_from_another_loss_only_because_dropout_drops_their_principal_part():
    """With B = 0 the first loss of every variant is the base model's; PiSSA's and OLoRA's adapters hold W₀'s
    top part, and the recipe's dropout removes some of its input, so theirs differs."""
    first = {v: FR.record(v, 42)["losses"][0] for v in FR.VARIANTS}
    for v in ("rslora", "dora", "loraplus", "vera"):
        assert first[v] == pytest.approx(first["lora"], abs=1e-4)
    for v in ("pissa", "olora"):
        assert abs(first[v] - first["lora"]) > 1e-3


def test_best_rate_is_the_smallest_that_learns_the_most_or_else_the_lowest_quotes_loss(monkeypatch):
    def rows(em, ql):
        return {
            lr: {"exact match": spread([e]), "quotes loss": spread([q])}
            for lr, e, q in zip((1, 2, 3), em, ql)
        }

    monkeypatch.setattr(FC, "sweep", lambda v, path=None: rows([5, 9, 9], [2.0, 1.0, 0.5]))
    assert FC.best_rate("dora") == 2  # the smallest of the rates that learn the most, not the lowest loss
    monkeypatch.setattr(FC, "sweep", lambda v, path=None: rows([0, 0, 0], [3.0, 1.0, 2.0]))
    assert FC.best_rate("vera") == 2  # none learns a quote: the lowest loss on the quotes


def test_turning_point_is_the_minimum_of_the_median_curve():
    assert FC.turning_point([[5, 3, 4, 6], [5, 2, 5, 7], [5, 4, 3, 2]]) == {"step": 2, "loss": 3}


def test_lead_is_the_first_stretch_of_steps_where_a_variant_is_lowest():
    curves = {"a": [[5, 3, 2, 4]], "b": [[5, 4, 1, 1]]}
    assert FC.lead(curves, "a") == 2 and FC.lead(curves, "b") == 0


def test_at_lora_s_rate_loraplus_first_falls_fastest_then_climbs_back_and_forgets_past_the_base():
    curves = {v: FC.curves(v) for v in FR.VARIANTS}
    turn = FC.turning_point(curves["loraplus"])
    assert FC.lead(curves, "loraplus") >= FR.config("loraplus", 42).warmup_steps // 2
    assert turn["step"] <= FR.config("loraplus", 42).warmup_steps + 5
    assert FC.summary()["loraplus"]["final loss"]["min"] > 1.05 * turn["loss"]
    base, tokenizer = standin.load()
    from lorabook import truncation

    held_out = truncation.measure(base, tokenizer, F.quotes_batch(tokenizer), F.heldout_sample(tokenizer))
    assert FC.summary()["loraplus"]["held-out loss"]["min"] > held_out["held-out loss"] + 1


def test_at_lora_s_rate_vera_moves_little_and_learns_no_quote():
    curves = FC.curves("vera")
    assert all(c[-1] > 0.7 * c[0] for c in curves)
    assert FC.summary()["vera"]["exact match"]["max"] == 0


# -------------------------------------------------------------------- "What to choose", at each one's rate


@pytest.fixture(scope="module")
def at_best():
    return FC.summary(rates=FC.best_rates())


def test_summary_at_best_rates_reads_the_runs_at_those_rates(at_best):
    for variant, lr in FC.best_rates().items():
        records = [FR.record(variant, s, "stand-in", lr=lr) for s in FR.SEEDS["stand-in"]]
        assert at_best[variant]["exact match"] == spread(r["metrics"]["exact match"] for r in records)
        assert at_best[variant]["learning rate"] == records[0]["config"]["learning_rate"]
        assert {r["config"]["learning_rate"] for r in records} == {FC.best_rate(variant)}


def test_at_their_own_rates_fewer_variants_fall_short_and_none_learns_more(at_best):
    """ "Tune the rate before you compare": the variants below LoRA's range at their best rates are a strict
    subset of those below it at LoRA's rate, and none is above it."""
    at_lora = set(FC.against(FC.summary(), "exact match")["below"])
    at_own = FC.against(at_best, "exact match")
    assert set(at_own["below"]) < at_lora and at_own["above"] == []


def test_most_variants_forget_more_at_their_best_rates_dora_by_its_rate_olora_by_itself(at_best):
    """ "Most switches forget more than LoRA, whether or not they learn more": at their best rates most are
    above LoRA's held-out range; DoRA's best rate is far above LoRA's, and at LoRA's rate its held-out loss
    overlaps LoRA's on both models; OLoRA at its own rate learns fewer quotes and still forgets more."""
    held_out = FC.against(at_best, "held-out loss")["above"]
    assert len(held_out) > len(FR.VARIANTS) // 2 and {"DoRA", "OLoRA"} <= set(held_out)
    assert FC.best_rate("dora") >= 10 * FR.config("lora", 42).learning_rate
    for model in FR.MODELS:
        assert "DoRA" in FC.against(FC.summary(model), "held-out loss")["noise"]
    assert "OLoRA" in FC.against(at_best, "exact match")["below"]


def test_rslora_and_loraplus_learn_best_below_lora_s_rate_and_there_match_it(at_best):
    lora_rate = FR.config("lora", 42).learning_rate
    for variant, label in (("rslora", "rsLoRA"), ("loraplus", "LoRA+")):
        assert FC.best_rate(variant) < lora_rate
        assert label in FC.against(at_best, "exact match")["noise"]


def test_at_lora_s_rate_pissa_ends_with_the_lowest_training_loss_and_at_its_own_overlaps_lora(at_best):
    final = {v: row["final loss"]["median"] for v, row in FC.summary().items()}
    assert min(final, key=final.get) == "pissa"
    assert "PiSSA" in FC.against(at_best, "exact match")["noise"]


def test_vera_s_best_rate_is_the_grid_s_largest_and_it_learns_some_quotes_there(at_best):
    assert FC.best_rate("vera") == max(FR.SWEEP_RATES)
    assert at_best["vera"]["exact match"]["median"] > 0


def test_make_trains_each_missing_run_into_the_record_the_chapter_reads(tmp_path, monkeypatch):
    """`make` on a folder that lacks one run (the runs cut to three steps): it trains it, writes the record
    `record` and `is_current` read, and leaves a current folder alone. The record's losses are the shipped
    run's first steps (within warm-up the schedule does not depend on max_steps), its key is what
    `is_current` computes, its metrics are measured on the quotes and held-out windows."""
    made = FR.config
    monkeypatch.setattr(FR, "config", lambda *a, **k: dataclasses.replace(made(*a, **k), max_steps=3))
    run = ("rslora", FR.SEEDS["stand-in"][0], "stand-in", None)
    monkeypatch.setattr(FR, "wanted", lambda path=FR.SHIPPED: [run])
    timed = iter([False, True])
    monkeypatch.setattr(FC, "timing_current", lambda path=FR.SHIPPED: next(timed))
    monkeypatch.setattr(FC, "step_times", lambda: {"key": "timed"})
    assert FR.make(tmp_path, progress=False) == ["stand-in/rslora-seed42", "timing"]
    assert FR.is_current(*run[:3], tmp_path) and FR.make(tmp_path, progress=False) == []
    assert FR.files.read_json(tmp_path / "timing.json") == {"key": "timed"}
    new, shipped = FR.record(*run[:3], tmp_path), FR.record(*run[:3])
    assert (new["id"], new["label"], new["model"]) == ("rslora-seed42", "rsLoRA", "stand-in")
    assert new["key"] == FR.key(FR.config(*run[:3]), "stand-in")
    np.testing.assert_allclose(new["losses"], shipped["losses"][:3], rtol=1e-4)
    assert new["trainable"] == shipped["trainable"] and new["versions"] == shipped["versions"]
    assert new["config"] == {**shipped["config"], "max_steps": 3, "save_steps": 3}
    assert set(new["metrics"]) == set(FR.METRICS) and 0 <= new["metrics"]["exact match"] <= 19
    assert new["train_seconds"] > 0 and new["metrics"]["held-out loss"] > 0


@pytest.mark.parametrize(
    "given, run",
    [
        (("dora", 0), ("dora", 0, "stand-in", True, None)),
        (("loraplus", 42, "stand-in", False, 1e-2), ("loraplus", 42, "stand-in", False, 1e-2)),
        (("vera", 2, "smollm2", False), ("vera", 2, "smollm2", False, None)),
    ],
)
def test_train_fine_tunes_the_run_s_config_in_a_fresh_folder_and_records_it_under_its_id_and_key(
    given, run, monkeypatch
):
    """`train` (the stand-in and a bar by default) hands the fine-tune the run's own configuration (model,
    seed, variant, rate) with one checkpoint at the end, in a new empty folder it then removes, at
    real_runs.THREADS threads; measures the trained model as the model's chapter does; and records the run
    under the id and key that `record` and `is_current` read. The training is stubbed here; the test of
    `make` above trains for real."""
    variant, seed, model, progress, lr = run
    seen = {}

    class Trained:
        def eval(self):
            seen["eval"] = True
            return self

    def fine_tune(cfg, **options):
        folder = Path(cfg.output_dir)
        seen.update(
            cfg=cfg, options=options, empty=not any(folder.iterdir()), threads=torch.get_num_threads()
        )
        history = [{"loss": 2.5}, {"eval_loss": 9.0}, {"loss": 1.5}]
        return (
            Trained(),
            "tokenizer",
            {
                "config": dataclasses.asdict(cfg),
                "log_history": history,
                "train_seconds": 7.0,
                "trainable": (123, 456),
            },
        )

    def measure(trained, tokenizer, which):
        seen["measured"] = (trained.__class__, tokenizer, which)
        return {"exact match": 3}

    monkeypatch.setattr(F, "run", fine_tune)
    monkeypatch.setattr(FR, "measure", measure)
    made = FR.train(*given)
    asked = FR.config(variant, seed, model, output_dir=seen["cfg"].output_dir, lr=lr)
    assert seen["cfg"] == dataclasses.replace(asked, save_steps=asked.max_steps)
    assert seen["options"]["progress"] is progress and seen["empty"] and seen["eval"]
    assert not Path(seen["cfg"].output_dir).exists() and seen["threads"] == real_runs.THREADS
    assert seen["measured"] == (Trained, "tokenizer", model)
    config = {
        k: v for k, v in dataclasses.asdict(seen["cfg"]).items() if k not in ("model_name", "output_dir")
    }
    assert made == {
        "id": FR.run_id(variant, seed, lr),
        "label": FR.VARIANTS[variant][0],
        "model": model,
        "key": FR.key(FR.config(variant, seed, model, lr=lr), model),
        "config": config,
        "losses": [2.5, 1.5],
        "train_seconds": 7.0,
        "trainable": 123,
        "metrics": {"exact match": 3},
        "versions": learned.versions(),
    }


def test_the_command_line_makes_the_runs_its_folder_lacks_twice_over_with_a_bar(
    tmp_path, monkeypatch, capsys
):
    """`python -m lorabook.family.runs DEST`: `make` asks what DEST wants and holds (not the shipped folder),
    makes DEST if it is new, trains what it lacks with a progress bar, in two passes (the second for the rates
    the first's sweep picked), then the timing. Training is stubbed here; the test of `make` above trains."""
    run, dest = ("dora", 0, "stand-in", 1e-2), tmp_path / "new"
    asked, trained = [], []
    monkeypatch.setattr(FR, "wanted", lambda path: asked.append(path) or [run])
    monkeypatch.setattr(FR, "is_current", lambda *a: asked.append(a) or False)
    monkeypatch.setattr(FR, "train", lambda *a: trained.append(a) or {"id": len(trained)})
    monkeypatch.setattr(FC, "timing_current", lambda path: asked.append(path) or True)
    assert FR.main([str(dest)]) == 0
    assert asked == [dest, (*run[:3], dest, run[3])] * 2 + [dest]
    assert trained == [(*run[:3], True, run[3])] * 2
    assert FR.files.read_json(dest / "stand-in" / "dora-lr1e-02-seed0.json") == {"id": 2}
    assert (
        f"{dest}: made 2 (stand-in/dora-lr1e-02-seed0, stand-in/dora-lr1e-02-seed0)"
        in capsys.readouterr().out
    )
