"""The built book as a reader's browser shows it: headless Chromium, driven over the DevTools protocol.

    python -m bookbuild.browsercheck _build/html --shots _build/screenshots    # = make browser-check

It serves the site on loopback, opens every page of the table of contents at 1280 px, waits for MathJax,
and reports per page: math elements typeset (and raw TeX or MathJax errors left), images that did not load
or whose alt text is a file name, output cells that show stderr, console errors (exceptions, failed
requests), internal links whose file or anchor is missing, and the page's height; it saves a full-page
screenshot of each. Exit status 1 when any page has a problem. It needs a `chromium` (Debian's package) and
talks to it through tornado's websocket client, which the book's toolchain already installs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import http.server
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

WIDTH, HEIGHT = 1280, 900
MAX_SHOT = 16384  # Chromium's largest texture: longer pages are cut in the screenshot only

COLLECT = r"""(() => {
  const maths = [...document.querySelectorAll('.math')];
  const raw = maths.filter(m => !m.querySelector('mjx-container') && /\\\(|\\\[|\$/.test(m.textContent));
  const imgs = [...document.querySelectorAll('article img, main img')].map(i => ({
    src: i.getAttribute('src'), width: i.naturalWidth, alt: (i.getAttribute('alt') || '').trim()}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  return {
    math: maths.length, typeset: maths.length - raw.length,
    raw: raw.slice(0, 3).map(m => m.textContent.slice(0, 60)),
    merror: document.querySelectorAll('mjx-merror').length,
    images: imgs, links: links,
    stderr: document.querySelectorAll('.output.stderr, .cell_output .stderr').length,
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    height: document.documentElement.scrollHeight,
  };
})()"""

MATHJAX_DONE = """(async () => {
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  return !!window.MathJax;
})()"""


def toc_pages(root: Path) -> list[str]:
    """The pages of _toc.yml, as paths relative to the site root (root page first)."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [f + ".html" for f in files]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    missing: list = []

    def log_message(self, *args):  # no request log on the terminal
        pass

    def send_error(self, code, message=None, explain=None):
        if code == 404:
            self.missing.append(self.path)
        super().send_error(code, message, explain)


def serve(site: Path):
    """An HTTP server for `site` on a free loopback port, in a thread. Returns (server, base URL)."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


class Browser:
    """One headless Chromium and one tab, over the DevTools protocol (flattened sessions)."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="lorabook-chromium-")
        args = [
            executable,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.url = None
        deadline = time.time() + 30
        while time.time() < deadline and self.url is None:
            line = self.proc.stderr.readline()
            if found := re.search(r"DevTools listening on (ws://\S+)", line):
                self.url = found[1]
        if self.url is None:
            self.close()
            raise RuntimeError(f"{executable} did not start its DevTools endpoint within 30 s")
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    async def connect(self):
        from tornado.websocket import websocket_connect

        self.ws = await websocket_connect(self.url, max_message_size=1 << 30)
        target = await self.call("Target.createTarget", url="about:blank")
        session = await self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        self.session = session["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.call(f"{domain}.enable", session=True)
        await self.viewport(HEIGHT)

    async def call(self, method: str, session: bool = False, **params):
        i = next(self.ids)
        message = {"id": i, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        await self.ws.write_message(json.dumps(message))
        while True:
            reply = json.loads(await self.ws.read_message())
            if reply.get("id") == i:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    async def wait_for(self, method: str, timeout: float = 30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for k, e in enumerate(self.events):
                if e.get("method") == method:
                    del self.events[k]
                    return e
            try:
                reply = await asyncio.wait_for(
                    self.ws.read_message(), timeout=max(0.1, deadline - time.time())
                )
            except asyncio.TimeoutError:
                break
            self.events.append(json.loads(reply))
        raise TimeoutError(f"no {method} within {timeout} s")

    async def evaluate(self, expression: str):
        out = await self.call(
            "Runtime.evaluate", session=True, expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in out:
            raise RuntimeError(f"evaluating in the page failed: {out['exceptionDetails']}")
        return out["result"].get("value")

    def console_errors(self) -> list[str]:
        """Errors the page reported since the last call: exceptions, console.error, failed requests."""
        found = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                found.append(
                    d.get("exception", {}).get("description", d.get("text", "exception")).splitlines()[0]
                )
            elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
                found.append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                )
            elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                found.append(f"{p['entry']['text']} {p['entry'].get('url', '')}".strip())
        self.events = []
        return found

    async def viewport(self, height: int) -> None:
        """A desktop window WIDTH px wide and `height` px tall."""
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=WIDTH,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def screenshot(self, path: Path, height: int) -> None:
        await self.viewport(min(height, MAX_SHOT))  # the whole page in one capture
        shot = await self.call(
            "Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        await self.viewport(HEIGHT)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def problems(page: str, found: dict, errors: list[str], site: Path, ids: dict[str, set]) -> list[str]:
    """What a reader would trip over on `page`, from the collected facts."""
    out = []
    if found["typeset"] < found["math"] or found["merror"]:
        out.append(
            f"math typeset {found['typeset']}/{found['math']}, {found['merror']} MathJax errors, "
            f"raw: {found['raw']}"
        )
    for img in found["images"]:
        name = Path(urlparse(img["src"] or "").path).name
        if img["width"] == 0:
            out.append(f"image did not load: {img['src']}")
        if not img["alt"] or img["alt"] == name or re.fullmatch(r"[\w./-]+\.(png|svg|jpe?g|gif)", img["alt"]):
            out.append(f"image without real alt text: {img['src']} (alt {img['alt']!r})")
    if found["stderr"]:
        out.append(f"{found['stderr']} output cells show stderr")
    out += [f"console error: {e}" for e in errors]
    for href in found["links"]:
        target = urlparse(urljoin("http://site/" + page, href))
        if target.netloc != "site":
            continue
        path = unquote(target.path.lstrip("/")) or "index.html"
        if not (site / path).is_file():
            out.append(f"broken link: {href}")
        elif target.fragment and path in ids and target.fragment not in ids[path]:
            out.append(f"broken anchor: {href}")
    return out


async def _check(site: Path, pages: list[str], shots: Path | None, executable: str) -> dict:
    server, base = serve(site)
    browser = Browser(executable)
    report = {}
    try:
        await browser.connect()
        ids = {}
        for page in pages:
            _Quiet.missing = []
            browser.events = []
            await browser.call("Page.navigate", session=True, url=base + page)
            await browser.wait_for("Page.loadEventFired")
            await browser.evaluate(MATHJAX_DONE)
            await asyncio.sleep(0.3)  # late console messages
            found = await browser.evaluate(COLLECT)
            ids[page] = set(found["ids"])
            errors = browser.console_errors() + [f"not found on the server: {p}" for p in _Quiet.missing]
            if shots is not None:
                await browser.screenshot(
                    shots / (page.replace("/", "_").removesuffix(".html") + ".png"), found["height"]
                )
            report[page] = {"found": found, "errors": errors}
        for page, entry in report.items():
            entry["problems"] = problems(page, entry["found"], entry["errors"], site, ids)
    finally:
        browser.close()
        server.shutdown()
    return report


def check(site: Path, shots: Path | None = None, executable: str | None = None, pages=None) -> dict:
    """Visit `pages` (default: every toc page) of the built `site`; returns {page: {"found", "errors",
    "problems"}}."""
    site = Path(site)
    executable = executable or find_chromium()
    if executable is None:
        raise FileNotFoundError(
            "no chromium on PATH: install Debian's `chromium` package (apt-get install chromium)"
        )
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"site must be a built book with an index.html, got {site}")
    if shots is not None:
        Path(shots).mkdir(parents=True, exist_ok=True)
    pages = pages or toc_pages(Path(__file__).resolve().parents[1])
    return asyncio.run(_check(site, pages, Path(shots) if shots else None, executable))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bookbuild.browsercheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument("site", nargs="?", default="_build/html", help="the built book (default _build/html)")
    parser.add_argument("--shots", default="_build/screenshots", help="where the full-page screenshots go")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        report = check(Path(args.site), Path(args.shots))
    except FileNotFoundError as exc:
        print(f"browser check: {exc}", file=sys.stderr)
        return 2
    bad = 0
    for page, entry in report.items():
        f = entry["found"]
        print(
            f"{page}: {f['height']:,} px, math {f['typeset']}/{f['math']}, {len(f['images'])} images, "
            f"{len(entry['problems'])} problems"
        )
        for p in entry["problems"]:
            print(f"    {p}")
        bad += bool(entry["problems"])
    total = sum(e["found"]["math"] for e in report.values())
    typeset = sum(e["found"]["typeset"] for e in report.values())
    print(
        f"{len(report)} pages, math typeset {typeset}/{total}, {bad} pages with problems, "
        f"{time.perf_counter() - start:.0f} s; screenshots in {args.shots}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
