"""bookbuild.mutants reads mutmut's results: a status per exit code, equivalents apart, a score per module."""

import json

from bookbuild import mutants


def test_the_report_counts_each_status_and_sets_equivalents_apart(tmp_path):
    meta = tmp_path / "lorabook" / "m.py.meta"
    meta.parent.mkdir()
    exits = [1, 0, 0, 33, None, 36]  # killed, survived, survived (an equivalent), no tests, not run, timeout
    codes = {f"lorabook.m.x_f__mutmut_{i}": code for i, code in enumerate(exits, 1)}
    meta.write_text(json.dumps({"exit_code_by_key": codes}))
    found = mutants.results(tmp_path)
    reasons = {"lorabook.m.x_f__mutmut_3": "a default every caller overrides"}
    [(module, counts, score)] = mutants.table(found, reasons)
    assert module == "lorabook/m.py"
    assert [counts[c] for c in mutants.COLUMNS] == [1, 1, 1, 1, 1, 1]
    assert score == 2 / 4  # killed and timed out, over all but the equivalent and the not run
    assert mutants.survivors(found, reasons) == [("lorabook/m.py", "lorabook.m.x_f__mutmut_2")]
    assert mutants.percent(float("nan")) == "not run" and mutants.percent(0.5) == "50%"
