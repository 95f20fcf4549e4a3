"""Compute the results that the unit tests and the chapters share, on every core, before the tests start.

`lorabook.memo` keeps a few results that take minutes (the real model measured before any fine-tune, in int8
and in fp32, and its seed-0 LoRA run trained now) so that the test that checks each and chapter 8b, which
shows it, compute it once between them. From a fresh clone the first to ask computes it: in `make unit`
that is a test in one of pytest-xdist's two workers, where the run's two torch threads share two cores with
the other worker (measured: 332 s for the seed-0 run, against about 90 s alone on both cores). `make unit`
runs this first, so that the tests find them remembered:

    python -m bookbuild.warm
"""

from __future__ import annotations

import sys
import time

# what tests/test_real_runs.py and chapters/08b_real_model.md ask lorabook.real_runs for
BEFORE = ("int8", "fp32")
LIVE_RUN = "lora-seed0"


def main(out=sys.stdout) -> int:
    from lorabook import real_runs

    start = time.perf_counter()
    for precision in BEFORE:
        real_runs.before(precision)
    real_runs.make_run(LIVE_RUN)
    seconds = time.perf_counter() - start
    print(f"the real model's baseline and its {LIVE_RUN} run, remembered in {seconds:.0f} s", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
