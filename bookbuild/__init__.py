"""The machinery that builds and checks the book, kept apart from the library a reader imports (lorabook).

- `cache`: empties the execution cache when the library or the pinned versions change (make book).
- `execute`: executes the chapters into that cache, two at a time, before the build reads them back.
- `sphinx_ext`: the Sphinx extension: offers each chapter as a notebook with the book's outputs.
- `notebooks`: what a reader of those notebooks sees, and what must not be there.
- `browsercheck`: every built page in headless Chromium (make browser-check).
- `mutants`: the per-module report of `make mutants`.
"""
