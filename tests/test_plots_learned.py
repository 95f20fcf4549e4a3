"""The figures of "What LoRA learned": labelled, with a colour bar on the heat maps, and legible on a laptop
and on a phone (style.check_legible: no text under 9 px in a 720 px column, nor 6 px in a 342 px one)."""

import matplotlib.figure
import numpy as np
import pytest

from lorabook import delta as D
from lorabook.plots import learned as P
from lorabook.plots import thesis as TP
from lorabook.plots.style import check_legible, smallest_text_px

rng = np.random.default_rng(0)
SPECTRA = {f"{i}.q_proj": np.sort(rng.random(32))[::-1] for i in range(3)}
ROW = {"exact match": 5, "quotes loss": 1.0, "held-out loss": 5.0}
SPREAD = {"median": 5.0, "min": 4.0, "max": 7.0, "n": 3}

FIGURES = {
    "spectra": lambda: P.spectra(
        SPECTRA, {k: v[:4] for k, v in SPECTRA.items()}, 4, np.arange(1, 17), reference=SPECTRA["0.q_proj"]
    ),
    "ablation": lambda: P.ablation({1: SPREAD, 4: SPREAD}, {"q": SPREAD, "all linear": SPREAD}, 19),
    "similarity": lambda: P.similarity(
        {"q": D.subspace_similarity(rng.random((4, 20)), rng.random((8, 20)))}, 20
    ),
    "amplification": lambda: P.amplification(
        [4, 16], {"ΔW's top r": [[1, 2], [3, 4]]}, {"LoRA": [[5, 6], [2, 3]]}
    ),
    "scaling": lambda: P.scaling([4, 16], {"α/r": [SPREAD, SPREAD]}, {"α/r": [SPREAD, SPREAD]}, 200),
    "truncation": lambda: TP.truncation(
        {0: SPREAD, 4: SPREAD},
        {"quotes loss": {0: SPREAD, 4: SPREAD}, "held-out loss": {0: SPREAD, 4: SPREAD}},
        19,
        {"quotes loss": 5.0, "held-out loss": 4.0},
    ),
    "parts": lambda: TP.parts({"q,v": SPREAD, "MLP fc1,fc2": SPREAD}, 6.0, SPREAD),
    "rate_sweep": lambda: TP.rate_sweep(
        {
            "full": {
                "quotes loss": {1e-4: SPREAD, 1e-3: SPREAD},
                "held-out loss": {1e-4: SPREAD, 1e-3: SPREAD},
            }
        },
        {"full": 1e-4},
    ),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_labelled_and_legible(name):
    fig = FIGURES[name]()
    assert isinstance(fig, matplotlib.figure.Figure)
    for ax in fig.axes:
        assert ax.get_xlabel() or ax.get_ylabel(), f"{name}: an axis without labels"
    check_legible(fig, name)


def test_heat_maps_have_a_colour_bar_from_zero_to_one():
    fig = FIGURES["similarity"]()
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylim() == (0.0, 1.0)


def test_smallest_text_px_measures_points_at_the_content_width():
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 2))
    fig.text(0.0, 0.5, "left edge", fontsize=7.2, ha="left")
    fig.text(1.0, 0.5, "right edge", fontsize=7.2, ha="right")
    # 7.2 pt in an image 8 in wide plus the 0.1 in that bbox_inches="tight" pads each side, shown 720 px wide
    assert smallest_text_px(fig) == pytest.approx(7.2 / 72 * 720 / (8 + 2 * 0.1), rel=0.02)
    wide = plt.figure(figsize=(8, 2))
    wide.text(0.0, 0.5, "x", fontsize=7.2)
    wide.text(1.5, 0.5, "text past the edge widens the saved image", fontsize=7.2)
    assert smallest_text_px(wide) < 9 * 0.75  # so the whole image, and its text, shrinks in the column
    plt.close(fig)
    plt.close(wide)
