"""The seed's recipe on the real model: the shipped runs are today's and say what the chapter says, and a run
made now reproduces the shipped one and learns the quotes."""

import dataclasses
import statistics
import subprocess
import sys
import warnings

import pytest

from lorabook import cited, smollm2
from lorabook import finetune as F
from lorabook import real_runs as R
from lorabook.seed import SEED


def test_every_shipped_run_is_current():
    assert R.stale() == [], "run `make real` to remake the stale runs"


def test_a_run_key_follows_its_configuration(monkeypatch):
    before = {rid: R.run_key(rid) for rid in R.RUNS}
    monkeypatch.setattr(R, "FULL_LR", R.FULL_LR * 2)
    after = {rid: R.run_key(rid) for rid in R.RUNS}
    assert [rid for rid in R.RUNS if before[rid] != after[rid]] == [r for r in R.RUNS if r.startswith("full")]


def test_the_runs_configurations():
    lora, full = R.config("lora-seed3"), R.config("full-seed1")
    assert (lora.profile, lora.seed, lora.load_in_8bit, lora.method) == ("smollm2", 3, True, "lora")
    assert (lora.r, lora.lora_alpha, lora.target_modules) == (SEED.r, SEED.lora_alpha, SEED.target_modules)
    assert (full.method, full.load_in_8bit, full.learning_rate, full.seed) == ("full", False, R.FULL_LR, 1)
    # chapter 8b: LoRA's rate is many times what LoRA Without Regret finds best against full fine-tuning's
    assert lora.learning_rate / full.learning_rate > 5 * cited.LORA_WITHOUT_REGRET_LR_RATIO.value
    assert [R.config(f"lora-lr{lr:.0e}-seed0").learning_rate for lr in R.RATES] == list(R.RATES)
    with pytest.raises(ValueError, match=r"run id must be one of .*got 'lora-seed99'"):
        R.config("lora-seed99")


def test_the_real_model_is_measured_on_pep_20_and_every_fifteenth_held_out_window():
    """What evaluate measures on: the 19 quotes the stand-in learns, and every HELDOUT_EVERY-th window of the
    held-out documentation, tokenized by SmolLM2's tokenizer."""
    from lorabook import standin

    tokenizer = smollm2.load_tokenizer()
    quotes = F.load_quotes(F.PROFILES["smollm2"])["quote"]
    assert len(quotes) == len(standin.zen_of_python()) == 19
    every = standin.heldout_rows(tokenizer)
    windows = F.heldout_sample(tokenizer, R.HELDOUT_EVERY)
    assert len(windows) == -(-len(every) // R.HELDOUT_EVERY) == 20
    assert windows.equal(every[:: R.HELDOUT_EVERY])


def test_spread_is_the_median_and_the_range():
    values = [3, 19, 17, 18, 18]
    assert R.spread(values) == {"median": statistics.median(values), "min": 3, "max": 19, "n": 5}
    with pytest.raises(ValueError, match="at least one"):
        R.spread([])


# ---------------------------------------------------------------------------- what the chapter says of them


@pytest.fixture
def runs():
    """The shipped runs, read for each test (milliseconds), so that each test is seen to read them."""
    return R.shipped("lora"), R.shipped("full"), R.rate_runs()


def test_the_recipe_learns_the_quotes_over_at_least_three_seeds(runs):
    lora, full, _ = runs
    assert len(lora) >= 3 and len(full) >= 3
    assert R.spread([r["exact_match"] for r in lora])["median"] >= 15
    assert R.spread([r["exact_match"] for r in full])["median"] >= 15
    for run in lora + full:
        assert run["exact_match"] == sum(row["match"] for row in run["rows"]) <= len(run["rows"]) == 19
        assert run["losses"][-1] < run["losses"][0] / 3  # the loss falls steeply in every run


def test_lora_at_its_rate_forgets_more_than_full_fine_tuning_at_its_own(runs):
    """The chapter's claim that the seeds' ranges of held-out loss do not overlap."""
    lora, full, _ = runs
    assert min(r["heldout_loss"] for r in lora) > max(r["heldout_loss"] for r in full)


def test_the_held_out_loss_rises_with_lora_s_rate_and_so_does_what_it_learns(runs):
    *_, rates = runs
    assert [r["learning_rate"] for r in rates] == sorted([*R.RATES, F.PROFILES["smollm2"].learning_rate])
    held = [r["heldout_loss"] for r in rates]
    assert held == sorted(held)
    assert rates[0]["exact_match"] < rates[-1]["exact_match"]


def test_the_runs_count_what_peft_counts_and_save_what_they_train(runs):
    lora, full, _ = runs
    from lorabook.lora import llama_lora_parameter_count

    assert {r["trainable"] for r in lora} == {llama_lora_parameter_count(smollm2.load_config(), SEED.r)}
    assert lora[0]["saved_bytes"] == pytest.approx(4 * lora[0]["trainable"], rel=0.01)  # fp32, plus a header
    assert full[0]["saved_bytes"] > 100 * lora[0]["saved_bytes"]


@pytest.mark.slow
def test_a_run_made_now_is_the_shipped_one_and_learns_the_quotes():
    """The q,v recipe on the 8-bit real model, trained here: 15 of 19 or more, and the shipped losses."""
    now, shipped = R.make_run("lora-seed0"), R.info("lora-seed0")
    assert now["exact_match"] >= 15
    assert now["exact_match"] == shipped["exact_match"]
    assert max(abs(a - b) for a, b in zip(now["losses"], shipped["losses"])) < 1e-3
    # The held-out loss after 200 steps at this rate amplifies rounding: the first loss already differs in the
    # seventh digit between the shipped run and one made on another machine, and on an AVX-512 EPYC the
    # held-out loss ends 0.015 apart, in one process or in make unit's workers alike (0.08 is the five seeds'
    # whole range). Rounding must move it less than a seed does, which is what the chapter compares: under
    # half the shipped seeds' range.
    seeds = [R.info(f"lora-seed{s}")["heldout_loss"] for s in R.SEEDS]
    assert abs(now["heldout_loss"] - shipped["heldout_loss"]) < 0.5 * (max(seeds) - min(seeds))


@pytest.mark.slow
def test_every_run_moves_away_from_the_model_before_the_fine_tune(runs):
    """Chapter 8b's baseline, measured as the chapter measures it (real_runs.before: evaluate on the 8-bit
    model, and the held-out loss of the fp32 model that full fine-tuning starts from): before the fine-tune
    the model reproduces few of the 19 quotes; every shipped run lowers the loss on the quotes and ends with
    a higher held-out loss than its starting model (LoRA's the 8-bit model, full fine-tuning's fp32), and
    the runs at the profile's rate reproduce more quotes."""
    lora, full, rates = runs
    before, before_fp32 = R.before("int8"), R.before("fp32")["heldout_loss"]
    assert len(before["rows"]) == 19 and before["exact_match"] <= 2
    assert all(r["exact_match"] > before["exact_match"] for r in lora + full)  # the seed's rate learns none
    assert all(r["quotes_loss"] < before["quotes_loss"] for r in lora + full + rates)
    assert all(r["heldout_loss"] > before["heldout_loss"] for r in lora + rates)
    assert all(r["heldout_loss"] > before_fp32 for r in full)
    assert abs(before["heldout_loss"] - before_fp32) < 0.02 * before_fp32  # 8-bit loading costs little


@pytest.mark.slow
def test_the_smollm2_profile_runs_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lorabook.finetune",
            "--profile",
            "smollm2",
            "--max-steps",
            "2",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # the summary's last line: the completion, which starts with the prompt it completes
    assert done.stdout.strip().splitlines()[-1].startswith(f"completion of {SEED.prompt!r}: '{SEED.prompt}")
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


def test_the_profile_differs_from_the_seed_only_where_it_says():
    seed, mine = F.PROFILES["opt-6.7b"], F.PROFILES["smollm2"]
    differ = {f.name for f in dataclasses.fields(seed) if getattr(seed, f.name) != getattr(mine, f.name)}
    explained = {
        "profile",
        "model_name",
        "dataset",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "max_steps",
        "warmup_steps",
        "learning_rate",
        "fp16",
        "gradient_checkpointing",
        "append_eos",
        "output_dir",
        "max_new_tokens",
    }
    assert differ == explained
    assert mine.prompt == SEED.prompt


def test_no_lora_rate_learns_as_much_as_full_fine_tuning_while_forgetting_as_little(runs):
    _, full, rates = runs
    full_em = R.spread([r["exact_match"] for r in full])["median"]
    full_held = max(r["heldout_loss"] for r in full)
    assert not any(r["exact_match"] >= full_em and r["heldout_loss"] <= full_held for r in rates)


def test_after_the_fine_tune_the_model_ends_its_completions(runs):
    lora, *_ = runs
    tokenizer = smollm2.load_tokenizer()
    after = [R.stopped(tokenizer, p, r["completions"][p]) for r in lora for p in R.PROMPTS]
    before = R.before("int8")  # the model the LoRA runs start from, as the chapter measures it
    assert sum(after) > len(after) / 2
    assert sum(R.stopped(tokenizer, p, before["completions"][p]) for p in R.PROMPTS) < len(R.PROMPTS) / 2
    least = R.info("lora-lr2e-04-seed0")  # the least-moved run still talks on, as the base model does
    assert sum(R.stopped(tokenizer, p, least["completions"][p]) for p in R.PROMPTS) < len(R.PROMPTS)
    # stopped() counts new tokens: a completion of exactly the limit did not stop
    limit = F.PROFILES["smollm2"].max_new_tokens
    assert not R.stopped(tokenizer, "x", "x" + " a" * limit) and R.stopped(tokenizer, "x", "x a")
    # the seed's prompt: some seeds end it at once, and every seed ends it within a line
    seeds = [r["completions"][SEED.prompt] for r in lora]
    ends = [R.continuation(SEED.prompt, c) == "–" for c in seeds]
    assert 0 < sum(ends) and all(
        R.stopped(tokenizer, SEED.prompt, c) and "\n" not in c.strip() for c in seeds
    )


def test_full_fine_tuning_draws_nothing_at_random_and_lora_does(runs):
    lora, full, _ = runs
    differ = lambda runs: max(abs(a - b) for r in runs[1:] for a, b in zip(r["losses"], runs[0]["losses"]))
    assert differ(full) < 1e-4  # the seeds repeat one run, up to the order of parallel sums
    assert differ(lora) > 1e-2  # each seed draws other A matrices and dropout masks


def test_what_the_chapter_prints_of_a_completion_and_a_spread():
    assert R.continuation("Two things", "Two things are\n\n infinite.") == "are infinite."
    assert R.continuation("Two things", "Two things") == "–"
    assert R.described({"median": 5.7345, "min": 5.7, "max": 5.8, "n": 5}) == "5.73 [5.70–5.80]"


def test_the_chapters_figures_draw_without_a_warning_and_legibly(runs):
    from lorabook.plots import real as rplots
    from lorabook.plots.style import check_legible

    lora, full, rates = runs
    before = {"exact_match": 0, "heldout_loss": 3.4, "rows": lora[0]["rows"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figs = rplots.recipe(lora, full, before), rplots.rates(rates, full, before)
    for fig in figs:
        check_legible(fig)
        assert fig.axes[0].get_legend() is not None
    quotes_axis = figs[1].axes[0].get_yticks()
    assert all(float(t).is_integer() for t in quotes_axis)  # quotes come in whole numbers
    assert [str(w.message) for w in caught] == []


def test_the_adapter_answers_unrelated_prompts_with_pep_20s_pattern_and_full_fine_tuning_does_not(runs):
    lora, full, rates = runs
    others = [p for p in R.PROMPTS if p != SEED.prompt]
    quotes = F.load_quotes(F.PROFILES["smollm2"])["quote"]
    assert sum(R.PEP20_PATTERN in q for q in quotes) == 8  # the pattern is the quotes' own
    assert sum(R.uses_pattern(r, others) for r in lora) >= 1
    assert not any(R.uses_pattern(r, others) for r in full)
    assert not R.uses_pattern(R.info("lora-lr2e-04-seed0"), others)  # the least-moved adapter: as the base
