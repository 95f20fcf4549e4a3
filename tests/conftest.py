import os

import matplotlib
import torch
from hypothesis import settings

matplotlib.use("Agg")  # tests draw figures without a display

# Deterministic, deadline-free property tests: the shared machines are noisy, and a flaky timing limit
# would test the machine, not the claim.
settings.register_profile("lorabook", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lorabook"))

# tests/after_build checks the executed book, so it runs only after `make book`, from `make check-notebooks`,
# which names the build folder; a plain `pytest` (make unit) leaves it out.
collect_ignore = [] if os.environ.get("LORABOOK_BUILD_DIR") else ["after_build"]

# `make unit` runs two pytest-xdist workers on a 2-core machine: one thread each, or torch's two threads per
# worker would oversubscribe the cores and spin. Code whose numbers depend on the thread count sets its own
# (the stand-in's pretraining, lorabook.pretrain).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
