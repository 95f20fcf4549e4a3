"""Files the library reads back: a truncated, emptied or foreign file gives one error that names it."""

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lorabook import files


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "adapter_model.safetensors"
    save_file({"lora_A": torch.randn(4, 16), "lora_B": torch.zeros(16, 4)}, path)
    return path


ZIP = b"PK\x03\x04" + b"\0" * 60  # a zip's first bytes, e.g. a torch .bin


def _header_length(b: bytes) -> int:
    return int.from_bytes(b[:8], "little")  # the header's length, as the safetensors format writes it


def test_a_whole_safetensors_file_passes(weights, tmp_path):
    files.check_safetensors(weights)
    empty = tmp_path / "empty.safetensors"  # a header and no tensor is whole too: 8 + n bytes
    save_file({}, empty, metadata={"format": "pt"})
    files.check_safetensors(empty)
    assert empty.stat().st_size == 8 + _header_length(empty.read_bytes())


@pytest.mark.parametrize(
    "damage,problem",
    [
        (  # a kill mid-write
            lambda b: b[: len(b) // 2],
            lambda b: f"is cut short: its tensors need {len(b):,} bytes, it has {len(b) // 2:,}",
        ),
        (
            lambda b: b[:-1],
            lambda b: f"is cut short: its tensors need {len(b):,} bytes, it has {len(b) - 1:,}",
        ),
        (
            lambda b: b[: 8 + _header_length(b)],
            lambda b: f"is cut short: its tensors need {len(b):,} bytes, it has {8 + _header_length(b):,}",
        ),
        (lambda b: b[:5], lambda b: "is cut short: 5 bytes, less than a safetensors header"),
        (lambda b: b"", lambda b: "is empty (0 bytes)"),
        (  # a zip, e.g. a .bin
            lambda b: ZIP,
            lambda b: f"is cut short or not safetensors: a {_header_length(ZIP):,}-byte header in 64 bytes",
        ),
        (
            lambda b: (8).to_bytes(8, "little") + b"not json" + b[16:],
            lambda b: "is not a safetensors file: its header is not JSON",
        ),
        (
            lambda b: (2).to_bytes(8, "little") + b"[]",
            lambda b: "is not a safetensors file: its header is not a JSON object",
        ),
    ],
    ids=[
        "half",
        "one-byte-short",
        "header-only",
        "five-bytes",
        "zero-bytes",
        "zip-header",
        "garbled-header",
        "list-header",
    ],
)
def test_a_damaged_safetensors_file_is_named_with_what_is_wrong(weights, damage, problem):
    """The whole message, not a word of it: the file, then what is wrong, with the numbers that show it."""
    data = weights.read_bytes()
    weights.write_bytes(damage(data))
    with pytest.raises(files.UnreadableFile) as caught:
        files.check_safetensors(weights)
    expected = problem(data)
    assert (str(caught.value), caught.value.path, caught.value.problem) == (
        f"{weights}: {expected}",
        weights,
        expected,
    )
    with pytest.raises(files.UnreadableFile, match=f"^{re.escape(f'{weights}: {expected}')}$"):
        files.check_saved(weights.parent)  # a saved folder says the same of the weights it holds


def test_json_errors_name_the_file(tmp_path):
    path = tmp_path / "adapter_config.json"
    for content, problem in ((None, "no such file"), ("", "is empty (0 bytes)")):
        if content is not None:
            path.write_text(content)
        with pytest.raises(files.UnreadableFile, match=f"^{re.escape(f'{path}: {problem}')}$"):
            files.read_json(path)
    path.write_text('{"r": 16,')
    with pytest.raises(
        files.UnreadableFile, match=f"^{re.escape(str(path))}: is not valid JSON \\(Expecting"
    ):
        files.read_json(path)
    with pytest.raises(files.UnreadableFile, match=f"^{re.escape(str(path))}: is not valid JSON"):
        files.check_saved(tmp_path)  # a saved folder says the same of its JSON files
    path.write_text(json.dumps({"r": 16}))
    assert files.read_json(path) == {"r": 16}


def test_a_missing_file_or_folder_is_named(tmp_path, weights):
    missing = tmp_path / "none.safetensors"
    with pytest.raises(files.UnreadableFile, match=f"^{re.escape(f'{missing}: no such file')}$"):
        files.check_safetensors(missing)
    for folder, problem in ((tmp_path / "none", "no such folder"), (weights, "is not a folder")):
        with pytest.raises(files.UnreadableFile, match=f"^{re.escape(f'{folder}: {problem}')}$"):
            files.check_saved(folder)


def checkpoint(root, step, weights_bytes, state=True):
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(weights_bytes)
    (folder / "adapter_config.json").write_text("{}")
    if state:
        (folder / files.TRAINER_STATE).write_text(json.dumps({"global_step": step}))
    return folder


def test_the_newest_complete_checkpoint_is_chosen_and_the_skipped_ones_are_said(tmp_path, weights):
    good = weights.read_bytes()
    checkpoint(tmp_path, 4, good)
    checkpoint(tmp_path, 8, good)
    checkpoint(tmp_path, 12, good[:100])  # its weights cut short
    checkpoint(tmp_path, 16, good, state=False)  # killed before trainer_state.json
    (tmp_path / "adapter").mkdir()  # not a checkpoint
    chosen, skipped = files.last_complete_checkpoint(tmp_path)
    assert chosen.name == "checkpoint-8"
    assert [p.name for p, _ in skipped] == ["checkpoint-16", "checkpoint-12"]
    assert "no trainer_state.json" in skipped[0][1] and "is cut short" in skipped[1][1]


def test_no_complete_checkpoint_gives_none(tmp_path, weights):
    checkpoint(tmp_path, 4, b"", state=True)
    chosen, skipped = files.last_complete_checkpoint(tmp_path)
    assert chosen is None and len(skipped) == 1


def test_write_json_atomic_writes_a_hidden_file_beside_the_target_and_renames_it(tmp_path, monkeypatch):
    """The whole file or the old one: the JSON (one space of indent, a final newline, as the shipped records
    are) goes to a hidden temporary file in the target's own folder, readable by all (0644, not the 0600 of
    a temporary file), then os.replace puts it in place, on the same file system."""
    import os
    import stat

    renamed = []
    replace = os.replace
    monkeypatch.setattr(
        os, "replace", lambda src, dst: (renamed.append((Path(src), Path(dst))), replace(src, dst))
    )
    target = tmp_path / "run.json"
    files.write_json_atomic(target, {"a": [1, 2]})
    ((src, dst),) = renamed
    assert dst == target and src.parent == target.parent and src.name.startswith(".run.json.")
    assert target.read_text() == json.dumps({"a": [1, 2]}, indent=1) + "\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
