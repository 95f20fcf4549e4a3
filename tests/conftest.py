import os
import sys
from pathlib import Path

import matplotlib
import pytest
import torch
from hypothesis import settings

from lorabook import standin as S

ROOT = Path(__file__).resolve().parents[1]

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


# A stand-in small enough to pretrain in seconds: same code path as the book's, smaller numbers.
TINY = S.Recipe(
    vocab_size=320,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    ffn_dim=128,
    max_position_embeddings=128,
    seq_len=64,
    batch_size=8,
    steps=25,
    warmup_steps=3,
)


def cli(*args):
    """The fine-tune command, as a reader types it."""
    return [sys.executable, "-m", "lorabook.finetune", *args]


def cli_env(cache):
    return {**os.environ, "LORABOOK_CACHE": str(cache), "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("lorabook-cache")
    old = os.environ.get("LORABOOK_CACHE")
    os.environ["LORABOOK_CACHE"] = str(path)
    yield path
    if old is None:
        del os.environ["LORABOOK_CACHE"]
    else:
        os.environ["LORABOOK_CACHE"] = old


@pytest.fixture(scope="session")
def tiny(cache):
    return S.standin_path(TINY, progress=False)
