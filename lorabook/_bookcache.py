"""Keep the book's execution cache honest when the library changes.

jupyter-cache keys each notebook on its own code cells, so an edit to `lorabook/` alone would leave every
chapter's cached outputs in place, computed by the old code. We store a digest of the library sources and of
the pinned versions beside the cache, and empty the cache whenever that digest changes. Every chapter imports
lorabook, so a library change re-executes them all; an unchanged library keeps the cache warm.

    python -m lorabook._bookcache _build/.jupyter_cache     # run by `make book` before the build
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

STAMP = "lorabook.digest"


def library_digest(root: Path) -> str:
    """sha256 over the path and bytes of every lorabook/*.py file and of constraints.txt, in sorted order."""
    root = Path(root)
    files = sorted((root / "lorabook").rglob("*.py")) + [root / "constraints.txt"]
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def refresh(cache_dir: Path, root: Path) -> bool:
    """Empty `cache_dir` if it was filled by another version of the library; return True if it was emptied."""
    cache_dir, digest = Path(cache_dir), library_digest(root)
    stamp = cache_dir / STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return False
    emptied = cache_dir.exists()
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    stamp.write_text(digest + "\n")
    return emptied


if __name__ == "__main__":
    cache = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/.jupyter_cache")
    if refresh(cache, Path.cwd()):
        print(f"lorabook changed since the last build: emptied {cache}, every chapter will re-execute")
