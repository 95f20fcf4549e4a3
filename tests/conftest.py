import os

import matplotlib
from hypothesis import settings

matplotlib.use("Agg")  # tests draw figures without a display

# Deterministic, deadline-free property tests: the shared machines are noisy, and a flaky timing limit
# would test the machine, not the claim.
settings.register_profile("lorabook", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lorabook"))

# tests/after_build checks the executed book, so it runs only after `make book`, from `make check-notebooks`,
# which names the build folder; a plain `pytest` (make unit) leaves it out.
collect_ignore = [] if os.environ.get("LORABOOK_BUILD_DIR") else ["after_build"]
