"""Execute the chapters into the book's execution cache, several at a time, before the build reads them.

MyST-NB's cache mode executes one chapter after another, inside the Sphinx build. On a 2-core machine that
leaves a core idle for the whole execution: a chapter's kernel spends most of its time in single-threaded
Python. This module fills the same jupyter-cache that MyST-NB reads (`execution_cache_path`), with notebooks
read by MyST-NB's own reader, so that the build finds every chapter cached and executes none.

- Chapters already cached for their current code are skipped (the cache keys a notebook on its code cells).
- The slowest chapters start first (the seconds the cache recorded last time, else the table of contents
  from the end, where the heavy chapters are), so the pool does not end on one long chapter.
- With more than one job, each kernel runs torch on one thread (OMP_NUM_THREADS=1), as the unit tests'
  workers do: two kernels on two threads each fight over two cores (measured: chapters 4, 7 and 7b took
  74 s one after the other, 49 s two at a time on one thread each, 161 s two at a time on two threads each).
- A chapter whose front matter says `bookbuild: {alone: true}` runs first, alone, on every core: torch-bound
  chapters (the real model's training, the profiled steps, the truncation test) lose more on one thread than
  running beside another chapter gains.
- A chapter that fails is reported with its error and the run exits 1; the others are still cached.

    python -m bookbuild.execute _build/.jupyter_cache chapters/*.md --jobs 2     # run by `make book`
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

TIMEOUT = 600  # seconds per cell, as _config.yml's execute.timeout


def _read(path: Path):
    from myst_nb.core.read import myst_nb_reader_plugin

    return myst_nb_reader_plugin(str(path))


def _execute(path: str, timeout: int):
    """Run one chapter in a fresh kernel, in its own folder; return (path, notebook, seconds, error).

    The kernel talks over Unix sockets in a folder of its own (IPC transport), not over TCP: a TCP kernel
    binds ports its manager found free a moment before, and a kernel starting beside it (the other chapter,
    or a test's) can take one first, so that the kernel dies before it answers."""
    from jupyter_cache.executors.utils import single_nb_execution
    from traitlets.config import Config

    nb = _read(Path(path))
    with tempfile.TemporaryDirectory(prefix="lorabook-kernel-") as sockets:
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}})
        result = single_nb_execution(
            nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False, config=ipc
        )
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


def alone(path: Path) -> bool:
    """Does the chapter ask to run alone (front matter `bookbuild: {alone: true}`)?"""
    return bool(_read(path).metadata.get("bookbuild", {}).get("alone"))


def run(cache_path, paths, jobs=2, timeout=TIMEOUT, out=sys.stdout):
    """Execute and cache every chapter of `paths` that the cache lacks; return the failures {path: error}.

    Chapters marked `alone` run first, one at a time on every core; the others then run `jobs` at a time,
    torch on one thread each."""
    from jupyter_cache import get_cache

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    cache = get_cache(str(cache_path))
    paths = [Path(p).resolve() for p in paths]
    todo = slowest_first(cache, pending(cache, paths))
    first = [p for p in todo if alone(p)] if jobs > 1 else []
    rest = [p for p in todo if p not in first]
    print(
        f"executing {len(todo)} of {len(paths)} chapters: {len(first)} alone, then {jobs} at a time", file=out
    )
    failures, start, counter = {}, time.perf_counter(), iter(range(1, len(todo) + 1))
    failures |= _pool(cache, first, 1, timeout, None, counter, len(todo), out)
    failures |= _pool(cache, rest, jobs, timeout, "1" if jobs > 1 else None, counter, len(todo), out)
    print(f"executed in {time.perf_counter() - start:.0f} s of wall time", file=out, flush=True)
    return failures


def _pool(cache, paths, jobs, timeout, threads, counter, total, out):
    """Execute `paths` in `jobs` processes (kernels with OMP_NUM_THREADS=threads, if given) and cache them."""
    from jupyter_cache.base import CacheBundleIn

    failures = {}
    if not paths:
        return failures
    previous = os.environ.get("OMP_NUM_THREADS")
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = threads
    else:
        os.environ.pop("OMP_NUM_THREADS", None)
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_execute, str(p), timeout) for p in paths]
            for future in as_completed(futures):
                path, nb, seconds, error = future.result()
                done, name = next(counter), Path(path).name
                if error:
                    failures[path] = error
                    print(
                        f"[{done}/{total}] {name} FAILED after {seconds:.0f} s:\n{error}",
                        file=out,
                        flush=True,
                    )
                    continue
                record = cache.add_nb_to_project(path, read_data={"name": "myst_nb_md", "type": "plugin"})
                bundle = CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds})
                cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
                print(f"[{done}/{total}] {name} executed in {seconds:.1f} s", file=out, flush=True)
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous
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
