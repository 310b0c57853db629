"""`make lab` works the way people run it: as root in a container, on a chosen address and port.

The test starts `make lab` on a free port (as root when the tests run as root, as in CI's
container), waits for JupyterLab to answer HTTP 200 on ``/lab`` and stops it.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser_helpers import stop_server

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("jupyterlab", reason="jupyterlab not installed (pip install -r requirements.txt)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_answers_on_slash_lab_also_as_root(tmp_path):
    port, token = _free_port(), "book-test-token"
    log = open(tmp_path / "lab.log", "w+")
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    server = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_PORT={port}"], cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status, deadline = None, time.time() + 120
        while time.time() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=3) as r:
                    status = r.status
                    break
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(1)
        log.seek(0)
        output = log.read()
        assert status == 200, f"make lab did not answer 200 on /lab (exit {server.poll()}):\n{output[-2000:]}"
        if os.geteuid() == 0:
            assert "passing --allow-root" in output
    finally:
        stop_server(server)
        log.close()
