"""The command line of each set of shipped runs (`make learned`, `make real`, `make family`): make the runs
that are missing from a folder or stale in it, or with --check only list them."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path


def main(argv, module: str, doc: str, shipped: Path, stale: Callable, make: Callable) -> int:
    """`python -m <module> [dest] [--check]`: exit 1 under --check while anything is stale."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.splitlines()[0])
    parser.add_argument("dest", nargs="?", default=str(shipped), help="the folder of runs (the shipped one)")
    parser.add_argument("--check", action="store_true", help="list stale runs; exit 1 if there are any")
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    if args.check:
        missing = stale(dest)
        print(f"{dest}: " + (f"stale or missing: {', '.join(missing)}" if missing else "current"))
        return 1 if missing else 0
    start = time.perf_counter()
    done = make(dest)
    seconds = time.perf_counter() - start
    print(f"{dest}: made {len(done)} ({', '.join(done) or 'none needed'}) in {seconds:.0f} s")
    return 0
