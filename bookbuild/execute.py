"""Execute the chapters into the book's execution cache, several at a time, before the build reads them.

MyST-NB's cache mode executes one chapter after another, inside the Sphinx build. On a 2-core machine that
leaves a core idle for the whole execution: a chapter's kernel spends most of its time in single-threaded
Python. This module fills the same jupyter-cache that MyST-NB reads (`execution_cache_path`), with notebooks
read by MyST-NB's own reader, so that the build finds every chapter cached and executes none.

- Chapters already cached for their current code are skipped (the cache keys a notebook on its code cells).
- The slowest chapters start first (the seconds the cache recorded last time, else the table of contents
  from the end, where the heavy chapters are), so the pool does not end on one long chapter.
- With more than one job, each kernel runs torch on one thread (OMP_NUM_THREADS=1), as the unit tests'
  workers do, so that two kernels do not fight over two cores.
- A chapter that fails is reported with its error and the run exits 1; the others are still cached.

    python -m bookbuild.execute _build/.jupyter_cache chapters/*.md --jobs 2     # run by `make book`
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

TIMEOUT = 600  # seconds per cell, as _config.yml's execute.timeout


def _read(path: Path):
    from myst_nb.core.read import myst_nb_reader_plugin

    return myst_nb_reader_plugin(str(path))


def _execute(path: str, timeout: int):
    """Run one chapter in a fresh kernel, in its own folder; return (path, notebook, seconds, error)."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = _read(Path(path))
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False)
    return path, nb, result.time, result.exc_string if result.err is not None else None


def pending(cache, paths):
    """The chapters whose current code has no executed notebook in the cache."""
    todo = []
    for path in paths:
        try:
            cache.match_cache_notebook(_read(path))
        except KeyError:
            todo.append(path)
    return todo


def slowest_first(cache, paths):
    """Slowest first, by the seconds each chapter took when last cached; unknown ones from the book's end."""
    seconds = {}
    for record in cache.list_cache_records():
        seconds[Path(record.uri).name] = max(
            seconds.get(Path(record.uri).name, 0), record.data.get("execution_seconds", 0)
        )
    return sorted(paths, key=lambda p: (seconds.get(p.name, float("inf")), p.name), reverse=True)


def run(cache_path, paths, jobs=2, timeout=TIMEOUT, out=sys.stdout):
    """Execute and cache every chapter of `paths` that the cache lacks; return the failures {path: error}."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    cache = get_cache(str(cache_path))
    paths = [Path(p).resolve() for p in paths]
    todo = slowest_first(cache, pending(cache, paths))
    print(f"executing {len(todo)} of {len(paths)} chapters, {jobs} at a time", file=out, flush=True)
    if jobs > 1:
        os.environ["OMP_NUM_THREADS"] = "1"
    failures, start = {}, time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_execute, str(p), timeout) for p in todo]
        for done, future in enumerate(as_completed(futures), 1):
            path, nb, seconds, error = future.result()
            name = Path(path).name
            if error:
                failures[path] = error
                print(
                    f"[{done}/{len(todo)}] {name} FAILED after {seconds:.0f} s:\n{error}",
                    file=out,
                    flush=True,
                )
                continue
            record = cache.add_nb_to_project(path, read_data={"name": "myst_nb_md", "type": "plugin"})
            bundle = CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds})
            cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
            print(f"[{done}/{len(todo)}] {name} executed in {seconds:.1f} s", file=out, flush=True)
    print(f"executed in {time.perf_counter() - start:.0f} s of wall time", file=out, flush=True)
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bookbuild.execute", description=__doc__.splitlines()[0])
    parser.add_argument(
        "cache", type=Path, help="the jupyter-cache folder MyST-NB reads (_build/.jupyter_cache)"
    )
    parser.add_argument("chapters", type=Path, nargs="+", help="the chapters' MyST Markdown files")
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at a time (default: 2)")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help=f"seconds per cell (default: {TIMEOUT})")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    return 1 if run(args.cache, args.chapters, args.jobs, args.timeout) else 0


if __name__ == "__main__":
    sys.exit(main())
