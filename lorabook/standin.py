"""The embedded stand-in for OPT-6.7B: a small OPT pretrained by this library, offline, shipped with it.

`lorabook.pretrain` makes it (corpus: `lorabook.corpus`). Pretraining takes about a quarter of an hour on two
cores, so the result is shipped in `lorabook/data/standin/` as fp16 safetensors with its tokenizer and a
report. `make standin` regenerates that folder deterministically:

    python -m lorabook.standin lorabook/data/standin      # what `make standin` runs

The report records `recipe_key`, a hash of the recipe and of the source of `pretrain.py` and `corpus.py`.
`standin_path()` uses the shipped folder while its key is today's; with another recipe (the tests use tiny
ones) it pretrains on first use into a cache keyed the same way. This module also measures what makes the
stand-in a fair stand-in: how much it uses its context, and how confident its head can be.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from . import corpus, files, pretrain
from .corpus import zen_of_python  # noqa: F401  (the fine-tune's quotes; re-exported)
from .pretrain import Recipe, model_config  # noqa: F401  (re-exported: the stand-in's shape)

SHIPPED = Path(__file__).parent / "data" / "standin"
RECIPE = Recipe()  # the book's stand-in


def recipe_key(recipe: Recipe) -> str:
    """Hash of the recipe and of the code that turns it into weights (pretrain.py and corpus.py)."""
    h = hashlib.sha256(json.dumps(dataclasses.asdict(recipe), sort_keys=True).encode())
    for module in (pretrain, corpus):
        h.update(inspect.getsource(module).encode())
    return h.hexdigest()[:16]


def corpus_digest() -> str:
    """Hash of the corpus text this Python provides (it differs between Python versions)."""
    h = hashlib.sha256()
    for doc in corpus.documents():
        h.update(doc.encode() + b"\0")
    return h.hexdigest()[:16]


def report(path: Path) -> dict:
    return files.read_json(Path(path) / "report.json")


def is_current(path: Path, recipe: Recipe = RECIPE) -> bool:
    """Whether `path` holds a complete stand-in made by today's code from `recipe`."""
    return (Path(path) / "report.json").is_file() and report(path).get("recipe_key") == recipe_key(recipe)


def make(dest: Path, recipe: Recipe = RECIPE, progress: bool = True) -> Path:
    """Pretrain and write the stand-in (fp16 safetensors, tokenizer, report.json) to `dest`, atomically.

    The pretraining state is kept beside `dest` while it runs, so a killed run resumes from its last
    checkpoint when called again; the folder appears only when complete.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    key = recipe_key(recipe)
    state_file = dest.parent / f".{dest.name}-{key}.partial.pt"
    model, tokenizer, rep = pretrain.pretrain(recipe, progress=progress, state_file=state_file)
    rep.update(
        recipe_key=key,
        corpus_digest=corpus_digest(),
        python=sys.version.split()[0],
        torch=torch.__version__,
        dtype="float16",
    )
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    model.to(torch.float16).save_pretrained(tmp)  # safetensors; loaded back in fp32 on a CPU
    tokenizer.save_pretrained(tmp)
    (tmp / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    tmp.chmod(0o755)  # mkdtemp makes it private; the shipped folder is for everyone to read
    for f in tmp.iterdir():
        f.chmod(0o644)
    measure(tmp)
    if dest.exists():
        shutil.rmtree(dest)
    try:
        tmp.rename(dest)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    state_file.unlink(missing_ok=True)
    return dest


def measure(path: Path, windows: int = 4096) -> dict:
    """Add to a stand-in's report what makes it a fair stand-in, measured on the saved weights: context use
    (on `windows` held-out spots; the gaps vary by about 0.1 nat between draws of 1,024) and the head's limit
    on the quotes. Returns the measurements."""
    model, tokenizer = load(path)
    rows = heldout_rows(tokenizer, Recipe(**report(path)["recipe"]))
    context = context_length(rows.shape[1])
    found = {
        "context_use": context_use(model, rows, context=context, windows=windows),
        "context": context,  # the page prints it beside the losses measured with it
        "context_windows": windows,
        "head_limit": head_limit(model, quote_targets(tokenizer)),
    }
    rep = {**report(path), **found}
    (Path(path) / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    return found


def cache_root() -> Path:
    return Path(os.environ.get("LORABOOK_CACHE", Path.home() / ".cache" / "lorabook"))


def standin_path(recipe: Recipe = RECIPE, progress: bool = True) -> Path:
    """The stand-in's folder: the shipped one if current, else a cache, pretrained there on first use."""
    if recipe == RECIPE and is_current(SHIPPED, recipe):
        return SHIPPED
    path = cache_root() / f"standin-{recipe_key(recipe)}"
    if is_current(path, recipe):
        return path
    return make(path, recipe, progress=progress)


def load(path: Path | None = None):
    """(model, tokenizer) of a stand-in folder in fp32, through safetensors only."""
    from transformers import AutoTokenizer, OPTForCausalLM

    path = Path(path) if path is not None else standin_path()
    model = OPTForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True)
    return model.eval(), AutoTokenizer.from_pretrained(path)


def heldout_rows(tokenizer, recipe: Recipe = RECIPE) -> torch.Tensor:
    """The held-out documents as the pretraining windows (the stand-in never trained on them)."""
    _, held = corpus.split(corpus.documents(), recipe.heldout_fraction)
    return pretrain.chunks(pretrain.token_stream(held, tokenizer), recipe.seq_len)


# ---------------------------------------------------------------------------- what makes it a fair stand-in


CONTEXT = 64  # tokens of context the stand-in's context test gives each prediction


def context_length(row_length: int) -> int:
    """The context the test uses on rows of `row_length` tokens: CONTEXT, or all but the predicted token."""
    return min(CONTEXT, row_length - 1)


@torch.no_grad()
def context_use(
    model, rows: torch.Tensor, context: int = CONTEXT, windows: int = 1024, seed: int = 0
) -> dict:
    """Loss of predicting a token from its real context, from the same context shuffled, and from one token.

    From `windows` random spots t of the held-out rows we predict x_t from
      * the true context x_{t-c} … x_{t-1} (c = `context`);
      * the same tokens with x_{t-c} … x_{t-2} shuffled, x_{t-1} kept last: word order is gone;
      * x_{t-1} alone: a bigram model's view.
    A model that ignores context (a unigram or bigram model) shows the same loss in all three. Returns mean
    losses in nats per token, and the gaps `order_gap` = shuffled − true and `context_gap` = one token − true.
    """
    if context + 1 > rows.shape[1]:
        raise ValueError(f"context must be at most {rows.shape[1] - 1} (the rows' length - 1), got {context}")
    g = torch.Generator().manual_seed(seed)
    r = torch.randint(0, rows.shape[0], (windows,), generator=g)
    t = torch.randint(context, rows.shape[1], (windows,), generator=g)
    ctx = torch.stack([rows[i, j - context : j] for i, j in zip(r.tolist(), t.tolist())])
    target = rows[r, t]
    perm = torch.stack([torch.randperm(context - 1, generator=g) for _ in range(windows)])
    shuffled = torch.cat([torch.gather(ctx[:, :-1], 1, perm), ctx[:, -1:]], dim=1)

    def loss(x):
        batches = (x[i : i + 64] for i in range(0, len(x), 64))  # the head only at the last position
        logits = torch.cat([model(input_ids=b, logits_to_keep=1).logits[:, -1] for b in batches])
        return torch.nn.functional.cross_entropy(logits.float(), target).item()

    out = {"true": loss(ctx), "shuffled": loss(shuffled), "one_token": loss(ctx[:, -1:])}
    out.update(order_gap=out["shuffled"] - out["true"], context_gap=out["one_token"] - out["true"])
    return out


def head_limit(model, targets: torch.Tensor, steps: int = 300, lr: float = 0.1) -> float:
    """The best mean loss on `targets` that any change *before* the final LayerNorm and head could reach.

    For each target token y we optimise a free vector x (the last decoder layer's output) to minimise
    CE(head(LN(x)), y). LayerNorm fixes x's scale, so this is a minimum over a bounded set and can stay above
    zero: an adapter on the layers below cannot beat it. Returns the mean over `targets` (nats per token).
    """
    decoder = model.model.decoder
    head, ln = model.get_output_embeddings(), decoder.final_layer_norm
    targets = torch.as_tensor(targets).unique()
    x = head.weight[targets].detach().clone().float().requires_grad_(True)  # start: each target's head row
    opt = torch.optim.Adam([x], lr=lr)
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(head(ln(x)).float(), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            losses = torch.nn.functional.cross_entropy(head(ln(x)).float(), targets, reduction="none")
    finally:
        for p, f in zip(model.parameters(), frozen):
            p.requires_grad_(f)
    return losses.mean().item()


def quote_targets(tokenizer, quotes: list[str] | None = None) -> torch.Tensor:
    """Every token the fine-tune asks the model to predict: the quotes' tokens after the first, and EOS."""
    ids = tokenizer(quotes or zen_of_python())["input_ids"]
    return torch.tensor([t for q in ids for t in (*q[1:], tokenizer.eos_token_id)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lorabook.standin", description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default=str(SHIPPED), help="the folder to write (the shipped one)")
    parser.add_argument("--check", action="store_true", help="say whether dest is current; exit 1 if not")
    args = parser.parse_args(argv)
    if args.check:
        ok = is_current(Path(args.dest))
        print(f"{args.dest}: {'current' if ok else 'stale or missing'} (recipe key {recipe_key(RECIPE)})")
        return 0 if ok else 1
    path = make(Path(args.dest))
    rep = report(path)
    print(
        f"{path}: held-out loss {rep['heldout_loss']:.3f} (uniform {rep['uniform_loss']:.3f}), "
        f"{rep['parameters']:,} parameters, {rep['seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
