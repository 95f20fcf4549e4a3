"""The book's own guarantees: chapters import the library and define nothing, every number in the prose is
glued from code, every glued value is used, every chapter is in the table of contents and has a figure, the
diagrams in figures/ are what the code draws, and the execution cache follows the library."""

import ast
import re
from pathlib import Path

import jupytext
import pytest
import yaml
from number_words import strip_markup

from bookbuild import cache as bookcache
from lorabook.plots import diagrams

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


def cells(path, kind):
    return [c.source for c in jupytext.read(path).cells if c.cell_type == kind]


def glued_keys(path):
    """Keys glued by the chapter's code: keyword names of every `glue(...)` call."""
    keys = []
    for src in cells(path, "code"):
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glue":
                keys += [kw.arg for kw in node.keywords]
    return keys


def pasted_keys(path):
    """Keys the chapter's prose pastes: {glue:text}`key:fmt`, {glue}`key` and ```{glue:figure} key."""
    text = "\n".join(cells(path, "markdown"))
    return set(re.findall(r"\{glue(?::text)?\}`([\w]+)", text)) | set(
        re.findall(r"```\{glue:figure\}\s+(\w+)", text)
    )


def test_there_are_chapters():
    assert len(CHAPTERS) >= 3


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_a_jupytext_myst_notebook(path):
    meta = jupytext.read(path).metadata
    assert meta["jupytext"]["text_representation"]["format_name"] == "myst"
    assert meta["kernelspec"]["name"] == "python3"


STACK = ("transformers", "peft", "bitsandbytes", "accelerate", "datasets")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_imports_lorabook_before_the_stack_and_hides_no_stderr(path):
    """lorabook/__init__.py quiets the stack's import-time notices (tqdm's IProgress warning, which names the
    builder's .venv, and bitsandbytes' missing CPU kernel) only if it is imported first; then no cell needs
    a remove-stderr tag, and a new stderr line fails `make check-pages` instead of hiding."""
    imports = [
        node.names[0].name if isinstance(node, ast.Import) else node.module
        for node in ast.parse("\n".join(cells(path, "code"))).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    stack = [i for i, name in enumerate(imports) if name.split(".")[0] in STACK]
    if stack:
        assert imports[0] == "lorabook", f"{path.name} imports {imports[0]} before lorabook"
    assert "remove-stderr" not in path.read_text()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_imports_lorabook_and_defines_nothing(path):
    code = "\n".join(cells(path, "code"))
    assert re.search(r"^(from|import) lorabook", code, re.M), "a chapter should use the library"
    defined = [
        node.name
        for node in ast.walk(ast.parse(code))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    assert not defined, f"{path.name} defines {defined}: move them into lorabook/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_pasted_number_is_glued_and_every_glued_value_is_pasted(path):
    glued, pasted = glued_keys(path), pasted_keys(path)
    assert len(glued) == len(set(glued)), "a key is glued twice"
    assert pasted <= set(glued), f"pasted but never glued: {sorted(pasted - set(glued))}"
    assert set(glued) <= pasted, f"glued but never used: {sorted(set(glued) - pasted)}"


# Words with digits that are names, not claims: model and format names, and pointers into a cited source.
NAMES = re.compile(
    r"OPT-6\.7B|BLOOM-176B|GPT-3(?: 175B)?|GPT-2|\bOPT-\d+(?:\.\d+)?[mMbB]\b|LLM\.int8\(\)"
    r"|(?i:\bint(?:4|8|32)\b)|\b(?:b?float)(?:16|32|64)\b"
    r"|(?i:\b(?:fp|bf|bp)(?:8|16|32)\b)|\bAVX512-BF16\b|\bE4M3\b|\bE5M2\b|\bE2M1\b|\b(?:NF|FP)4\b|\bA100s?\b|\bH100s?\b|\bH200s?\b"
    r"|\b(?:4|8|16|32)-bit\b|\b(?:8|16) bits\b"
    r"|\bSmolLM2(?:-135M(?:-Instruct)?)?|\bQ4_1\b|\bQ8_0\b"
    r"|\bApache-2\.0\b|\bSHA-256\b|IEEE 754|PEP \d+|(?:Fig\.|Figure|Table|§)\s?\d+(?:\.\d+)*"
)


def reader_text(markdown: str) -> str:
    """What a reader reads: prose, plus the bodies of figure captions, admonitions, dropdowns and glossary
    entries; without code cells, included source, directive arguments (file names) and options (`:name:`)."""
    out, fence = [], None
    for line in markdown.splitlines():
        opening = re.match(r"^\s*(`{3,}|:{3,})\{([\w:-]+)\}", line)
        if fence is None and opening:
            fence = (opening.group(1), opening.group(2))
            continue
        if fence is not None and line.strip() == fence[0]:
            fence = None
            continue
        if fence is not None and (
            fence[1] in ("code-cell", "literalinclude") or re.match(r"^\s*:[\w-]+:", line)
        ):
            continue
        out.append(line)
    return "\n".join(out)


def typed_numbers(markdown: str) -> list[str]:
    """Digits left in what a reader reads once math, roles, inline code, labels and names are taken out."""
    text = strip_markup(reader_text(markdown))
    text = re.sub(r"^\s*\d+\.\s", " ", text, flags=re.M)  # numbered-list markers
    text = re.sub(r"^#+\s+\d+(?:–\d+)?\.\s", " ", text, flags=re.M)  # numbered steps in headings
    text = NAMES.sub(" ", text)
    return re.findall(r"[^\s]*\d[^\s]*", text)


# Numbers that inline math may type, because they are the structure of a format, each with its reason and the
# test that ties it to the code.
MATH_STRUCTURAL = {
    "127": "int8's largest code: s = 127 / max|x| (tests/test_quant.py keeps every code in -127..127)",
    "128": "int8's smallest code, -128, that zero-point quantization uses (tests/test_quant.py)",
    "256": "2^8, the number of int8 codes (tests/test_quant.py)",
    "15": "NF4's offset: the extreme codes sit at 1 - 1/(2·15) and 1 - 1/(2·16) (tests/test_nf4.py)",
    "16": "the same derivation's 16 quantiles (tests/test_nf4.py)",
    "100": "-100, the label the collator puts on padding, for the loss to skip (tests/test_finetune.py)",
}


def math_numbers(markdown: str) -> list[str]:
    """Numbers typed in inline math, other than indices, exponents and MATH_STRUCTURAL: decimals, and
    integers of two digits or more: $0.3 \\cdot 127 = 38.1$ is arithmetic for the code to do."""
    text = re.sub(r"\$\$.*?\$\$", " ", reader_text(markdown), flags=re.S)
    found = []
    for math in re.findall(r"\$([^$\n]+)\$", text):
        math = re.sub(r"\\t?frac\d\d", " ", math)  # \tfrac12: one half
        math = re.sub(r"[_^](?:\{[^}]*\}|\w)", " ", math)  # indices and exponents
        found += [n for n in re.findall(r"\d+\.\d+|\d{2,}", math) if n not in MATH_STRUCTURAL]
    return found


def test_typed_number_finder_catches_a_typed_number():
    assert typed_numbers("it trains 10,000 parameters") == ["10,000"]
    assert typed_numbers("it trains {glue:text}`n:,d` parameters of $d \\cdot k$ in OPT-6.7B") == []


BACK_MATTER = [ROOT / name for name in ("intro.md", "errata.md", "notation.md", "glossary.md")]


def alt_texts(markdown: str) -> list[str]:
    """The figures' alt texts: what a screen reader reads in place of each image. An option cannot hold a
    glued value, so an alt text describes the picture's shape and leaves its numbers to the prose."""
    return re.findall(r"^\s*:alt:\s*(.*)$", markdown, flags=re.M)


def markdown_of(path: Path) -> str:
    """The markdown a page's reader reads: a chapter's markdown cells, or a back-matter file whole."""
    return "\n".join(cells(path, "markdown")) if path.parent.name == "chapters" else path.read_text()


@pytest.mark.parametrize("path", [*CHAPTERS, *BACK_MATTER], ids=lambda p: p.name)
def test_prose_types_no_numbers(path):
    markdown = markdown_of(path)
    assert typed_numbers(markdown) == []
    assert math_numbers(markdown) == []
    assert [n for alt in alt_texts(markdown) for n in typed_numbers(alt)] == []


def test_the_lint_reads_captions_admonitions_and_inline_math():
    caption = "```{figure} ../figures/a.svg\n:name: fig-a\n:alt: 3 bars\n\nThe 16 mantissa bits.\n```"
    assert typed_numbers(caption) == ["16"]  # the caption, not the file name or the options
    assert [n for alt in alt_texts(caption) for n in typed_numbers(alt)] == ["3"]  # the alt text, on its own
    box = ":::{admonition} Note\n:class: tip\nIt saves 42 GB.\n:::"
    assert typed_numbers(box) == ["42"]
    assert typed_numbers("```{code-cell} ipython3\nx = 42\n```") == []
    assert math_numbers(
        "then $0.3 \\cdot 127 = 38.1$ and $38/127$, with $2^{31}$, $x_{12}$ and $s = 127/m$"
    ) == [
        "0.3",
        "38.1",
        "38",
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_a_figure(path):
    text = "\n".join(cells(path, "markdown"))
    assert re.search(r"```\{(glue:)?figure\}", text)


def test_toc_lists_exactly_the_chapters_that_exist():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = {c["file"] for part in toc["parts"] for c in part["chapters"]}
    for f in listed:
        assert (ROOT / f"{f}.md").is_file(), f"_toc.yml lists {f}, which does not exist"
    assert {f"chapters/{p.stem}" for p in CHAPTERS} <= listed


def test_the_roadmap_figure_draws_the_parts_and_chapters_of_the_toc():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parts = [(p["caption"], [c["file"] for c in p["chapters"]]) for p in toc["parts"] if p.get("numbered")]
    drawn = [
        (re.sub(r"^[IVX]+\. ", "", caption).replace("\n", " "), [f"chapters/{stem}" for stem in chapters])
        for caption, chapters in diagrams.BOOK_PLAN
    ]
    assert drawn == parts


# ---------------------------------------------------------------------------- figures/


def test_diagrams_in_figures_are_what_the_code_draws():
    assert diagrams.stale(ROOT / "figures") == [], "run: python -m lorabook.plots.diagrams"


def test_diagrams_are_reproducible_byte_for_byte():
    assert diagrams.render_all() == diagrams.render_all()


def test_every_file_in_figures_is_drawn_by_code():
    assert {p.name for p in (ROOT / "figures").iterdir()} == set(diagrams.DIAGRAMS)


# ---------------------------------------------------------------------------- execution cache


def make_tree(tmp_path):
    (tmp_path / "lorabook").mkdir()
    (tmp_path / "lorabook" / "svd.py").write_text("x = 1\n")
    (tmp_path / "constraints.txt").write_text("numpy==2.4.6\n")
    return tmp_path


def filled_build(root):
    """A build folder as a finished build leaves it, for the library now in `root`."""
    build = root / "_build"
    bookcache.refresh(build, root)
    for name in bookcache.STALE_WITH_LIBRARY:
        (build / name).mkdir(parents=True)
        (build / name / "outputs").write_text("computed by this library")
    (build / "html").mkdir()
    return build


def test_build_is_kept_while_the_library_is_unchanged(tmp_path):
    root = make_tree(tmp_path)
    build = filled_build(root)
    assert bookcache.refresh(build, root) is False
    assert all((build / name / "outputs").exists() for name in bookcache.STALE_WITH_LIBRARY)


@pytest.mark.parametrize("edit", ["lorabook/svd.py", "lorabook/new_module.py", "constraints.txt"])
def test_cache_and_doctrees_are_emptied_when_library_or_pins_change(tmp_path, edit):
    root = make_tree(tmp_path)
    build = filled_build(root)
    (root / edit).write_text("changed\n")
    assert bookcache.refresh(build, root) is True
    # both must go: the cache holds executed outputs, and Sphinx re-reads only pages whose doctree is gone
    assert not any((build / name).exists() for name in bookcache.STALE_WITH_LIBRARY)
    assert (build / "html").exists()  # the rest of the build is left alone
    assert bookcache.refresh(build, root) is False  # and the new digest is remembered


def test_the_sphinx_extension_drops_thebe_scripts_only():
    from types import SimpleNamespace

    from bookbuild.sphinx_ext import drop_thebe

    scripts = [
        SimpleNamespace(filename=None, attributes={"body": 'const THEBE_JS_URL = "x"'}),
        SimpleNamespace(filename="sphinx-thebe.js", attributes={}),
        SimpleNamespace(filename="_static/mathjax/tex-chtml.js", attributes={}),
    ]
    context = {"script_files": scripts}
    drop_thebe(None, "p", "page.html", context, None)
    assert [s.filename for s in context["script_files"]] == ["_static/mathjax/tex-chtml.js"]


# ---------------------------------------------------------------------------- the glue table


def test_every_glued_key_maps_to_a_test_that_exists():
    """tests/glue_table.py names the tests behind each glued number: every key has an entry, every entry a
    key, and every test named is defined in its file."""
    from glue_table import GLUE_TESTS

    keys = {key for path in CHAPTERS for key in glued_keys(path)}
    unmatched = sorted(k for k in keys if not any(re.fullmatch(p, k) for p, _, _ in GLUE_TESTS))
    assert unmatched == [], f"glued keys with no test in tests/glue_table.py: {unmatched}"
    unused = [p for p, _, _ in GLUE_TESTS if not any(re.fullmatch(p, k) for k in keys)]
    assert unused == [], f"entries that match no glued key: {unused}"
    defined = {}
    for test in {t for _, tests, _ in GLUE_TESTS for t in tests}:
        file, name = test.split("::")
        if file not in defined:
            tree = ast.parse((ROOT / "tests" / file).read_text())
            defined[file] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name in defined[file], f"{test} is not a test in tests/{file}"


def test_each_glued_key_is_traced_to_the_library_code_that_makes_it():
    """tests/producers.py reads, from the chapters' code, which lorabook code produces each key: through a
    variable to its assignment, and to the constant a glue reads directly."""
    import producers

    made = producers.producers_by_key()
    assert made["ch5_adam8_block"][1] == {"lorabook.memory.ADAM8BIT_BLOCK"}
    assert "lorabook.models.bloom_config" in made["ch5_bloom_heads"][1]  # bloom = models.bloom_config()
    assert made["ch4_gpt2m_layers"][1] == {"lorabook.models.GPT2_MEDIUM"}
    assert all(p.startswith("lorabook.cited.") for p in made["ch5_gpt3_paper_ratio"][1])


def test_no_key_filed_as_cited_is_computed():
    """A CITED key is a figure quoted from a paper: its producers are lorabook.cited's figures alone."""
    import producers

    assert [p for p in producers.problems({}) if "sits under CITED" in p] == []


def test_generated_text_is_shown_character_for_character():
    """A model's completion may hold a backtick, a tag or a newline: the page shows it escaped, as program
    output in a pre element, with its newline kept."""
    from lorabook.book import literal

    assert literal("beats ` refer <i>&\nx") == '<pre class="generated">beats ` refer &lt;i&gt;&amp;\nx</pre>'


@pytest.mark.parametrize(
    "value, text",
    [
        (0.0062500000931322575, "0.006250"),  # significant figures, not float noise
        (26.633896, "26.63"),
        (0.99981, "0.9998"),  # a measured ratio keeps its digits ...
        (0.999999, "1.000"),  # ... and its trailing zeros: it is not the exact 1 below
        (4.0, "4"),  # a float that holds an integer is that integer
        (1.0, "1"),
        (0.0, "0"),
        (1234.5, "1,234"),  # rounded half to even, to four figures
        (65504, "65,504"),  # integers whole, with separators
        (3.4028234663852886e38, "3.403 × 10^38"),  # FP32's max finite, not 39 digits
        (1.1754943508222875e-38, "1.175 × 10^−38"),  # its smallest normal, not 0.000
        (0.00099, "9.900 × 10^−4"),
        (-0.25, "−0.2500"),  # a true minus sign
        (float("nan"), "nan"),
        ("FP32", "FP32"),
        (True, "True"),
    ],
)
def test_the_book_prints_every_number_to_four_significant_figures(value, text):
    from lorabook.book import number

    assert number(value, html_out=False) == text.replace(" × ", "\u00a0×\u00a0")


def test_trimmed_numbers_drop_trailing_zeros_as_the_values_table_shows_them():
    from lorabook.book import formatted, number

    assert number(4.5, trim=True) == "4.5" and number(4.5) == "4.500"
    assert formatted(0.0062500000931322575) == "0.00625"


def test_the_html_exponent_is_a_superscript():
    from lorabook.book import number

    assert number(1.4e-45) == "1.400\u00a0×\u00a010<sup>−45</sup>"


def test_a_table_formats_every_cell_and_hides_a_meaningless_index():
    import pandas as pd

    from lorabook.book import styled_table as table

    html = table(pd.DataFrame({"a": [0.0062500000931322575, 3.4e38], "b": [4.0, 0.0]})).to_html()
    assert "0.006250" in html and "3.400\u00a0×\u00a010<sup>38</sup>" in html
    assert ">4<" in html and ">0<" in html
    assert "0.0062500000931322575" not in html
    assert ">0</th>" not in html and ">1</th>" not in html  # pandas' 0, 1 index is hidden
    named = table(pd.DataFrame({"a": [1.5]}, index=pd.Index(["FP16"], name="format"))).to_html()
    assert "FP16" in named


def test_a_cells_last_value_is_rounded_to_significant_figures_in_every_container():
    import numpy as np

    from lorabook.book import rounded

    value = {"a": (np.float64(4.802154258675434e-14), 0.0062500000931322575), "b": [26.633896, 7, "x"]}
    shown = rounded(value)
    assert shown == {"a": (4.802e-14, 0.00625), "b": [26.63, 7, "x"]}
    assert type(shown["a"][0]) is float  # not np.float64(...) in the output
