"""`python -m lorabook.finetune` as a user meets it, each behaviour through a real subprocess: the summary it
ends with, Ctrl-C (a real SIGINT) and --resume, --help's defaults, contradictory flags, errors that say what
to do, the warm-up that follows the run's length, the checkpoints it keeps, and readable log lines."""

import json
import re
import signal
import subprocess
import time

import pytest
from conftest import cli, cli_env

from lorabook import finetune as F
from lorabook.finetune import cli as C


def run_cli(cache, *args, timeout=300):
    return subprocess.run(cli(*args), env=cli_env(cache), capture_output=True, text=True, timeout=timeout)


def tiny_args(tiny, out, *more):
    return ["--profile", "stand-in", "--model", str(tiny), "--output-dir", str(out), *more]


@pytest.mark.slow
def test_a_run_ends_with_a_labelled_summary_and_logs_one_line_per_step(tiny, cache, tmp_path):
    out = tmp_path / "o"
    done = run_cli(cache, *tiny_args(tiny, out, "--max-steps", "4", "--save-steps", "2"))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((out / "result.json").read_text())
    lines = done.stdout.splitlines()
    assert "done: 4 steps in" in lines[-5]
    assert lines[-4] == f"final loss: {result['final_loss']:.4f}"
    assert re.fullmatch(r"exact match: \d+ of 19 quotes \(.*\)", lines[-3])
    assert lines[-2].startswith(f"adapter: {out / 'adapter'} (3 files, ")
    assert lines[-1].startswith("completion of 'Errors should never': ")
    steps = [line for line in lines if re.match(r"step \d+/4  loss \d+\.\d{4}  lr ", line)]
    assert len(steps) == 4 and "{'loss'" not in done.stdout  # a line per step, not a Python dict
    # warm-up: the stand-in's 20 of 200 steps is a tenth of its run, so a 4-step run warms up for 0
    assert "warm-up: 0 of 4 steps" in done.stderr and result["config"]["warmup_steps"] == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]


@pytest.mark.slow
def test_ctrl_c_exits_130_with_the_step_and_resume_continues_from_the_checkpoint_it_names(
    tiny, cache, tmp_path
):
    out = tmp_path / "o"
    args = tiny_args(tiny, out, "--max-steps", "2000", "--save-steps", "3")
    # As typed in a terminal, where Ctrl-C is not ignored. A shell without job control starts its background
    # jobs with SIGINT ignored, the runner of CI among them, and every child inherits that (as the CLI should:
    # whoever ignored it asked not to be interrupted), so the test restores the terminal's default.
    proc = subprocess.Popen(
        cli(*args),
        env=cli_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while not (out / "checkpoint-3" / "trainer_state.json").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    last = stderr.strip().splitlines()[-1]
    match = re.fullmatch(
        r"interrupted at step (\d+) of 2000; rerun with --resume to continue from checkpoint-(\d+)", last
    )
    assert match, last
    step, saved = map(int, match.groups())
    assert 3 <= saved <= step and saved % 3 == 0
    assert "Traceback" not in stderr and not (out / "adapter").exists()

    done = run_cli(cache, *tiny_args(tiny, out, "--max-steps", str(saved + 2), "--resume"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"continuing from checkpoint-{saved}" in done.stderr
    assert f"done: {saved + 2} steps" in done.stdout and f"resumed from checkpoint-{saved}" in done.stdout


@pytest.mark.slow
def test_resuming_a_run_that_reached_its_steps_refuses_instead_of_training_nothing(tiny, cache, tmp_path):
    out = tmp_path / "o"
    assert run_cli(cache, *tiny_args(tiny, out, "--max-steps", "2", "--save-steps", "2")).returncode == 0
    done = run_cli(cache, *tiny_args(tiny, out, "--max-steps", "2", "--resume"))
    assert done.returncode == 2
    assert (
        "checkpoint-2 already reached max_steps=2" in done.stderr
        and "give a larger --max-steps" in done.stderr
    )


def test_help_gives_every_option_a_text_and_every_default():
    env = {**cli_env("/tmp"), "COLUMNS": "250"}  # no wrapping inside "stand-in"
    done = subprocess.run(cli("--help"), capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0
    for action in C.parser()._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{action.option_strings} has no help text"
        flag = action.option_strings[0]
        assert flag in done.stdout
    for default in (
        "default: stand-in",
        "stand-in 200",
        "stand-in 20,",
        f"default: {F.steps.KEEP_CHECKPOINTS}",
    ):
        assert default in done.stdout, default


@pytest.mark.parametrize(
    "args,message",
    [
        (["--resume", "--overwrite"], "--resume continues the run in --output-dir, --overwrite deletes it"),
        (["--nf4", "--no-8bit"], "--nf4 loads a 4-bit base, --no-8bit a full-precision one"),
        (["--method", "full", "--nf4"], "--nf4 is for LoRA; --method full trains every weight"),
        (["--method", "full", "--r", "4"], "--r is for LoRA"),
        (["--method", "full", "--target-modules", "q_proj"], "--target-modules is for LoRA"),
        (["--save-total-limit", "-1"], "--save-total-limit must be >= 0, got -1"),
        (["--method", "full", "--dora"], "--dora change LoRA's adapter; --method full has none"),
        (
            ["--method", "vera", "--loraplus-ratio", "16"],
            "--loraplus-ratio change LoRA's adapter; --method vera",
        ),
        (["--init", "pissa"], "--init pissa rewrites the base as W₀ − s·BA: add --no-8bit"),
        (
            ["--max-steps", "10", "--warmup-steps", "11"],
            "--warmup-steps must be in 0..10 (the run's steps), got 11",
        ),
    ],
)
def test_contradictory_flags_exit_2_with_one_line_before_any_work(args, message, tmp_path):
    done = subprocess.run(
        cli(*args), capture_output=True, text=True, timeout=120, cwd=tmp_path, env=cli_env(tmp_path)
    )
    assert done.returncode == 2, done.stderr[-1000:]
    last = done.stderr.strip().splitlines()[-1]
    assert message in last and last.startswith("error: ") and "Traceback" not in done.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_an_output_dir_that_cannot_be_made_names_the_flag_and_the_fix(tiny, cache, tmp_path):
    done = run_cli(cache, *tiny_args(tiny, "/proc/lorabook-test/o", "--max-steps", "1"))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: --output-dir /proc/lorabook-test/o:")
        and "give a folder you can write to" in last
    )


def test_the_family_s_flags_set_its_switches_and_only_those():
    args = C.parser().parse_args(
        ["--no-8bit", "--rslora", "--dora", "--init", "olora", "--loraplus-ratio", "8"]
    )
    cfg = C.config_from(args)
    assert (cfg.use_rslora, cfg.use_dora, cfg.init_lora_weights, cfg.loraplus_lr_ratio) == (
        True,
        True,
        "olora",
        8,
    )
    plain = C.config_from(C.parser().parse_args([]))
    assert F.key_fields(plain) == F.key_fields(F.PROFILES["stand-in"])  # no flag: the profile, switches off
    assert C.config_from(C.parser().parse_args(["--method", "vera"])).method == "vera"


def test_the_warm_up_keeps_the_profile_s_share_of_the_run():
    for name, profile in F.PROFILES.items():
        assert F.config.warmup_for(profile, profile.max_steps) == profile.warmup_steps, name
    assert F.config.warmup_for(F.PROFILES["stand-in"], 20) == 2  # a tenth, not the whole run
    assert F.config.warmup_for(F.PROFILES["opt-6.7b"], 20) == 10  # the seed's half


def test_log_lines_are_readable():
    line = F.steps.log_line({"loss": 1.23456, "learning_rate": 7e-3, "grad_norm": 0.5123}, 20, 200)
    assert line == "step 20/200  loss 1.2346  lr 7.00e-03  grad-norm 0.512"


def test_ddp_looks_for_no_unused_parameters_and_keeps_two_checkpoints(tmp_path):
    args = F.training_arguments(dataclasses_replace(output_dir=str(tmp_path)))
    assert args.ddp_find_unused_parameters is False and args.save_total_limit == F.steps.KEEP_CHECKPOINTS


def dataclasses_replace(**kw):
    import dataclasses

    return dataclasses.replace(F.PROFILES["stand-in"], **kw)
