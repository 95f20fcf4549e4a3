"""Every figure routine draws under the book's style with labelled axes, and legibly on a laptop and on a
phone (style.check_legible, which glue applies to every figure of the book); glue gets plain Python numbers.
The figures of "What LoRA learned", the 4-bit chapter and the real model are drawn in their own test files."""

import warnings

import matplotlib.figure
import numpy as np
import pytest

from lorabook import rank as lr
from lorabook import svd as ls
from lorabook.book import plain
from lorabook.plots import finetune as finetune_plots
from lorabook.plots import formats as formats_plots
from lorabook.plots import int8 as int8_plots
from lorabook.plots import lora as lora_plots
from lorabook.plots import memory as memory_plots
from lorabook.plots import pitfalls as pitfalls_plots
from lorabook.plots import rank as rank_plots
from lorabook.plots import svd as svd_plots
from lorabook.plots.style import check_legible

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


GB = 1e9
GPUS = {
    "16 GB (T4)": 16 * GB,
    "24 GB (RTX 4090, A10)": 24 * GB,
    "40 GB (A100)": 40 * GB,
    "80 GB (A100, H100)": 80 * GB,
}
WORKLOADS = {  # the memory chapter's bars, its longest labels included: they set the figure's width
    "inference, fp16": {"weights": 13.3 * GB, "KV cache": 1.1 * GB},
    "full fine-tune, mixed precision": {
        "weights": 13.3 * GB,
        "gradients": 13.3 * GB,
        "optimizer states": 79.9 * GB,
        "activations": 7.4 * GB,
        "backward transient": 0.8 * GB,
    },
    "LoRA, int8 base, checkpointing": {
        "weights": 7.3 * GB,
        "LoRA (weights, gradients, Adam)": 0.1 * GB,
        "activations": 1.0 * GB,
        "backward transient": 0.8 * GB,
    },
}
MEDIANS = {"base": 1.0, "LoRA": 1.04, "LoRA merged": 0.98, "AdapterL": 1.0, "AdapterH": 1.08}
LATENCY = {  # time ÷ base per batch size and variant, as lorabook.latency.ratios gives it
    b: {v: {"median": m, "q1": m - 0.05, "q3": m + 0.06} for v, m in MEDIANS.items()} for b in (1, 2, 8, 32)
}
LONGEST = "lora-int8 + checkpointing (non-reentrant)"  # the memory chapter's longest workload, in the legend


def _outlier_damage():
    """The int8 chapter's outlier columns, and the absmax error with and without them in the row scale."""
    import torch

    from lorabook import quant as Q

    X, outliers = Q.outlier_activations(n_tokens=12, h=16, n_outliers=2, magnitude=12.0, seed=0)
    keep = torch.ones(X.shape[1], dtype=torch.bool)
    keep[outliers] = False
    errors = [Q.quantization_error(Y, Q.absmax_quantize(Y, "row")) for Y in (X, X * keep)]
    return int8_plots.outlier_damage(X, *errors, outliers)


def _decomposition():
    """The int8 chapter's LLM.int8() decomposition, on its matrix small enough to see."""
    from lorabook import quant as Q

    X, _ = Q.outlier_activations(n_tokens=12, h=16, n_outliers=2, magnitude=12.0, seed=0)
    W = Q.gaussian_weights(16, 8)
    return int8_plots.decomposition(X, W, Q.llm_int8_matmul(X, W, threshold=Q.OUTLIER_THRESHOLD))


def _log(losses):
    return [{"loss": loss, "step": i + 1} for i, loss in enumerate(losses)]


RNG = np.random.default_rng(0)
X8 = RNG.normal(size=8) * 3
CHAPTER_FIGURES = {  # every other routine a chapter glues, on small data shaped as the chapter's
    "symptoms": lambda: pitfalls_plots.symptoms(
        {
            "loaded": {"int8": 4.7e6, "float16": 4.4e6},
            "peft": {"int8": 4.7e6, "float32": 8.7e6},
            "manual": {"int8": 4.7e6, "float16": 4.3e6, "float32": 8e4},
        },
        {"LoRA": 4.0e5, "modules_to_save": 4.6e6, "trainable_token_indices": 4.0e5},
        {"α (the bug)": {4: 0.3, 16: 0.6, 64: 1.3}, "α/r (LoRA)": {4: 0.08, 16: 0.04, 64: 0.02}},
        {"int8": 0.16, "original": 0.24, "dequantized": 5e-5},
    ),
    "image": lambda: svd_plots.image_reconstructions(ls.sample_image()[::8, ::8], [1, 5, 20, 50]),
    "trainable_vs_rank": lambda: lora_plots.trainable_vs_rank(
        [1, 4, 16, 64],
        {"q, v (the seed)": [0.008, 0.03, 0.13, 0.5], "all linear": [0.035, 0.14, 0.57, 2.3]},
        6.66e9,
    ),
    "latency": lambda: lora_plots.latency_vs_batch(LATENCY, "one generation step, GPT-2-medium width, CPU"),
    "adapters": lambda: lora_plots.adapter_switching(
        {"add 1": {"add 1": 0.97, "add 3": 0.0}, "no adapter": {"add 1": 0.01, "add 3": 0.0}},
        ["add 1", "add 3"],
    ),
    "predicted_vs_measured": lambda: memory_plots.predicted_vs_measured(
        {
            w: {"weights": 1.0, "activations": 0.9997, "peak": 0.972}
            for w in ("full-fp32", LONGEST, "lora-int8")
        }
    ),
    "stacked_bars": lambda: memory_plots.stacked_bars(
        WORKLOADS, {w: sum(b.values()) * 0.95 for w, b in WORKLOADS.items()}, GPUS, "OPT-6.7B, batch 4 × 512"
    ),
    "gpus_against_tokens": lambda: memory_plots.gpus_against_tokens(
        np.arange(0, 200_001, 20_000), {"ZeRO, 16 bytes/param": np.arange(36, 102, 6)}, 72, 5
    ),
    "savings": lambda: memory_plots.savings(
        {
            "8-bit Adam (full fine-tune)": (106 * GB, 67 * GB),
            "gradient accumulation (8-bit LoRA, checkpointing)": (14.6 * GB, 9.2 * GB),
        },
        GPUS,
        "OPT-6.7B: peak before and after each technique",
    ),
    "bit_boxes": lambda: formats_plots.bit_boxes(0.15625),
    "range_and_precision": lambda: formats_plots.range_and_precision(),
    "underflow": lambda: formats_plots.underflow(
        RNG.normal(size=5000) * 10.0 ** RNG.normal(-6, 1, 5000), loss_scale=8192
    ),
    "master_weights": lambda: formats_plots.master_weights(
        {"FP16 weights": np.ones(50), "FP32 master, FP16 compute": 1 - 1e-4 * np.arange(50)}, 1e-4
    ),
    "model_sizes": lambda: formats_plots.model_sizes(
        {
            "OPT-6.7B": {"FP32": 26.6 * GB, "8-bit": 6.7 * GB},
            "BLOOM-176B": {"FP32": 705 * GB, "8-bit": 176 * GB},
        },
        gpu_bytes=80 * GB,
        gpu_label="one A100 (80 GB)",
    ),
    "absmax_worked": lambda: int8_plots.absmax_worked(X8, np.round(127 / abs(X8).max() * X8), X8),
    "outlier_damage": _outlier_damage,
    "decomposition": _decomposition,
    "error_curves": lambda: int8_plots.error_curves(
        [1, 6, 100],
        [4e-4, 1e-2, 6e-2],
        [1, 64],
        {"vector-wise int8": [0.012, 0.09], "LLM.int8()": [0.012, 0.004]},
        baseline=4e-4,
    ),
    "error_bars": lambda: int8_plots.error_bars(
        {
            "vector-wise int8 (ours)": 0.064,
            "LLM.int8() (ours, bnb layout)": 0.0117,
            "LLM.int8() (ours)": 0.0095,
        },
        "relative error of X·W, same inputs",
    ),
    "footprints": lambda: int8_plots.footprints({"fp32": 274e6, "fp16": 137e6, "8-bit": 109e6}),
    "standin": lambda: finetune_plots.standin(
        {
            "train_losses": list(np.linspace(8.4, 4.0, 300)),
            "heldout_curve": [(0, 8.37), (300, 4.3)],
            "uniform_loss": 8.32,
        },
        {"true": 4.35, "shuffled": 4.82, "one_token": 5.31},
    ),
    "comparison": lambda: finetune_plots.comparison(
        {"q,v LoRA": _log(np.geomspace(5.6, 0.6, 200)), "full": _log(np.geomspace(5.6, 0.12, 100))},
        {"none": 0, "q,v LoRA": 18, "all-linear LoRA": 19, "full": 19},
        19,
    ),
}


@pytest.mark.parametrize("name", {**FIGURES, **CHAPTER_FIGURES})
def test_figure_is_legible_on_a_laptop_and_a_phone_and_draws_without_a_warning(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = {**FIGURES, **CHAPTER_FIGURES}[name]()
        check_legible(fig, name)


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


def test_diagrams_are_legible_on_a_laptop_and_a_phone():
    from lorabook.plots import diagrams

    for name, draw in diagrams.DIAGRAMS.items():
        fig = draw()
        if any(t.get_text().strip() for t in fig.texts) or fig.axes and fig.axes[0].texts:
            check_legible(fig, name)
