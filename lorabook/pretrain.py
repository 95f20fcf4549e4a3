"""How the stand-in is made: its recipe, tokenizer, shape and pretraining loop.

Everything that decides the stand-in's weights lives here and in `lorabook.corpus`; `lorabook.standin` hashes
the recipe and the source of both modules, so an edit to either makes the shipped weights stale (a test fails)
until `make standin` regenerates them.

The loop is a small GPT-style pretraining: next-token cross-entropy on 128-token windows of the corpus,
AdamW (β = 0.9, 0.95; weight decay 0.1 on the blocks' matrices), linear warm-up then cosine decay to a tenth,
gradient clipping at 1.
It saves its full state every `checkpoint_every` steps, so a killed run continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import corpus
from ._checks import check_int

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, in OPT's order: pad = 1, eos = bos = 2


@dataclass(frozen=True)
class Recipe:
    """How the stand-in is made. Every field is part of the hash that the shipped weights record."""

    vocab_size: int = 4096  # byte-level BPE; OPT's own vocabulary is 50,272
    hidden_size: int = 256  # OPT-6.7B: 4096
    num_hidden_layers: int = 6  # OPT-6.7B: 32
    num_attention_heads: int = 4  # 64-dimensional heads, as in OPT
    ffn_dim: int = 1024  # 4 × hidden, as in OPT
    max_position_embeddings: int = 256
    tie_word_embeddings: bool = False  # OPT ties lm_head to the embedding; tied, so small a model caps its
    # confidence (its best reachable loss on unseen text stays far above zero), so the stand-in unties them
    seq_len: int = 128  # tokens per training window
    batch_size: int = 16  # windows per step: 16 × 128 = 2,048 tokens
    steps: int = 1500  # about five passes over the corpus, about 20 min on two cores
    learning_rate: float = 3e-3
    warmup_steps: int = 100  # then cosine decay to a tenth
    weight_decay: float = 0.1  # on the blocks' weight matrices only: decaying the head shrinks its rows, and
    # with them the most confident prediction it can make
    heldout_fraction: float = 0.05  # documents held out by a hash of their text, never trained on
    eval_every: int = 100  # held-out loss is logged this often (on the first eval_rows held-out windows)
    eval_rows: int = 64
    threads: int = 2  # BLAS reductions depend on the thread count: fixed, so the run repeats bit for bit
    seed: int = 0


# ---------------------------------------------------------------------------- tokenizer


def train_tokenizer(docs: list[str], vocab_size: int):
    """A byte-level BPE trained on `docs`, as a transformers fast tokenizer with OPT's special tokens."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    vocab_size = check_int(vocab_size, "vocab_size", 256 + len(SPECIAL_TOKENS))
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(docs, vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                            show_progress=False)  # fmt: skip
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def token_stream(docs: list[str], tokenizer) -> torch.Tensor:
    """All documents as one stream of ids, each followed by EOS as in LM pretraining (EOS means 'the end')."""
    ids = tokenizer(docs)["input_ids"]
    return torch.tensor([t for doc in ids for t in (*doc, tokenizer.eos_token_id)])


def chunks(ids: torch.Tensor, seq_len: int) -> torch.Tensor:
    """A token stream cut into rows of seq_len (the ragged end dropped)."""
    n = len(ids) // seq_len
    return ids[: n * seq_len].view(n, seq_len)


# ---------------------------------------------------------------------------- model


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
        tie_word_embeddings=recipe.tie_word_embeddings,
        dropout=0.0,
        attention_dropout=0.0,
        **ids,
    )


@torch.no_grad()
def mean_loss(model, rows: torch.Tensor, batch_size: int = 32) -> float:
    """Mean next-token cross-entropy (nats per token) over `rows`."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        x = rows[i : i + batch_size]
        n = x[:, 1:].numel()
        total += model(input_ids=x, labels=x).loss.item() * n
        count += n
    model.train(was_training)
    return total / count


def lr_factor(recipe: Recipe, step: int) -> float:
    """Linear warm-up to the peak, then cosine decay to a tenth of it at the last step."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def parameter_groups(model, weight_decay: float) -> list[dict]:
    """AdamW groups: decay on the decoder layers' 2-D weights, none on embeddings, head, norms, biases."""
    decayed, plain = [], []
    for name, p in model.named_parameters():
        (decayed if p.ndim == 2 and ".layers." in name else plain).append(p)
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


@dataclass
class Data:
    tokenizer: object
    train_rows: torch.Tensor
    heldout_rows: torch.Tensor
    train_docs: int
    heldout_docs: int
    characters: int


def prepare_data(recipe: Recipe) -> Data:
    """The corpus split by document, the tokenizer trained on the training part, both parts as windows."""
    train_docs, heldout_docs = corpus.split(corpus.documents(), recipe.heldout_fraction)
    tokenizer = train_tokenizer(train_docs, recipe.vocab_size)
    return Data(
        tokenizer=tokenizer,
        train_rows=chunks(token_stream(train_docs, tokenizer), recipe.seq_len),
        heldout_rows=chunks(token_stream(heldout_docs, tokenizer), recipe.seq_len),
        train_docs=len(train_docs),
        heldout_docs=len(heldout_docs),
        characters=sum(map(len, train_docs)) + sum(map(len, heldout_docs)),
    )


def pretrain(recipe: Recipe = Recipe(), progress: bool = True, state_file: Path | None = None):
    """Train the tokenizer and the model from scratch. Returns (model, tokenizer, report).

    With `state_file`, the model, optimizer, schedule, sampler and log are saved there every `eval_every`
    steps (atomically), and a run that finds the file continues from it: an interrupted pretraining loses at
    most `eval_every` steps.
    """
    from transformers import OPTForCausalLM

    threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        start = time.perf_counter()
        data = prepare_data(recipe)
        torch.manual_seed(recipe.seed)
        model = OPTForCausalLM(model_config(recipe, data.tokenizer))
        eval_rows = data.heldout_rows[: recipe.eval_rows]
        opt = torch.optim.AdamW(parameter_groups(model, recipe.weight_decay), lr=recipe.learning_rate,
                                betas=(0.9, 0.95))  # fmt: skip
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(recipe, s))
        g = torch.Generator().manual_seed(recipe.seed)
        log = {"train_losses": [], "heldout_curve": [], "seconds_before": 0.0}
        step = 0
        if state_file is not None and Path(state_file).is_file():
            state = torch.load(state_file, weights_only=True)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            schedule.load_state_dict(state["schedule"])
            g.set_state(state["generator"])
            log, step = state["log"], state["step"]
        else:
            log["heldout_curve"].append((0, mean_loss(model, eval_rows)))
        initial = log["heldout_curve"][0][1]
        model.train()
        bar = tqdm(total=recipe.steps, initial=step, desc="pretraining the stand-in", disable=not progress)
        while step < recipe.steps:
            x = data.train_rows[torch.randint(0, len(data.train_rows), (recipe.batch_size,), generator=g)]
            loss = model(input_ids=x, labels=x).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            schedule.step()
            log["train_losses"].append(loss.item())
            step += 1
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.2f}")
            if step % recipe.eval_every == 0 or step == recipe.steps:
                log["heldout_curve"].append((step, mean_loss(model, eval_rows)))
                if state_file is not None:
                    log["seconds_before"] += time.perf_counter() - start
                    start = time.perf_counter()
                    _save_state(state_file, model, opt, schedule, g, log, step)
        bar.close()
        model.eval()
        report = {
            "heldout_loss": mean_loss(model, data.heldout_rows),
            "initial_heldout_loss": initial,
            "uniform_loss": math.log(len(data.tokenizer)),
            "train_losses": log["train_losses"],
            "heldout_curve": log["heldout_curve"],
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_tokens": data.train_rows.numel(),
            "heldout_tokens": data.heldout_rows.numel(),
            "train_documents": data.train_docs,
            "heldout_documents": data.heldout_docs,
            "corpus_characters": data.characters,
            "tokens_seen": recipe.steps * recipe.batch_size * recipe.seq_len,
            "seconds": log["seconds_before"] + time.perf_counter() - start,
            "recipe": dataclasses.asdict(recipe),
        }
        return model, data.tokenizer, report
    finally:
        torch.set_num_threads(threads)


def _save_state(path, model, opt, schedule, generator, log, step) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "schedule": schedule.state_dict(),
             "generator": generator.get_state(), "log": log, "step": step}  # fmt: skip
    torch.save(state, tmp)
    os.replace(tmp, path)
