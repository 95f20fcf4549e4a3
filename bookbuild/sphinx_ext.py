"""A Sphinx extension for the book's HTML: what jupyter-book loads but the book does not use stays out.

jupyter-book 1 always loads sphinx-thebe, and sphinx-thebe 0.3.1 adds its configuration script once per
read of the sources, so a page can carry it twice; the second copy throws "Identifier 'THEBE_JS_URL' has
already been declared" in every reader's console. The book has no live-code buttons, so each page drops
thebe's scripts altogether.

The theme offers a page's `.ipynb` for download only when the source is one, or when a launch button is set.
Each chapter is a MyST Markdown notebook, so `offer_notebook` writes the chapter as a notebook, with the
outputs of the book's own execution and its diagrams attached to their cells (bookbuild.notebooks.for_reader),
next to the page's sources, and adds it to the download menu.
"""

from __future__ import annotations

from pathlib import Path


def is_thebe(script) -> bool:
    """Whether a Sphinx script entry (a file or an inline body) belongs to thebe."""
    name = str(getattr(script, "filename", script) or "")
    body = (getattr(script, "attributes", None) or {}).get("body", "")
    return "thebe" in name.lower() or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree) -> None:
    if context.get("script_files") is not None:
        context["script_files"] = [s for s in context["script_files"] if not is_thebe(s)]


def is_notebook(text: str) -> bool:
    """Whether a Markdown source is a jupytext notebook: its front matter has a `jupytext:` key (the key
    need not come first; jupytext writes the chapters' own `bookbuild:` before it)."""
    if not text.startswith("---\n") or "\n---\n" not in text[3:]:
        return False
    return "\njupytext:" in "\n" + text[4 : text.index("\n---\n", 3)]


def offer_notebook(app, pagename, templatename, context, doctree) -> None:
    """Write `_sources/<page>.ipynb` for a chapter the book executed, and list it in the download menu."""
    import nbformat

    from . import notebooks

    source = Path(app.env.doc2path(pagename))
    if doctree is None or source.suffix != ".md" or not is_notebook(source.read_text()):
        return  # a page of prose (intro, errata, bibliography), not a notebook
    executed = notebooks.executed(source, app.env.mystnb_config.execution_cache_path)
    nb = notebooks.for_reader(executed, source.parent)  # figure paths are the chapter's, from its folder
    target = Path(app.outdir, "_sources", pagename + ".ipynb")
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    context["ipynb_source"] = pagename + ".ipynb"


def setup(app):
    app.connect("html-page-context", drop_thebe, priority=900)
    app.connect("html-page-context", offer_notebook, priority=500)  # before the theme's buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
