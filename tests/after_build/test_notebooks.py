"""What a reader gets from the chapters as notebooks, checked on the book's own execution of each chapter.

The book executes every chapter once, as a reader's kernel would: MyST-NB reads the MyST Markdown (jupytext's
format) and runs it with nbclient. These tests read that execution back (bookbuild.notebooks.executed) and
check what Jupyter shows a reader, and that the page shows none of it. `make check-notebooks` runs them after
the book, with LORABOOK_BUILD_DIR set; tests/test_notebook_run.py runs one chapter from scratch, the reader's
way. The downloads are checked as a reader gets them: no stderr, no path of the builder's machine, and the
chapter's diagrams inside (tests/test_downloads.py checks the transformation on tiny notebooks).
"""

import base64
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from bookbuild import notebooks

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LORABOOK_BUILD_DIR", "_build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
# Where the book was built: the repository, its Python environment, the builder's home folder. A download that
# names one shows a reader the builder's machine (a warning's file path, a log line).
BUILDER = [ROOT, ROOT.resolve(), Path(sys.prefix), Path(sys.prefix).resolve(), Path.home()]


@pytest.fixture(scope="module", params=CHAPTERS, ids=lambda p: p.stem)
def chapter(request):
    source = request.param
    return source, notebooks.executed(source, BUILD / ".jupyter_cache")


def downloaded(source: Path):
    return nbformat.read(BUILD / "html" / "_sources" / "chapters" / f"{source.stem}.ipynb", as_version=4)


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
    nb = downloaded(source)
    nbformat.validate(nb)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not any(notebooks.is_glue_record(o) for o in outputs)
    assert [c.cell_type for c in nb.cells] == [c.cell_type for c in executed.cells]
    unchanged = [  # every cell as the chapter has it, but the Markdown whose figures are attached
        (mine.source, theirs.source)
        for mine, theirs in zip(nb.cells, executed.cells)
        if not notebooks.FIGURE.search(theirs.source)
    ]
    assert [mine for mine, theirs in unchanged if mine != theirs] == []
    assert notebooks.seen(nb)["images"] == notebooks.seen(executed)["images"]


def test_the_download_shows_no_stderr_and_no_path_of_the_builders_machine(chapter):
    """No warning, log line or progress bar (the page hides stderr; a notebook shows it), and no path of the
    machine that built it."""
    source, _ = chapter
    assert notebooks.leaks(downloaded(source), BUILDER) == []


def test_the_download_carries_the_chapters_diagrams(chapter):
    """Each figure directive is its image, attached to the Markdown cell as a PNG (what JupyterLab renders),
    so that a reader sees the diagrams without the repository's figures/."""
    source, executed = chapter
    wanted = [m["path"] for c in executed.cells for m in notebooks.FIGURE.finditer(c.source)]
    nb = downloaded(source)
    shown = [
        (cell, name)
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for name in re.findall(r"\]\(attachment:([^)\s]+)\)", cell.source)
    ]
    assert not any("{figure}" in c.source for c in nb.cells)
    assert sorted(name for _, name in shown) == sorted(Path(p).stem + ".png" for p in wanted)
    for cell, name in shown:
        assert list(cell.attachments[name]) == ["image/png"]
        assert base64.b64decode(cell.attachments[name]["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")


def test_chapter_1s_download_carries_its_two_diagrams():
    nb = downloaded(ROOT / "chapters" / "01_why_finetune.md")
    names = {name for cell in nb.cells for name in cell.get("attachments", {})}
    assert names == {"three_ways.png", "roadmap.png"}


def prose_of(page: str) -> str:
    """The page's reader-facing text outside code: paragraphs, list items, captions, admonitions."""
    import html
    import re

    page = re.sub(r"<(pre|code|script|style|math)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'<span class="pre">.*?</span>', " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_page_shows_no_raw_markup_and_one_key_results_box(chapter):
    """A glued string is pasted as it is: Markdown in it shows as literal backticks or roles. And each chapter
    closes with one Key results box."""
    source, _ = chapter
    page = (BUILD / "html" / "chapters" / f"{source.stem}.html").read_text()
    text = prose_of(page.split('<div class="bd-article-container">')[-1])
    assert [m for m in ("`", "{glue", "{cite", "**") if m in text] == []
    assert page.count('<p class="admonition-title">Key results</p>') == 1
