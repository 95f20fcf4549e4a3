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

import functools
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


def number(value, digits: int = 4, html_out: bool = True, trim: bool = False) -> str:
    """A number as the book prints it in tables and outputs: integers, and floats that hold an integer, whole
    with thousands separators; other numbers to `digits` significant figures, trailing zeros kept (a measured
    1.000 is not an exact 1; `trim` drops them), in positional notation from 0.001 up to a million and as
    m × 10^e outside it (the exponent as a superscript in HTML). Negative numbers take a true minus sign, and
    no line breaks inside a number. Non-numbers are str().

    >>> number(0.0062500000931322575), number(26.633896), number(4.0), number(3.4028234663852886e38, 3, False)
    ('0.006250', '26.63', '4', '3.40\u00a0×\u00a010^38')
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    value = plain(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}".replace("-", "−")
    magnitude = abs(float(f"{value:.{digits - 1}e}"))  # after rounding: 0.999999 is 1.000, not 1.0000
    keep = _trimmed if trim else str
    if 1e-3 <= magnitude < 1e6:
        decimals = max(0, digits - 1 - int(np.floor(np.log10(magnitude))))
        return keep(f"{value:,.{decimals}f}").replace("-", "−")
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    power = str(int(exponent)).replace("-", "−")
    times = f"{keep(mantissa).replace('-', '−')}\u00a0×\u00a0"
    return times + (f"10<sup>{power}</sup>" if html_out else f"10^{power}")


def _trimmed(text: str) -> str:
    """Without the trailing zeros of its fraction, as %g writes a number: 4.00 is 4, 0.500 is 0.5."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def rounded(value, digits: int = 4):
    """`value` (a number, or a tuple, list or dict of them) with each float rounded to `digits` significant
    figures, as a cell's last line shows it: 0.00625, not 0.0062500000931322575; integers and others as
    they are, numpy scalars as Python's."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(rounded(v, digits) for v in value)
    value = plain(value)
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value


def styled_table(frame, index: bool | None = None, digits: int = 4, literal_columns=()):
    """A DataFrame as the book shows it: every number through `number`, other cells escaped, the columns in
    `literal_columns` (a model's generated text) through `literal`, and no index column unless it means
    something (index=None keeps a named or non-integer index, and hides pandas' 0, 1, 2, ...)."""
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if index is None:
        index = not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None
    shown = functools.partial(cell, digits=digits)
    styler = frame.style.format(shown).format_index(shown, axis="index").format_index(shown, axis="columns")
    if literal_columns:
        styler = styler.format(literal, subset=list(literal_columns))
    return styler if index else styler.hide(axis="index")


def cell(value, digits: int = 4) -> str:
    """One table cell as HTML: a number through `number`, anything else escaped."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return number(value, digits)
    return html.escape(str(value))


def formatted(value) -> str:
    """A glued value as the notebook's values table shows it: `number` to 6 significant figures, as text."""
    return number(value, 6, html_out=False, trim=True)


def literal(text: str) -> str:
    """Generated text as HTML that shows it character for character, as a program's output: escaped, in a
    <pre> element (HTML's element for preformatted output, which keeps the text's own newlines), so that a
    model's backtick, asterisk or angle bracket is its output and not Markdown, a code span or HTML on the
    page. lorabook.css sets it inline, in the cell's flow."""
    return f'<pre class="generated">{html.escape(str(text))}</pre>'


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
