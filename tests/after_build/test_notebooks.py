"""What a reader gets from the chapters as notebooks, checked on the book's own execution of each chapter.

The book executes every chapter once, as a reader's kernel would: MyST-NB reads the MyST Markdown (jupytext's
format) and runs it with nbclient. These tests read that execution back (lorabook.notebooks.executed) and
check what Jupyter shows a reader, and that the page shows none of it. `make check-notebooks` runs them after
the book, with LORABOOK_BUILD_DIR set; tests/test_notebook_run.py runs one chapter from scratch, the reader's
way.
"""

import os
from pathlib import Path

import nbformat
import pytest

from lorabook import notebooks

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LORABOOK_BUILD_DIR", "_build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


@pytest.fixture(scope="module", params=CHAPTERS, ids=lambda p: p.stem)
def chapter(request):
    source = request.param
    return source, notebooks.executed(source, BUILD / ".jupyter_cache")


def test_every_chapter_is_checked():
    assert len(CHAPTERS) >= 10


def test_a_reader_sees_every_glued_figure_and_value_and_no_error(chapter):
    _, nb = chapter
    seen = notebooks.seen(nb)
    assert any(text is not None for text in seen["glued"].values()), "a chapter glues at least one number"
    assert notebooks.problems(nb) == []


def test_the_page_shows_none_of_the_readers_displays(chapter):
    source, _ = chapter
    page = (BUILD / "html" / "chapters" / f"{source.stem}.html").read_text()
    assert "<th>glued</th>" not in page
    assert notebooks.INTERACTIVE not in page


def test_the_page_offers_the_chapter_as_a_notebook_with_its_outputs(chapter):
    source, executed = chapter
    page = (BUILD / "html" / "chapters" / f"{source.stem}.html").read_text()
    assert f"_sources/chapters/{source.stem}.ipynb" in page
    nb = nbformat.read(BUILD / "html" / "_sources" / "chapters" / f"{source.stem}.ipynb", as_version=4)
    nbformat.validate(nb)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not any(notebooks.is_glue_record(o) for o in outputs)
    assert [c.source for c in nb.cells] == [c.source for c in executed.cells]
    assert notebooks.seen(nb)["images"] == notebooks.seen(executed)["images"]
