"""The chapters as a reader downloads them (bookbuild.notebooks.for_reader): the diagrams travel inside the
notebook, and nothing of the machine that built the book does.

tests/after_build checks every downloaded chapter of a build; these tests check the transformation and the
checks themselves on tiny notebooks, and that the profiler, the one stderr source of the library, writes
nothing of its own.
"""

import base64
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from bookbuild import notebooks

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"

FIGURE_CELL = """Three ways to adapt it ({numref}`fig-three-ways`).

```{figure} ../figures/three_ways.svg
:name: fig-three-ways
:alt: Three diagrams [side by side]
  of one matrix.

Three ways to adapt one weight matrix. Drawn by `python -m lorabook.plots.diagrams`.
```

After the figure."""


def attached(cell) -> dict:
    """{attachment name: decoded bytes} of a Markdown cell, each checked to be a PNG and nothing else."""
    out = {}
    for name, bundle in cell.get("attachments", {}).items():
        assert list(bundle) == ["image/png"], "JupyterLab renders raster attachments only"
        out[name] = base64.b64decode(bundle["image/png"])
    return out


def test_a_figure_directive_becomes_its_image_attached_to_the_cell():
    nb = new_notebook(cells=[new_markdown_cell(FIGURE_CELL), new_code_cell("1 + 1")])
    reader = notebooks.for_reader(nb, ROOT / "chapters")
    nbformat.validate(reader)
    cell = reader.cells[0]
    assert "{figure}" not in cell.source and ":name:" not in cell.source
    assert "![Three diagrams \\[side by side\\] of one matrix.](attachment:three_ways.png)" in cell.source
    assert "**Figure.** Three ways to adapt one weight matrix. Drawn by `python" in cell.source
    assert cell.source.startswith("Three ways to adapt it") and cell.source.endswith("After the figure.")
    assert attached(cell)["three_ways.png"].startswith(PNG)
    assert reader.cells[1] == nb.cells[1]
    assert "{figure}" in nb.cells[0].source and "attachments" not in nb.cells[0], "the input is not changed"


def test_a_colon_fenced_figure_without_a_caption_is_attached_too():
    source = ":::{figure} ../figures/roadmap.svg\n:alt: The plan\n:::\n"
    reader = notebooks.for_reader(new_notebook(cells=[new_markdown_cell(source)]), ROOT / "chapters")
    assert reader.cells[0].source == "![The plan](attachment:roadmap.png)\n"
    assert attached(reader.cells[0])["roadmap.png"].startswith(PNG)


def test_a_figure_that_is_not_a_drawn_diagram_fails_the_download_instead_of_dropping_out():
    source = "```{figure} ../figures/missing.svg\n:alt: x\n```"
    with pytest.raises(LookupError, match="missing.svg"):
        notebooks.for_reader(new_notebook(cells=[new_markdown_cell(source)]), ROOT / "chapters")


@pytest.mark.parametrize("stem", ["01_why_finetune", "04_lora"])
def test_the_chapters_diagrams_travel_with_their_notebooks(stem):
    """Each chapter's figure directives, read as JupyterLab and the book read them (jupytext), become
    attachments; the page is built from the chapter, unchanged."""
    nb = jupytext.read(ROOT / "chapters" / f"{stem}.md")
    directives = [m["path"] for c in nb.cells for m in notebooks.FIGURE.finditer(c.source)]
    reader = notebooks.for_reader(nb, ROOT / "chapters")
    images = {
        name: data for c in reader.cells if c.cell_type == "markdown" for name, data in attached(c).items()
    }
    assert directives and sorted(images) == sorted(Path(p).stem + ".png" for p in directives)
    assert all(data.startswith(PNG) for data in images.values())
    assert not any("{figure}" in c.source for c in reader.cells)


def test_leaks_names_stderr_widgets_and_the_builders_paths_and_passes_a_clean_notebook():
    image = base64.b64encode(b"/home/builder/x" * 3).decode()  # binary data is not searched
    clean = new_notebook(
        cells=[
            new_code_cell("x", outputs=[new_output("stream", name="stdout", text="42\n")]),
            new_code_cell(
                "f", outputs=[new_output("display_data", data={"image/png": image, "text/plain": "F"})]
            ),
        ]
    )
    assert notebooks.leaks(clean, ["/home/builder", "/"]) == []
    dirty = new_notebook(
        cells=[
            new_code_cell("import a", outputs=[new_output("stream", name="stderr", text="a warning\n")]),
            new_code_cell(
                "bar", outputs=[new_output("display_data", data={notebooks.WIDGET: {}, "text/plain": ""})]
            ),
            new_code_cell(
                "p", outputs=[new_output("execute_result", data={"text/html": "<td>/home/builder/x</td>"})]
            ),
        ]
    )
    assert notebooks.leaks(dirty, ["/home/builder"]) == [
        "cell 0: stderr output 'a warning\\n'",
        "cell 1: a widget output (a progress bar?)",
        "cell 2 names /home/builder",
    ]


@pytest.mark.slow
def test_the_profiled_region_writes_nothing_to_stderr_but_what_the_profiled_code_writes():
    """torch.profiler's backend prints a notice to file descriptor 2 at each start and stop; a kernel records
    fd 2 as stderr outputs (eight in the memory chapter's download). profiled() mutes only those."""
    code = (
        "import os, torch\n"
        "from lorabook import profiling\n"
        "profiling.profiled(lambda: torch.ones(100) * 2)\n"
        "profiling.profiled(lambda: os.write(2, b'the code itself\\n'))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "the code itself\n"


def test_a_chapter_is_a_notebook_whatever_key_its_front_matter_starts_with():
    from bookbuild.sphinx_ext import is_notebook

    for path in sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.md")):
        assert is_notebook(path.read_text()), path.name
    assert not is_notebook("# Errata\n\nNo front matter.\n")
    assert not is_notebook("---\ntitle: prose\n---\n\nText with jupytext: in it.\n")
