"""A Sphinx extension for the book's HTML: what jupyter-book loads but the book does not use stays out.

jupyter-book 1 always loads sphinx-thebe, and sphinx-thebe 0.3.1 adds its configuration script once per
read of the sources, so a page can carry it twice; the second copy throws "Identifier 'THEBE_JS_URL' has
already been declared" in every reader's console. The book has no live-code buttons, so each page drops
thebe's scripts altogether.
"""

from __future__ import annotations


def is_thebe(script) -> bool:
    """Whether a Sphinx script entry (a file or an inline body) belongs to thebe."""
    name = str(getattr(script, "filename", script) or "")
    body = (getattr(script, "attributes", None) or {}).get("body", "")
    return "thebe" in name.lower() or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree) -> None:
    if context.get("script_files") is not None:
        context["script_files"] = [s for s in context["script_files"] if not is_thebe(s)]


def setup(app):
    app.connect("html-page-context", drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
