"""Render the built book in headless Chromium and check that it works offline.

For every page of the build (``$BOOK_HTML_DIR``, default ``_build/html``):

* the maths is typeset (MathJax's ``<mjx-container>`` elements exist on pages with maths), and
  saved ipywidgets are rendered by the local html-manager;
* every ``<img>`` points at an existing local file;
* no ``script``/``link``/``img``/``iframe``/... element in the rendered DOM, in the static HTML, or
  in the local CSS/JS it loads points at a remote ``http(s)://`` URL (plain ``<a href>`` links to
  papers are fine);
* the browser makes no network request at all while rendering: Chromium is pointed at a tiny
  recording proxy on localhost that refuses everything and remembers what was asked.

Skipped when Chromium or the build is missing. `make test` builds the book with every notebook
executed in the smoke profile (`make test-build`) and sets ``BOOK_HTML_DIR`` accordingly; the
pages therefore carry their figures, tables and glued numbers.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_OWN_HOSTS, REMOTE, RecordingProxy, request_host

ROOT = Path(__file__).resolve().parent.parent
HTML_DIR = Path(os.environ.get("BOOK_HTML_DIR", ROOT / "_build" / "html"))
if not HTML_DIR.is_absolute():
    HTML_DIR = ROOT / HTML_DIR


# Element attributes that make a browser fetch something (an <a href> does not).
FETCHING = {
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",),
    "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",),
    "embed": ("src",), "object": ("data",), "input": ("src",),
}


def _pages() -> list[Path]:
    if not HTML_DIR.is_dir():
        return []
    skip = {"_static", "_sources", "_images", ".doctrees", "_sphinx_design_static"}
    return sorted(p for p in HTML_DIR.rglob("*.html") if not skip & set(p.relative_to(HTML_DIR).parts))


PAGES = _pages()
needs_build = pytest.mark.skipif(not PAGES, reason=f"no built book in {HTML_DIR} (run `make book` or `make test`)")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")


class _Elements(HTMLParser):
    """Collects (tag, attribute, value) for every fetching attribute, and all <img> sources."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fetches: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is not None and name in FETCHING.get(tag, ()):
                self.fetches.append((tag, name, value))

    handle_startendtag = handle_starttag


def _fetches(html: str) -> list[tuple[str, str, str]]:
    parser = _Elements()
    parser.feed(html)
    return parser.fetches


def _urls(tag: str, attr: str, value: str) -> list[str]:
    if attr == "srcset":
        return [part.strip().split()[0] for part in value.split(",") if part.strip()]
    return [value]


def _local_file(page: Path, url: str) -> Path | None:
    """The file a relative URL on `page` points at, or None for data:/blob: URLs."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return None
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return (page.parent / unquote(parts.path)).resolve()


def _redirect_target(page: Path) -> Path:
    """The page a browser ends up on: follows a `<meta http-equiv="refresh">` redirect (index.html)."""
    html = page.read_text(encoding="utf-8")
    match = re.search(r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]+content=["'][^"']*url=([^"'>]+)""",
                      html, flags=re.IGNORECASE)
    if match:
        target = (page.parent / unquote(match.group(1).strip())).resolve()
        if target.is_file():
            return target
    return page


def _has_math(html: str) -> bool:
    return re.search(r'class="[^"]*\bmath\b', html) is not None


# ------------------------------------------------------------------ recording proxy + renderer

@pytest.fixture(scope="module")
def rendered():
    """page -> (dumped DOM, remote requests made while rendering it). Renders lazily, once."""
    proxy = RecordingProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    cache: dict[Path, tuple[str, list[str]]] = {}

    def render(page: Path) -> tuple[str, list[str]]:
        if page not in cache:
            with tempfile.TemporaryDirectory() as profile:
                before = len(proxy.requests)
                result = subprocess.run(
                    [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-default-apps",
                     f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}",
                     "--window-size=1280,1600", "--virtual-time-budget=10000",
                     "--dump-dom", page.as_uri()],
                    capture_output=True, text=True, timeout=180)
                assert result.returncode == 0, f"chromium failed on {page}: {result.stderr[-2000:]}"
                requests = [r for r in proxy.requests[before:]
                            if not CHROMIUM_OWN_HOSTS.search(request_host(r))]
                cache[page] = (result.stdout, requests)
        return cache[page]

    yield render
    proxy.shutdown()
    proxy.server_close()


def _ids(pages):
    return [str(p.relative_to(HTML_DIR)) for p in pages]


# ------------------------------------------------------------------ tests needing only the build

@needs_build
def test_book_has_intro_and_notebook_pages():
    names = set(_ids(PAGES))
    assert "index.html" in names and "book/intro.html" in names
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{notebook.stem}.html" in names, f"no page built for {notebook.name}"


@needs_build
@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_static_page_loads_only_local_files(page):
    """Checked without a browser: every script/stylesheet/image in the HTML is a local file."""
    html = page.read_text(encoding="utf-8")
    for tag, attr, value in _fetches(html):
        for url in _urls(tag, attr, value):
            assert not REMOTE.match(url), f"{page.name}: <{tag} {attr}={url!r}> loads from the web"
            target = _local_file(page, url)
            if target is not None and tag in ("script", "img"):
                assert target.is_file(), f"{page.name}: <{tag} {attr}={url!r}> is missing ({target})"
    if _has_math(html):
        mathjax = [v for t, a, v in _fetches(html) if t == "script" and "mathjax" in v.lower()]
        assert mathjax, f"{page.name} has maths but loads no MathJax"
        assert all(urlsplit(v).path.endswith("_static/mathjax/tex-chtml.js") for v in mathjax), mathjax


@needs_build
def test_local_css_and_js_reference_nothing_remote():
    """Stylesheets must not @import or url() remote files; scripts must not inject remote src/href."""
    css_remote = re.compile(r"""(@import\s+(url\()?\s*["']?|url\(\s*["']?)(https?:)?//""", re.IGNORECASE)
    js_remote = re.compile(r"""(?<!<a )\b(src|href)\s*[=:]\s*["'](https?:)?//""", re.IGNORECASE)
    offenders = []
    static = HTML_DIR / "_static"
    loaded: set[Path] = set()
    for page in PAGES:
        for tag, attr, value in _fetches(page.read_text(encoding="utf-8")):
            if tag in ("script", "link") and not REMOTE.match(value):
                target = _local_file(page, value)
                if target is not None and target.suffix in (".js", ".css") and target.is_file():
                    loaded.add(target)
    loaded |= set(static.glob("*.css")) | set((static / "styles").glob("*.css"))
    for path in sorted(loaded):
        text = path.read_text(encoding="utf-8", errors="replace")
        pattern = css_remote if path.suffix == ".css" else js_remote
        for match in pattern.finditer(text):
            offenders.append(f"{path.relative_to(HTML_DIR)}: ...{text[max(0, match.start() - 40):match.end() + 40]}...")
    assert not offenders, "remote references in local assets:\n" + "\n".join(offenders)


# ------------------------------------------------------------------ tests in a real browser

@needs_build
@needs_chromium
@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_page_renders_offline(page, rendered):
    dom, requests = rendered(page)
    name = str(page.relative_to(HTML_DIR))
    page = _redirect_target(page)  # relative URLs in the DOM are relative to where we ended up
    assert "</html>" in dom.lower() or "</body>" in dom.lower(), f"{name}: empty DOM"
    assert not requests, f"{name}: the browser tried to reach the network: {requests}"
    for tag, attr, value in _fetches(dom):
        for url in _urls(tag, attr, value):
            assert not REMOTE.match(url), f"{name}: rendered DOM has <{tag} {attr}={url!r}>"
            if tag == "img":
                target = _local_file(page, url)
                assert target is None or target.is_file(), f"{name}: broken image {url!r}"
    source = page.read_text(encoding="utf-8")
    if _has_math(source):
        assert "<mjx-container" in dom, f"{name}: maths present but not typeset by MathJax"
        assert "MathJax.js?config" not in dom and "<mjx-merror" not in dom, f"{name}: MathJax error"
    if "application/vnd.jupyter.widget-view+json" in source:
        assert re.search(r'<div[^>]+class="[^"]*\bjupyter-widgets\b', dom), (
            f"{name}: the page has ipywidgets but the local html-manager rendered none")
