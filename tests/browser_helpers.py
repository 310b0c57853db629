"""What the browser tests share: finding Chromium, and a proxy that records every remote request.

Chromium is pointed at ``RecordingProxy`` (``--proxy-server``): the proxy answers every request
with 403 and remembers its request line, so a test can assert that a page reached nothing
outside localhost (Chromium sends localhost requests directly, not through the proxy).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socketserver
import subprocess
from urllib.parse import urlsplit


def find_chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = find_chromium()
REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# Hosts that Chromium itself contacts (updates, time, sign-in) whatever the page: not the book's fault.
# (fonts.googleapis.com, fonts.gstatic.com and any CDN are NOT in this list.)
CHROMIUM_OWN_HOSTS = re.compile(
    r"^(update|clientservices|optimizationguide-pa|safebrowsing|content-autofill|android\.clients)"
    r"\.googleapis\.com$|^(clients\d*|accounts|www|android\.clients)\.google\.com$|(^|\.)gvt1\.com$")


class RecordingProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.requests: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline(65536).decode("latin-1").strip()
                if line:
                    proxy.requests.append(line)
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        super().__init__(("127.0.0.1", 0), Handler)


def request_host(line: str) -> str:
    method, _, rest = line.partition(" ")
    target = rest.split(" ")[0]
    if method == "CONNECT":
        return target.rsplit(":", 1)[0]
    return urlsplit(target).hostname or target


def find_chromedriver() -> str | None:
    """Debian's chromium-driver (``/usr/bin/chromedriver``), or one on the PATH."""
    if os.access("/usr/bin/chromedriver", os.X_OK):
        return "/usr/bin/chromedriver"
    return shutil.which("chromedriver")


CHROMEDRIVER = find_chromedriver()


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True``: its whole process group, politely
    (SIGTERM, 20 s), then for good (SIGKILL)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
