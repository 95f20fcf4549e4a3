"""`make lab` as the README says: JupyterLab serves the chapters as notebooks, and a click opens one."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_make_lab_opens_the_chapters_as_notebooks():
    port = free_port()
    flags = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token="
    lab = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_FLAGS={flags}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        chapter = get_json(f"{base}/api/contents/02_rank.md?type=notebook&content=1", deadline)
        assert chapter["type"] == "notebook"
        code = [c["source"] for c in chapter["content"]["cells"] if c["cell_type"] == "code"]
        assert any("glue(" in source for source in code)
        settings = get_json(f"{base}/lab/api/settings/@jupyterlab/docmanager-extension:plugin", deadline)
        viewers = settings["schema"]["properties"]["defaultViewers"]["default"]
        assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
