"""Reading back what a run wrote (adapters, checkpoints, model weights, JSON), with errors that name the file.

A safetensors file is an 8-byte little-endian header length n, n bytes of JSON (each tensor's dtype, shape and
byte range), then the data. `check_safetensors` checks exactly that much before any library opens the file, so
a file cut short by a kill, emptied or not safetensors at all gives one line that names it, not a
`SafetensorError` six frames down.

A Trainer checkpoint is complete once its trainer_state.json is written: transformers writes it last, after
the weights, the optimizer, the scheduler and the RNG states (Trainer._save_checkpoint).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

TRAINER_STATE = "trainer_state.json"


class UnreadableFile(ValueError):
    """A file the library reads is missing, empty, cut short or not what its name says."""

    def __init__(self, path, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


def read_json(path):
    """The JSON value in `path`, or UnreadableFile."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(path, "no such file")
    text = path.read_bytes()
    if not text:
        raise UnreadableFile(path, "is empty (0 bytes)")
    try:
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFile(path, f"is not valid JSON ({exc})") from None


def write_json_atomic(path, value) -> None:
    """Write `value` as JSON to `path` through a temporary file beside it, so that a kill leaves the old file
    or the new one, never half of one."""
    import os
    import tempfile

    path = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(json.dumps(value, indent=1) + "\n")
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)


def check_safetensors(path) -> None:
    """Raise UnreadableFile unless `path` holds a whole safetensors file: header and every tensor's bytes."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(path, "no such file")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile(path, "is empty (0 bytes)")
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise UnreadableFile(path, f"is cut short: {size} bytes, less than a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if 8 + n > size:
            raise UnreadableFile(
                path, f"is cut short or not safetensors: a {n:,}-byte header in {size:,} bytes"
            )
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise UnreadableFile(path, "is not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise UnreadableFile(path, "is not a safetensors file: its header is not a JSON object")
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    if 8 + n + max(ends, default=0) > size:
        raise UnreadableFile(
            path, f"is cut short: its tensors need {8 + n + max(ends):,} bytes, it has {size:,}"
        )


def check_saved(folder) -> None:
    """Check every JSON and safetensors file a save_pretrained folder (adapter, model, checkpoint) holds."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UnreadableFile(folder, "no such folder" if not folder.exists() else "is not a folder")
    for path in sorted(folder.glob("*.json")):
        read_json(path)
    for path in sorted(folder.glob("*.safetensors")):
        check_safetensors(path)


def checkpoint_step(path) -> int | None:
    match = re.fullmatch(r"checkpoint-(\d+)", Path(path).name)
    return int(match.group(1)) if match else None


def last_complete_checkpoint(output_dir) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint-N in `output_dir` that is complete and readable, and the newer ones it skipped,
    each with the reason: [(path, why)]."""
    found = [p for p in Path(output_dir).iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    skipped = []
    for path in sorted(found, key=checkpoint_step, reverse=True):
        if not (path / TRAINER_STATE).is_file():
            skipped.append((path, f"no {TRAINER_STATE}: its save was cut short"))
            continue
        try:
            check_saved(path)
        except UnreadableFile as exc:
            skipped.append((path, str(exc)))
            continue
        return path, skipped
    return None, skipped
