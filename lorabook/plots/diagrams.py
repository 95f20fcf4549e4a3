"""Static diagrams of the book, drawn by code into `figures/` as reproducible SVG files.

python -m lorabook.plots.diagrams            # (re)draw every diagram into ./figures
python -m lorabook.plots.diagrams --check    # exit 1 if a file in ./figures differs from what the code draws
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon

from .style import PALETTE, styled

# ---------------------------------------------------------------------------- the book's plan

# Each numbered part of _toc.yml: its caption (a line break where the box needs one), and its chapters' files
# with what the box shows of each; tests/test_book.py checks it against _toc.yml.
BOOK_PLAN = [
    (
        "I. Foundations",
        {"01_why_finetune": "Why fine-tune", "02_rank": "Matrix rank", "03_svd": "Truncated SVD"},
    ),
    ("II. LoRA", {"04_lora": ("The layer and\nits arithmetic", "Inference latency", "Modularity")}),
    ("III. GPU memory", {"05_memory": "Why fine-tuning\neats GPUs"}),
    (
        "IV. Number\nformats and int8",
        {
            "06_number_formats": "FP32, FP16, BF16",
            "07_int8": "int8 and\nLLM.int8()",
            "07b_nf4": "4-bit: NF4\nand QLoRA",
        },
    ),
    (
        "V. The 8-bit OPT\nfine-tune",
        {"08_finetune": "OPT-6.7B + LoRA\n(CPU stand-in)", "08b_real_model": "A real model:\nSmolLM2-135M"},
    ),
    ("VI. Inside\nthe update", {"09_learned": "What LoRA\nlearned"}),
    ("VII. Beyond LoRA", {"10_family": "LoRA's family"}),
    ("VIII. When it\ngoes wrong", {"11_pitfalls": "Failures,\nreproduced"}),
]


def boxes(chapters: dict) -> list[str]:
    """The labels of a part's boxes: one per chapter, or one per section where a chapter lists several."""
    return [label for shown in chapters.values() for label in ((shown,) if isinstance(shown, str) else shown)]


# ---------------------------------------------------------------------------- drawing helpers


def _box(ax, x, y, w, h, text, face, edge=PALETTE["black"], size=9, dashed=False, weight="normal"):
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.06",
            fc=face,
            ec=edge,
            lw=1.2,
            ls="--" if dashed else "-",
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight)


def _arrow(ax, start, end, color=PALETTE["black"], mutation_scale=12):
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=mutation_scale, lw=1.2, color=color)
    )


def _canvas(width, height, xlim, ylim):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    ax.axis("off")
    return fig, ax


# ---------------------------------------------------------------------------- diagrams


@styled
def roadmap():
    """The parts of the book, top to bottom, each with its chapters to its right: one row a part keeps the
    diagram narrow enough to read on a phone."""
    rows = len(BOOK_PLAN)
    pitch, h, top = 0.72, 0.56, 0.55 + 0.72 * len(BOOK_PLAN)  # in inches, as the canvas is drawn 1:1
    fig, ax = _canvas(6.6, top + 0.05, (0, 6.6), (0, top + 0.05))
    colours = [PALETTE[c] for c in ("sky", "orange", "green", "purple", "red", "blue", "yellow")]
    for i, ((part, chapters), colour) in enumerate(zip(BOOK_PLAN, colours)):
        y = top - (i + 1) * pitch
        _box(ax, 0.05, y, 1.75, h, part, face=colour, size=10, weight="bold")
        for j, chapter in enumerate(boxes(chapters)):
            _box(ax, 2.0 + j * 1.54, y, 1.46, h, chapter, face="white", edge=colour, size=10)
        if i < rows - 1:
            _arrow(ax, (0.925, y - 0.01), (0.925, y - pitch + h + 0.01), mutation_scale=8)
    ax.text(
        0.05,
        0.05,
        "math first: rank → SVD → LoRA → memory → number formats\n→ a real 8-bit fine-tune → what it learned",
        fontsize=10,
        color=PALETTE["grey"],
    )
    return fig


THREE_WAYS = ("full fine-tuning", "adapter (Houlsby)", "LoRA")  # the columns of `three_ways`, left to right


@styled
def three_ways():
    """Full fine-tuning, a sequential adapter, and LoRA's parallel low-rank path, side by side (drawn 1:1 in
    inches, 2.2 in a column, so that its text stays legible on a phone)."""
    fig, ax = _canvas(6.6, 4.15, (0, 6.6), (0, 4.15))
    frozen, trained = "#dbe9f6", PALETTE["orange"]

    def column(cx, title, note=None, colour=None):
        ax.text(cx, 3.95, title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(cx, 0.75, "$x$", ha="center", va="center", fontsize=11)
        ax.text(cx, 3.45, "$h$", ha="center", va="center", fontsize=11)
        if note:
            ax.text(cx, 0.3, note, ha="center", va="center", fontsize=10, color=colour)

    # full fine-tuning: every entry of W moves
    cx = 1.1
    column(cx, THREE_WAYS[0])
    _box(ax, cx - 0.75, 1.55, 1.5, 1.0, "W\n(d×k, trained)", face=trained, size=10)
    _arrow(ax, (cx, 0.92), (cx, 1.53))
    _arrow(ax, (cx, 2.57), (cx, 3.3))

    # adapter: an extra bottleneck block in series after the frozen layer
    cx = 3.3
    column(cx, THREE_WAYS[1], "in series: one more\nstep per layer", PALETTE["red"])
    _box(ax, cx - 0.75, 1.25, 1.5, 0.55, "W₀ (frozen)", face=frozen, size=10)
    _box(ax, cx - 0.8, 2.2, 1.6, 0.75, "down → ReLU → up\n+ residual", face=trained, size=10)
    _arrow(ax, (cx, 0.92), (cx, 1.23))
    _arrow(ax, (cx, 1.82), (cx, 2.18))
    _arrow(ax, (cx, 2.97), (cx, 3.3))

    # LoRA: a parallel low-rank path added to the frozen weight
    cx = 5.5
    column(cx, THREE_WAYS[2], "in parallel; merge\nW₀ + B A after training", PALETTE["green"])
    _box(ax, cx - 1.0, 1.4, 0.95, 0.9, "W₀\n(d×k,\nfrozen)", face=frozen, size=10)
    _box(ax, cx + 0.1, 1.05, 0.9, 0.45, "A (r×k)", face=trained, size=10)
    _box(ax, cx + 0.1, 2.0, 0.9, 0.45, "B (d×r)", face=trained, size=10)
    _arrow(ax, (cx - 0.05, 0.92), (cx - 0.52, 1.38))
    _arrow(ax, (cx + 0.05, 0.92), (cx + 0.55, 1.03))
    _arrow(ax, (cx + 0.55, 1.52), (cx + 0.55, 1.98))
    ax.text(cx, 2.95, "+", ha="center", va="center", fontsize=14, weight="bold")
    _arrow(ax, (cx - 0.52, 2.32), (cx - 0.1, 2.85))
    _arrow(ax, (cx + 0.55, 2.47), (cx + 0.1, 2.85))
    _arrow(ax, (cx, 3.08), (cx, 3.3))
    return fig


@styled
def lora_block():
    """A LoRA-adapted linear layer in the style of the LoRA paper's Figure 1, in the book's notation:
    x ∈ ℝᵏ, W₀ ∈ ℝ^{d×k}, A ∈ ℝ^{r×k}, B ∈ ℝ^{d×r}, h = W₀x + (α/r)·BAx ∈ ℝᵈ."""
    fig, ax = _canvas(7.6, 4.6, (0, 8.4), (0, 5.2))  # drawn in 8.4 × 5.2 units, shown 7.6 in wide
    frozen, trained = "#dbe9f6", PALETTE["orange"]
    # input and the two paths
    ax.text(4.2, 0.25, r"$x \in \mathbb{R}^{k}$", ha="center", fontsize=12)
    _box(
        ax,
        0.4,
        1.6,
        3.2,
        1.6,
        r"pretrained weights" "\n" r"$W_0 \in \mathbb{R}^{d \times k}$" "\n(frozen)",
        face=frozen,
        size=11,
    )
    _arrow(ax, (3.9, 0.55), (2.0, 1.58))
    _arrow(ax, (4.5, 0.55), (6.1, 1.08))
    # A: wide at the input, narrow at r (a trapezoid, as in the paper)
    ax.add_patch(
        Polygon([(4.7, 1.1), (7.5, 1.1), (6.7, 1.9), (5.5, 1.9)], closed=True, fc=trained, ec="black")
    )
    ax.text(6.1, 1.45, r"$A \in \mathbb{R}^{r \times k}$", ha="center", va="center", fontsize=11)
    ax.text(7.55, 1.35, "Kaiming-\nuniform", fontsize=10, color=PALETTE["grey"], va="center")
    _arrow(ax, (6.1, 1.92), (6.1, 2.38))
    ax.text(5.8, 2.15, r"$Ax \in \mathbb{R}^{r}$", ha="right", va="center", fontsize=10)
    ax.add_patch(
        Polygon([(5.5, 2.4), (6.7, 2.4), (7.5, 3.2), (4.7, 3.2)], closed=True, fc=trained, ec="black")
    )
    ax.text(6.1, 2.8, r"$B \in \mathbb{R}^{d \times r}$", ha="center", va="center", fontsize=11)
    ax.text(7.55, 2.75, "$B = 0$\nat start", fontsize=10, color=PALETTE["grey"], va="center")
    ax.text(7.3, 3.45, r"$\times\, \alpha / r$", fontsize=11, color=PALETTE["red"])
    # the sum
    ax.add_patch(Circle((4.2, 4.05), 0.22, fc="white", ec="black"))
    ax.text(4.2, 4.05, "+", ha="center", va="center", fontsize=14)
    _arrow(ax, (2.0, 3.22), (4.0, 3.95))
    _arrow(ax, (6.1, 3.22), (4.4, 3.95))
    ax.text(1.2, 3.6, r"$W_0 x \in \mathbb{R}^{d}$", fontsize=10, color=PALETTE["grey"])
    ax.text(5.45, 3.72, r"$\Delta W x \in \mathbb{R}^{d}$", fontsize=10, color=PALETTE["grey"], va="bottom")
    _arrow(ax, (4.2, 4.28), (4.2, 4.62))
    ax.text(
        4.2,
        4.75,
        r"$h = W_0 x + \frac{\alpha}{r} B A x,\quad \Delta W = \frac{\alpha}{r} B A,\quad$"
        r"$\mathrm{rank}\, \Delta W \leq r$",
        ha="center",
        fontsize=12,
    )
    ax.text(
        0.4, 0.75, "trained: $r(d + k)$ numbers\nfrozen: $dk$ numbers", fontsize=10, color=PALETTE["grey"]
    )
    return fig


@styled
def favicon():
    """The site's icon: W₀ beside the low-rank pair B, A (B tall and thin, A short and wide)."""
    fig, ax = _canvas(0.64, 0.64, (0, 1), (0, 1))
    ax.add_patch(FancyBboxPatch((0.04, 0.08), 0.5, 0.84, boxstyle="square,pad=0", fc=PALETTE["sky"], lw=0))
    ax.add_patch(
        FancyBboxPatch((0.62, 0.08), 0.12, 0.84, boxstyle="square,pad=0", fc=PALETTE["orange"], lw=0)
    )
    ax.add_patch(FancyBboxPatch((0.62, 0.80), 0.34, 0.12, boxstyle="square,pad=0", fc=PALETTE["red"], lw=0))
    return fig


DIAGRAMS = {
    "roadmap.svg": roadmap,
    "three_ways.svg": three_ways,
    "lora_block.svg": lora_block,
    "favicon.svg": favicon,
}

# ---------------------------------------------------------------------------- files


def svg_bytes(fig) -> bytes:
    """The figure as SVG with no timestamp, so the same code draws the same bytes; its description records
    its smallest text in CSS px at its natural size (an SVG's points are 4/3 px each), as style.TEXT_KEY."""
    from .style import TEXT_KEY, smallest_text_pt

    buf = io.BytesIO()
    smallest = smallest_text_pt(fig)
    text = f"{TEXT_KEY}={smallest * 4 / 3:.2f}" if smallest < float("inf") else None
    fig.savefig(buf, format="svg", metadata={"Date": None, "Description": text}, bbox_inches="tight")
    return buf.getvalue()


def render_all() -> dict[str, bytes]:
    """Every diagram, drawn afresh: {file name: SVG bytes}."""
    with matplotlib.rc_context({"svg.hashsalt": "lorabook", "svg.fonttype": "path"}):
        return {name: svg_bytes(draw()) for name, draw in DIAGRAMS.items()}


def stale(outdir: Path) -> list[str]:
    """Names of the diagrams whose file in `outdir` is missing or differs from what the code draws now."""
    return [
        name
        for name, data in render_all().items()
        if not (outdir / name).is_file() or (outdir / name).read_bytes() != data
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lorabook.plots.diagrams", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "outdir", nargs="?", default="figures", type=Path, help="where the SVG files go (default: figures)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file is stale")
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.outdir)
        for name in names:
            print(f"stale: {args.outdir / name} (run: python -m lorabook.plots.diagrams)", file=sys.stderr)
        return 1 if names else 0
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, data in render_all().items():
        (args.outdir / name).write_bytes(data)
        print(f"wrote {args.outdir / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
