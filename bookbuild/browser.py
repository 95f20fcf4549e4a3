"""Headless Chromium, driven over the DevTools protocol, and a loopback server for a built site.

bookbuild.browsercheck reads every page of the book with it; tests drive JupyterLab with it. It needs a
`chromium` (Debian's package) and talks to it through tornado's websocket client, which the book's toolchain
installs.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import http.server
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

# Each page is read as on a laptop and as on a phone: (width in CSS px, mobile).
DEVICES = {"laptop": (1280, False), "phone": (390, True)}
WIDTH, HEIGHT = DEVICES["laptop"][0], 900
MAX_SHOT = 16384  # Chromium's largest texture: longer pages are cut in the screenshot only


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
        await self.viewport("laptop", HEIGHT)

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

    async def viewport(self, device: str, height: int) -> None:
        """A window as wide as `device` (DEVICES) and `height` px tall."""
        self.device = device
        width, mobile = DEVICES[device]
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    async def screenshot(self, path: Path, height: int) -> None:
        await self.viewport(self.device, min(height, MAX_SHOT))  # the whole page in one capture
        shot = await self.call(
            "Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        await self.viewport(self.device, HEIGHT)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
