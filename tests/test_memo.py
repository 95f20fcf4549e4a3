"""lorabook.memo: a result computed once per name, key and version of the library, and read back as JSON."""

import io
import re
from pathlib import Path

import pytest

from lorabook import files, memo
from lorabook import real_runs as R


@pytest.fixture
def computed(tmp_path, monkeypatch):
    """A compute function that counts its calls, with the cache in a fresh folder."""
    monkeypatch.setenv("LORABOOK_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"loss": 0.1 + 0.2, "losses": (1 / 3, 2 / 3), "rows": [{"match": True}]}

    return compute, calls


def test_a_result_is_computed_once_and_read_back_exactly(computed):
    compute, calls = computed
    first = memo.remembered("run", "k1", compute)
    again = memo.remembered("run", "k1", compute)
    assert len(calls) == 1
    # every float as computed, the tuple as the list a later read gives, on the first call too
    assert first == again == {"loss": 0.1 + 0.2, "losses": [1 / 3, 2 / 3], "rows": [{"match": True}]}


def test_another_name_key_or_library_computes_again(computed, monkeypatch):
    compute, calls = computed
    memo.remembered("run", "k1", compute)
    memo.remembered("run", "k2", compute)
    memo.remembered("other", "k1", compute)
    assert len(calls) == 3
    monkeypatch.setattr(memo, "library_digest", lambda: "edited")
    memo.remembered("run", "k1", compute)
    assert len(calls) == 4


def test_a_file_cut_short_by_a_kill_is_computed_again(computed):
    compute, calls = computed
    memo.remembered("run", "k1", compute)
    file = memo.path("run", "k1")
    file.write_text(file.read_text()[:10])
    assert memo.remembered("run", "k1", compute)["loss"] == 0.1 + 0.2
    assert len(calls) == 2
    assert files.read_json(file)["loss"] == 0.1 + 0.2  # and written whole again


def test_the_library_digest_covers_every_file_of_the_package(tmp_path, monkeypatch):
    """A change to any file of the package, code or data, changes the digest; pycache does not."""
    (tmp_path / "data").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "data" / "quotes.txt").write_text("Beautiful is better than ugly.\n")
    monkeypatch.setattr(memo, "PACKAGE", tmp_path)

    def digest():
        memo.library_digest.cache_clear()
        return memo.library_digest()

    try:
        start = digest()
        (tmp_path / "__pycache__").mkdir()
        (tmp_path / "__pycache__" / "a.pyc").write_bytes(b"\0")
        assert digest() == start
        (tmp_path / "data" / "quotes.txt").write_text("Explicit is better than implicit.\n")
        changed = digest()
        assert changed != start
        (tmp_path / "a.py").write_text("x = 2\n")
        assert digest() not in (start, changed)
    finally:
        memo.library_digest.cache_clear()


def test_a_real_run_without_a_folder_is_remembered_under_its_key(computed, monkeypatch):
    made = []
    monkeypatch.setattr(R, "_made", lambda rid, output_dir: made.append((rid, output_dir)) or {"id": rid})
    assert R.make_run("lora-seed1") == R.make_run("lora-seed1") == {"id": "lora-seed1"}
    assert made == [("lora-seed1", None)]
    assert memo.path("real-run-lora-seed1", R.run_key("lora-seed1")).is_file()
    R.make_run("lora-seed1", output_dir="kept")  # a run that keeps its adapter trains
    assert made[-1] == ("lora-seed1", "kept")


def test_the_model_before_the_fine_tune_is_remembered_per_precision(computed, monkeypatch):
    made = []
    monkeypatch.setattr(R, "_evaluated", lambda precision: made.append(precision) or {"exact_match": 0})
    R.before("int8"), R.before("int8"), R.before("fp32")
    assert made == ["int8", "fp32"]
    with pytest.raises(ValueError, match=r"^precision must be 'int8' or 'fp32', got 'nf4'$"):
        R.before("nf4")


def test_make_unit_s_warm_step_remembers_what_the_tests_and_chapter_8b_ask_for(computed, monkeypatch):
    """bookbuild.warm computes, before the tests start, each result chapter 8b reads from the memo: so the
    tests and the chapter find it remembered, and none is computed inside a pytest-xdist worker."""
    from bookbuild import warm

    made = []
    monkeypatch.setattr(R, "_made", lambda rid, output_dir: made.append(rid) or {"id": rid})
    monkeypatch.setattr(R, "_evaluated", lambda precision: made.append(precision) or {"exact_match": 0})
    log = io.StringIO()
    assert warm.main(out=log) == 0 and "remembered in" in log.getvalue()
    text = (Path(__file__).parents[1] / "chapters" / "08b_real_model.md").read_text()
    asked = re.findall(r"real_runs\.(?:before|make_run)\(\"([\w-]+)\"\)", text)
    assert sorted(made) == sorted(set(asked)) and len(asked) == 3
    R.make_run(warm.LIVE_RUN)
    for precision in warm.BEFORE:
        R.before(precision)
    assert len(made) == 3  # all remembered
