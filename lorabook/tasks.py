"""Two toy tasks for one base model, and the small training loop the modularity demo uses.

Task "add k": sequences that count in steps of k modulo the vocabulary, x_{t+1} = (x_t + k) mod V. A model
that has learned task k predicts each next token exactly; two such tasks contradict each other, so one set of
weights cannot serve both, but two adapters on one frozen base can.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ._checks import check_int


def counting_sequences(k: int, vocab: int, n: int, length: int, seed: int = 0) -> torch.Tensor:
    """n sequences of `length` tokens with x_{t+1} = (x_t + k) mod vocab and a random start."""
    vocab, n, length = check_int(vocab, "vocab", 2), check_int(n, "n", 1), check_int(length, "length", 2)
    k = check_int(k, "k", 0, vocab - 1)
    start = torch.randint(0, vocab, (n, 1), generator=torch.Generator().manual_seed(seed))
    return (start + k * torch.arange(length)) % vocab


def next_token_accuracy(model, ids: torch.Tensor) -> float:
    """Share of positions whose greedy next-token prediction is the true next token."""
    with torch.no_grad():
        logits = model(input_ids=ids).logits[:, :-1]
    return float((logits.argmax(-1) == ids[:, 1:]).float().mean())


def train_lm(
    model,
    ids: torch.Tensor,
    steps: int,
    lr: float = 1e-2,
    batch: int = 16,
    seed: int = 0,
    desc: str = "training",
) -> list[float]:
    """AdamW on the causal-LM loss of random batches of `ids`; only parameters with requires_grad move."""
    steps, batch = check_int(steps, "steps", 1), check_int(batch, "batch", 1)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in tqdm(range(steps), desc=desc, leave=False, disable=None):  # None: a bar only on a terminal
        x = ids[torch.randint(0, len(ids), (batch,), generator=g)]
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses
