"""Figure routines for the chapters, all drawn in the one style of `lorabook.plots.style`."""

from .style import PALETTE, apply_style, label_bars, styled

__all__ = ["PALETTE", "apply_style", "label_bars", "styled"]
