"""Offline text that every CPython install carries: the stand-in's pretraining corpus, and its quotes.

Pretraining documents come from two sources, both read from the running Python without importing anything:

* `pydoc_data.topics`: the language reference's topics that `help()` shows (about 465k characters);
* the docstrings of the standard library's own modules, classes and functions, read from their source files
  with `ast` (about 1.6M characters on CPython 3.11).

The fine-tune's quotes are the nineteen aphorisms of PEP 20, the Zen of Python. They are kept out of
pretraining: any document that contains one of them is dropped, so the stand-in has never seen them.
"""

from __future__ import annotations

import ast
import re
import sysconfig
import zlib
from pathlib import Path

# Parts of the standard library whose docstrings are not prose about Python: test suites, the IDLE
# application, vendored wheels, demo programs, and pydoc_data (read separately, as whole topics).
SKIPPED_PACKAGES = frozenset(
    {"test", "tests", "idlelib", "site-packages", "dist-packages", "ensurepip", "turtledemo", "pydoc_data"}
)
MIN_DOCSTRING_CHARS = 40  # shorter docstrings ("Return self.") are mostly boilerplate


def zen_of_python() -> list[str]:
    """The 19 aphorisms of PEP 20, read from the `this` module's source (importing it would print them)."""
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


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def contains_zen(text: str, zen: list[str] | None = None) -> bool:
    """Whether `text` holds any aphorism of PEP 20 (case and line breaks ignored)."""
    flat = _normalised(text)
    return any(_normalised(line) in flat for line in (zen or zen_of_python()))


def pydoc_topics() -> list[str]:
    """Python's documentation topics (pydoc_data.topics), in sorted key order."""
    from pydoc_data.topics import topics

    return [topics[k] for k in sorted(topics)]


def stdlib_sources() -> list[Path]:
    """The standard library's .py files, in sorted order, without the packages in SKIPPED_PACKAGES."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if set(parts[:-1]) & SKIPPED_PACKAGES or parts[0].startswith("test") or path.name == "this.py":
            continue
        files.append(path)
    return files


def docstrings(path: Path) -> list[str]:
    """The module, class and function docstrings of one source file, in the order `ast.walk` meets them."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):  # a few stdlib files are templates or need another Python
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = (ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, kinds))
    return [d for d in found if d and len(d) >= MIN_DOCSTRING_CHARS]


def documents() -> list[str]:
    """Every pretraining document: the pydoc topics, then the stdlib's docstrings; none holds a Zen line."""
    zen = zen_of_python()
    docs = pydoc_topics() + [d for path in stdlib_sources() for d in docstrings(path)]
    return [d for d in docs if not contains_zen(d, zen)]


def is_heldout(doc: str, heldout_fraction: float) -> bool:
    """A fixed, content-based split: a document is held out when its CRC-32 falls in the first fraction."""
    return zlib.crc32(doc.encode()) < heldout_fraction * 2**32


def split(docs: list[str], heldout_fraction: float) -> tuple[list[str], list[str]]:
    """(training documents, held-out documents), each in corpus order."""
    held = [is_heldout(d, heldout_fraction) for d in docs]
    return [d for d, h in zip(docs, held) if not h], [d for d, h in zip(docs, held) if h]
