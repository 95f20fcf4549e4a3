import os
import sys
from contextlib import contextmanager
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


# The machine's own cache, as the chapters see it (the real model's fp16 copy, lorabook.memo's results). The
# session fixture `cache` below points LORABOOK_CACHE at a folder of its own, so that the tests' tiny
# stand-ins stay out of the machine's; every test that does not ask for it (directly or through `tiny`) is
# pointed back, so that it neither makes a second copy of the real model there nor hides what it computes
# from the chapters.
MACHINE_CACHE = os.environ.get("LORABOOK_CACHE")


@contextmanager
def in_machine_cache():
    """LORABOOK_CACHE as the chapters see it, inside the block (for fixtures wider than one test)."""
    with pytest.MonkeyPatch.context() as patch:
        if MACHINE_CACHE is None:
            patch.delenv("LORABOOK_CACHE", raising=False)
        else:
            patch.setenv("LORABOOK_CACHE", MACHINE_CACHE)
        yield


@pytest.fixture(autouse=True)
def machine_cache(request):
    if "cache" in request.fixturenames:
        yield
        return
    with in_machine_cache():
        yield


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


# `make unit` sets LORABOOK_TRACE_PRODUCERS to a folder: each test the glue table names then records which
# lorabook functions it calls, through cProfile (a C profiler: a small cost, only in those tests), and
# tests/producers.py checks that the code that made each glued number is among them. Slow tests (training,
# minutes) are not profiled: for them the check reads the test's own code.
_TRACE_DIR = os.environ.get("LORABOOK_TRACE_PRODUCERS")
if _TRACE_DIR:
    import cProfile
    import json

    from glue_table import GLUE_TESTS

    _NAMED = {t for _, tests, _ in GLUE_TESTS for t in tests}
    _PACKAGE = str(ROOT / "lorabook")
    _RAN = {}

    def _profiled(item):
        test = f"{item.path.name}::{item.originalname}"
        if test not in _NAMED or item.get_closest_marker("slow"):
            yield
            return
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield
        finally:
            profiler.disable()
            seen = _RAN.setdefault(test, set())
            for entry in profiler.getstats():
                code = entry.code
                if not isinstance(code, str) and code.co_filename.startswith(_PACKAGE):
                    module = code.co_filename[len(_PACKAGE) - len("lorabook") : -3].replace("/", ".")
                    seen.add(f"{module.removesuffix('.__init__')}:{code.co_qualname}")

    # the test's own fixtures count as the test (a module-scoped one only for the first test that sets it up)
    pytest_runtest_setup = pytest.hookimpl(hookwrapper=True)(_profiled)
    pytest_runtest_call = pytest.hookimpl(hookwrapper=True)(_profiled)

    def pytest_sessionfinish(session):
        if not _RAN:
            return
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        Path(_TRACE_DIR).mkdir(parents=True, exist_ok=True)
        out = Path(_TRACE_DIR) / f"producers-{worker}.json"
        out.write_text(json.dumps({t: sorted(s) for t, s in _RAN.items()}, indent=0))


# `make mutants`: mutmut runs the tests that reach a mutated function in the order of a set and stops at the
# first failure (-x). Run them fastest first, by the durations mutmut measured, so that a mutant a quick test
# kills is not first run through a minute of training. Each file's tests stay together (a module fixture is
# set up once), files in the order of their fastest test; the same tests run, only their order changes.
def pytest_collection_modifyitems(config, items):
    if "__mutmut_" not in os.environ.get("MUTANT_UNDER_TEST", ""):
        return
    stats = Path("mutmut-stats.json")
    if not stats.exists():
        return
    import json

    duration = json.loads(stats.read_text())["duration_by_test"]

    def seconds(item):
        return duration.get(item.nodeid, float("inf"))

    fastest = {}
    for item in items:
        fastest[item.path] = min(fastest.get(item.path, float("inf")), seconds(item))
    items.sort(key=lambda item: (fastest[item.path], str(item.path), seconds(item)))
