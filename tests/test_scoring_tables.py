"""The fine-tune chapter's tables of runs and completions (lorabook.finetune.scoring): summary, comparison and
completions, on rows and a result made here, so that every field the chapter glues is checked against where
it comes from."""

import pytest

from lorabook.finetune import scoring


def row(prompt, target, completion):
    return {"prompt": prompt, "target": target, "completion": completion, "match": completion == target}


ROWS = [
    row("Beautiful is", "better than ugly.", "better than ugly."),
    row("Explicit is", "better than implicit.", "worse, always and forever"),
    row("Simple is", "better than complex.", "better than complex."),
]
RESULT = {
    "log_history": [{"loss": 3.5}, {"grad_norm": 1.0}, {"loss": 1.5}, {"loss": 0.25}, {"train_runtime": 9.0}],
    "adapter_files": {"adapter_model.safetensors": 1_572_864, "adapter_config.json": 900, "b.safetensors": 8},
    "trainable": (393_216, 6_902_272),
    "train_seconds": 41.5,
}


@pytest.fixture
def scored(monkeypatch):
    """exact_match replaced by the rows above: what summary makes of them, and the arguments it passed on."""
    calls = []

    def exact_match(model, tokenizer, quotes):
        calls.append((model, tokenizer, quotes))
        return sum(r["match"] for r in ROWS) / len(ROWS), ROWS

    monkeypatch.setattr(scoring, "exact_match", exact_match)
    return calls


def test_a_summary_without_a_run_is_its_exact_match_and_rows(scored):
    row = scoring.summary("model", "tokenizer", ["q1", "q2", "q3"])
    assert row == {"exact match": 2, "rows": ROWS}
    assert scored == [("model", "tokenizer", ["q1", "q2", "q3"])]


def test_a_run_s_summary_takes_each_field_from_its_result(scored):
    row = scoring.summary("model", "tokenizer", ["q"], RESULT)
    assert row == {
        "exact match": 2,
        "final loss": 0.25,  # the last logged loss, not the first, nor a log entry without one
        "trainable parameters": 393_216,  # trainable, not all
        "saved weights (MB)": (1_572_864 + 8) / 1e6,  # every safetensors file the run saved, not its config
        "training seconds": 41.5,
        "rows": ROWS,
    }


def test_the_comparison_shows_each_column_in_its_format_and_a_dash_where_a_row_has_none(scored):
    runs = {"none": scoring.summary("m", "t", ["q"]), "q,v LoRA": scoring.summary("m", "t", ["q"], RESULT)}
    styled = scoring.comparison(runs)
    table = styled.data
    assert list(table.index) == ["none", "q,v LoRA"]
    assert list(table.columns) == [
        "exact match",
        "final loss",
        "trainable parameters",
        "saved weights (MB)",
        "training seconds",
    ]
    assert "rows" not in table.columns and all(dtype == "float64" for dtype in table.dtypes)
    cells = {}
    for (i, j), fmt in styled._display_funcs.items():
        cells[table.index[i], table.columns[j]] = fmt(table.iloc[i, j])
    assert cells["q,v LoRA", "exact match"] == "2"
    assert cells["q,v LoRA", "final loss"] == "0.250"
    assert cells["q,v LoRA", "trainable parameters"] == "393,216"
    assert cells["q,v LoRA", "saved weights (MB)"] == "1.57"
    assert cells["q,v LoRA", "training seconds"] == "42"  # 41.5, to the even second as Python rounds
    assert cells["none", "exact match"] == "2"
    assert [cells["none", c] for c in table.columns[1:]] == ["–"] * 4


def test_the_completions_table_pairs_each_quote_after_and_before(scored):
    before = [
        dict(r, completion=c) for r, c in zip(ROWS, ["x", "a long completion that runs on and on", "y"])
    ]
    table = scoring.completions(before, ROWS, width=20)
    assert list(table.columns) == ["prompt", "after", "exact", "before"]
    assert list(table["prompt"]) == [r["prompt"] for r in ROWS]
    assert list(table["after"]) == [r["completion"] for r in ROWS]
    assert list(table["exact"]) == ["✓", "✗", "✓"]
    assert list(table["before"]) == ["x", "a long completion …", "y"]
    assert all(len(b) <= 20 for b in table["before"])
    assert scoring.completions(before, ROWS)["before"][1] == "a long completion …"  # 20 characters by default
    words = [dict(r, completion="aaaa bbbb cccc dddd eeee") for r in ROWS]  # 19 characters, then a word
    assert scoring.completions(words, ROWS)["before"][0] == "aaaa bbbb cccc …"  # within 20 characters
    assert scoring.completions(words, ROWS, width=21)["before"][0] == "aaaa bbbb cccc dddd …"
