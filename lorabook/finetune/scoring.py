"""Scoring a fine-tune on its quotes: exact match, and the chapter's tables of runs and completions."""

from __future__ import annotations

import math

import torch

from .. import standin
from .config import PROFILES
from .run import bars
from .steps import generate, load_quotes, tokenize


def split_quote(quote: str) -> tuple[str, str]:
    """A quote's first half, the prompt, and its second half, the target (with its leading space).

    The prompt is the first ⌈n/2⌉ of a quote's n words (at least one word, and one word left to predict): with
    fewer, two aphorisms can share a prompt ("If the implementation is hard/easy to explain, …").
    """
    words = quote.split()
    k = max(1, min(len(words) - 1, math.ceil(len(words) / 2)))
    return " ".join(words[:k]), " " + " ".join(words[k:])


def exact_match(model, tokenizer, quotes: list[str]) -> tuple[float, list[dict]]:
    """Share of quotes whose greedy continuation of their first half reproduces the second half exactly
    (`split_quote`)."""
    rows = []
    for quote in quotes:
        prompt, target = split_quote(quote)
        n_new = len(tokenizer(target)["input_ids"]) + 2
        completion = generate(model, tokenizer, prompt, n_new)[len(prompt) :]
        rows.append(
            {
                "prompt": prompt,
                "target": target.strip(),
                "completion": completion.strip(),
                "match": completion.startswith(target),
            }
        )
    return sum(r["match"] for r in rows) / len(rows), rows


def summary(model, tokenizer, quotes: list[str], result: dict | None = None) -> dict:
    """One row of the chapter's comparison: exact match and, for a run's `result`, its final loss, the size of
    what it trained and saved, and its training seconds."""
    _, rows = exact_match(model, tokenizer, quotes)
    row = {"exact match": sum(r["match"] for r in rows)}
    if result is not None:
        losses = [h["loss"] for h in result["log_history"] if "loss" in h]
        saved = sum(v for k, v in result["adapter_files"].items() if k.endswith(".safetensors"))
        row.update(
            {
                "final loss": losses[-1],
                "trainable parameters": result["trainable"][0],
                "saved weights (MB)": saved / 1e6,
                "training seconds": result["train_seconds"],
            }
        )
    return {**row, "rows": rows}


def comparison(rows: dict[str, dict]):
    """The chapter's comparison table, formatted: one row per method, from summary()'s rows."""
    import pandas as pd

    table = pd.DataFrame({name: {k: v for k, v in row.items() if k != "rows"} for name, row in rows.items()})
    formats = {
        "exact match": "{:.0f}",
        "final loss": "{:.3f}",
        "trainable parameters": "{:,.0f}",
        "saved weights (MB)": "{:.2f}",
        "training seconds": "{:.0f}",
    }
    return table.T.astype(float).style.format(formats, na_rep="–")


def completions(before: list[dict], after: list[dict], width: int = 20):
    """Prompt, continuation after, whether it is exact, and before (shortened), for each quote."""
    import textwrap

    import pandas as pd

    return pd.DataFrame(
        {
            "prompt": [r["prompt"] for r in after],
            "after": [r["completion"] for r in after],
            "exact": ["✓" if r["match"] else "✗" for r in after],
            "before": [textwrap.shorten(r["completion"], width, placeholder=" …") for r in before],
        }
    )


# ---------------------------------------------------------------------------- the quotes and held-out text


def quotes_batch(tokenizer):
    """The nineteen quotes as the fine-tunes see them: EOS appended, padded, labels −100 on padding."""
    from transformers import DataCollatorForLanguageModeling

    cfg = PROFILES["stand-in"]
    with bars(False):
        data = tokenize(load_quotes(cfg), tokenizer, cfg.append_eos)
    return DataCollatorForLanguageModeling(tokenizer, mlm=False)([data[i] for i in range(len(data))])


@torch.no_grad()
def quotes_loss(model, batch) -> float:
    """Mean cross-entropy (nats per token) on the quotes, in eval mode: what the fine-tune minimised."""
    model.eval()
    return model(**batch).loss.item()


def heldout_sample(tokenizer, every: int = 5) -> torch.Tensor:
    """Every `every`-th held-out window of the stand-in's corpus (Python's docs it never trained on)."""
    return standin.heldout_rows(tokenizer)[::every]
