"""The command lines that remake what the book ships (`make standin`, `make learned`, `make real`, `make
family`), in process: what each prints and its exit status, with the training replaced (it takes minutes to
hours; the runs' own tests check what training makes)."""

import json
import shutil

import pytest

from lorabook import learned, real_runs, shipping
from lorabook import standin as S
from lorabook.family import runs as family_runs


def test_standin_check_says_current_for_the_shipped_folder_and_exits_0(capsys):
    assert S.main(["--check", str(S.SHIPPED)]) == 0
    assert capsys.readouterr().out == f"{S.SHIPPED}: current (recipe key {S.recipe_key(S.RECIPE)})\n"


def test_standin_check_says_stale_for_another_folder_and_exits_1(tmp_path, capsys):
    assert S.main(["--check", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"{tmp_path}: stale or missing (recipe key {S.recipe_key(S.RECIPE)})\n"


def test_standin_make_prints_what_the_report_says(tmp_path, monkeypatch, capsys):
    made = []

    def make(dest):
        made.append(dest)
        dest.mkdir()
        shutil.copy(S.SHIPPED / "report.json", dest / "report.json")
        return dest

    monkeypatch.setattr(S, "make", make)
    assert S.main([str(tmp_path / "new")]) == 0
    assert made == [tmp_path / "new"]
    rep = json.loads((S.SHIPPED / "report.json").read_text())
    assert capsys.readouterr().out == (
        f"{tmp_path / 'new'}: held-out loss {rep['heldout_loss']:.3f} (uniform {rep['uniform_loss']:.3f}), "
        f"{rep['parameters']:,} parameters, {rep['seconds']:.0f} s\n"
    )


def test_standin_help_names_the_command_and_says_what_each_argument_does(capsys):
    with pytest.raises(SystemExit):
        S.main(["--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert usage.startswith("usage: python -m lorabook.standin [-h] [--check] [dest]")
    assert S.__doc__.splitlines()[0] in usage
    assert " dest the folder to write (the shipped one) " in usage
    assert " --check say whether dest is current; exit 1 if not" in usage


def test_standin_makes_the_shipped_folder_by_default(monkeypatch):
    monkeypatch.setattr(S, "make", lambda dest: (_ for _ in ()).throw(RuntimeError(str(dest))))
    with pytest.raises(RuntimeError, match=f"^{S.SHIPPED}$"):
        S.main([])


@pytest.mark.parametrize(
    "module, name",
    [(learned, "lorabook.learned"), (real_runs, "lorabook.real_runs"), (family_runs, "lorabook.family.runs")],
)
def test_each_set_of_shipped_runs_checks_and_makes_its_own_folder(module, name, monkeypatch, capsys):
    """`python -m <module> [dest] [--check]`: its own name and first doc line in --help, its shipped folder by
    default, its own stale and make."""
    seen = []
    monkeypatch.setattr(module, "stale", lambda dest: seen.append(("stale", dest)) or ["a", "b"])
    monkeypatch.setattr(module, "make", lambda dest: seen.append(("make", dest)) or ["a"])
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert seen == [("stale", module.SHIPPED), ("make", module.SHIPPED)]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{module.SHIPPED}: stale or missing: a, b"
    assert out[1].startswith(f"{module.SHIPPED}: made 1 (a) in ") and out[1].endswith(" s")
    with pytest.raises(SystemExit):
        module.main(["--help"])
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: python -m {name} [-h] [--check] [dest]")
    assert module.__doc__.splitlines()[0] in " ".join(usage.split())  # argparse wraps it


def test_a_check_with_nothing_stale_says_current_and_exits_0(tmp_path, capsys):
    assert shipping.main(["--check", str(tmp_path)], "m", "doc", tmp_path, lambda d: [], None) == 0
    assert capsys.readouterr().out == f"{tmp_path}: current\n"


def test_making_nothing_says_none_needed(tmp_path, capsys):
    assert shipping.main([str(tmp_path)], "m", "doc", tmp_path, None, lambda d: []) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path}: made 0 (none needed) in ")


def test_the_family_measures_smollm2_as_the_real_model_s_chapter_does(monkeypatch):
    found = {
        "exact_match": 7,
        "quotes_loss": 0.5,
        "heldout_loss": 3.25,
        "completions": {"p": "c"},
        "rows": [],
    }
    monkeypatch.setattr(real_runs, "evaluate", lambda *args: args == ("model", "tokenizer") and found)
    assert family_runs.measure("model", "tokenizer", "smollm2") == {
        "exact match": 7,
        "quotes loss": 0.5,
        "held-out loss": 3.25,
        "completions": {"p": "c"},
    }


def test_the_family_measures_the_stand_in_as_what_lora_learned_does(monkeypatch):
    """truncation.measure on the model, its tokenizer, the quotes' batch and the held-out sample."""
    from lorabook import truncation

    monkeypatch.setattr(family_runs.F, "quotes_batch", lambda tokenizer: ("quotes", tokenizer))
    monkeypatch.setattr(family_runs.F, "heldout_sample", lambda tokenizer: ("held-out", tokenizer))
    monkeypatch.setattr(truncation, "measure", lambda *args: args)
    expected = ("model", "tok", ("quotes", "tok"), ("held-out", "tok"))
    assert family_runs.measure("model", "tok", "stand-in") == expected
