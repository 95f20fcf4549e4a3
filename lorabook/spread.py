"""A measurement over training seeds: its median and range, and whether two of them differ beyond noise.

A run at one seed is one draw. Where the book compares two settings it trains each at several seeds and
prints the median with the range, least to greatest. Two settings whose ranges overlap are not told apart
by these runs: the book calls that difference noise, in those words.
"""

from __future__ import annotations

import statistics


def spread(values) -> dict:
    """Median, least and greatest of a measurement over seeds: what the chapter prints where it compares."""
    values = sorted(values)
    if not values:
        raise ValueError("values must hold at least one run's measurement, got none")
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "n": len(values)}


def described(spread: dict) -> str:
    """A spread as the chapter prints it: the median to 3 significant figures, then the range in brackets to
    as many decimals as the median shows ("5.73 [5.70–5.80]", not "[5.7–5.8]")."""
    median = f"{spread['median']:.3g}"
    decimals = len(median.partition(".")[2]) if "e" not in median else 0
    ends = (f"{spread[k]:.{decimals}f}" if decimals else f"{spread[k]:.3g}" for k in ("min", "max"))
    return f"{median} [{'–'.join(ends)}]"


def apart(a: dict, b: dict) -> bool:
    """Whether two spreads' ranges are disjoint: the only difference these runs can claim is not noise."""
    return a["max"] < b["min"] or b["max"] < a["min"]


def in_words(spread: dict, fmt: str = "{:.0f}") -> str:
    """A spread as prose: "18 (17 to 18)", the median with its range, or "19 at every seed" when the runs
    agree."""
    median, low, high = (fmt.format(spread[k]) for k in ("median", "min", "max"))
    return f"{median} at every seed" if low == high else f"{median} ({low} to {high})"


def listed(names) -> str:
    """Names as prose: "A", "A and B", "A, B and C"; "none" for no name."""
    names = list(names)
    if not names:
        return "none"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def chance_disjoint(n: int, m: int) -> float:
    """The chance that n runs of one setting and m of another, with no difference between them (all n + m
    values exchangeable, no ties), give disjoint ranges: all n below all m, or all above, 2 / C(n + m, n)."""
    from math import comb

    if n < 1 or m < 1:
        raise ValueError(f"n and m must be at least 1 run each, got n={n}, m={m}")
    return 2 / comb(n + m, n)
