"""The executed book's pages show what the notebooks computed: tables as tables, figures as images.

Runs on a build whose notebooks were executed (``make test-build`` executes them in the ``smoke``
profile into ``_build/check``; ``make book`` in the ``book`` profile into ``_build``). For every
chapter page it compares the page with the executed notebook that produced it
(``<build>/jupyter_execute/notebooks/*.ipynb``):

* every Markdown table a code cell printed (``display(Markdown(...))``) is an HTML ``<table>`` in
  the page, and no output paragraph is a row of pipe characters (what CommonMark makes of a table);
* every figure a code cell drew (``image/png`` or ``image/svg+xml``) is an ``<img>`` in the page;
* no glue role was left unresolved (``{glue:text}`` in the text means a key was never glued).

No browser needed; skipped when the build is missing. ``BOOK_HTML_DIR`` points at the HTML folder.
"""
from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML_DIR = Path(os.environ.get("BOOK_HTML_DIR", ROOT / "_build" / "html"))
if not HTML_DIR.is_absolute():
    HTML_DIR = ROOT / HTML_DIR
EXECUTED_DIR = HTML_DIR.parent / "jupyter_execute" / "notebooks"

TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.MULTILINE)
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")
HIDDEN = {"remove-output", "remove-cell"}


def notebook_outputs(path: Path) -> dict[str, int]:
    """Markdown and HTML tables and images among the outputs of an executed notebook's visible cells."""
    counts = {"tables": 0, "images": 0}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code" or HIDDEN & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/markdown" in data:
                text = data["text/markdown"]
                counts["tables"] += len(TABLE_RULE.findall("".join(text) if isinstance(text, list) else text))
            elif "text/html" in data:  # an HTML table (Chapter 11's, with two header rows)
                text = data["text/html"]
                counts["tables"] += ("".join(text) if isinstance(text, list) else text).count("<table")
            counts["images"] += any(kind in data for kind in IMAGE_TYPES)
    return counts


class OutputScanner(HTMLParser):
    """Counts ``<table>`` and ``<img>`` inside myst-nb's ``cell_output`` containers, and keeps the
    text of the paragraphs there (a CommonMark-rendered table is a paragraph of pipes)."""

    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []  # for each open <div>: does it start a cell output?
        self.tables = self.images = 0
        self.paragraphs: list[str] = []
        self._in_p = False
        self.text: list[str] = []

    @property
    def in_output(self) -> bool:
        return any(self.stack)

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div":
            self.stack.append("cell_output" in classes)
        elif self.in_output and tag == "table":
            self.tables += 1
        elif self.in_output and tag == "img":
            self.images += 1
        elif self.in_output and tag == "p":
            self._in_p, self.paragraphs = True, self.paragraphs + [""]

    def handle_endtag(self, tag):
        if tag == "div" and self.stack:
            self.stack.pop()
        elif tag == "p":
            self._in_p = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_p and self.paragraphs:
            self.paragraphs[-1] += data


def scan(html: str) -> OutputScanner:
    scanner = OutputScanner()
    scanner.feed(html)
    return scanner


def test_scanner_tells_a_table_from_a_paragraph_of_pipes():
    table = ('<div class="cell_output docutils container"><div class="output text_markdown">'
             "<table><tr><td>1</td></tr></table><img src='a.png'/></div></div>")
    pipes = '<div class="cell_output docutils container"><p>| a | b |\n|---|---|\n| 1 | 2 |</p></div>'
    outside = "<div class='cell_input'><table></table></div>"
    assert (scan(table).tables, scan(table).images) == (1, 1)
    assert scan(pipes).tables == 0 and TABLE_RULE.search(scan(pipes).paragraphs[0])
    assert scan(outside).tables == 0  # a table outside a cell output is not a printed result


def _pages() -> list[tuple[Path, Path]]:
    if not EXECUTED_DIR.is_dir():
        return []
    return [(nb, HTML_DIR / "notebooks" / f"{nb.stem}.html") for nb in sorted(EXECUTED_DIR.glob("*.ipynb"))]


needs_build = pytest.mark.skipif(not _pages(), reason=f"no executed build at {EXECUTED_DIR} (run make test-build)")


@needs_build
@pytest.mark.parametrize("notebook, page", _pages(), ids=lambda p: p.stem)
def test_page_shows_every_printed_table_and_figure(notebook, page):
    assert page.is_file(), f"{page} missing: the notebook was executed but not rendered"
    expected = notebook_outputs(notebook)
    found = scan(page.read_text(encoding="utf-8"))
    raw = [p for p in found.paragraphs if TABLE_RULE.search(p)]
    assert not raw, f"{page.name}: tables rendered as text: {raw[0][:120]!r}"
    assert found.tables >= expected["tables"], (page.name, found.tables, expected)
    assert found.images >= expected["images"], (page.name, found.images, expected)
    assert "{glue" not in "".join(found.text), f"{page.name}: an unresolved glue role"


@needs_build
def test_the_results_chapters_print_tables_and_figures():
    """The chapters with results print at least one table and one figure (the build did execute)."""
    counts = {nb.stem: notebook_outputs(nb) for nb, _ in _pages()}
    for name, c in counts.items():
        if name[:2].isdigit():
            assert c["tables"] >= 1 and c["images"] >= 1, (name, c)
