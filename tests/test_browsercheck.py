"""The browser check finds what a reader would trip over, on a small site built for the purpose, read at a
laptop's and at a phone's width."""

import io

import matplotlib

matplotlib.use("Agg")
import base64  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from bookbuild import browsercheck as B  # noqa: E402
from lorabook.plots import style  # noqa: E402

pytestmark = pytest.mark.skipif(B.find_chromium() is None, reason="no chromium on PATH")

HEAD = (
    '<!doctype html><html><head><link rel="icon" href="data:,">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"></head><body><article>'
)
GOOD = (
    HEAD
    + """<p id="top">Fine.</p><img src="pic.png" alt="a small plot" width="200">
<a href="other.html#there">on</a><div style="overflow-x:auto" class="scrolls-sideways">
<table><tr><td style="white-space:nowrap">a row of cells far wider than a phone, in a box that says it scrolls
sideways, which is allowed</td></tr></table></div></article></body></html>"""
)
OTHER = (
    HEAD
    + """<p id="there">Here.</p><span class="math">\\(x^2\\)</span><img src="pic.png" alt="pic.png">
<img src="tiny.png" alt="a plot with tiny text" width="100">
<img src="plain.svg" alt="a square from elsewhere">
<div class="cell_output"><div class="output stderr">oops</div></div>
<div class="cell_output"></div>
<h2>9.3. 1. Load in 8-bit</h2><p>The value is {glue:text}`x` and **bold**.</p>
<pre style="white-space:pre">"""
    + "a line of code far too long for any column " * 10
    + """</pre>
<a href="index.html#nowhere">back</a><a href="gone.html">gone</a>
<script>console.error("broken script")</script></article></body></html>"""
)
PLAIN = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def png(fontsize: float) -> bytes:
    """A small figure as the book saves it (lorabook.plots.style.png_bundle), its text `fontsize` pt."""
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.set_title("t", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize)
    bundle, _ = style.png_bundle(fig)
    plt.close(fig)
    return base64.b64decode(bundle["image/png"])


def test_a_clean_page_passes_and_each_kind_of_problem_is_found(tmp_path):
    (tmp_path / "index.html").write_text(GOOD)
    (tmp_path / "other.html").write_text(OTHER)
    (tmp_path / "pic.png").write_bytes(png(10))
    (tmp_path / "tiny.png").write_bytes(png(3))
    (tmp_path / "plain.svg").write_text(PLAIN)
    report = B.check(tmp_path, shots=tmp_path / "shots", pages=["index.html", "other.html"])
    for device in B.DEVICES:
        assert report["index.html"][device]["problems"] == [], device
    problems = {d: " | ".join(report["other.html"][d]["problems"]) for d in B.DEVICES}
    for device, found in problems.items():
        for expected in (
            "math typeset 0/1",
            "without real alt text",
            "1 output cells show stderr",
            "1 empty output cells",
            "heading with two numbers: '9.3. 1. Load in 8-bit'",
            "raw markup in the text",
            "wider than the",
            "does not record its smallest text",
            "figure text",
            "console error: broken script",
            "broken anchor: index.html#nowhere",
            "broken link: gone.html",
        ):
            assert expected in found, (device, expected)
    assert "scrolls sideways" in problems["phone"]
    assert (tmp_path / "shots" / "other.png").stat().st_size > 0
    assert (tmp_path / "shots" / "other@phone.png").stat().st_size > 0


def test_a_figure_records_its_smallest_text_and_the_check_reads_it(tmp_path):
    (tmp_path / "f.png").write_bytes(png(10))
    dpi = style.RC["savefig.dpi"] * style.DENSITY
    assert B.figure_text_px(tmp_path / "f.png") == pytest.approx(10 / 72 * dpi, abs=0.01)
    (tmp_path / "g.svg").write_text(PLAIN)
    assert B.figure_text_px(tmp_path / "g.svg") is None
    from lorabook.plots import diagrams

    svg = diagrams.svg_bytes(diagrams.DIAGRAMS["lora_block.svg"]())
    (tmp_path / "d.svg").write_bytes(svg)
    assert B.figure_text_px(tmp_path / "d.svg") > 0


def test_png_bundle_is_shown_at_the_styles_size_at_twice_the_density():
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1])
    bundle, metadata = style.png_bundle(fig)
    plt.close(fig)
    data = base64.b64decode(bundle["image/png"])
    pixels = style.png_width(data)
    assert metadata["image/png"]["width"] == pixels // style.DENSITY
    shown = 4 * style.RC["savefig.dpi"]  # 4 inches at the style's dpi, give or take the tight bounding box
    assert abs(metadata["image/png"]["width"] - shown) < 0.1 * shown
    assert io.BytesIO(data).read(8) == b"\x89PNG\r\n\x1a\n"
