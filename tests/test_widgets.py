"""Interactive figures (lorabook.widgets): the frames are the library's numbers, recomputed with numpy; the
HTML works as a still without JavaScript; and in Chromium a real key press moves the slider to the next frame,
within the time budget, with the page's weight counted (bookbuild.browsercheck)."""

import gzip
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bookbuild import browsercheck as B
from lorabook import svd as ls
from lorabook import widgets as W

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def svd_widget():
    image = ls.sample_image("grace_hopper.jpg")[::8, ::8]
    return image, W.svd_rank(image, [1, 3, 10, 30])


def test_each_svd_frame_shows_the_error_and_the_eckart_young_bound_numpy_computes(svd_widget):
    image, widget = svd_widget
    S = np.linalg.svd(image, compute_uv=False)
    U, s, Vt = np.linalg.svd(image, full_matrices=False)
    for r, readout in zip(widget.values, widget.readouts):
        approx = (U[:, :r] * s[:r]) @ Vt[:r]
        assert readout["‖A − A_r‖_F"].split(" (")[0] == f"{np.linalg.norm(image - approx):.4g}"
        assert readout["bound √(σ²ᵣ₊₁ + … + σ²ₚ)"] == f"{np.sqrt(np.sum(S[r:] ** 2)):.4g}"
        stored = r * (sum(image.shape) + 1)
        assert readout["numbers stored, r·(m + n + 1)"].startswith(
            f"{stored:,} of the image's {image.size:,}"
        )
        assert ("more than the image" in readout["numbers stored, r·(m + n + 1)"]) == (stored > image.size)
    full = W.svd_rank(image, [1, min(image.shape)])  # at full rank only rounding is left, and it says so
    assert full.readouts[1]["‖A − A_r‖_F"].endswith("(rounding: A_r = A)")
    assert float(full.readouts[1]["‖A − A_r‖_F"].split(" (")[0]) < 1e-9 * np.linalg.norm(image)


def test_the_html_is_a_still_of_the_starting_frame_and_carries_every_frame(svd_widget):
    _, widget = svd_widget
    page = widget._repr_html_()
    data = json.loads(re.search(r'class="lorabook-widget-data">(.*?)</script>', page, re.S).group(1))
    assert data == json.loads(json.dumps(widget.data()))
    assert len(data["images"]) == len(data["readouts"]) == len(widget.values) and data["start"] == 2
    still = re.search(r'<img class="lorabook-widget-image" src="([^"]+)"', page).group(1)
    assert still == data["images"][2] and still.startswith("data:image/png;base64,")
    for k, v in widget.readouts[2].items():
        assert f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" in page
    assert "text/plain" in widget._repr_mimebundle_() and widget.size() == len(page.encode())


def test_frames_refuse_a_slider_that_cannot_slide_or_frames_that_do_not_match():
    with pytest.raises(ValueError, match="values must hold at least 2 positions"):
        W.Frames("r", [1], [b""], [{}], alt="x")
    with pytest.raises(ValueError, match="one frame per value \\(2\\), got 1 and 2"):
        W.Frames("r", [1, 2], [b""], [{}, {}], alt="x")
    with pytest.raises(ValueError, match="start"):
        W.Frames("r", [1, 2], [b"", b""], [{}, {}], alt="x", start=2)


@pytest.mark.skipif(B.find_chromium() is None, reason="no chromium on PATH")
def test_a_key_press_shows_the_next_frame_in_chromium_and_the_page_weight_is_counted(svd_widget, tmp_path):
    _, widget = svd_widget
    shutil.copy(ROOT / "_static" / "lorabook-widgets.js", tmp_path / "w.js")
    head = '<!doctype html><html><head><link rel="icon" href="data:,"><script src="w.js"></script></head>'
    (tmp_path / "index.html").write_text(
        f"{head}<body><article>{widget._repr_html_()}</article></body></html>"
    )
    seen = B.check(tmp_path, pages=["index.html"])["index.html"]
    for device in ("laptop", "phone"):
        found = seen[device]["found"]
        assert seen[device]["problems"] == [], seen[device]["problems"]
        assert [w["moved"] for w in found["widgets"]] == [True]
        assert 0 <= found["widgets"][0]["ms"] <= B.MAX_RESPONSE_MS
        files = [tmp_path / "index.html", tmp_path / "w.js"]  # as a static host that compresses sends them
        assert found["weight"]["bytes"] == sum(len(gzip.compress(f.read_bytes(), 6)) for f in files)
        assert found["weight"]["hosts"] == [found["host"]]


@pytest.mark.skipif(B.find_chromium() is None, reason="no chromium on PATH")
def test_a_widget_whose_script_never_runs_is_a_problem(svd_widget, tmp_path):
    _, widget = svd_widget
    (tmp_path / "index.html").write_text(
        f"<!doctype html><html><body><article>{widget._repr_html_()}</article></body></html>"
    )
    problems = B.check(tmp_path, pages=["index.html"])["index.html"]["laptop"]["problems"]
    assert any("did not show what it should (its script did not start)" in p for p in problems)


def test_each_nf4_frame_is_the_library_s_error_bitsandbytes_double_quantized_error_and_the_stored_bits():
    from lorabook import nf4 as N

    x = np.random.default_rng(0).standard_normal(1 << 14).astype(np.float32) * 0.02
    widget = W.nf4_blocks(x, blocks=(32, 64, 256))
    assert widget.values[widget.start] == N.BLOCK
    for b, readout in zip(widget.values, widget.readouts):
        assert readout["mean squared error, fp32 absmax"] == f"{N.error(x, block=b):.4g}"
        packed, state = N.bnb_quantize(x, double_quant=True, block=b)
        dq = np.mean((N.bnb_dequantize(packed, state).reshape(-1) - x).astype(np.float64) ** 2)
        assert readout["mean squared error, double-quantized"] == f"{dq:.4g}"
        assert readout["bits per parameter, double-quantized"] == f"{N.bits_per_parameter(True, b):.4g}"
        assert readout["bits per parameter, fp32 absmax"] == f"{N.bits_per_parameter(False, b):.4g}"
        stored = N.measured_bits_per_parameter(packed, state)  # the formula, up to the code book's constants
        assert stored == pytest.approx(N.bits_per_parameter(True, b), abs=0.01)


def test_each_threshold_frame_counts_the_dimensions_numpy_finds_and_is_the_library_s_llm_int8():
    from lorabook import quant as Q

    X, _ = Q.outlier_activations(n_tokens=16, h=64, n_outliers=3, magnitude=20.0, seed=0)
    Wt = Q.gaussian_weights(64, 8, seed=0)
    widget = W.int8_threshold(X, Wt, taus=(0.5, 6, 1000))
    assert widget.values[widget.start] == Q.OUTLIER_THRESHOLD
    exact = X.double() @ Wt.double()
    for tau, readout in zip(widget.values, widget.readouts):
        n = int((np.abs(X.numpy()) >= tau).any(axis=0).sum())
        assert readout["dimensions in fp16"] == f"{n:,} of 64"
        assert readout["multiply-adds in int8"] == f"{100 * (1 - n / 64):.2f}%"
        error = Q.relative_error(Q.llm_int8_matmul(X, Wt, threshold=tau).out, exact)
        assert readout["relative error, LLM.int8()"] == f"{error:.3g}"
    assert (
        widget.readouts[-1]["relative error, LLM.int8()"]
        == widget.readouts[-1]["relative error, vector-wise int8 alone"]
    )


def test_each_rank_frame_reads_the_shipped_runs_over_their_seeds_and_its_spectrum_has_r_values():
    import torch

    from lorabook import learned as L
    from lorabook import learned_runs as LR
    from lorabook import standin
    from lorabook.spread import described, spread

    base = standin.load()[0]
    widget = W.lora_rank(base, ranks=(2, 16))
    assert widget.values[widget.start] == 16
    for r, readout in zip(widget.values, widget.readouts):
        runs = [L.info(rid)["metrics"] for rid in LR.seeds_of(f"qv-r{r}")]
        assert readout["quotes reproduced (of 19)"] == described(spread(m["exact match"] for m in runs))
        assert readout["held-out loss"] == described(spread(m["held-out loss"] for m in runs))
        deltas = L.deltas(f"qv-r{r}", L.load(f"qv-r{r}", base))
        # the rank the picture shows: singular values past fp32's rounding of ΔW
        ranks = {int(torch.linalg.matrix_rank(d.double(), rtol=1e-5)) for d in deltas.values()}
        assert ranks == {r}
