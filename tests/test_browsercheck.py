"""The browser check finds what a reader would trip over, on a small site built for the purpose."""

import pytest

from bookbuild import browsercheck as B

pytestmark = pytest.mark.skipif(B.find_chromium() is None, reason="no chromium on PATH")

GOOD = """<!doctype html><html><head><link rel="icon" href="data:,"></head><body><article>
<p id="top">Fine.</p><img src="pic.svg" alt="a blue square"><a href="other.html#there">on</a>
</article></body></html>"""
OTHER = """<!doctype html><html><head><link rel="icon" href="data:,"></head><body><article>
<p id="there">Here.</p><span class="math">\\(x^2\\)</span><img src="pic.svg" alt="pic.svg">
<div class="cell_output"><div class="output stderr">oops</div></div>
<a href="index.html#nowhere">back</a><a href="gone.html">gone</a>
<script>console.error("broken script")</script></article></body></html>"""
PIC = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def test_a_clean_page_passes_and_each_kind_of_problem_is_found(tmp_path):
    (tmp_path / "index.html").write_text(GOOD)
    (tmp_path / "other.html").write_text(OTHER)
    (tmp_path / "pic.svg").write_text(PIC)
    report = B.check(tmp_path, shots=tmp_path / "shots", pages=["index.html", "other.html"])
    assert report["index.html"]["problems"] == []
    problems = " | ".join(report["other.html"]["problems"])
    for expected in (
        "math typeset 0/1",
        "without real alt text",
        "1 output cells show stderr",
        "console error: broken script",
        "broken anchor: index.html#nowhere",
        "broken link: gone.html",
    ):
        assert expected in problems
    assert (tmp_path / "shots" / "other.png").stat().st_size > 0
