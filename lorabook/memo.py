"""Results that take minutes, computed once per version of the library on this machine.

`make test` trains the real model's seed-0 run twice over: once in the test that checks it against the shipped
run, and again when chapter 8b executes. `remembered(name, key, compute)` keeps what `compute()` returns as
JSON under `LORABOOK_CACHE/results/`, in a file named by `name`, by `key` (what the result depends on besides
the code: a run's configuration, the model file, the library versions) and by a digest of every file of the
lorabook package, so that any edit to the library computes it afresh. The JSON round trip keeps every float
exactly (Python writes the shortest repr that reads back the same double).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

from . import files

PACKAGE = Path(__file__).parent


@cache
def library_digest() -> str:
    """sha256 over the path and bytes of every file of the lorabook package (code and data), computed once
    per process: the library does not change under a running process."""
    h = hashlib.sha256()
    for f in sorted(PACKAGE.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(f.relative_to(PACKAGE).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def path(name: str, key: str) -> Path:
    from .standin import cache_root

    return cache_root() / "results" / f"{name}-{key}-{library_digest()}.json"


def remembered(name: str, key: str, compute: Callable[[], dict]) -> dict:
    """compute(), or what it returned before for the same name, key and library on this machine."""
    file = path(name, key)
    if file.is_file():
        try:
            return files.read_json(file)
        except files.UnreadableFile:
            pass  # cut short or emptied by a kill: compute it again
    file.parent.mkdir(parents=True, exist_ok=True)
    files.write_json_atomic(file, compute())
    return files.read_json(file)  # as a later call reads it (tuples become lists)
