"""Interactive figures with no kernel: a slider over frames the library computes when the book builds.

A widget is a list of frames, one per value of the slider, each a picture (PNG) and a readout (label, text).
It renders as HTML that works without JavaScript (the starting frame, a still image with its readout: what a
downloaded notebook and a printed page show) and that `_static/lorabook-widgets.js` turns into a slider: a
native range input, so the arrow keys move it, with the readout in an `aria-live` region for screen readers.
Nothing is fetched: every frame is in the page.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_int


@dataclass
class Frames:
    """A slider named `name` over `values`, showing frame i's `images[i]` (PNG bytes) and `readouts[i]`."""

    name: str
    values: list
    images: list[bytes]
    readouts: list[dict[str, str]]
    alt: str
    start: int = 0
    caption: str = field(default="")
    width: str = "100%"  # the picture's width on the page (CSS), at most the column's

    def __post_init__(self):
        n = len(self.values)
        if n < 2:
            raise ValueError(f"values must hold at least 2 positions for a slider, got {n}")
        if len(self.images) != n or len(self.readouts) != n:
            raise ValueError(
                f"images and readouts must hold one frame per value ({n}), "
                f"got {len(self.images)} and {len(self.readouts)}"
            )
        check_int(self.start, "start", 0, n - 1)

    def data(self) -> dict:
        """What the page's script reads: the slider's values, and each frame as a data URI and a readout."""
        return {
            "name": self.name,
            "values": [str(v) for v in self.values],
            "images": [png_uri(b) for b in self.images],
            "readouts": self.readouts,
            "start": self.start,
        }

    def _repr_html_(self) -> str:
        i, esc = self.start, html.escape
        rows = definition_list(self.readouts[i])
        payload = script_json(self.data())
        caption = f"<figcaption>{esc(self.caption)}</figcaption>" if self.caption else ""
        return (
            '<figure class="lorabook-widget">'
            f'<script type="application/json" class="lorabook-widget-data">{payload}</script>'
            f'<img class="lorabook-widget-image" src="{png_uri(self.images[i])}" alt="{esc(self.alt)}"'
            f' style="width: {esc(self.width)}">'
            f'<p class="lorabook-widget-position">{esc(self.name)} = {esc(str(self.values[i]))}</p>'
            f'<dl class="lorabook-widget-readout">{rows}</dl>{caption}</figure>'
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        readout = ", ".join(f"{k}: {v}" for k, v in self.readouts[self.start].items())
        plain = f"{self.name} = {self.values[self.start]} ({readout}); a slider in the book's HTML page"
        return {"text/html": self._repr_html_(), "text/plain": plain}

    def size(self) -> int:
        """Bytes the widget adds to its page."""
        return len(self._repr_html_().encode())


def definition_list(readout: dict[str, str]) -> str:
    """A readout's rows as the <dt>/<dd> pairs of an HTML <dl>, escaped."""
    return "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in readout.items())


def script_json(data) -> str:
    """`data` as JSON to sit inside a <script> element: every '<' escaped, so nothing in it can close it."""
    return json.dumps(data).replace("<", "\\u003c")


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def gray_png(a: np.ndarray, lo: float | None = None, hi: float | None = None) -> bytes:
    """A 2-D array as an 8-bit grayscale PNG, `lo`..`hi` mapped to black..white (clipped)."""
    import matplotlib.image

    a = np.asarray(a, dtype=np.float64)
    lo = a.min() if lo is None else lo
    hi = a.max() if hi is None else hi
    scaled = np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1)
    out = io.BytesIO()
    matplotlib.image.imsave(out, scaled, cmap="gray", vmin=0, vmax=1, format="png")
    return out.getvalue()


def figure_png(fig, dpi: int = 110) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


# ---------------------------------------------------------------------------- 1. truncated SVD (ch 3)


def svd_rank(image, ranks, start: int | None = None) -> Frames:
    """The image rebuilt from its first r singular triplets, for each r in `ranks`: the picture, the error
    ‖A − A_r‖_F, and the Eckart–Young bound √(σ²_{r+1} + … + σ²_p), which the error equals."""
    from . import svd as ls

    image = np.asarray(image, dtype=np.float64)
    S = ls.svd(image).S
    lo, hi = float(image.min()), float(image.max())
    images, readouts = [], []
    for r in ranks:
        approx = ls.low_rank_approximation(image, r)
        error = float(np.linalg.norm(image - approx))
        bound = float(np.sqrt(np.sum(S[r:] ** 2)))
        stored = r * (sum(image.shape) + 1)  # r columns of U and of V, and r singular values
        images.append(gray_png(approx, lo, hi))
        readouts.append(
            {
                # at full rank A_r is A: the error left is floating-point rounding, the bound exactly 0
                "‖A − A_r‖_F": f"{error:.4g}" + (" (rounding: A_r = A)" if r >= len(S) else ""),
                "bound √(σ²ᵣ₊₁ + … + σ²ₚ)": f"{bound:.4g}",
                "relative error": f"{error / np.linalg.norm(image):.3f}",
                "numbers stored, r·(m + n + 1)": f"{stored:,} of the image's {image.size:,}"
                + (" (more than the image)" if stored > image.size else ""),
            }
        )
    ranks = list(ranks)
    return Frames(
        name="rank r",
        values=ranks,
        images=images,
        readouts=readouts,
        alt="The photograph rebuilt from its first r singular triplets; a slider sets r.",
        width="24em",
        start=len(ranks) // 2 if start is None else start,
    )


# ---------------------------------------------------------------------------- 4. NF4's block size (ch 7b)


def nf4_blocks(x, blocks=(32, 64, 128, 256, 512, 1024)) -> Frames:
    """NF4 block-wise quantization of `x` at each block size: the mean squared error with an fp32 absmax per
    block (lorabook.nf4) and with double quantization (bitsandbytes' quantize_4bit, whose absmax are 8-bit),
    and the bits per parameter of each (nf4.bits_per_parameter)."""
    from . import nf4 as N
    from .plots import widgets as wplots

    blocks = [check_int(b, "block", 2) for b in blocks]
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    plain = [N.error(x, block=b) for b in blocks]
    double = []
    for b in blocks:
        packed, state = N.bnb_quantize(x, double_quant=True, block=b)
        double.append(
            float(np.mean((N.bnb_dequantize(packed, state).reshape(-1) - x).astype(np.float64) ** 2))
        )
    bits = [N.bits_per_parameter(False, b) for b in blocks]
    bits_dq = [N.bits_per_parameter(True, b) for b in blocks]
    images, readouts = [], []
    for i in range(len(blocks)):
        images.append(figure_png(wplots.nf4_frame(blocks, (plain, double), (bits, bits_dq), i)))
        readouts.append(
            {
                "mean squared error, fp32 absmax": f"{plain[i]:.4g}",
                "mean squared error, double-quantized": f"{double[i]:.4g}",
                "bits per parameter, fp32 absmax": f"{bits[i]:.4g}",
                "bits per parameter, double-quantized": f"{bits_dq[i]:.4g}",
            }
        )
    return Frames(
        name="block size",
        values=blocks,
        images=images,
        readouts=readouts,
        alt="NF4's error and bits per parameter against the block size, the chosen one circled.",
        start=blocks.index(N.BLOCK) if N.BLOCK in blocks else 0,
    )


# ------------------------------------------------------------------------- 3. LLM.int8()'s threshold (ch 7)


def int8_threshold(X, W, taus=(1, 2, 3, 4, 6, 8, 16, 32, 64, 128)) -> Frames:
    """LLM.int8() on X @ W at each outlier threshold τ: which feature dimensions (columns of X) go to fp16,
    the share of multiply-adds left in int8, and the relative error against vector-wise int8 alone
    (lorabook.quant)."""
    import torch

    from . import quant as Q
    from .plots import widgets as wplots

    X, W = torch.as_tensor(X), torch.as_tensor(W)
    exact = X.double() @ W.double()
    plain = Q.relative_error(Q.vectorwise_matmul(X, W), exact)
    peaks = X.abs().amax(dim=0).double().numpy()  # each feature dimension's largest |x|
    images, readouts = [], []
    for tau in taus:
        result = Q.llm_int8_matmul(X, W, threshold=tau)
        images.append(figure_png(wplots.threshold_frame(peaks, tau)))
        readouts.append(
            {
                "dimensions in fp16": f"{len(result.outlier_cols):,} of {X.shape[1]:,}",
                "multiply-adds in int8": f"{100 * result.int8_fraction:.2f}%",
                "relative error, LLM.int8()": f"{Q.relative_error(result.out, exact):.3g}",
                "relative error, vector-wise int8 alone": f"{plain:.3g}",
            }
        )
    taus = list(taus)
    return Frames(
        name="threshold τ",
        values=taus,
        images=images,
        readouts=readouts,
        alt="Each feature dimension's largest activation, the threshold as a line, those above it marked.",
        start=taus.index(Q.OUTLIER_THRESHOLD) if Q.OUTLIER_THRESHOLD in taus else 0,
    )


# ---------------------------------------------------------------------------- 5. LoRA's rank (ch 9)


def lora_rank(base, ranks=None) -> Frames:
    """The shipped q,v runs of "What LoRA learned" at each rank r (α = 2r): quotes reproduced and the
    losses over their seeds (median [least–greatest]), and the singular values of ΔW = (α/r)·B·A of every
    adapted matrix of seed 42's run."""
    import torch

    from . import learned as L
    from . import learned_runs as LR
    from .plots import widgets as wplots
    from .spread import described, spread
    from .standin import zen_of_python

    ranks = list(LR.RANKS if ranks is None else ranks)
    n_quotes = len(zen_of_python())
    spectra = {}
    images, readouts = [], []
    for r in ranks:
        run = f"qv-r{r}"
        deltas = L.deltas(run, L.load(run, base))
        spectra[r] = [torch.linalg.svdvals(d.double()).numpy() for d in deltas.values()]
        runs = [L.info(rid)["metrics"] for rid in LR.seeds_of(run)]
        readouts.append(
            {
                f"quotes reproduced (of {n_quotes})": described(spread(m["exact match"] for m in runs)),
                "quotes loss": described(spread(m["quotes loss"] for m in runs)),
                "held-out loss": described(spread(m["held-out loss"] for m in runs)),
                "seeds": str(len(runs)),
            }
        )
    top = max(max(s.max() for s in spectra[r]) for r in ranks)
    for r in ranks:
        images.append(figure_png(wplots.spectrum_frame(spectra[r], r, max(ranks), top)))
    return Frames(
        name="rank r",
        values=ranks,
        images=images,
        readouts=readouts,
        alt="The singular values of every adapted matrix's ΔW at the chosen rank, falling to zero past it.",
        start=ranks.index(16) if 16 in ranks else 0,
    )
