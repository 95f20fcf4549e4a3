"""Figures of the fine-tune chapter: the stand-in's pretraining and the LoRA fine-tune, as loss curves."""

from __future__ import annotations

import numpy as np

from .style import PALETTE, styled


@styled
def loss_curves(pretrain_losses, uniform: float, heldout: float, finetune_log: list[dict]):
    """Left: the stand-in's pretraining loss against uniform guessing. Right: the LoRA fine-tune's loss."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.6, 3.4))
    steps = np.arange(1, len(pretrain_losses) + 1)
    ax1.plot(steps, pretrain_losses, color=PALETTE["blue"], lw=1, label="training batches")
    ax1.axhline(uniform, color=PALETTE["grey"], ls="--", label=f"uniform guessing, ln|V| = {uniform:.2f}")
    ax1.axhline(heldout, color=PALETTE["green"], ls=":", label=f"held-out text at the end: {heldout:.2f}")
    ax1.set(xlabel="pretraining step", ylabel="cross-entropy (nats per token)")
    ax1.set_title("pretraining the stand-in on Python's docs", loc="left")
    ax1.legend(fontsize=8)
    logged = [h for h in finetune_log if "loss" in h and "step" in h]
    ax2.plot([h["step"] for h in logged], [h["loss"] for h in logged], "o-", ms=2, color=PALETTE["orange"])
    ax2.set(xlabel="optimizer step (16 sequences each)", ylabel="training loss")
    ax2.set_title("LoRA fine-tune on the Zen of Python, 8-bit base", loc="left")
    return fig
