"""The embedded stand-in for OPT-6.7B: a small OPT, genuinely pretrained by this module, offline, on any CPU.

Corpus: Python's own documentation, `pydoc_data.topics` (part of every CPython install, about 465k
characters). Tokenizer: byte-level BPE trained on that corpus with `tokenizers`. Model: `OPTForCausalLM` with
OPT's module names (q_proj, k_proj, v_proj, out_proj, fc1, fc2), pretrained for a hundred and fifty steps of
next-token prediction. Nothing is committed: the text is read from the installed Python, and the trained model
is cached under a key that hashes the recipe, the corpus and this file, so a change to any of them retrains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ._checks import check_int

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, in OPT's order: pad = 1, eos = bos = 2


@dataclass(frozen=True)
class Recipe:
    """How the stand-in is made. Every field is part of the cache key."""

    vocab_size: int = 4096  # byte-level BPE; OPT's own vocabulary is 50,272
    hidden_size: int = 256  # OPT-6.7B: 4096
    num_hidden_layers: int = 4  # OPT-6.7B: 32
    num_attention_heads: int = 4  # 64-dimensional heads, as in OPT
    ffn_dim: int = 1024  # 4 × hidden, as in OPT
    max_position_embeddings: int = 256
    seq_len: int = 128  # tokens per training sequence
    batch_size: int = 16  # sequences per step: 16 × 128 = 2,048 tokens
    steps: int = 150  # about three passes over the corpus, about 90 s on two cores
    learning_rate: float = 2e-3
    warmup_steps: int = 15  # then cosine decay to a tenth
    heldout_fraction: float = 0.05  # the last 5% of the corpus is never trained on
    seed: int = 0


# ------------------------------------------------------------------------ data that every Python install has


def corpus() -> str:
    """Python's documentation topics (pydoc_data.topics), joined in a fixed order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


def zen_of_python() -> list[str]:
    """The 19 aphorisms of PEP 20, read from the `this` module's source (importing it would print them)."""
    import ast
    import codecs
    import importlib.util

    source = Path(importlib.util.find_spec("this").origin).read_text()
    encoded = next(
        node.value.value
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "s"
    )
    lines = [line.strip() for line in codecs.decode(encoded, "rot13").splitlines() if line.strip()]
    return lines[1:]  # the first line is the title, "The Zen of Python, by Tim Peters"


def split_corpus(text: str, heldout_fraction: float) -> tuple[str, str]:
    cut = int(len(text) * (1 - heldout_fraction))
    return text[:cut], text[cut:]


# ---------------------------------------------------------------------------- tokenizer


def train_tokenizer(text: str, vocab_size: int):
    """A byte-level BPE trained on `text`, as a transformers fast tokenizer with OPT's special tokens."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    vocab_size = check_int(vocab_size, "vocab_size", 256 + len(SPECIAL_TOKENS))
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([text], vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                            show_progress=False)  # fmt: skip
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


# ---------------------------------------------------------------------------- model and pretraining


def model_config(recipe: Recipe, tokenizer=None):
    """The stand-in's OPTConfig; without a tokenizer, the recipe's vocabulary size and OPT's special ids."""
    from transformers import OPTConfig

    ids = (
        dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
        if tokenizer is not None
        else dict(vocab_size=recipe.vocab_size, pad_token_id=1, bos_token_id=2, eos_token_id=2)
    )  # fmt: skip
    return OPTConfig(
        hidden_size=recipe.hidden_size,
        num_hidden_layers=recipe.num_hidden_layers,
        num_attention_heads=recipe.num_attention_heads,
        ffn_dim=recipe.ffn_dim,
        max_position_embeddings=recipe.max_position_embeddings,
        word_embed_proj_dim=recipe.hidden_size,
        dropout=0.0,
        attention_dropout=0.0,
        **ids,
    )


def chunks(ids: torch.Tensor, seq_len: int) -> torch.Tensor:
    """A token stream cut into rows of seq_len (the ragged end dropped)."""
    n = len(ids) // seq_len
    return ids[: n * seq_len].view(n, seq_len)


@torch.no_grad()
def mean_loss(model, rows: torch.Tensor, batch_size: int = 32) -> float:
    """Mean next-token cross-entropy (nats per token) over `rows`."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        x = rows[i : i + batch_size]
        n = x[:, 1:].numel()
        total += model(input_ids=x, labels=x).loss.item() * n
        count += n
    return total / count


def pretrain(recipe: Recipe = Recipe(), progress: bool = True):
    """Train the tokenizer and the model from scratch. Returns (model, tokenizer, report)."""
    from transformers import OPTForCausalLM

    start = time.perf_counter()
    train_text, heldout_text = split_corpus(corpus(), recipe.heldout_fraction)
    tokenizer = train_tokenizer(train_text, recipe.vocab_size)
    train_rows = chunks(torch.tensor(tokenizer(train_text)["input_ids"]), recipe.seq_len)
    heldout_rows = chunks(torch.tensor(tokenizer(heldout_text)["input_ids"]), recipe.seq_len)
    torch.manual_seed(recipe.seed)
    model = OPTForCausalLM(model_config(recipe, tokenizer))
    initial = mean_loss(model, heldout_rows)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, betas=(0.9, 0.95), weight_decay=0.1)

    def lr_factor(step):  # linear warm-up, then cosine decay to 10%
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        progress_ = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress_))

    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    g = torch.Generator().manual_seed(recipe.seed)
    losses = []
    model.train()
    for _ in tqdm(range(recipe.steps), desc="pretraining the stand-in", disable=not progress):
        x = train_rows[torch.randint(0, len(train_rows), (recipe.batch_size,), generator=g)]
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        losses.append(loss.item())
    report = {
        "heldout_loss": mean_loss(model, heldout_rows),
        "initial_heldout_loss": initial,
        "uniform_loss": math.log(len(tokenizer)),
        "train_losses": losses,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_tokens": train_rows.numel(),
        "heldout_tokens": heldout_rows.numel(),
        "corpus_characters": len(train_text) + len(heldout_text),
        "seconds": time.perf_counter() - start,
        "recipe": dataclasses.asdict(recipe),
    }
    model.eval()
    return model, tokenizer, report


# ---------------------------------------------------------------------------- the cache


def recipe_key(recipe: Recipe) -> str:
    """Hash of the recipe, the corpus text and this module's source: what the trained files depend on."""
    h = hashlib.sha256(json.dumps(dataclasses.asdict(recipe), sort_keys=True).encode())
    h.update(corpus().encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("LORABOOK_CACHE", Path.home() / ".cache" / "lorabook"))


def standin_path(recipe: Recipe = Recipe(), progress: bool = True) -> Path:
    """The directory of the pretrained stand-in (model, tokenizer, report.json), pretraining it on first use.

    It is written to a temporary directory and renamed into place when complete, so an interrupted run leaves
    no half-written model behind.
    """
    path = cache_root() / f"standin-{recipe_key(recipe)}"
    if (path / "report.json").is_file():
        return path
    model, tokenizer, report = pretrain(recipe, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
    model.save_pretrained(tmp)  # safetensors
    tokenizer.save_pretrained(tmp)
    (tmp / "report.json").write_text(json.dumps(report, indent=1))
    try:
        tmp.rename(path)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def report(path: Path) -> dict:
    return json.loads((Path(path) / "report.json").read_text())
