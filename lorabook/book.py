"""Helpers the chapters use to hand computed values to the prose (MyST-NB glue), and to show them in Jupyter.

A glue call does two things:

- it records each value for the prose, hidden (`display=False`), so the book pastes it where the text says;
- it shows the same values to a reader who runs the chapter as a notebook: each figure as an image, the
  numbers as one compact table. The book's page does not show these, because they are marked as glue records
  too (see `_interactive_only`): MyST-NB drops every such record from the rendered cell, while Jupyter, which
  knows nothing of glue, displays them by their ordinary MIME types.

So the notebook a reader runs, and the one the book executes, hold the same outputs, and a test of the
book's executed notebooks (tests/after_build) checks what a reader sees.
"""

from __future__ import annotations

import html
import numbers

import numpy as np

from .plots.style import check_legible, png_bundle

# The scrapbook name under which a chapter's interactive displays are recorded; see `_interactive_only`.
INTERACTIVE = "lorabook-interactive"


def plain(value):
    """A numpy scalar as the Python int/float/bool it holds, so `{glue:text}` can format it; others unchanged.

    MyST-NB formats a glued number by literal-evaluating its repr, and `repr(np.int64(5))` is `np.int64(5)`.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def glue(**values) -> None:
    """Glue each keyword as a value for the prose; in Jupyter, show the figures, and a table of the rest."""
    from myst_nb import glue as _glue  # imported here: the library works without the book's toolchain

    figures, others = {}, {}
    for key, value in values.items():
        if _is_figure(value):
            check_legible(value, key)  # every figure the book shows meets the legibility rule
            figures[key] = png_bundle(value)  # rendered once: glued for the book, shown in Jupyter
            _glue(key, _Rendered(*figures[key]), display=False)
        else:
            others[key] = plain(value)
            _glue(key, others[key], display=False)
    for key, (bundle, metadata) in figures.items():
        _interactive_only(bundle, metadata, key)
    if others:
        _interactive_only(values_table(others), {}, ",".join(others))


class _Rendered:
    """A value whose MIME bundle is already computed: IPython formats it as that bundle, unchanged."""

    def __init__(self, bundle: dict, metadata: dict):
        self.bundle, self.metadata = bundle, metadata

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.bundle, self.metadata


def _is_figure(value) -> bool:
    return type(value).__module__.startswith("matplotlib") and hasattr(value, "get_figwidth")


def formatted(value) -> str:
    """A glued value as the table shows it: integers with thousands separators, floats to 6 digits."""
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    return f"{value:,.6g}"


def literal(text: str) -> str:
    """Generated text as HTML that shows it character for character: escaped, in a <code> element, so that a
    model's backtick, asterisk or angle bracket is its own and not Markdown or HTML on the page."""
    return f"<code>{html.escape(str(text))}</code>"


def values_table(values: dict) -> dict:
    """The MIME bundle of a two-column table, key and value: HTML for Jupyter, plain text elsewhere."""
    rows = [(key, formatted(value)) for key, value in values.items()]
    width = max(len(key) for key, _ in rows)
    text = "\n".join(f"{key:<{width}}  {value}" for key, value in rows)
    cells = "".join(
        f"<tr><td style='text-align:left'><code>{html.escape(key)}</code></td>"
        f"<td style='text-align:right'>{html.escape(value)}</td></tr>"
        for key, value in rows
    )
    return {"text/plain": text, "text/html": f"<table><tr><th>glued</th><th>value</th></tr>{cells}</table>"}


def _interactive_only(bundle: dict, metadata: dict, keys: str) -> None:
    """Display `bundle` in Jupyter, but not on the book's page.

    MyST-NB treats an output whose metadata carries a `scrapbook` record with a non-empty `mime_prefix` as a
    hidden glue value, and removes it from the cell it renders (myst_nb.ext.glue.extract_glue_data_cell). The
    record is named `INTERACTIVE:<keys>` (unique in a chapter, since glue keys are), and no prose pastes it.
    Jupyter ignores the metadata and shows the bundle's ordinary MIME types.
    """
    from IPython.display import display

    record = {"name": f"{INTERACTIVE}:{keys}", "mime_prefix": INTERACTIVE}
    display(bundle, raw=True, metadata={**metadata, "scrapbook": record})
