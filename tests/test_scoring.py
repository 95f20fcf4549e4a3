"""How a fine-tune is scored on its quotes (lorabook.finetune.scoring): the split into prompt and target, and
exact match, on a model whose continuations the test chooses."""

import math

import pytest

from lorabook.finetune import scoring


@pytest.mark.parametrize("n", range(1, 10))
def test_the_prompt_is_the_first_half_of_the_words_rounded_up(n):
    words = [f"w{i}" for i in range(n)]
    prompt, target = scoring.split_quote(" ".join(words))
    k = max(1, math.ceil(n / 2))  # at least one word of prompt
    assert prompt == " ".join(words[:k])
    assert target == " " + " ".join(words[k:])  # with its leading space: the tokens the model must produce
    assert prompt + target == " ".join(words) or n == 1


class Words:
    """A tokenizer of one token per word."""

    def __call__(self, text):
        return {"input_ids": list(range(len(text.split())))}


def test_exact_match_asks_for_the_target_s_tokens_and_two_more_and_counts_a_continuation_that_starts_with_it(
    monkeypatch,
):
    quotes = [
        "Beautiful is better than ugly.",
        "Simple is better than complex.",
        "Flat is better than nested.",
    ]
    said = {
        "Beautiful is better": " than ugly. And more",  # the target, then more: a match
        "Simple is better": " than complicated.",  # a different ending: no match
        "Flat is better": "than nested.",  # the target without its leading space: no match
    }
    asked = []

    def generate(model, tokenizer, prompt, n_new):
        asked.append((prompt, n_new))
        return prompt + said[prompt]

    monkeypatch.setattr(scoring, "generate", generate)
    share, rows = scoring.exact_match("model", Words(), quotes)
    assert asked == [
        ("Beautiful is better", 4),
        ("Simple is better", 4),
        ("Flat is better", 4),
    ]  # 2 words + 2
    assert share == pytest.approx(1 / 3)
    assert rows[0] == {
        "prompt": "Beautiful is better",
        "target": "than ugly.",
        "completion": "than ugly. And more",
        "match": True,
    }
    assert [r["match"] for r in rows] == [True, False, False]
    assert rows[2]["completion"] == "than nested." and rows[1]["target"] == "than complex."


def test_the_quotes_batch_holds_the_nineteen_quotes_padded_and_draws_no_progress_bar(capfd):
    from transformers import AutoTokenizer

    from lorabook import standin

    tokenizer = AutoTokenizer.from_pretrained(standin.SHIPPED)
    capfd.readouterr()
    batch = scoring.quotes_batch(tokenizer)
    assert capfd.readouterr().err == ""  # a chapter page shows stderr, so a bar of datasets' map would show
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape[0] == len(standin.zen_of_python()) == 19
    assert (labels[mask == 0] == -100).all() and (labels[mask == 1] == ids[mask == 1]).all()
    assert (mask.sum(1) < ids.shape[1]).any()  # padded to the longest quote
