"""Helpers the chapters use to hand computed values to the prose (MyST-NB glue)."""

from __future__ import annotations

import numbers

import numpy as np

from .plots.style import check_legible


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
    """Glue each keyword as a named value for the prose, without displaying it in the cell's output."""
    from myst_nb import glue as _glue  # imported here: the library works without the book's toolchain

    for key, value in values.items():
        if _is_figure(value):
            check_legible(value, key)  # every figure the book shows meets the legibility rule
        _glue(key, plain(value), display=False)


def _is_figure(value) -> bool:
    return type(value).__module__.startswith("matplotlib") and hasattr(value, "get_figwidth")
