"""The shipped stand-in: current with today's recipe and code, safetensors only, trained without the quotes,
and measurably a language model (it uses its context; its head does not cap it). The measurements are checked
on models built to have a known answer."""

import dataclasses
import json
import math
import shutil

import pytest
import torch
from safetensors import safe_open
from torch import nn

from lorabook import corpus, files, models, pretrain
from lorabook import standin as S

MAX_SHIPPED_MB = 25


@pytest.fixture(scope="module")
def shipped():
    model, tokenizer = S.load(S.SHIPPED)
    return model, tokenizer


# ---------------------------------------------------------------------------- the shipped file


def test_a_folder_is_current_only_with_a_report_of_the_recipe_s_key(tmp_path):
    """is_current reads the report.json that `make` writes with the weights into a folder it renames into
    place whole, and compares its recipe key."""
    assert not S.is_current(tmp_path) and not S.is_current(tmp_path / "missing")
    assert not S.is_current(S.SHIPPED, dataclasses.replace(S.RECIPE, seed=S.RECIPE.seed + 1))
    shipped = S.report(S.SHIPPED)
    files.write_json_atomic(tmp_path / "report.json", shipped)
    assert S.is_current(tmp_path) and S.is_current(tmp_path, S.RECIPE)
    files.write_json_atomic(tmp_path / "report.json", {**shipped, "recipe_key": "old"})
    assert not S.is_current(tmp_path)


def test_the_stand_in_is_the_shipped_folder_while_current_else_a_cache_folder_made_once(
    tmp_path, monkeypatch
):
    """standin_path: the shipped folder for the book's recipe while it is current; otherwise (another recipe,
    or stale shipped weights) the cache's folder of the recipe's key, pretrained there on first use (with a
    bar by default) and reused after. Pretraining is stubbed: it writes only the report."""
    made = []

    def make(dest, recipe, progress):
        made.append((dest, recipe, progress))
        dest.mkdir()
        files.write_json_atomic(dest / "report.json", {"recipe_key": S.recipe_key(recipe)})
        return dest

    monkeypatch.setenv("LORABOOK_CACHE", str(tmp_path))
    monkeypatch.setattr(S, "make", make)
    assert S.standin_path() == S.SHIPPED and made == []
    other = dataclasses.replace(S.RECIPE, seed=S.RECIPE.seed + 1)
    cached = tmp_path / f"standin-{S.recipe_key(other)}"
    assert S.standin_path(other) == cached and made == [(cached, other, True)]
    assert S.standin_path(other, progress=False) == cached and len(made) == 1
    monkeypatch.setattr(S, "SHIPPED", tmp_path / "stale")
    cached = tmp_path / f"standin-{S.recipe_key(S.RECIPE)}"
    assert S.standin_path(progress=False) == cached and made[1:] == [(cached, S.RECIPE, False)]


def test_the_shipped_stand_in_was_made_by_todays_recipe_and_code():
    recorded = S.report(S.SHIPPED)["recipe_key"]
    assert recorded == S.recipe_key(S.RECIPE), (
        f"lorabook/data/standin was made by recipe {recorded}, today's is {S.recipe_key(S.RECIPE)}: "
        "run `make standin` and commit the result"
    )
    assert S.is_current(S.SHIPPED) and S.standin_path() == S.SHIPPED  # nothing pretrained on a fresh clone
    assert S.report(S.SHIPPED)["recipe"] == dataclasses.asdict(S.RECIPE)


def test_the_key_covers_every_recipe_field():
    base = S.recipe_key(S.RECIPE)
    for f in dataclasses.fields(S.RECIPE):
        value = getattr(S.RECIPE, f.name)
        other = (not value) if isinstance(value, bool) else value * 2 if value else 1
        assert S.recipe_key(dataclasses.replace(S.RECIPE, **{f.name: other})) != base, f.name


def test_the_shipped_weights_are_fp16_safetensors_only_and_small():
    files = sorted(p.name for p in S.SHIPPED.iterdir())
    assert "model.safetensors" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    size = (S.SHIPPED / "model.safetensors").stat().st_size
    assert size <= MAX_SHIPPED_MB * 1e6
    with safe_open(S.SHIPPED / "model.safetensors", "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        n = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    assert dtypes == {"F16"} and n == S.report(S.SHIPPED)["parameters"]


def test_the_stand_in_loads_in_fp32_with_an_untied_head(shipped):
    model, tokenizer = shipped
    assert next(model.parameters()).dtype == torch.float32
    assert model.config.tie_word_embeddings is False
    assert model.lm_head.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr()
    assert len(tokenizer) == model.config.vocab_size == S.RECIPE.vocab_size
    assert tokenizer.eos_token_id == model.config.eos_token_id == 2 and tokenizer.pad_token_id == 1


def test_load_reads_the_folder_it_is_given_else_the_stand_in_s_and_safetensors_only(shipped, tmp_path):
    """load(path) loads `path`; load() the stand-in's folder (standin_path). A folder whose weights are a
    pickle (pytorch_model.bin, which can run code when read) is refused, not read."""
    model, _ = shipped
    assert S.load()[0].name_or_path == str(S.standin_path())
    copy = shutil.copytree(S.SHIPPED, tmp_path / "copy")
    assert S.load(copy)[0].name_or_path == str(copy)
    (copy / "model.safetensors").unlink()
    torch.save(model.state_dict(), copy / "pytorch_model.bin")
    with pytest.raises(OSError, match="model.safetensors"):
        S.load(copy)


def test_the_held_out_rows_are_the_held_out_documents_each_ended_by_eos_in_rows_of_the_recipe_s_length(
    shipped, monkeypatch
):
    _, tokenizer = shipped
    docs = corpus.documents()
    monkeypatch.setattr(corpus, "documents", lambda: docs)  # built once (5 s)
    for recipe in (S.RECIPE, dataclasses.replace(S.RECIPE, heldout_fraction=0.2, seq_len=32)):
        _, held = corpus.split(docs, recipe.heldout_fraction)
        ids = [t for doc in tokenizer(held)["input_ids"] for t in (*doc, tokenizer.eos_token_id)]
        rows = S.heldout_rows(tokenizer, recipe)
        assert rows.shape == (len(ids) // recipe.seq_len, recipe.seq_len)
        assert rows.flatten().tolist() == ids[: rows.numel()]


def test_the_report_beats_uniform_guessing_on_held_out_documents():
    report = S.report(S.SHIPPED)
    assert (
        report["heldout_loss"]
        < 0.6 * report["uniform_loss"]
        == pytest.approx(0.6 * math.log(S.RECIPE.vocab_size))
    )
    assert report["heldout_curve"][-1][0] == S.RECIPE.steps and len(report["train_losses"]) == S.RECIPE.steps


# ---------------------------------------------------------------------------- the corpus


def test_no_pretraining_document_holds_a_line_of_the_zen():
    zen = corpus.zen_of_python()
    assert len(zen) == 19
    docs = corpus.documents()
    assert not any(corpus.contains_zen(d, zen) for d in docs)
    # the check itself sees through case and line breaks
    assert corpus.contains_zen("As PEP 20 says:\n  errors should never\n  pass silently. Indeed.", zen)
    assert not corpus.contains_zen("Errors should be reported.", zen)


def test_the_held_out_split_is_by_document_fixed_and_disjoint():
    docs = corpus.documents()
    train, held = corpus.split(docs, S.RECIPE.heldout_fraction)
    assert len(train) + len(held) == len(docs) and not set(train) & set(held)
    assert 0.02 < len(held) / len(docs) < 0.08
    assert corpus.split(docs, S.RECIPE.heldout_fraction) == (train, held)


# ---------------------------------------------------------------------------- context use


class Bigram(nn.Module):
    """Logits from the previous token alone: a model that ignores all earlier context."""

    def __init__(self, vocab):
        super().__init__()
        self.table = nn.Embedding(vocab, vocab)

    def forward(self, input_ids, **kwargs):
        return type("Out", (), {"logits": self.table(input_ids)})()


def test_a_model_that_ignores_context_shows_no_gap():
    torch.manual_seed(0)
    rows = torch.randint(0, 50, (20, 80))
    gaps = S.context_use(Bigram(50), rows, context=32, windows=64)
    assert gaps["context_gap"] == pytest.approx(0, abs=1e-5)
    assert gaps["order_gap"] == pytest.approx(0, abs=1e-5)


def test_context_use_refuses_a_context_longer_than_the_rows():
    with pytest.raises(ValueError, match=r"context must be at most 79 .* got 80"):
        S.context_use(Bigram(5), torch.zeros(2, 80, dtype=torch.long), context=80)


def test_the_stand_in_uses_its_context(shipped):
    model, tokenizer = shipped
    gaps = S.context_use(model, S.heldout_rows(tokenizer), seed=1)  # other windows than the chapter's
    assert gaps["context_gap"] > 0.8  # nats per token gained from the context beyond the previous token
    assert gaps["order_gap"] > 0.3  # ... and from its order


@pytest.mark.slow
def test_the_shipped_context_measurement_is_what_todays_code_measures_at_todays_context(shipped):
    """The page glues the report's gaps beside CONTEXT: both must be what the code gives now."""
    model, tokenizer = shipped
    rep = S.report(S.SHIPPED)
    rows = S.heldout_rows(tokenizer)
    assert rep["context"] == S.context_length(rows.shape[1]) == S.CONTEXT
    again = S.context_use(model, rows, context=rep["context"], windows=rep["context_windows"])
    assert again == pytest.approx(rep["context_use"], abs=1e-4)


# ---------------------------------------------------------------------------- the head's limit


def tiny_opt(vocab=40, hidden=16, tie=False):
    from transformers import OPTForCausalLM

    torch.manual_seed(0)
    cfg = models.tiny_opt_config(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        max_position_embeddings=32,
        tie_word_embeddings=tie,
    )
    return OPTForCausalLM(cfg).eval()


def test_two_tokens_with_one_head_row_cannot_beat_ln_2():
    model = tiny_opt()
    with torch.no_grad():
        model.lm_head.weight.mul_(50)  # confident enough to get close to the bound
        model.lm_head.weight[6] = model.lm_head.weight[5]
    limit = S.head_limit(model, torch.tensor([5]), steps=400)
    assert math.log(2) - 1e-4 <= limit < math.log(2) + 0.05


def test_the_limit_is_no_worse_than_what_the_model_reaches(shipped):
    model, tokenizer = shipped
    quotes = corpus.zen_of_python()[:4]
    targets = S.quote_targets(tokenizer, quotes)
    assert targets[-1] == tokenizer.eos_token_id
    enc = tokenizer(quotes)["input_ids"]
    with torch.no_grad():
        actual = torch.cat(
            [
                torch.nn.functional.cross_entropy(
                    model(input_ids=torch.tensor([q])).logits[0, :-1], torch.tensor(q[1:]), reduction="none"
                )
                for q in enc
            ]
        ).mean()
    limit = S.head_limit(model, targets)
    assert limit < actual.item()
    assert limit < 0.1  # an untied head lets any quote token be predicted with high confidence
    assert all(p.requires_grad for p in model.parameters())  # head_limit gave the flags back


# ---------------------------------------------------------------------------- pretraining resumes


def test_a_killed_pretraining_resumes_to_the_same_weights(tmp_path, monkeypatch):
    recipe = pretrain.Recipe(
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=64,
        max_position_embeddings=64,
        seq_len=32,
        batch_size=4,
        steps=6,
        warmup_steps=2,
        eval_every=3,
        eval_rows=4,
    )
    docs = corpus.documents()[:40]
    monkeypatch.setattr(corpus, "documents", lambda: docs)
    straight, _, _ = pretrain.pretrain(recipe, progress=False)

    state = tmp_path / "state.pt"
    original = pretrain._save_state

    def save_then_die(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt  # killed right after the first checkpoint

    monkeypatch.setattr(pretrain, "_save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain.pretrain(recipe, progress=False, state_file=state)
    assert torch.load(state, weights_only=True)["step"] == 3
    monkeypatch.setattr(pretrain, "_save_state", original)
    resumed, _, report = pretrain.pretrain(recipe, progress=False, state_file=state)
    assert len(report["train_losses"]) == 6
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    json.dumps(report)  # the report is plain JSON


@pytest.mark.slow
def test_todays_code_reproduces_the_shipped_pretraining_start():
    """The first steps of `make standin`, run again now, give the losses the shipped report recorded.

    During warm-up the learning rate does not depend on the run's length, so a 20-step run of the same recipe
    takes the same 20 steps: a cheap check that the shipped weights come from this code and this corpus.
    """
    steps = 20
    assert steps < S.RECIPE.warmup_steps
    short = dataclasses.replace(S.RECIPE, steps=steps, eval_every=steps)
    _, _, report = pretrain.pretrain(short, progress=False)
    shipped = S.report(S.SHIPPED)["train_losses"][:steps]
    assert report["train_losses"] == pytest.approx(shipped, rel=1e-4)


def test_the_cache_is_lorabook_cache_or_else_under_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("LORABOOK_CACHE", str(tmp_path / "c"))
    assert S.cache_root() == tmp_path / "c"
    monkeypatch.delenv("LORABOOK_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert S.cache_root() == tmp_path / ".cache" / "lorabook"
