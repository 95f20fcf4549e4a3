"""One chapter run the reader's way: converted by jupytext, executed by nbclient in a fresh kernel.

tests/after_build checks every chapter on the book's own execution; this test checks that path against the
one a reader takes with `make lab` or `jupyter execute`, on the rank chapter (figures and numbers, a few
seconds of work), and checks that `notebooks.problems` catches what a reader would miss.
"""

import copy
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

from bookbuild import notebooks

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"


@pytest.fixture(scope="module")
def rank_chapter():
    nb = jupytext.read(CHAPTERS / "02_rank.md")
    where = {"metadata": {"path": str(CHAPTERS)}}  # the chapter's folder, as JupyterLab runs it
    NotebookClient(nb, timeout=600, kernel_name="python3", resources=where).execute()
    return nb


@pytest.mark.slow
def test_a_reader_running_a_chapter_sees_its_figures_and_numbers(rank_chapter):
    seen = notebooks.seen(rank_chapter)
    assert seen["images"], "the rank chapter glues figures"
    assert len(seen["rows"]) >= 5
    assert notebooks.problems(rank_chapter) == []


@pytest.mark.slow
def test_problems_names_a_figure_or_value_the_reader_would_not_see(rank_chapter):
    nb = copy.deepcopy(rank_chapter)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not notebooks.is_interactive(o)]
    found = notebooks.problems(nb)
    assert any(p.startswith("figure ") for p in found) and any(p.startswith("value ") for p in found)
    broken = copy.deepcopy(rank_chapter)
    last_code = [c for c in broken.cells if c.cell_type == "code"][-1]
    last_code.outputs.append({"output_type": "error", "ename": "ValueError", "evalue": "x", "traceback": []})
    assert notebooks.problems(broken) == ["error output: ValueError: x"]


@pytest.mark.slow
def test_the_downloaded_notebook_keeps_the_readers_displays_and_drops_the_glue_records(rank_chapter):
    reader = notebooks.for_reader(rank_chapter)
    outputs = [o for c in reader.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and not any(notebooks.is_glue_record(o) for o in outputs)
    assert notebooks.seen(reader)["images"] == notebooks.seen(rank_chapter)["images"]
