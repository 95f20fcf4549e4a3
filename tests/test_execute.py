"""bookbuild.execute fills the cache that MyST-NB reads: a chapter it executed is a cache hit for the build,
a chapter that fails is reported and not cached, and a chapter can ask to run alone."""

import io
from pathlib import Path

from bookbuild import execute

HEADER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
%s---

"""


def chapter(tmp_path, name, code, front=""):
    path = tmp_path / name
    path.write_text(HEADER % front + f"# {name}\n\n```{{code-cell}} ipython3\n{code}\n```\n")
    return path


def test_an_executed_chapter_is_what_myst_nb_finds_in_the_cache_and_a_failure_is_reported(tmp_path):
    from jupyter_cache import get_cache

    good = chapter(tmp_path, "good.md", "print(6 * 7)")
    bad = chapter(tmp_path, "bad.md", "raise ValueError('no')")
    log = io.StringIO()
    failures = execute.run(tmp_path / "cache", [good, bad], jobs=2, out=log)
    assert list(failures) == [str(bad)] and "ValueError" in failures[str(bad)]
    cache = get_cache(str(tmp_path / "cache"))
    record = cache.match_cache_notebook(execute._read(good))  # the lookup MyST-NB's cache mode makes
    cells = cache.get_cache_bundle(record.pk).nb.cells
    outputs = next(c for c in cells if c.cell_type == "code").outputs
    assert outputs[0]["text"] == "42\n"
    assert execute.pending(cache, [good, bad]) == [bad]  # the next build executes only what failed
    assert "good.md executed" in log.getvalue() and "bad.md FAILED" in log.getvalue()


def test_a_chapter_asks_to_run_alone_in_its_front_matter(tmp_path):
    assert execute.alone(chapter(tmp_path, "a.md", "1", front="bookbuild: {alone: true}\n"))
    assert not execute.alone(chapter(tmp_path, "b.md", "1"))


def test_a_chapter_s_kernel_talks_over_unix_sockets_in_a_folder_of_its_own(tmp_path):
    """Two kernels starting at once over TCP can race for a port (one dies before it answers); over IPC
    each binds files in its own temporary folder, which is gone after the run."""
    from jupyter_cache import get_cache

    code = "from ipykernel.kernelapp import IPKernelApp\napp = IPKernelApp.instance()\n"
    code += "print(app.transport, app.ip)"
    path = chapter(tmp_path, "ipc.md", code)
    assert execute.run(tmp_path / "cache", [path], jobs=1, out=io.StringIO()) == {}
    cache = get_cache(str(tmp_path / "cache"))
    cells = cache.get_cache_bundle(cache.match_cache_notebook(execute._read(path)).pk).nb.cells
    transport, ip = next(c for c in cells if c.cell_type == "code").outputs[0]["text"].split()
    assert transport == "ipc" and "lorabook-kernel-" in ip
    assert not Path(ip).parent.exists()
