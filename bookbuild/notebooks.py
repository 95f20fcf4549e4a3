"""The chapters as notebooks: as the book executed them, as a reader downloads them, and what a reader sees.

The book executes each chapter once (MyST-NB, through jupyter-cache and nbclient) and keeps the executed
code cells in its cache. `executed` puts those outputs back beside the chapter's Markdown cells, read with
jupytext as JupyterLab reads them. The built site offers that notebook for download (bookbuild.sphinx_ext),
less the glue records that only the book uses and with its diagrams attached (`for_reader`). The tests in
tests/after_build check, with `seen`, that a reader running a chapter sees every glued figure and every glued
value, and, with `leaks`, that the download shows nothing of the machine that built it.
"""

from __future__ import annotations

import re
from pathlib import Path

from lorabook.book import INTERACTIVE

# MyST-NB's prefix for the MIME types of a value glued with display=False (myst_nb.ext.glue.GLUE_PREFIX).
GLUE_PREFIX = "application/papermill.record/"
CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
# A MyST figure directive in a Markdown cell, fenced by backticks or (colon_fence) colons: its path, then its
# body (`:option: value` lines, then the caption).
FIGURE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{figure\}[ \t]+(?P<path>\S+)[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.M | re.S,
)
FIGURE_DPI = 150  # the diagrams are 6.6-7.6 inches wide: sharp at a notebook's width, ~100 kB each
# MIME types whose data nbformat stores as base64: not text, so not searched for paths.
BINARY = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
WIDGET = "application/vnd.jupyter.widget-view+json"


def executed(source: str | Path, cache_dir: str | Path):
    """The chapter at `source` as a notebook, with the outputs of the book's execution in `cache_dir`.

    Raises LookupError when the book has not executed today's version of the chapter (run `make book`).
    """
    import jupytext
    from jupyter_cache import get_cache

    source, cache_dir = Path(source).resolve(), Path(cache_dir)
    if not cache_dir.is_dir():
        raise LookupError(f"cache_dir={str(cache_dir)!r}: no executed book there; run `make book` first")
    cache = get_cache(cache_dir)
    try:
        record = cache.get_cached_project_nb(str(source))
    except KeyError:
        record = None
    if record is None:
        raise LookupError(f"{source}: today's version was not executed into {cache_dir}; run `make book`")
    ran = cache.get_cache_bundle(record.pk).nb.cells
    nb = jupytext.read(source)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if len(code) != len(ran):
        raise ValueError(f"{source}: {len(code)} code cells, but the cached execution has {len(ran)}")
    for cell, done in zip(code, ran):
        cell.outputs, cell.execution_count = done.outputs, done.get("execution_count")
    return nb


def _record(output) -> dict:
    return output.get("metadata", {}).get("scrapbook", {})


def is_glue_record(output) -> bool:
    """Whether an output is a value glued for the prose, which Jupyter does not display."""
    return _record(output).get("mime_prefix") == GLUE_PREFIX


def is_interactive(output) -> bool:
    """Whether an output is one of `book.glue`'s displays for a reader (hidden from the book's page)."""
    return _record(output).get("name", "").startswith(INTERACTIVE + ":")


def for_reader(nb, folder: str | Path = CHAPTERS):
    """A copy of `nb` as a reader downloads it: without the glue records, and with each figure directive
    (paths relative to `folder`, the chapter's) replaced by the image, attached to its Markdown cell
    (`attach_figures`). What a reader needs to open, read and run the chapter, without the repository."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_glue_record(o)]
        elif cell.cell_type == "markdown":
            attach_figures(cell, folder)
    return nb


def figure_png(path: Path) -> bytes:
    """The diagram at `path` (figures/*.svg) as PNG, drawn again by the code that drew the SVG file.

    JupyterLab renders a Markdown cell's attachment only as a raster image (PNG, JPEG, GIF, WebP, BMP): an
    SVG attachment throws "Cannot render unknown image mime type". `make book` first checks that each file in
    figures/ is what lorabook.plots.diagrams draws (`make check-figures`), so the PNG shows the page's SVG.
    """
    import io

    from lorabook.plots import diagrams

    draw = diagrams.DIAGRAMS.get(path.name)
    if not path.is_file() or draw is None:
        raise LookupError(f"{path}: not a diagram in figures/ that lorabook.plots.diagrams draws")
    buf = io.BytesIO()
    draw().savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _as_markdown(match, folder: Path, attachments: dict) -> str:
    """A figure directive as Markdown: the image, by its attachment, then the caption as a paragraph."""
    import base64

    lines, options, key = match["body"].strip("\n").splitlines(), {}, None
    while lines:
        option = re.match(r":([\w-]+):[ \t]*(.*)$", lines[0])
        if option:
            key = option[1]
            options[key] = option[2].strip()
        elif key and lines[0][:1].isspace():  # an indented line continues the option above
            options[key] += " " + lines[0].strip()
        else:
            break
        lines.pop(0)
    caption = "\n".join(lines).strip()
    if caption.startswith("---"):
        raise ValueError(f"figure {match['path']}: options as a YAML block are not read; use :option: lines")
    name = Path(match["path"]).stem + ".png"
    attachments[name] = {"image/png": base64.b64encode(figure_png(folder / match["path"])).decode()}
    alt = re.sub(r"\s+", " ", options.get("alt", "")).replace("[", "\\[").replace("]", "\\]")
    return f"![{alt}](attachment:{name})" + (f"\n\n**Figure.** {caption}" if caption else "")


def attach_figures(cell, folder: str | Path = CHAPTERS) -> None:
    """Replace, in a Markdown cell, each figure directive by its image as a cell attachment (nbformat's
    `attachments`, `![alt](attachment:name.png)`), which Jupyter renders without the file beside the notebook.
    The book's page is built from the chapter itself, with the SVG; only the download changes."""
    attachments = dict(cell.get("attachments", {}))
    cell.source = FIGURE.sub(lambda m: _as_markdown(m, Path(folder), attachments), cell.source)
    if attachments:
        cell.attachments = attachments


def _text_of(part) -> str:
    """Every string in a notebook's part (JSON), less the base64 data of binary MIME types."""
    if isinstance(part, dict):
        return "\n".join(_text_of(v) for k, v in part.items() if not str(k).endswith(BINARY))
    if isinstance(part, list):
        return "\n".join(_text_of(v) for v in part)
    return str(part)


def leaks(nb, paths) -> list[str]:
    """What a notebook shows a reader of the machine and the run that made it: each stderr output (warnings,
    logs, progress bars), each widget (a progress bar drawn by ipywidgets), and each of `paths` (the
    repository, the Python environment, the home folder) named anywhere in it. Empty when it shows none."""
    paths = sorted({str(p) for p in paths if len(str(p)) > 1}, key=len, reverse=True)
    found = [f"notebook metadata names {p}" for p in paths if p in _text_of(dict(nb.metadata))]
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                found.append(f"cell {i}: stderr output {output.get('text', '')[:120]!r}")
            if WIDGET in output.get("data", {}):
                found.append(f"cell {i}: a widget output (a progress bar?)")
        text = _text_of(dict(cell))
        found += [f"cell {i} names {p}" for p in paths if p in text]
    return found


def seen(nb) -> dict:
    """What a reader running `nb` sees of its glued values.

    Returns a dict of:
    - "glued": {key: the record's text/plain, or None for a figure}, every value glued for the prose;
    - "images": the keys displayed as an image;
    - "rows": {key: the value's text}, from every value table displayed;
    - "errors": "name: value" of every error output.
    """
    glued, images, rows, errors = {}, set(), {}, []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.get("output_type") == "error":
                errors.append(f"{output.get('ename')}: {output.get('evalue')}")
            elif is_glue_record(output):
                figure = GLUE_PREFIX + "image/png" in data
                glued[_record(output)["name"]] = None if figure else data[GLUE_PREFIX + "text/plain"]
            elif is_interactive(output):
                if "image/png" in data:
                    images.add(_record(output)["name"].split(":", 1)[1])
                else:
                    for line in data["text/plain"].splitlines():
                        key, _, value = line.partition(" ")
                        rows[key] = value.strip()
    return {"glued": glued, "images": images, "rows": rows, "errors": errors}


def problems(nb) -> list[str]:
    """Everything a reader running `nb` would miss: errors, glued figures not shown as images, glued values
    not shown in a table or shown as another value. Empty when the reader sees it all."""
    import ast

    from lorabook.book import formatted

    found = seen(nb)
    found_problems = [f"error output: {e}" for e in found["errors"]]
    figures = {key for key, text in found["glued"].items() if text is None}
    found_problems += [f"figure {key} is not displayed" for key in sorted(figures - found["images"])]
    for key, text in found["glued"].items():
        if text is None:
            continue
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # not a literal: the table shows the value's str, which this cannot rebuild
        if key not in found["rows"]:
            found_problems.append(f"value {key} is not displayed")
        elif isinstance(value, str) and text == value:
            continue
        elif found["rows"][key] != formatted(value):
            found_problems.append(f"value {key} is displayed as {found['rows'][key]!r}, glued as {text}")
    return found_problems
