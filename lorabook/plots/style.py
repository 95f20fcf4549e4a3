"""The book's one plotting style: a palette, rcParams, and small helpers every figure shares."""

from __future__ import annotations

import functools

import matplotlib as mpl
import matplotlib.pyplot as plt

# Okabe–Ito colours: distinguishable under the common colour-vision deficiencies.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "red": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "grey": "#7F7F7F",
    "black": "#000000",
}

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "figure.figsize": (6.4, 3.6),
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": mpl.cycler(
        color=[PALETTE[c] for c in ("blue", "orange", "green", "red", "purple", "sky")]
    ),
    "legend.frameon": False,
    "image.cmap": "gray",
    # Reproducible SVG files: no timestamp, fixed ids (see lorabook.plots.diagrams).
    "svg.hashsalt": "lorabook",
    "svg.fonttype": "path",
}


def apply_style() -> None:
    """Set the book's rcParams for the rest of the session (chapters call this once)."""
    mpl.rcParams.update(RC)


def styled(plot_fn):
    """Decorator for figure routines: draw under the book's style, and detach the figure from pyplot.

    The routine returns a Figure; detaching it means a notebook shows it once, where the chapter glues or
    displays it, instead of a second time at the end of the cell.
    """

    @functools.wraps(plot_fn)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(RC):
            fig = plot_fn(*args, **kwargs)
        plt.close(fig)
        return fig

    return wrapper


def label_bars(ax, bars, fmt: str = "{:,.0f}", texts=None, fontsize: float = 10) -> None:
    """Write each bar's height above it, or the matching entry of `texts`."""
    for i, bar in enumerate(bars):
        ax.annotate(
            fmt.format(bar.get_height()) if texts is None else texts[i],
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=fontsize,
            xytext=(0, 2),
            textcoords="offset points",
        )


# The book's content column is about 720 px wide on a laptop and 342 px on a phone; a figure is scaled to it,
# so a font of s pt in a figure w inches wide shows as s/72 · 720/w = 10·s/w px on a laptop and 4.75·s/w px
# on a phone. The book's rule: no text under 9 px on a laptop, nor under 6 px on a phone (figures are saved
# at twice the pixel density, so a phone's 2-3x screen draws such text with 12-18 device pixels). For the
# style's 6.4-inch figure that means text of at least 8.1 pt; a wider figure needs larger text, or its panels
# stacked.
CONTENT_PX = 720
MIN_TEXT_PX = 9
PHONE_PX = 342
MIN_PHONE_TEXT_PX = 6

# Figures are saved at twice the pixel density they are shown at, so that they are sharp on a phone's or a
# laptop's high-density screen; each file records its smallest text, in its own pixels, under TEXT_KEY (a
# PNG text chunk, or the SVG's description), and the book's browser check scales that to what a reader sees.
DENSITY = 2
TEXT_KEY = "lorabook:smallest-text-px"


def png_width(data: bytes) -> int:
    """A PNG's width in pixels, from its header (the IHDR chunk's first field, bytes 16-19)."""
    return int.from_bytes(data[16:20], "big")


def smallest_text_pt(fig) -> float:
    """The size, in points, of the figure's smallest visible text (infinite when it has none)."""
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=float("inf"))


def png_bundle(fig) -> tuple[dict, dict]:
    """The figure as a notebook output: a PNG at DENSITY times the style's dpi, shown at the style's size
    (the `width` metadata, which Jupyter and MyST-NB both honour), with its smallest text recorded."""
    import base64
    import io

    dpi = RC["savefig.dpi"] * DENSITY
    text_px = smallest_text_pt(fig) / 72 * dpi
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi, bbox_inches="tight", metadata={TEXT_KEY: f"{text_px:.2f}"})
    width = png_width(png.getvalue())
    w, h = fig.get_size_inches()
    encoded = base64.b64encode(png.getvalue()).decode()
    bundle = {"image/png": encoded, "text/plain": f"<Figure {w:g}x{h:g} in>"}
    return bundle, {"image/png": {"width": width // DENSITY}}


def smallest_text_px(fig, content_px: int = CONTENT_PX) -> float:
    """The on-screen size (px) of the figure's smallest visible text when shown `content_px` wide.

    Notebooks and the book save figures with bbox_inches="tight", so text outside the axes (a legend beside
    them) widens the image, and the whole image is then shrunk to the column: the width that counts is the
    larger of the figure's and its tight bounding box's.
    """
    import io

    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=72, bbox_inches="tight")  # as a notebook saves it, layout included
    width = png_width(png.getvalue()) / 72  # in inches, at 72 dpi
    return smallest_text_pt(fig) / 72 * content_px / width


def check_legible(fig, name: str = "figure") -> None:
    """Raise if the figure's smallest text would show under MIN_TEXT_PX px in the laptop's column, or under
    MIN_PHONE_TEXT_PX px in the phone's."""
    for column, least in ((CONTENT_PX, MIN_TEXT_PX), (PHONE_PX, MIN_PHONE_TEXT_PX)):
        px = smallest_text_px(fig, column)
        if px < least:
            raise ValueError(
                f"{name}'s smallest text shows at {px:.1f} px in a {column} px column; the book's rule is "
                f">= {least} px there: enlarge the text, narrow the figure or stack its panels (s pt, "
                f"w inches wide: {column / 72:.2f}·s/w px)"
            )
