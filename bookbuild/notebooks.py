"""The chapters as notebooks: as the book executed them, as a reader downloads them, and what a reader sees.

The book executes each chapter once (MyST-NB, through jupyter-cache and nbclient) and keeps the executed
code cells in its cache. `executed` puts those outputs back beside the chapter's Markdown cells, read with
jupytext as JupyterLab reads them. The built site offers that notebook for download (bookbuild.sphinx_ext),
less the glue records that only the book uses (`for_reader`). The test in tests/after_build checks, with
`seen`, that a reader running a chapter sees every glued figure and every glued value.
"""

from __future__ import annotations

from pathlib import Path

from lorabook.book import INTERACTIVE

# MyST-NB's prefix for the MIME types of a value glued with display=False (myst_nb.ext.glue.GLUE_PREFIX).
GLUE_PREFIX = "application/papermill.record/"


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


def for_reader(nb):
    """A copy of `nb` without the glue records: what a reader needs to open, read and run the chapter."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_glue_record(o)]
    return nb


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
