"""The fine-tune pipeline end to end on a tiny stand-in: 8-bit load, prepare, LoRA, train, save, reload,
generate; resume after a real kill; DDP under accelerate; the offline fail-fast; and bad configurations."""

import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY, cli, cli_env

from lorabook import corpus, models
from lorabook import finetune as F
from lorabook import standin as S

ROOT = Path(__file__).resolve().parents[1]


def tiny_cfg(tiny, out, **kw):
    fields = dict(model_name=str(tiny), output_dir=str(out), max_steps=8, save_steps=4, warmup_steps=2)
    fields.update(kw)
    return dataclasses.replace(F.PROFILES["stand-in"], **fields)


# ---------------------------------------------------------------------------- the stand-in


def test_a_tiny_stand_in_beats_uniform_on_held_out_text(tiny):
    report = S.report(tiny)
    assert report["heldout_loss"] < report["initial_heldout_loss"]
    assert (
        report["heldout_loss"]
        < 0.85 * report["uniform_loss"]
        == pytest.approx(0.85 * math.log(320), rel=0.01)
    )


def test_the_cache_is_reused_and_keyed_by_the_recipe(tiny):
    start = time.perf_counter()
    assert S.standin_path(TINY, progress=False) == tiny
    assert time.perf_counter() - start < 5  # no second pretraining
    assert S.recipe_key(dataclasses.replace(TINY, steps=26)) != S.recipe_key(TINY)
    assert sorted(p.suffix for p in tiny.glob("*.safetensors")) == [".safetensors"]


def test_the_tokenizer_round_trips_text(tiny):
    tokenizer = F.load_tokenizer(tiny_cfg(tiny, "unused"))
    unicode = "naïve café — 3.14 ≠ π\n\tdef f(x): return x"
    for text in [*S.zen_of_python(), corpus.documents()[0][:2000], unicode]:
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_the_fine_tune_data_has_english_quotes_columns_and_is_pep_20():
    data = F.load_quotes(F.PROFILES["stand-in"])
    assert data.column_names == ["quote", "author", "tags"]
    assert len(data) == 19 and set(data["author"]) == {"Tim Peters"}
    assert data["quote"][0] == "Beautiful is better than ugly."
    assert "Errors should never pass silently." in data["quote"]


# ---------------------------------------------------------------------------- the pipeline, end to end


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    cfg = tiny_cfg(tiny, out, max_steps=12, learning_rate=1e-2)
    model, tokenizer, result = F.run(cfg, progress=False)
    return cfg, model, tokenizer, result


def test_a_quiet_run_prints_nothing(tiny, tmp_path, capfd):
    F.run(tiny_cfg(tiny, tmp_path / "o", max_steps=2, save_steps=2), progress=False)
    out, err = capfd.readouterr()
    assert out == "" and "it/s" not in err and "loss" not in err  # no bar, no log lines


def test_quotes_end_in_eos_only_when_asked(tiny):
    tokenizer = F.load_tokenizer(tiny_cfg(tiny, "unused"))
    quotes = F.load_quotes(F.PROFILES["stand-in"])
    plain, ended = F.tokenize(quotes, tokenizer), F.tokenize(quotes, tokenizer, append_eos=True)
    for a, b in zip(plain, ended):
        assert b["input_ids"] == [*a["input_ids"], tokenizer.eos_token_id]
        assert b["attention_mask"] == [*a["attention_mask"], 1]
    assert F.PROFILES["stand-in"].append_eos and not F.PROFILES["opt-6.7b"].append_eos


def test_the_stand_in_profile_keeps_the_seeds_lora_recipe():
    seed, ours = F.PROFILES["opt-6.7b"], F.PROFILES["stand-in"]
    for name in ("load_in_8bit", "method", "r", "lora_alpha", "target_modules", "lora_dropout", "bias"):
        assert getattr(ours, name) == getattr(seed, name), name
    # one optimizer step is one pass over the nineteen quotes
    assert ours.per_device_train_batch_size * ours.gradient_accumulation_steps == len(S.zen_of_python())


def test_full_fine_tuning_trains_every_weight_and_reloads(tiny, tmp_path):
    cfg = tiny_cfg(tiny, tmp_path / "o", **{**F.VARIANTS["full"], "max_steps": 2, "save_steps": 2})
    model, tokenizer, result = F.run(cfg, progress=False)
    trainable, total = result["trainable"]
    assert trainable == total == sum(p.numel() for p in model.parameters())
    assert F.saved_dir(cfg).name == "model" and "model.safetensors" in result["adapter_files"]
    reloaded = F.reload(cfg, F.saved_dir(cfg))
    ids = tokenizer("Errors should never pass silently.", return_tensors="pt")["input_ids"]
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, reloaded(input_ids=ids).logits, atol=1e-5)


def test_full_fine_tuning_refuses_an_8_bit_base(tmp_path):
    cfg = dataclasses.replace(F.PROFILES["stand-in"], method="full", output_dir=str(tmp_path / "o"))
    with pytest.raises(ValueError, match="int8 or 4-bit weights cannot train: got load_in_8bit=True"):
        F.run(cfg)
    with pytest.raises(ValueError, match="cannot train: got load_in_4bit=True"):
        F.run(dataclasses.replace(cfg, load_in_8bit=False, load_in_4bit=True))
    with pytest.raises(ValueError, match=r"method must be one of \('lora', 'full', 'vera'\), got 'qlora'"):
        F.run(dataclasses.replace(cfg, method="qlora"))


@pytest.mark.slow
def test_the_seeds_recipe_learns_the_quotes_on_the_shipped_stand_in(tmp_path):
    """The book's claim: q,v LoRA with the seed's r, alpha, dropout and 8-bit base reproduces the quotes."""
    cfg = dataclasses.replace(F.PROFILES["stand-in"], output_dir=str(tmp_path / "o"))
    assert F.resolve(cfg).model_name == str(S.SHIPPED)
    model, tokenizer, result = F.run(cfg, progress=False)
    quotes = S.zen_of_python()
    before, _ = F.exact_match(F.load_base(F.resolve(cfg)), tokenizer, quotes)
    after, rows = F.exact_match(model, tokenizer, quotes)
    assert before <= 2 / 19 and after >= 17 / 19, [r for r in rows if not r["match"]]
    # the adapter on disk, on a fresh 8-bit base, is the same model
    reloaded = F.reload(F.resolve(cfg), F.saved_dir(cfg))
    again, _ = F.exact_match(reloaded, tokenizer, quotes)
    assert again == after
    ids = tokenizer(quotes, return_tensors="pt", padding=True)
    model.eval()
    with torch.no_grad():
        a, b = model(**ids).logits, reloaded(**ids).logits
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    # trained on EOS, the model stops where a quote stops
    assert sum(r["completion"] == r["target"] for r in rows) >= 17


def test_the_loss_decreases(trained):
    _, _, _, result = trained
    losses = [h["loss"] for h in result["log_history"] if "loss" in h]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


def test_base_weights_are_int8_and_only_lora_trains(trained):
    _, model, _, result = trained
    int8 = [n for n, p in model.named_parameters() if p.dtype == torch.int8]
    # every linear weight of the decoder layers is int8 (those LoRA wraps sit under .base_layer)
    assert int8 and all(
        re.search(r"\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)(\.base_layer)?\.weight$", n) for n in int8
    )
    assert any("q_proj.base_layer" in n for n in int8) and not any("embed" in n for n in int8)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert result["trainable"][0] == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_load_base_keeps_each_decoder_linear_weight_in_one_byte_instead_of_four(tiny, tmp_path):
    """Chapter 8's footprints: in 8-bit every linear layer of the decoder is bitsandbytes' Linear8bitLt and
    its weight takes one byte a parameter instead of fp32's four; embeddings, norms and biases stay fp32
    (get_memory_footprint counts parameters and buffers, not the per-row scales bitsandbytes keeps apart)."""
    import bitsandbytes as bnb

    cfg = tiny_cfg(tiny, tmp_path)
    int8, fp32 = F.load_base(cfg), F.load_base(dataclasses.replace(cfg, load_in_8bit=False))
    linear = [m for n, m in fp32.named_modules() if isinstance(m, torch.nn.Linear) and ".layers." in n]
    assert len(linear) == 6 * fp32.config.num_hidden_layers
    q = int8.model.decoder.layers[0].self_attn.q_proj
    assert type(q) is bnb.nn.Linear8bitLt and q.weight.dtype == torch.int8
    saved = fp32.get_memory_footprint() - int8.get_memory_footprint()
    assert saved == (4 - 1) * sum(m.weight.numel() for m in linear)
    assert fp32.get_memory_footprint() == 4 * sum(p.numel() for p in fp32.parameters())


def _tensor_bytes(path):
    """Bytes of tensor data in a safetensors file: the file less its 8-byte length and the JSON header."""
    with open(path, "rb") as f:
        header = int.from_bytes(f.read(8), "little")
    return path.stat().st_size - 8 - header


def test_the_saved_files_hold_their_parameters_and_a_header():
    """Chapter 8's file sizes: the seed's adapter on the stand-in (as `make learned` saved it, trained by the
    stand-in profile) holds its trainable parameters in fp32, and the stand-in each of its parameters once
    (the tied head is not stored twice) in fp16; the rest of each file is its header, a few kB."""
    from peft import get_peft_model

    from lorabook import learned as L

    profile = F.PROFILES["stand-in"]
    path = S.standin_path()
    model = F.load_base(dataclasses.replace(profile, model_name=str(path), load_in_8bit=False))
    (weights,) = path.glob("*.safetensors")
    assert _tensor_bytes(weights) == 2 * sum(p.numel() for p in model.parameters())
    assert L.config("qv-r16").r == profile.r and L.config("qv-r16").target_modules == profile.target_modules
    trainable, _ = get_peft_model(model, F.lora_config(profile)).get_nb_trainable_parameters()
    adapter = L.SHIPPED / "qv-r16" / "adapter_model.safetensors"
    assert _tensor_bytes(adapter) == 4 * trainable
    assert (
        weights.stat().st_size - _tensor_bytes(weights) < 16_000
        and adapter.stat().st_size - 4 * trainable < 8_000
    )


def test_the_adapter_is_saved_as_safetensors_and_reloads_to_the_same_logits(trained):
    cfg, model, tokenizer, result = trained
    adapter = Path(cfg.output_dir) / "adapter"
    assert set(result["adapter_files"]) == {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    assert not list(adapter.glob("*.bin"))
    reloaded = F.reload(cfg, adapter)
    ids = tokenizer("Errors should never pass silently.", return_tensors="pt")["input_ids"]
    model.eval()
    with torch.no_grad():
        a, b = model(input_ids=ids).logits, reloaded(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    assert F.generate(reloaded, tokenizer, cfg.prompt, 8).startswith(cfg.prompt)


class Oracle:
    """Completes each prompt with the quote it starts, or (silent=True) adds nothing: to test exact_match."""

    device = "cpu"

    def __init__(self, tokenizer, quotes, silent=False):
        self.tokenizer, self.quotes, self.silent = tokenizer, quotes, silent

    def eval(self):
        return self

    def generate(self, input_ids, **kwargs):
        prompt = self.tokenizer.decode(input_ids[0])
        text = prompt if self.silent else next(q for q in self.quotes if q.startswith(prompt))
        return torch.tensor([self.tokenizer(text)["input_ids"]])


def test_exact_match_counts_whole_continuations(tiny):
    tokenizer = F.load_tokenizer(tiny_cfg(tiny, "unused"))
    quotes = S.zen_of_python()
    rate, rows = F.exact_match(Oracle(tokenizer, quotes), tokenizer, quotes)
    assert rate == 1.0 and rows[0]["prompt"] == "Beautiful is better" and rows[0]["target"] == "than ugly."
    assert len({r["prompt"] for r in rows}) == len(quotes)  # no two quotes share a prompt
    assert F.exact_match(Oracle(tokenizer, quotes, silent=True), tokenizer, quotes)[0] == 0.0


# ---------------------------------------------------------------------------- prepare: by hand and by peft


def test_manual_preparation_and_peft_differ_only_where_documented(tiny):
    cfg = tiny_cfg(tiny, "unused")
    manual = F.prepare_manually(F.load_base(cfg, dtype=torch.float16), gradient_checkpointing=False)
    peft = F.prepare(
        F.load_base(cfg, dtype=torch.float16), dataclasses.replace(cfg, gradient_checkpointing=False)
    )
    for model in (manual, peft):
        assert not any(p.requires_grad for p in model.parameters())  # both freeze everything
        assert all(p.dtype == torch.int8 for n, p in model.named_parameters() if "proj.weight" in n)
    dtypes = lambda m: {n.replace("lm_head.0.", "lm_head."): p.dtype for n, p in m.named_parameters()}  # noqa: E731
    m, p = dtypes(manual), dtypes(peft)
    for name in m:
        if m[name] == torch.int8:
            continue
        assert p[name] == torch.float32  # peft casts every non-int8 parameter to fp32
        if "layer_norm" in name or name.endswith("bias"):
            assert m[name] == torch.float32  # the manual version casts the 1-D ones
    assert m["model.decoder.embed_tokens.weight"] == torch.float16  # …and leaves the embeddings in fp16
    assert isinstance(manual.lm_head, F.CastOutputToFloat) and not isinstance(
        peft.lm_head, F.CastOutputToFloat
    )
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert manual(input_ids=ids).logits.dtype == torch.float32


def test_the_collator_copies_inputs_to_labels_and_masks_padding(tiny):
    from transformers import DataCollatorForLanguageModeling

    tokenizer = F.load_tokenizer(tiny_cfg(tiny, "unused"))
    batch = DataCollatorForLanguageModeling(tokenizer, mlm=False)(
        [{"input_ids": ids} for ids in tokenizer(["Now is better than never.", "Simple."])["input_ids"]]
    )
    pad = batch["input_ids"] == tokenizer.pad_token_id
    assert pad.any() and (batch["labels"][pad] == -100).all()
    assert torch.equal(batch["labels"][~pad], batch["input_ids"][~pad])


def test_lora_config_defaults_are_the_ones_the_seed_lists():
    from peft import LoraConfig

    c = LoraConfig()
    assert (c.r, c.lora_alpha, c.lora_dropout, c.bias) == (8, 8, 0.0, "none")


def test_the_seed_profile_gives_the_seed_printout_on_a_meta_opt_6_7b():
    from peft import get_peft_model

    model = get_peft_model(
        models.meta_model(models.opt_config("opt-6.7b")), F.lora_config(F.PROFILES["opt-6.7b"])
    )
    trainable, total = model.get_nb_trainable_parameters()
    config = models.opt_config("opt-6.7b")
    assert trainable == config.num_hidden_layers * 2 * 16 * (2 * config.hidden_size)
    assert total == models.opt_parameter_formula(config) + trainable


# ---------------------------------------------------------------------------- reliability


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_adapter(tiny, cache, tmp_path):
    from safetensors.torch import load_file

    common = ["--profile", "stand-in", "--model", str(tiny), "--max-steps", "12", "--save-steps", "4"]
    env = cli_env(cache)
    straight = tmp_path / "straight"
    subprocess.run(cli(*common, "--output-dir", str(straight)), env=env, check=True, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        cli(*common, "--output-dir", str(killed)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not (killed / "checkpoint-8" / "trainer_state.json").exists():
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "adapter").exists()  # really interrupted before the end

    subprocess.run(
        cli(*common, "--output-dir", str(killed), "--resume"), env=env, check=True, capture_output=True
    )
    a = load_file(straight / "adapter" / "adapter_model.safetensors")
    b = load_file(killed / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    # Same data order, same RNG states restored from the checkpoint: equal up to float summation order.
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4), k


def launch(tiny, cache, out, *flags, steps=4):
    """accelerate launch … -m lorabook.finetune on the tiny stand-in; returns result.json."""
    import json
    import socket

    with socket.socket() as sock:  # a free port for the rendezvous: the default one may still be in TIME_WAIT
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *flags,
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(port),
        "-m",
        "lorabook.finetune",
        "--profile",
        "stand-in",
        "--model",
        str(tiny),
        "--max-steps",
        str(steps),
        "--output-dir",
        str(out),
    ]
    done = subprocess.run(cmd, env=cli_env(cache), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        done.stdout.count("done: ") == 1 and done.stdout.count("completion of ") == 1
    )  # rank 0 alone speaks
    return json.loads((out / "result.json").read_text())


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_in_8_bit(tiny, cache, tmp_path):
    # torchrun-style launch: two processes, gloo on CPU, the base in 8-bit
    result = launch(tiny, cache, tmp_path / "ddp", "--multi_gpu")
    assert result["world_size"] == 2 and result["global_step"] == 4
    assert result["config"]["load_in_8bit"] is True


@pytest.mark.slow
def test_accelerate_cpu_flag_alone_starts_one_process(tiny, cache, tmp_path):
    # accelerate 1.x: --cpu uses the simple launcher, which starts one process unless an MPI hostfile is given
    assert launch(tiny, cache, tmp_path / "cpu", "--cpu", steps=1)["world_size"] == 1


def test_the_gpu_profile_fails_fast_offline_and_without_cuda(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    code = F.main(["--profile", "opt-6.7b", "--output-dir", str(tmp_path / "x")])
    assert time.perf_counter() - start < 5
    err = capsys.readouterr().err
    assert code == 2 and "CUDA GPU" in err and "HF_HUB_OFFLINE" in err and "--profile stand-in" in err


# ---------------------------------------------------------------------------- bad configurations


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(r=0), r"r must be >= 1, got 0"),
        (dict(max_steps=0), r"max_steps must be >= 1, got 0"),
        (dict(lora_alpha=-1), r"lora_alpha must be a finite number > 0"),
    ],
)
def test_bad_numbers_fail_before_anything_loads(change, message, tmp_path):
    cfg = dataclasses.replace(
        F.PROFILES["stand-in"], output_dir=str(tmp_path / "o"), model_name="/nonexistent", **change
    )
    with pytest.raises(ValueError, match=message):
        F.run(cfg)


def test_a_target_module_that_matches_nothing_fails_before_training(tiny, tmp_path):
    cfg = tiny_cfg(tiny, tmp_path / "o", target_modules=("query", "value"))
    with pytest.raises(ValueError, match=r"target_modules \['query', 'value'\] match no module .* 'q_proj'"):
        F.run(cfg)
    assert not (tmp_path / "o" / "checkpoint-4").exists()


def test_an_empty_dataset_fails_clearly(tiny):
    import datasets

    with pytest.raises(ValueError, match="the dataset is empty"):
        F.tokenize(datasets.Dataset.from_dict({"quote": []}), F.load_tokenizer(tiny_cfg(tiny, "unused")))


def test_an_output_dir_with_other_files_needs_overwrite(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(
        FileExistsError, match="files that are not checkpoints; pass --resume .* or --overwrite"
    ):
        F.check_output_dir(out, resume=False, overwrite=False)
    F.check_output_dir(out, resume=False, overwrite=True)
    assert not out.exists()
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        F.check_output_dir(out, resume=True, overwrite=False)


# ---------------------------------------------------------------------------- the CLI and the files it reads


@pytest.mark.parametrize(
    "args,message",
    [
        (["--save-steps", "0"], "save_steps must be >= 1, got 0"),
        (["--max-steps", "-1"], "max_steps must be >= 1, got -1"),
        (["--r", "0"], "r must be >= 1, got 0"),
        (["--max-steps", "ten"], "argument --max-steps: invalid int value: 'ten'"),
        (["--model", "./no-such-model"], "--model ./no-such-model: no such folder"),
        (["--output-dir", "{file}"], "is a file, not a folder"),
    ],
)
def test_a_bad_cli_argument_exits_2_with_one_line_before_any_work(args, message, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    args = [a.format(file=a_file) for a in args]
    done = subprocess.run(
        cli(*args),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "outputs").exists()  # nothing was written


@pytest.mark.parametrize("damage", ["truncated", "zero-bytes", "wrong-header"])
def test_a_corrupt_adapter_is_refused_with_the_files_name(trained, tmp_path, damage):
    from lorabook.files import UnreadableFile

    cfg = trained[0]
    adapter = tmp_path / "adapter"
    shutil.copytree(Path(cfg.output_dir) / "adapter", adapter)
    weights = adapter / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        {"truncated": data[: len(data) - 100], "zero-bytes": b"", "wrong-header": b"\xff" * 64}[damage]
    )
    with pytest.raises(UnreadableFile, match="adapter_model.safetensors: is (cut short|empty)"):
        F.reload(cfg, adapter)


@pytest.mark.slow
def test_resume_falls_back_past_a_cut_short_checkpoint_and_says_so(tiny, cache, tmp_path):
    out = tmp_path / "o"
    common = ["--profile", "stand-in", "--model", str(tiny), "--save-steps", "4", "--output-dir", str(out)]
    env = cli_env(cache)
    subprocess.run(cli(*common, "--max-steps", "8"), env=env, check=True, capture_output=True, timeout=300)
    (out / "checkpoint-8" / "trainer_state.json").unlink()  # as a kill during transformers' save leaves it
    done = subprocess.run(
        cli(*common, "--max-steps", "12", "--resume"), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipping checkpoint-8 (no trainer_state.json" in done.stderr
    assert "continuing from checkpoint-4" in done.stderr
    assert json.loads((out / "result.json").read_text())["global_step"] == 12

    (out / "checkpoint-12" / "adapter_model.safetensors").write_bytes(b"")  # emptied: a full disk, say
    # two checkpoints are kept (KEEP_CHECKPOINTS): the run's newest, and the cut-short one it skipped
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-12", "checkpoint-8"]
    shutil.rmtree(out / "checkpoint-8")
    done = subprocess.run(
        cli(*common, "--max-steps", "16", "--resume"), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(
        "error: --resume was given"
    )
    assert "skipping checkpoint-12" in done.stderr and "adapter_model.safetensors: is empty" in done.stderr


def test_after_warm_up_the_rate_decays_linearly_to_zero_not_the_given_rate():
    """The seed's "follows the given rate": transformers' default schedule, built from the profile's
    arguments, peaks at the given rate after the warm-up and falls linearly to 0 at max_steps."""
    from transformers.optimization import get_scheduler

    cfg = F.PROFILES["stand-in"]
    args = F.training_arguments(cfg, progress=False)
    assert getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type) == "linear"
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    sched = get_scheduler(
        args.lr_scheduler_type, opt, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.max_steps
    )
    rates = []
    for _ in range(cfg.max_steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert max(rates) == pytest.approx(cfg.learning_rate) and rates.index(max(rates)) == cfg.warmup_steps
    assert rates[-1] == pytest.approx(cfg.learning_rate / (cfg.max_steps - cfg.warmup_steps))
    assert opt.param_groups[0]["lr"] == 0
