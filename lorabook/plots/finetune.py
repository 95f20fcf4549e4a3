"""Figures of the fine-tune chapter: the stand-in's pretraining and context use; the fine-tunes compared."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import PALETTE, label_bars, styled

METHOD_COLOURS = {"none": "grey", "q,v LoRA": "blue", "all-linear LoRA": "green", "full": "red"}


def _smooth(values, window: int) -> np.ndarray:
    """Running mean over `window` values (shorter at the start), so batch noise does not hide the trend."""
    values = np.asarray(values, dtype=float)
    cum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (cum[idx] - cum[lo]) / (idx - lo)


@styled
def standin(report: dict, context: dict):
    """Left: pretraining loss, training batches and held-out text, against uniform guessing.

    Right: the held-out loss of the next token given its true context, the same context shuffled, and only
    the previous token; a model that ignored context would give three equal bars.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 2.9), width_ratios=(1.6, 1))
    losses = report["train_losses"]
    steps = np.arange(1, len(losses) + 1)
    ax1.plot(steps, losses, color=PALETTE["sky"], lw=0.6, alpha=0.6, label="training batches")
    ax1.plot(steps, _smooth(losses, 25), color=PALETTE["blue"], lw=1.4, label="running mean")
    held_steps, held = zip(*report["heldout_curve"])
    ax1.plot(held_steps, held, "o-", ms=3, color=PALETTE["green"], label="held-out documents")
    ax1.axhline(report["uniform_loss"], color=PALETTE["grey"], ls="--", lw=1)
    uniform = report["uniform_loss"]
    ax1.annotate(  # under its line, at the right, where the losses have long since fallen away
        f"uniform guessing, $\\ln|V|$ = {uniform:.2f}",
        (steps[-1], uniform),
        xytext=(0, -4),
        textcoords="offset points",
        ha="right",
        va="top",
        color=PALETTE["grey"],
    )
    ax1.set(xlabel="pretraining step", ylabel="cross-entropy (nats per token)", ylim=(0, None))
    ax1.set_title("pretraining on Python's docs", loc="left")
    ax1.legend(loc="lower left")

    names = ["true context", "shuffled", "previous\ntoken only"]
    values = [context["true"], context["shuffled"], context["one_token"]]
    bars = ax2.bar(names, values, color=[PALETTE["green"], PALETTE["orange"], PALETTE["red"]])
    label_bars(ax2, bars, "{:.2f}")
    ax2.set(
        ylabel="held-out loss (nats per token)",
        xlabel="what the model sees before the token",
        ylim=(0, max(values) * 1.2),
    )
    ax2.set_title("it uses its context", loc="left")
    return fig


@styled
def comparison(logs: dict[str, list[dict]], matches: dict[str, int], n_quotes: int):
    """Left: training loss per optimizer step of each fine-tune. Right: quotes reproduced exactly, by method.

    `logs` maps a method to its Trainer log_history; `matches` maps every method, "none" included, to the
    number of quotes whose second half it reproduces.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 2.9), width_ratios=(1.5, 1))
    for name, log in logs.items():
        logged = [h for h in log if "loss" in h and "step" in h]
        ax1.plot(
            [h["step"] for h in logged],
            [h["loss"] for h in logged],
            lw=1.4,
            label=name,
            color=PALETTE[METHOD_COLOURS.get(name, "purple")],
        )
    ax1.set(xlabel=f"optimizer step (all {n_quotes} quotes each)", ylabel="training loss (nats per token)")
    ax1.set_yscale("log")
    ax1.set_title("fine-tuning on the Zen of Python", loc="left")
    ax1.legend(loc="upper right")

    names = list(matches)
    bars = ax2.bar(
        [n.replace(" LoRA", "\nLoRA") for n in names],
        [matches[n] for n in names],
        color=[PALETTE[METHOD_COLOURS.get(n, "purple")] for n in names],
    )
    for bar in bars:  # each count inside its bar's top, clear of the dashed line at all the quotes
        n = bar.get_height()
        inside = n >= 0.25 * n_quotes  # a short bar has no room: its count goes above it
        ax2.annotate(
            f"{n:.0f}",
            (bar.get_x() + bar.get_width() / 2, n),
            xytext=(0, -3 if inside else 2),
            textcoords="offset points",
            ha="center",
            va="top" if inside else "bottom",
            color="white" if inside else "black",
        )
    ax2.axhline(n_quotes, color=PALETTE["grey"], ls="--", lw=1)
    ax2.set(ylabel=f"quotes reproduced (of {n_quotes})", xlabel="fine-tune", ylim=(0, n_quotes * 1.1))
    ax2.set_title("exact match", loc="left")
    return fig
