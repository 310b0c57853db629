"""The "Try it yourself" app in a real browser: Voila on localhost, headless Chromium via Selenium.

The test starts `make demo`'s server (Voila, the book's offline template) on a free port, opens
it in headless Chromium (Debian's ``chromium`` and ``chromium-driver``) behind a proxy that
records every remote request, drags the mouse across the photo, and checks that

* the mask overlay changed,
* every interactive model's tile shows a new result image, and the slow one (MSNPS) shows one
  after the Fill button,
* the page reached nothing outside localhost.

It saves a screenshot to ``_build/demo/screenshot.png`` (the README's picture is a copy of it).
The server is stopped whatever happens. Skipped, saying why, without Chromium, its driver,
Selenium or Voila.
"""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from browser_helpers import CHROMEDRIVER, CHROMIUM, CHROMIUM_OWN_HOSTS, RecordingProxy, request_host, stop_server

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "12_try_it_yourself.ipynb"
SCREENSHOT = ROOT / "_build" / "demo" / "screenshot.png"

selenium = pytest.importorskip("selenium", reason="selenium not installed (pip install -r requirements.txt)")
pytest.importorskip("voila", reason="voila not installed (pip install -r requirements.txt)")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)"),
    pytest.mark.skipif(CHROMEDRIVER is None, reason="chromedriver not installed (apt-get install chromium-driver)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_http(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"voila exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url + "voila/static/", timeout=2):
                return
        except urllib.error.HTTPError:  # any HTTP answer (even 403/404) means the server is up
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"voila did not answer at {url} within {timeout:.0f} s")


@pytest.fixture
def demo_server(tmp_path):
    """Voila serving the demo notebook on a free port; stopped (process group) at the end."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(JUPYTER_PATH=str(ROOT / "scripts"), INPAINT_PROFILE="smoke", JUPYTER_RUNTIME_DIR=str(tmp_path))
    log = open(tmp_path / "voila.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", str(NOTEBOOK), f"--port={port}", "--no-browser",
         "--Voila.ip=127.0.0.1", "--template=offline", "--show_tracebacks=True"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_http(url, server, timeout=120)
        yield url
    finally:
        stop_server(server)
        log.close()
        print((tmp_path / "voila.log").read_text()[-3000:])


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    proxy = RecordingProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
                "--window-size=1400,1800", f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver, proxy
    finally:
        driver.quit()
        proxy.shutdown()
        proxy.server_close()


def _tile_images(driver) -> dict[str, str]:
    """model name -> src of its result image, for tiles whose image is shown."""
    found = {}
    for tile in driver.find_elements("css selector", ".demo-tile"):
        name = next(c[len("demo-tile-"):] for c in tile.get_attribute("class").split() if c.startswith("demo-tile-"))
        images = [i for i in tile.find_elements("css selector", "img.demo-result") if i.is_displayed()]
        found[name] = images[0].get_attribute("src") if images else ""
    return found


#: the app's box in window pixels: the union of its own box and its descendants' boxes, cut at the
#: bottom of the last tile (the tile grid overflows the app's box; the page goes on below)
_APP_EXTENT_JS = """
const app = document.querySelector('.demo-app');
const box = e => e.getBoundingClientRect();
const boxes = [app, ...app.querySelectorAll('*')].map(box).filter(b => b.width && b.height);
const tiles = [...app.querySelectorAll('.demo-tile')].map(box);
const left = Math.min(...boxes.map(b => b.left)), top = Math.min(...boxes.map(b => b.top));
const right = Math.max(...boxes.map(b => b.right));
const bottom = (tiles.length ? Math.max(...tiles.map(b => b.bottom)) : box(app).bottom) + 2;
return [left, top, right, bottom].map(Math.round);
"""
#: scroll the window and every scrolled element back to the top
_SCROLL_TO_TOP_JS = """
for (const e of document.querySelectorAll('*')) if (e.scrollTop) e.scrollTop = 0;
window.scrollTo(0, 0);
"""


def _save_whole_app(driver, path: Path) -> None:
    """Screenshot the whole app, every tile row included, as the README shows it.

    An element screenshot of ``.demo-app`` stops at the app's own box and at the window's
    bottom, and both cut the tile grid after its first row. So: make the window taller than the
    page (Chromium's device metrics: a window cannot outgrow
    the screen), scroll everything to the top (window and screenshot pixels then agree), take the
    window and crop it to the app's extent.
    """
    driver.execute_script(_SCROLL_TO_TOP_JS)
    bottom = driver.execute_script(_APP_EXTENT_JS)[3]
    # a taller window than the screen (set_window_size stops at the screen's height); the page's
    # own scroll height is no guide: the notebook scrolls inside an element of its own
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1400, "height": bottom + 100, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_script(_SCROLL_TO_TOP_JS)
    left, top, right, bottom = driver.execute_script(_APP_EXTENT_JS)
    window = Image.open(io.BytesIO(driver.get_screenshot_as_png()))
    assert bottom <= window.height, f"the window shot is {window.height} px tall, the app ends at {bottom} px"
    path.parent.mkdir(parents=True, exist_ok=True)
    window.crop((max(left, 0), max(top, 0), min(right, window.width), bottom)).save(path)


def test_painting_in_the_browser_fills_every_tile(demo_server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    driver, proxy = browser
    started = time.perf_counter()
    driver.get(demo_server)
    wait = WebDriverWait(driver, 240, poll_frequency=0.5)
    canvas = wait.until(lambda d: next(iter(d.find_elements("css selector", "img.demo-canvas")), None))
    # the notebook's own cells ran (strokes, then the centre square): wait until their fills show
    wait.until(lambda d: any(_tile_images(d).values()))
    wait.until(lambda d: "first result in" in d.find_element("css selector", ".demo-status").text)
    names = list(_tile_images(driver))
    loaded = time.perf_counter() - started
    # the last cell left a centre-square hole: clear it, so that the stroke below changes the mask
    cleared = canvas.get_attribute("src")
    next(b for b in driver.find_elements("css selector", "button") if b.text == "clear").click()
    wait.until(lambda d: canvas.get_attribute("src") != cleared)
    before_tiles, before_canvas = _tile_images(driver), canvas.get_attribute("src")

    # a short stroke through the middle: inside the 64x64 centre, so every model can fill it
    actions = ActionChains(driver)
    actions.move_to_element_with_offset(canvas, -40, -12).click_and_hold()
    for step in range(1, 9):
        actions.move_by_offset(10, 3)
    actions.release().perform()
    released = time.perf_counter()

    wait.until(lambda d: canvas.get_attribute("src") != before_canvas)
    slow = [n for n in names if "press Fill" in driver.find_element("css selector", f".demo-tile-{n}").text]
    fast = [n for n in names if n not in slow]

    def fast_ones_new(d):
        now = _tile_images(d)
        return all(now[n] and now[n] != before_tiles[n] for n in fast)

    wait.until(fast_ones_new)
    all_fast = time.perf_counter() - released
    assert fast, "no model ran at the release of the mouse"

    if slow:
        button = next(b for b in driver.find_elements("css selector", "button") if b.text.startswith("Fill"))
        mid_tiles = _tile_images(driver)
        button.click()
        wait.until(lambda d: all(_tile_images(d)[n] and _tile_images(d)[n] != mid_tiles[n] for n in slow))
    status = driver.find_element("css selector", ".demo-status").text
    assert "hole:" in status and "first result in" in status

    _save_whole_app(driver, SCREENSHOT)
    remote = [r for r in proxy.requests if not CHROMIUM_OWN_HOSTS.search(request_host(r))]
    assert not remote, f"the demo page reached the network: {remote}"
    print(f"demo in the browser: page ready {loaded:.1f} s, {len(fast)} interactive fills "
          f"{all_fast:.2f} s after release; status: {status!r}")
