"""The report of `make mutants`: per module, how many small changes to the library the tests catch.

mutmut (pyproject.toml's [tool.mutmut]) changes one thing at a time in the modules whose numbers the book
prints (a + for a -, 255 for 256, a dropped argument) and runs the tests that reach the changed function.
A mutant is *killed* when a test fails, *survives* when none does, and has *no tests* when no fast test
reaches its function. Some survivors change nothing the code computes (a default argument every caller
overrides, an error message's wording): each of those is listed in tests/mutants_equivalent.json with the
reason, and counted apart.

    python -m bookbuild.mutants build/mutants.md        # after `mutmut run`; = the last step of make mutants
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

EQUIVALENT = Path("tests/mutants_equivalent.json")
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}
STATUS |= {36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
COLUMNS = ("killed", "timeout", "survived", "equivalent", "no tests", "not run")


def results(root: Path = Path("mutants")) -> dict[str, dict[str, str]]:
    """{module file: {mutant: status}} from mutmut's .meta files."""
    out = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        out[module] = {k: "not run" if c is None else STATUS.get(c, "suspicious") for k, c in codes.items()}
    return out


def equivalents(path: Path = EQUIVALENT) -> dict[str, str]:
    """{mutant: why it computes what the original does}."""
    return json.loads(path.read_text()) if path.exists() else {}


def table(found, reasons):
    """Rows of (module, counts by column, score): the score is killed (and timed out) over the mutants
    that can be killed, that is all but the equivalent ones."""
    rows = []
    for module, statuses in found.items():
        marked = {k: "equivalent" if s == "survived" and k in reasons else s for k, s in statuses.items()}
        counts = Counter(marked.values())
        killable = len(marked) - counts["equivalent"] - counts["not run"]
        score = (counts["killed"] + counts["timeout"]) / killable if killable else float("nan")
        rows.append((module, counts, score))
    return rows


def percent(score: float) -> str:
    return "not run" if score != score else f"{score:.0%}"  # NaN: no mutant of the module was run


def survivors(found, reasons):
    return [(m, k) for m, s in found.items() for k, v in s.items() if v == "survived" and k not in reasons]


def diff(mutant, module):
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    return get_diff_for_mutant(mutant, path=module)


def report(found, reasons, with_diffs=True) -> str:
    lines = [
        "# Mutation report",
        "",
        "| module | mutants | " + " | ".join(COLUMNS) + " | score |",
        "|---|" + "---|" * (len(COLUMNS) + 2),
    ]
    for module, counts, score in table(found, reasons):
        cells = " | ".join(str(counts[c]) for c in COLUMNS)
        lines.append(f"| {module} | {sum(counts.values())} | {cells} | {percent(score)} |")
    stale = sorted(set(reasons) - {k for s in found.values() for k, v in s.items() if v == "survived"})
    if stale:
        lines += ["", f"Listed as equivalent but no longer surviving (remove from {EQUIVALENT}):", ""]
        lines += [f"- {k}" for k in stale]
    left = survivors(found, reasons)
    lines += ["", f"## Surviving mutants ({len(left)})", ""]
    for module, mutant in left:
        lines += [f"### {mutant}", "", "```diff", diff(mutant, module) if with_diffs else module, "```", ""]
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "build/mutants.md")
    found = results()
    if not found:
        return "no mutation results in mutants/: run `make mutants` (mutmut run) first"
    reasons = equivalents()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(found, reasons))
    for module, counts, score in table(found, reasons):
        print(f"{module:32} {percent(score):>6}  " + "  ".join(f"{c} {counts[c]}" for c in COLUMNS))
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
