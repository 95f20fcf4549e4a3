"""`make lab` as the README says: JupyterLab serves the repository, prints chapter 1's URL, opens the chapters
as notebooks with their MyST rendered, and running one and closing it leaves the chapter as it was.

One server, started by `make lab` itself, serves every test here; the last one drives it in headless Chromium
(bookbuild.browser.Browser) at the URL the server printed, as a reader would.
"""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from bookbuild.browser import Browser, find_chromium

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "chapters/01_why_finetune.md"  # the page `make lab` opens, and one of the fastest to run (6 s)
DOCMANAGER = "@jupyterlab/docmanager-extension:plugin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str  # chapter 1's URL as the server printed it, token included
    base: str
    token: str
    log: Path

    def api(self, path: str, method: str = "GET", body=None, timeout: float = 60):
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")


def user_settings(folder: Path) -> None:
    """The test's own Lab user settings, so that the reader's ~/.jupyter ones play no part: every cell
    rendered (no windowing), and a one-second autosave interval, so that autosave would write within the
    test if `make lab` left it on."""
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "docmanager-extension/plugin": {"autosaveInterval": 1},
    }.items():
        path = folder / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    user_settings(tmp / "settings")
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),  # no saved layout reopens other documents
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
    }
    port, log = free_port(), tmp / "make-lab.log"
    flags = (
        f"--no-browser --port={port} --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1"
        " --LabApp.expose_app_in_browser=True"  # window.jupyterapp, for the browser test to drive
    )
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["make", "-s", "lab", f"LAB_FLAGS={flags}"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        printed = rf"http://127\.0\.0\.1:{port}/lab/tree/{re.escape(CHAPTER)}\?token=(\w+)"
        deadline = time.monotonic() + 180
        while not (found := re.search(printed, log.read_text())):
            assert proc.poll() is None, f"make lab exited {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no chapter-1 URL within 180 s:\n{log.read_text()}"
            time.sleep(0.5)
        yield Lab(url=found[0], base=f"http://127.0.0.1:{port}", token=found[1], log=log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and the server; the server shuts its kernels down
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_make_lab_serves_the_repository_root_and_prints_chapter_one_s_url(lab):
    assert "at the URL it prints below" in lab.log.read_text()  # make's own line, before the server's
    chapter = lab.api("/api/contents/chapters/02_rank.md?type=notebook&content=1")
    assert chapter["type"] == "notebook"  # jupytext reads the .md as a notebook
    code = [c["source"] for c in chapter["content"]["cells"] if c["cell_type"] == "code"]
    assert any("glue(" in source for source in code)
    with pytest.raises(urllib.error.HTTPError, match="404"):  # the root is the repository, not chapters/
        lab.api("/api/contents/02_rank.md")
    schema = lab.api(f"/lab/api/settings/{DOCMANAGER}")["schema"]["properties"]
    assert schema["defaultViewers"]["default"] == {
        "markdown": "Jupytext Notebook",
        "myst": "Jupytext Notebook",
    }
    assert schema["autosave"]["default"] is False


def front_matter(text: str) -> str:
    return text.split("\n---\n", 1)[0]


@pytest.mark.parametrize("path", sorted(p.name for p in (ROOT / "chapters").glob("*.md")))
def test_a_lab_save_of_an_unedited_chapter_writes_it_unchanged(lab, path):
    """The save Lab makes (PUT of the notebook, with the kernelspec and language_info Lab sets once its kernel
    starts), written beside the build outputs: the chapter's text comes back byte for byte."""
    original = (ROOT / "chapters" / path).read_text()
    nb = lab.api(f"/api/contents/chapters/{path}?type=notebook&content=1")["content"]
    spec = lab.api("/api/kernelspecs")["kernelspecs"][nb["metadata"]["kernelspec"]["name"]]["spec"]
    # as JupyterLab's NotebookPanel._updateSpec writes it, key order included (jupytext keeps that order)
    nb["metadata"]["kernelspec"] = {
        "name": nb["metadata"]["kernelspec"]["name"],
        "display_name": spec["display_name"],
        "language": spec["language"],
    }
    nb["metadata"]["language_info"] = {"name": "python", "version": "3"}
    folder = f"build/test_lab-{os.getpid()}"
    (ROOT / folder).mkdir(parents=True, exist_ok=True)
    try:
        lab.api(
            f"/api/contents/{folder}/{path}", "PUT", {"type": "notebook", "format": "json", "content": nb}
        )
        saved = (ROOT / folder / path).read_text()
    finally:
        shutil.rmtree(ROOT / folder, ignore_errors=True)
    assert saved.split("\n---\n", 1)[1] == original.split("\n---\n", 1)[1], "the cells changed"
    assert front_matter(saved) == front_matter(original)


DRIVE_TIMEOUT = 300  # seconds for each wait in the page: a shared 2-core machine can be slow

NOTEBOOK = f"""(() => {{
  const app = window.jupyterapp, w = app && app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== {json.dumps(CHAPTER)} || !w.content || !w.content.widgets
      || !w.context.isReady || !w.sessionContext.session || !w.sessionContext.session.kernel) return null;
  const cells = w.content.widgets, markdown = cells.filter(c => c.model.type === 'markdown');
  const rendered = markdown.map(c => c.node.querySelector('.myst')).filter(Boolean);
  if (rendered.length < markdown.length) return null;
  return {{notebook: w.node.classList.contains('jp-NotebookPanel'), markdown: markdown.length,
    myst: rendered.length, prose: rendered.map(e => e.textContent).join('\\n'),
    admonitions: w.node.querySelectorAll('.myst aside.myst-admonition').length,
    images: [...w.node.querySelectorAll('.myst img')].map(i => i.naturalWidth)}};
}})()"""

RAN = """(() => {
  const w = window.jupyterapp.shell.currentWidget;
  const code = w.content.widgets.filter(c => c.model.type === 'code');
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle' || code.some(c => c.model.executionCount === null)) return null;
  const outputs = code.flatMap(c => c.model.outputs.toJSON());
  const rows = [...w.node.querySelectorAll('.jp-OutputArea-output table tr')]
    .map(tr => [...tr.cells].map(td => td.textContent.trim()));
  return {errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
    rows: rows, dirty: w.context.model.dirty};
})()"""


COMMAND = "(async () => { await window.jupyterapp.commands.execute('%s'); return true; })()"
DIRTY = "window.jupyterapp.shell.currentWidget.context.model.dirty"


DIALOG = """(() => { const d = document.querySelector('.jp-Dialog');
  return d ? [...d.querySelectorAll('button')].map(b => b.textContent.trim()) : null; })()"""
DISCARD = """[...document.querySelectorAll('.jp-Dialog button')].find(b => b.textContent.trim() === 'Discard')
  .click()"""


async def command(browser, name: str) -> None:
    """Run a JupyterLab command and wait for it, but not for ever (a dialog it opened would never close)."""
    await asyncio.wait_for(browser.evaluate(COMMAND % name), timeout=DRIVE_TIMEOUT)


async def poll(browser, expression: str, what: str, timeout: float = DRIVE_TIMEOUT):
    deadline = time.monotonic() + timeout
    while (found := await browser.evaluate(expression)) is None:
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.5)
    return found


async def drive(lab: Lab, chapter: Path) -> dict:
    """Open the printed URL, read the rendered chapter, run every cell, wait past the autosave interval, save
    as Ctrl+S does, and close the tab; what the page showed, and the chapter's mtime at each step."""
    browser, facts = Browser(find_chromium()), {}
    try:
        await browser.connect()
        await browser.call("Page.navigate", session=True, url=lab.url)
        await browser.wait_for("Page.loadEventFired", timeout=DRIVE_TIMEOUT)
        facts["opened"] = await poll(browser, NOTEBOOK, f"{CHAPTER} open as a notebook, its prose rendered")
        await command(browser, "notebook:run-all-cells")
        facts["ran"] = await poll(browser, RAN, "every code cell run")
        await asyncio.sleep(5)  # five autosave intervals of the test's settings
        facts["dirty_after_wait"] = await browser.evaluate(DIRTY)
        facts["mtime_before_save"] = chapter.stat().st_mtime_ns
        await command(browser, "docmanager:save")
        facts["dirty_after_save"] = await browser.evaluate(DIRTY)
        facts["mtime_after_save"] = chapter.stat().st_mtime_ns
        # a reader who ran a cell since, and closes the tab: Lab asks, and Discard closes it unsaved
        await browser.evaluate(f"{DIRTY} = true")
        await browser.evaluate("window.jupyterapp.shell.currentWidget.close()")
        facts["dialog"] = await poll(
            browser, DIALOG, "Lab's dialog on closing a modified notebook", timeout=60
        )
        await browser.evaluate(DISCARD)
        facts["closed"] = await poll(
            browser,
            f"![...window.jupyterapp.shell.widgets('main')].some(w => w.context && w.context.path === "
            f"{json.dumps(CHAPTER)}) || null",
            "the chapter's tab closed",
            timeout=60,
        )
    finally:
        browser.close()
        for session in lab.api("/api/sessions"):  # the kernel the page started
            lab.api(f"/api/sessions/{session['id']}", "DELETE")
    return facts


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", CHAPTER], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(find_chromium() is None, reason="no chromium on PATH")
def test_a_reader_opens_runs_and_closes_chapter_one_in_lab_and_the_chapter_is_unchanged(lab):
    from lorabook.rank import dense_params

    chapter = ROOT / CHAPTER
    original, status, mtime = chapter.read_bytes(), git_status(), chapter.stat().st_mtime_ns
    checkpoints = chapter.parent / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    try:
        facts = asyncio.run(drive(lab, chapter))
        after = chapter.read_bytes()
    finally:
        if not had_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)  # the server's copy from the save (ignored by git)

    opened, ran = facts["opened"], facts["ran"]
    assert opened["notebook"], "the printed URL opens the chapter as a notebook (jupytext's viewer)"
    # jupyterlab-myst renders every Markdown cell: admonitions, figures; no MyST syntax is left as text
    assert opened["myst"] == opened["markdown"] > 0
    assert opened["admonitions"] >= 1
    assert opened["images"] and all(width > 0 for width in opened["images"])
    for raw in ("{glue", "{cite", "{numref", ":::", "```"):
        assert raw not in opened["prose"], raw
    assert not re.search(r"\(ch-[\w-]+\)=", opened["prose"]), "a label shows as text"
    # a {glue:text} role shows its key (jupyterlab-myst knows no glue); the glue cell's table has the value
    source = chapter.read_text()
    keys = set(re.findall(r"\{glue:text\}`(\w+)", source))
    assert keys and all(key in opened["prose"] for key in keys)
    table = {row[0]: row[1] for row in ran["rows"] if len(row) == 2}
    assert keys <= set(table), f"glued values without a row in a table: {sorted(keys - set(table))}"
    assert table["ch1_full"] == f"{dense_params(4096, 4096):,}"
    assert ran["errors"] == []
    # autosave is off: running marks the chapter modified, and nothing writes it
    assert ran["dirty"] and facts["dirty_after_wait"]
    assert facts["mtime_before_save"] == mtime
    # a save (Ctrl+S) writes the file, and the same bytes: the kernelspec is the one Lab writes
    assert not facts["dirty_after_save"] and facts["mtime_after_save"] > mtime
    assert "Discard" in facts["dialog"] and facts["closed"]
    assert after == original, "Lab rewrote the chapter"
    assert git_status() == status
