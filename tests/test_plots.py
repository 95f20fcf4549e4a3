"""Every figure routine draws under the book's style with labelled axes; glue gets plain Python numbers."""

import matplotlib.figure
import numpy as np
import pytest

from lorabook import rank as lr
from lorabook import svd as ls
from lorabook.book import plain
from lorabook.plots import rank as rank_plots
from lorabook.plots import svd as svd_plots

A = ls.low_rank_plus_noise(30, 20, 3, noise=0.01, seed=0)
S = ls.svd(A).S

FIGURES = {
    "tolerance": lambda: rank_plots.singular_values_against_tolerance(
        [("A", A, lr.default_tolerance(A), 20)]
    ),
    "product": lambda: rank_plots.product_rank(8, 6, [1, 2, 3], [1, 2, 3], 2, S[:6]),
    "params": lambda: rank_plots.parameter_counts([(10, 10), (64, 32)]),
    "eckart_young": lambda: svd_plots.eckart_young(
        [1, 2], [2.0, 1.0], [[3.0, 4.0], [2.0, 2.5]], 2, np.array([5.0, 2.0, 1.0])
    ),
    "energy": lambda: svd_plots.energy_and_error({"A": S}),
    "spectra": lambda: svd_plots.spectra({"A": S}, 3),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figure_has_labelled_axes(name):
    fig = FIGURES[name]()
    assert isinstance(fig, matplotlib.figure.Figure)
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: an axis without labels"


def test_image_panels_say_error_and_storage_under_each():
    img = ls.sample_image()[::8, ::8]
    fig = svd_plots.image_reconstructions(img, [1, 5])
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert len(labels) == 3 and all("error" in t and "storage" in t for t in labels)


def test_plain_turns_numpy_scalars_into_python_numbers():
    assert type(plain(np.int64(5))) is int and type(plain(np.float32(0.5))) is float
    assert repr(plain(np.float64(0.25))) == "0.25"  # MyST-NB literal-evaluates this repr
    assert plain(True) is True and plain("text") == "text"


def test_glue_refuses_a_figure_whose_text_the_book_would_show_under_9_px():
    import matplotlib.pyplot as plt

    from lorabook.book import glue

    fig = plt.figure(figsize=(12, 2))
    fig.text(0.0, 0.5, "tiny", fontsize=6)
    fig.text(1.0, 0.5, "edge", fontsize=6, ha="right")
    with pytest.raises(ValueError, match="tiny_fig's smallest text shows at"):
        glue(tiny_fig=fig)
    plt.close(fig)


def test_diagrams_are_legible_at_the_book_width():
    from lorabook.plots import diagrams
    from lorabook.plots.style import MIN_TEXT_PX, smallest_text_px

    for name, draw in diagrams.DIAGRAMS.items():
        fig = draw()
        if any(t.get_text().strip() for t in fig.texts) or fig.axes and fig.axes[0].texts:
            assert smallest_text_px(fig) >= MIN_TEXT_PX, name
