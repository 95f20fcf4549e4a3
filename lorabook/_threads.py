"""torch on a fixed number of threads for a block of code.

Sums in parallel depend on the thread count, so a run that must repeat a shipped one, or a timing that must be
comparable, fixes it, and gives the caller back its own count afterwards (make unit's workers run on one).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
