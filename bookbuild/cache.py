"""Keep the book's execution cache honest when the library changes.

jupyter-cache keys each notebook on its own code cells, and Sphinx re-reads only the pages whose source
changed; so after an edit to `lorabook/` alone, every chapter would keep outputs computed by the old code.
We store a digest of the library sources and of the pinned versions in the build folder, and when it
changes we empty both the execution cache and Sphinx's saved doctrees. Every chapter imports lorabook, so a
library change re-reads and re-executes them all; an unchanged library keeps the build warm.

    python -m bookbuild.cache _build     # run by `make book` before the build
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

STAMP = "lorabook.digest"
STALE_WITH_LIBRARY = (
    ".jupyter_cache",
    ".doctrees",
)  # executed outputs, and Sphinx's parsed pages holding them


def library_digest(root: Path) -> str:
    """sha256 over the path and bytes of each lorabook/*.py, constraints.txt and the stand-in's report."""
    root = Path(root)
    files = sorted((root / "lorabook").rglob("*.py")) + [root / "constraints.txt"]
    files += sorted((root / "lorabook" / "data").rglob("report.json"))  # the shipped stand-in
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def refresh(build_dir: Path, root: Path) -> bool:
    """Empty what `build_dir` holds from another version of the library; True if anything was emptied."""
    build_dir, digest = Path(build_dir), library_digest(root)
    stamp = build_dir / STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return False
    stale = [build_dir / name for name in STALE_WITH_LIBRARY if (build_dir / name).exists()]
    for path in stale:
        shutil.rmtree(path)
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest + "\n")
    return bool(stale)


if __name__ == "__main__":
    build = Path(sys.argv[1] if len(sys.argv) > 1 else "_build")
    if refresh(build, Path.cwd()):
        print(f"lorabook changed since the last build: emptied {build}/.jupyter_cache and {build}/.doctrees")
