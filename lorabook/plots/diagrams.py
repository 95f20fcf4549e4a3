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


def _arrow(ax, start, end, color=PALETTE["black"]):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, lw=1.2, color=color))


def _canvas(width, height, xlim, ylim):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    ax.axis("off")
    return fig, ax


# ---------------------------------------------------------------------------- diagrams


@styled
def roadmap():
    """The parts of the book, left to right, with their chapters."""
    fig, ax = _canvas(10, 3.3, (0, 10.4), (0, 3.4))
    colours = [PALETTE[c] for c in ("sky", "orange", "green", "purple", "red", "blue")]
    gap = 0.22
    w = (10.2 - gap * (len(BOOK_PLAN) - 1)) / len(BOOK_PLAN)
    for i, ((part, chapters), colour) in enumerate(zip(BOOK_PLAN, colours)):
        x = 0.1 + i * (w + gap)
        _box(ax, x, 2.75, w, 0.5, part, face=colour, size=9.5, weight="bold")
        for j, chapter in enumerate(boxes(chapters)):
            _box(ax, x + 0.08, 2.05 - j * 0.72, w - 0.16, 0.56, chapter, face="white", edge=colour, size=9.5)
        if i < len(BOOK_PLAN) - 1:
            _arrow(ax, (x + w + 0.02, 3.0), (x + w + gap - 0.02, 3.0))
    ax.text(
        0.1,
        0.05,
        "math first: rank → SVD → LoRA → memory → number formats → a real 8-bit fine-tune → what it learned",
        fontsize=9.5,
        color=PALETTE["grey"],
    )
    return fig


THREE_WAYS = ("full fine-tuning", "adapter (Houlsby)", "LoRA")  # the columns of `three_ways`, left to right


@styled
def three_ways():
    """Full fine-tuning, a sequential adapter, and LoRA's parallel low-rank path, side by side."""
    fig, ax = _canvas(10, 3.6, (0, 10.5), (0, 3.9))
    frozen, trained = "#dbe9f6", PALETTE["orange"]

    def column(x0, title):
        ax.text(x0 + 1.5, 3.7, title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x0 + 1.5, 0.15, "x", ha="center", fontsize=10, style="italic")
        return x0 + 1.5

    # full fine-tuning: every entry of W moves
    cx = column(0.0, THREE_WAYS[0])
    _box(ax, cx - 0.8, 1.3, 1.6, 0.9, "W\n(d×k, trained)", face=trained)
    _arrow(ax, (cx, 0.4), (cx, 1.28))
    _arrow(ax, (cx, 2.22), (cx, 3.3))
    ax.text(cx, 3.38, "h", ha="center", fontsize=10, style="italic")

    # adapter: an extra bottleneck block in series after the frozen layer
    cx = column(3.5, THREE_WAYS[1])
    _box(ax, cx - 0.8, 0.75, 1.6, 0.7, "W₀ (frozen)", face=frozen)
    _box(ax, cx - 0.8, 2.0, 1.6, 0.85, "down → ReLU → up\n+ residual", face=trained, size=9.5)
    _arrow(ax, (cx, 0.4), (cx, 0.73))
    _arrow(ax, (cx, 1.47), (cx, 1.98))
    _arrow(ax, (cx, 2.87), (cx, 3.3))
    ax.text(cx, 3.38, "h", ha="center", fontsize=10, style="italic")
    ax.text(
        cx + 0.9,
        1.7,
        "in series:\none more\nstep per\nlayer",
        fontsize=9.5,
        color=PALETTE["red"],
        va="center",
    )

    # LoRA: a parallel low-rank path added to the frozen weight
    cx = column(7.0, THREE_WAYS[2])
    _box(ax, cx - 1.45, 1.2, 1.3, 1.0, "W₀\n(d×k, frozen)", face=frozen, size=9.5)
    _box(ax, cx + 0.25, 0.8, 1.1, 0.55, "A (r×k)", face=trained, size=9.5)
    _box(ax, cx + 0.25, 2.0, 1.1, 0.55, "B (d×r)", face=trained, size=9.5)
    _arrow(ax, (cx, 0.4), (cx - 0.8, 1.18))
    _arrow(ax, (cx, 0.4), (cx + 0.8, 0.78))
    _arrow(ax, (cx + 0.8, 1.37), (cx + 0.8, 1.98))
    ax.text(cx, 2.95, "+", ha="center", va="center", fontsize=14, weight="bold")
    _arrow(ax, (cx - 0.8, 2.22), (cx - 0.12, 2.9))
    _arrow(ax, (cx + 0.8, 2.57), (cx + 0.12, 2.9))
    _arrow(ax, (cx, 3.08), (cx, 3.3))
    ax.text(cx, 3.38, "h", ha="center", fontsize=10, style="italic")
    ax.text(
        cx - 1.8,
        0.6,
        "in parallel;\nmerge W₀ + B A\nafter training",
        fontsize=9.5,
        color=PALETTE["green"],
        va="center",
    )
    return fig


@styled
def lora_block():
    """A LoRA-adapted linear layer in the style of the LoRA paper's Figure 1, in the book's notation:
    x ∈ ℝᵏ, W₀ ∈ ℝ^{d×k}, A ∈ ℝ^{r×k}, B ∈ ℝ^{d×r}, h = W₀x + (α/r)·BAx ∈ ℝᵈ."""
    fig, ax = _canvas(8.4, 5.0, (0, 8.4), (0, 5.2))
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
    ax.text(7.55, 2.75, "B = 0\nat start", fontsize=10, color=PALETTE["grey"], va="center")
    ax.text(7.3, 3.45, "× α/r", fontsize=11, color=PALETTE["red"])
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
        r"$h = W_0 x + \frac{\alpha}{r} B A x,\quad \Delta W = \frac{\alpha}{r} B A$, rank ≤ r",
        ha="center",
        fontsize=12,
    )
    ax.text(0.4, 0.75, "trained: r(d + k) numbers\nfrozen: d·k numbers", fontsize=10, color=PALETTE["grey"])
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
