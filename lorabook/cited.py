"""Numbers the book cites rather than measures, each with its source, so the prose can glue them.

A figure that needs weights or hardware we do not have offline (a 6.7B model's activations, an RTX 8000, a
cluster of A100s) is quoted here once, with the paper and the place in it, and the chapters glue it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cited:
    """A number from the literature and where it comes from."""

    value: float
    source: str  # bibtex key in references.bib
    where: str  # section, table or figure
    what: str


# ------------------------------------------------------------------------ LLM.int8() (Dettmers et al. 2022)

INT8_OUTLIERS_EMERGE_AT = Cited(
    6.7e9, "dettmers2022llmint8", "§4, Fig. 3", "parameters at which outliers emerge"
)
INT8_MAX_OUTLIER_DIMS = Cited(7, "dettmers2022llmint8", "§4.1", "most outlier feature dimensions up to 13B")
INT8_MAX_OUTLIER_DIMS_UP_TO = Cited(13e9, "dettmers2022llmint8", "§4.1", "model size that bound holds up to")
INT8_SHARE_IN_8BIT = Cited(
    0.999, "dettmers2022llmint8", "abstract, §3.2", "share of values multiplied in 8-bit"
)
INT8_THRESHOLD = Cited(6.0, "dettmers2022llmint8", "§3.2", "outlier threshold α")
