"""The bit flipper: every float format of chapter 6 as a row of bits a reader clicks, with no kernel.

Each format's bits are buttons: a click flips one, and the readout shows the value its fields encode, the
fields, the formula and the class (zero, subnormal, normal, inf, NaN). A number typed in the box is rounded to
nearest, ties to even, in every format at once, with the rounding error. `_static/lorabook-bits.js` does this
in the page by the rules of `lorabook.formats` (`decode`, `round_to_format`, `encode`), mirrored line by
line; tests/test_bitflip.py compares the two on every FP8, FP16 and BF16 pattern and samples of the rest,
and the browser check clicks and types on the page. Without JavaScript (a downloaded notebook, a printed
page) the figure is a still: the typed number's bits in each format, as `encode` gives them.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from . import formats as fm
from .widgets import definition_list, script_json

FIELDS = ("sign", "exponent", "mantissa")


ERROR = "rounding error, x − value"
CAPTION = (
    "Each format's bits. Click a bit to flip it (or Tab to a format, move along its bits with the arrow keys "
    "and press Space); type a number to see it rounded to nearest, ties to even, in every format. The page "
    "computes this with the rules of lorabook.formats."
)


def formula(f: fm.Fields) -> str:
    """How the fields make the value, in the chapter's notation: (−1)^s · 2^(E − bias) · (1 + M/2^t)."""
    fmt, t = f.fmt, f.fmt.mantissa_bits
    if f.kind == "inf":
        return f"E all ones, M = 0: {'−' if f.sign else '+'}infinity"
    if f.kind == "nan":
        return "not a number (NaN)"
    if f.kind == "normal":
        return f"(−1)^{f.sign} · 2^({f.exponent} − {fmt.bias}) · (1 + {f.mantissa}/2^{t})"
    return f"(−1)^{f.sign} · 2^(1 − {fmt.bias}) · ({f.mantissa}/2^{t})"  # zero, subnormal


def readout(f: fm.Fields, x: float | None = None) -> dict[str, str]:
    """What the figure says of one format's bits: the value, fields, formula, class, and the rounding error of
    the typed number `x` (None when the bits were set by hand)."""
    fmt = f.fmt
    out = {
        "value": number(f.value),
        "fields": f"s = {f.sign}, E = {f.exponent}, M = {f.mantissa}",
        "formula": formula(f),
        "class": f.kind,
    }
    if x is None:
        out[ERROR] = "bits set by hand"
    elif not fmt.has_inf and not math.isnan(x) and abs(x) > fmt.max_finite:  # E4M3FN saturates
        out[ERROR] = f"saturated: x is past the largest finite value, {number(fmt.max_finite)}"
    elif math.isinf(f.value) and not math.isinf(x):
        out[ERROR] = f"overflow: x rounds past the largest finite value, {number(fmt.max_finite)}"
    elif math.isnan(f.value) or math.isinf(x):
        out[ERROR] = "none: x is not a finite number"
    else:
        err = x - f.value
        out[ERROR] = "0: exact" if err == 0 else f"{err:.2e} (relative {abs(err / x):.2e})"
    return out


def number(v: float) -> str:
    """A value as the page shows it: the shortest decimal that reads back as the same double."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return repr(v)


@dataclass
class BitFlipper:
    """The formats of `names` (lorabook.formats.FORMATS), starting from the typed number `start`."""

    start: str = "0.1"
    names: tuple[str, ...] = tuple(fm.FORMATS)

    def __post_init__(self):
        self.formats = [fm.get_format(name) for name in self.names]
        try:
            self.x = float(self.start)
        except ValueError:
            raise ValueError(
                f"start must be a number such as 0.1, -2.5e-3, inf or nan, got {self.start!r}"
            ) from None
        self.encoded = [fm.encode(self.x, f) for f in self.formats]

    def data(self) -> dict:
        """What the page's script reads: each format's field widths, and the starting text."""
        return {
            "start": self.start,
            "formats": [
                {"name": f.name, "e": f.exponent_bits, "m": f.mantissa_bits, "inf": f.has_inf}
                for f in self.formats
            ],
        }

    def _format_html(self, k: int, f: fm.Fields) -> str:
        fmt = f.fmt
        widths = (1, fmt.exponent_bits, fmt.mantissa_bits)
        bits, at = f"{f.pattern:0{fmt.bits}b}", 0
        groups = []
        for field, width in zip(FIELDS, widths):
            spans = "".join(f'<span class="lorabook-bit {field}">{b}</span>' for b in bits[at : at + width])
            groups.append(f'<span class="lorabook-bits-field {field}">{spans}</span>')
            at += width
        return (
            f'<div class="lorabook-bits-format" data-format="{k}" data-pattern="{bits}">'
            f'<p class="lorabook-bits-name"><strong>{html.escape(fmt.name)}</strong>: 1 sign, '
            f"{fmt.exponent_bits} exponent, {fmt.mantissa_bits} mantissa bits (bias {fmt.bias})</p>"
            f'<p class="lorabook-bits-row">{"".join(groups)}</p>'
            f'<dl class="lorabook-bits-readout">{definition_list(readout(f, self.x))}</dl></div>'
        )

    def _repr_html_(self) -> str:
        blocks = "".join(self._format_html(k, f) for k, f in enumerate(self.encoded))
        legend = " ".join(
            f'<span class="lorabook-bit {field}">{letter}</span> {field}'
            for field, letter in zip(FIELDS, "sEM")
        )
        return (
            '<figure class="lorabook-bits">'
            f'<script type="application/json" class="lorabook-bits-data">{script_json(self.data())}</script>'
            f'<p class="lorabook-bits-typed">x = {html.escape(self.start)}</p>'
            f'<p class="lorabook-bits-legend">{legend}; the bits run from the highest, on the left</p>'
            f"{blocks}<figcaption>{CAPTION}</figcaption></figure>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        lines = [f"x = {self.start}"] + [
            f"{f.fmt.name}: {f.bit_string} = {number(f.value)}" for f in self.encoded
        ]
        return {"text/html": self._repr_html_(), "text/plain": "\n".join(lines)}


def bit_flipper(start: str = "0.1", names=tuple(fm.FORMATS)) -> BitFlipper:
    """The bit flipper of chapter 6 over the formats `names`, showing the typed number `start` at first."""
    return BitFlipper(str(start), tuple(names))
