"""Which library code produced each glued number, and whether the tests the glue table names run it.

The glue table (tests/glue_table.py) names the tests behind each key. That a named test exists proves little:
it may test a neighbouring property. This module closes the gap in two halves.

- Statically, from the chapter's code: the *producers* of a key are the `lorabook` functions, classes and
  constants its glued expression refers to, and those of the variables it reads, followed back through the
  chapter's assignments. Loaders of shipped data and formatting helpers (GENERIC) do not count: running
  them proves nothing about the number.
- Dynamically, while `make unit` runs: conftest profiles every fast test the glue table names (cProfile,
  only in those tests) and writes which `lorabook` code each ran. A slow test (minutes of training) is read
  instead: its own code must name a producer.

`python tests/producers.py TRACE_DIR` then checks, for each table entry, that every key's producers include a
callable one of its tests ran or a constant one of its tests reads; that a CITED key is made of cited figures
alone (lorabook.cited), not computed; and that an ECHO key is a constant the code sets, not computed.
"""

import ast
import importlib
import json
import re
import sys
from functools import cache
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
# glue itself, styling and the seed are never what a number is
IGNORED = ("lorabook.book", "lorabook.plots.apply_style", "lorabook.seed")
# code that loads or formats what others computed: a test that runs it has not tested the number
GENERIC = {
    "lorabook.standin.load",
    "lorabook.standin.zen_of_python",
    "lorabook.learned.load",
    "lorabook.thesis.spread",
    "lorabook.thesis.in_words",
    "lorabook.spread.spread",
    "lorabook.spread.described",
    "lorabook.spread.in_words",
    "lorabook.finetune.load_quotes",
    "lorabook.models.opt_config",
    "lorabook.real_runs.load",
}


def _aliases(tree):
    """Local name -> dotted lorabook name, from the chapter's imports."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lorabook"):
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("lorabook"):
                    names[a.asname or a.name.split(".")[0]] = a.asname and a.name or a.name.split(".")[0]
    return names


def _is_module(dotted):
    try:
        importlib.import_module(dotted)
    except ImportError:
        return False
    return True


def _refs(node, aliases):
    """(lorabook names, plain variable names) an expression reads."""
    found, variables = set(), set()
    for sub in ast.walk(node):
        chain = []
        while isinstance(sub, ast.Attribute):
            chain.append(sub.attr)
            sub = sub.value
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            if sub.id in aliases:
                dotted = aliases[sub.id]
                for attr in reversed(chain):  # a module's attribute: lorabook.memory.per_param_table
                    if not _is_module(dotted):
                        break
                    dotted = f"{dotted}.{attr}"
                if not _is_module(dotted) and not dotted.startswith(IGNORED):
                    found.add(dotted)
            else:
                variables.add(sub.id)
    return found, variables


def _targets(node):
    """Names an assignment target binds or changes: x, (x, y), x[k], x.attr."""
    if isinstance(node, (ast.Tuple, ast.List)):
        return set().union(*(_targets(e) for e in node.elts))
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()


@cache
def producers_by_key():
    """{key: (chapter, producers)} for every glued key of every chapter."""
    out = {}
    for path in CHAPTERS:
        source = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        tree = ast.parse(source)
        aliases = _aliases(tree)
        made = {}  # variable -> its nearest producers

        def nearest(expr, made=made, aliases=aliases):
            found, variables = _refs(expr, aliases)
            return found.union(*(made.get(v, set()) for v in variables))

        for stmt in _statements(tree):
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                call = stmt.value
                if getattr(call.func, "id", None) == "glue":
                    for kw in call.keywords:
                        out[kw.arg] = (path.name, frozenset(nearest(kw.value)))
                elif isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
                    # results.append(f(x)), table.update(...): the object gains what its argument is made of
                    name = call.func.value.id
                    made[name] = made.get(name, set()) | nearest(ast.Tuple(call.args, ast.Load()))
            elif isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and stmt.value is not None:
                value = nearest(stmt.value)
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    for name in _targets(t):
                        # x[k] = v and x += v add to what x is; x = v replaces it
                        keep = isinstance(t, (ast.Subscript, ast.Attribute)) or isinstance(
                            stmt, ast.AugAssign
                        )
                        made[name] = (made.get(name, set()) if keep else set()) | value
            elif isinstance(stmt, (ast.For, ast.comprehension)):
                for name in _targets(stmt.target):
                    made[name] = nearest(stmt.iter)
            elif isinstance(stmt, ast.withitem) and stmt.optional_vars is not None:
                for name in _targets(stmt.optional_vars):
                    made[name] = nearest(stmt.context_expr)
    return out


def _statements(tree):
    """Every statement, loop header and with-item in source order (loops and blocks flattened)."""
    for node in tree.body:
        yield from _walk(node)


def _walk(node):
    if isinstance(node, (ast.For, ast.AsyncFor)):
        yield node
        for child in node.body + node.orelse:
            yield from _walk(child)
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        yield from node.items
        for child in node.body:
            yield from _walk(child)
    elif isinstance(node, (ast.If, ast.Try, ast.While)):
        for field in ("body", "orelse", "finalbody"):
            for child in getattr(node, field, []):
                yield from _walk(child)
        for handler in getattr(node, "handlers", []):
            for child in handler.body:
                yield from _walk(child)
    else:
        yield node


def _resolve(dotted):
    module, _, attr = dotted.rpartition(".")
    while module and not _is_module(module):
        module, _, outer = module.rpartition(".")
        attr = f"{outer}.{attr}"
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return module, attr, obj


@cache
def _test_source(test):
    file, name = test.split("::")
    tree = ast.parse((ROOT / "tests" / file).read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.unparse(fn)


def ran(traced, test, dotted):
    """Did the test run this callable (its code, or for a class any of its methods)? A test that was not
    profiled (a slow one) is read instead: does its own code name the callable?"""
    if test not in traced:
        return re.search(rf"\b{re.escape(dotted.rsplit('.', 1)[1])}\b", _test_source(test)) is not None
    module, attr, obj = _resolve(dotted)
    # a package's re-export (lorabook.family.vera_parameter_count) runs as its home module's code
    module, attr = getattr(obj, "__module__", module), getattr(obj, "__qualname__", attr)
    return any(q == f"{module}:{attr}" or q.startswith(f"{module}:{attr}.") for q in traced.get(test, ()))


def reads(traced, test, dotted):
    """Does the test, or lorabook code it ran, name this constant?"""
    module, attr, _ = _resolve(dotted)
    name = attr.split(".")[0]
    if re.search(rf"\b{re.escape(name)}\b", _test_source(test)):
        return True
    return any(name in _code_names(q) for q in traced.get(test, ()) if q.startswith(f"{module}:"))


@cache
def _code_names(qualified):
    """Global names the code of module:qualname reads (its nested functions' too)."""
    module, qualname = qualified.split(":")
    obj = importlib.import_module(module)
    try:
        for part in qualname.replace(".<locals>", "").split("."):
            obj = getattr(obj, part)
        code = obj.__code__
    except AttributeError:
        return frozenset()
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    return frozenset(names)


def problems(traced):
    """Every way the table and the traced tests disagree, as sentences."""
    sys.path.insert(0, str(ROOT / "tests"))
    from glue_table import CITED, ECHO, GLUE_TESTS, TIMED

    found = []
    for key, (chapter, made) in sorted(producers_by_key().items()):
        entry = next((e for e in GLUE_TESTS if re.fullmatch(e[0], key)), None)
        if entry is None:
            continue  # tests/test_book.py reports keys without an entry
        _, tests, _ = entry
        if tests == TIMED or "_fig_" in key:
            continue  # timings; figures, whose numbers are glued and defended on their own
        callables = {d for d in made if callable(_resolve(d)[2])}
        if tests == CITED:
            computed = sorted(d for d in made if not d.startswith("lorabook.cited."))
            if computed:
                found.append(f"{chapter} {key} sits under CITED but is computed by {computed}")
            continue
        if tests == ECHO:
            continue  # an input the code sets; test_book checks that the prose pastes it
        if not made:
            continue  # set or computed in the chapter itself (torch, numpy); counted by unmade()
        named = [t for t in tests if t not in CITED]
        specific = (made - GENERIC) or made
        if not any(
            ran(traced, t, d) if d in callables else reads(traced, t, d) for t in named for d in specific
        ):
            found.append(
                f"{chapter} {key} is produced by {sorted(made)}, which none of {named} runs or reads"
            )
    return found


def unmade():
    """Keys no lorabook code produces: inputs the chapter sets, or torch and numpy shown at work."""
    return sorted(k for k, (_, made) in producers_by_key().items() if not made)


def load_traces(folder):
    traced = {}
    for path in Path(folder).glob("producers-*.json"):
        for test, names in json.loads(path.read_text()).items():
            traced.setdefault(test, set()).update(names)
    return traced


KNOWN = ROOT / "tests" / "producers_known.txt"


def known_gaps():
    """Keys whose gap is known and listed to be closed: a number read from a shipped run that measured it
    when it was made (learned.measure, real_runs), which the static reading cannot follow, or a table entry
    still to be tied to the test of that very number."""
    lines = KNOWN.read_text().splitlines() if KNOWN.exists() else []
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


def main(folder):
    traces = load_traces(folder)
    if not traces:
        return f"no traces in {folder}: run the unit tests with LORABOOK_TRACE_PRODUCERS={folder}"
    found = problems(traces)
    gaps = {line.split()[1]: line for line in found}
    known = known_gaps()
    new = sorted(set(gaps) - known)
    closed = sorted(known - set(gaps))
    for key in new:
        print("new gap:", gaps[key])
    for key in closed:
        print(f"closed: {key} is now defended; remove it from {KNOWN.name}")
    n, bare = len(producers_by_key()), len(unmade())
    print(
        f"{n - bare - len(found)} of {n - bare} glued keys made by lorabook: the tests the glue table names"
        f" run or read the code that makes them; {len(found)} gaps, {len(new)} of them not in {KNOWN.name}"
        f" ({bare} more keys are set or computed in the chapter itself)"
    )
    return 1 if new or closed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
