"""Fast checks of the book's structure: table of contents, notebooks, citations, offline config.

These need no build and no browser; they run in a second as part of `make test`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _load_yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def _toc_entries(node) -> list[str]:
    """Every `file:` (and the root) of a jb-book toc, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(str(node[key]))
        for value in node.values():
            if isinstance(value, (list, dict)):
                found += _toc_entries(value)
    elif isinstance(node, list):
        for item in node:
            found += _toc_entries(item)
    return found


def _resolve(entry: str) -> Path | None:
    """The source file of a toc entry (entries may omit the extension)."""
    path = ROOT / entry
    if path.suffix in (".md", ".ipynb") and path.is_file():
        return path
    for suffix in (".md", ".ipynb"):
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    return None


TOC = _load_yaml("_toc.yml")
TOC_ENTRIES = _toc_entries(TOC)


def test_toc_is_jb_book_with_root():
    assert TOC.get("format") == "jb-book"
    assert TOC.get("root") == "book/intro"
    assert TOC_ENTRIES[0] == "book/intro"


@pytest.mark.parametrize("entry", TOC_ENTRIES)
def test_toc_entry_exists(entry):
    assert _resolve(entry) is not None, f"_toc.yml lists {entry!r} but no .md/.ipynb file exists"


def test_toc_has_no_duplicates():
    duplicates = {e for e in TOC_ENTRIES if TOC_ENTRIES.count(e) > 1}
    assert not duplicates, f"listed more than once in _toc.yml: {sorted(duplicates)}"


def test_every_notebook_is_in_toc():
    listed = {str(_resolve(e).relative_to(ROOT)) for e in TOC_ENTRIES if _resolve(e)}
    missing = [str(nb.relative_to(ROOT)) for nb in NOTEBOOKS if str(nb.relative_to(ROOT)) not in listed]
    assert not missing, f"notebooks missing from _toc.yml: {missing}"


def test_toc_notebooks_in_chapter_order():
    """Chapters are numbered by file name (00_, 01_, ...): the toc must keep that order."""
    numbered = [Path(e).name for e in TOC_ENTRIES if re.match(r"notebooks/\d\d_", e)]
    assert numbered == sorted(numbered)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(notebook):
    """Notebooks are committed without outputs or execution counts; the build executes them."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    dirty = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            dirty.append(f"cell {index}: has outputs")
        if cell.get("execution_count") is not None:
            dirty.append(f"cell {index}: execution_count={cell['execution_count']}")
    assert not dirty, f"{notebook.name} is stored with outputs; clear them before committing: {dirty}"


#: longest code line of a notebook cell: the rendered book shows about 88 characters without
#: scrolling sideways
MAX_CODE_LINE = 88


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_lines_fit_the_page(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    long = [f"cell {i}: {len(line)} chars: {line.strip()[:50]}..."
            for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, f"{notebook.name}: code lines over {MAX_CODE_LINE} characters: {long[:5]}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_python_kernelspec_and_title(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    kernelspec = nb.get("metadata", {}).get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"{notebook.name}: kernelspec name must be 'python3'"
    first = next((c for c in nb["cells"] if c.get("cell_type") == "markdown"), None)
    assert first is not None and "".join(first["source"]).lstrip().startswith("# "), (
        f"{notebook.name}: the first markdown cell must start with a '# Title' heading")


# ------------------------------------------------------------------ citations

def _bib_keys() -> set[str]:
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    return set(re.findall(r"^@\w+\s*\{\s*([^,\s]+)\s*,", text, flags=re.MULTILINE))


CITE_ROLE = re.compile(r"\{cite(?::[a-zA-Z]+)?\}`([^`]+)`")


def _cited_keys() -> dict[str, set[str]]:
    """key -> set of files that cite it, from book/*.md and the markdown cells of notebooks."""
    sources: list[tuple[str, str]] = []
    for md in sorted((ROOT / "book").glob("*.md")):
        sources.append((str(md.relative_to(ROOT)), md.read_text(encoding="utf-8")))
    for nb_path in NOTEBOOKS:
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        text = "\n".join("".join(c.get("source", [])) for c in nb.get("cells", []))
        sources.append((str(nb_path.relative_to(ROOT)), text))
    cited: dict[str, set[str]] = {}
    for name, text in sources:
        for match in CITE_ROLE.finditer(text):
            for key in match.group(1).split(","):
                cited.setdefault(key.strip(), set()).add(name)
    return cited


def test_bib_keys_are_unique():
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\s*\{\s*([^,\s]+)\s*,", text, flags=re.MULTILINE)
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicates, f"duplicate BibTeX keys: {duplicates}"


def test_the_ten_papers_are_in_the_bibliography():
    ten = {"pathak2016context", "yang2017msnps", "iizuka2017glcic", "demir2018pggan",
           "yan2018shiftnet", "yu2018contextual", "wang2018gmcnn", "liu2018partial",
           "nazeri2019edgeconnect", "yu2019gated"}
    assert ten <= _bib_keys(), f"missing: {sorted(ten - _bib_keys())}"


def test_every_citation_resolves():
    keys = _bib_keys()
    cited = _cited_keys()
    assert cited, "no {cite} roles found at all: the regex or the sources are broken"
    unknown = {key: sorted(files) for key, files in cited.items() if key not in keys}
    assert not unknown, f"cited but not in book/references.bib: {unknown}"


# ------------------------------------------------------------------ offline configuration

CONFIG = _load_yaml("_config.yml")
SPHINX = (CONFIG.get("sphinx") or {}).get("config") or {}
REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)


def test_config_basics():
    assert CONFIG["title"] == "Deep Image Inpainting, Rebuilt"
    assert CONFIG["execute"]["execute_notebooks"] == "cache"  # emptied by scripts/book_inputs.py
    assert CONFIG["execute"]["allow_errors"] is False
    assert CONFIG["only_build_toc_files"] is True
    assert CONFIG["bibtex_bibfiles"] == ["book/references.bib"]
    for ext in ("dollarmath", "amsmath"):
        assert ext in CONFIG["parse"]["myst_enable_extensions"]
    # printed Markdown tables become HTML tables (CommonMark, the default, has no tables)
    assert SPHINX["nb_render_markdown_format"] == "myst"


def test_web_assets_are_local_in_config():
    assert not REMOTE.match(SPHINX["mathjax_path"]), SPHINX["mathjax_path"]
    for path, attrs in SPHINX["nb_ipywidgets_js"].items():
        assert not REMOTE.match(path), f"nb_ipywidgets_js loads {path} from the web"
        for value in (attrs or {}).values():
            assert not REMOTE.match(str(value)), f"nb_ipywidgets_js attribute points at {value}"
    assert SPHINX["html_static_path"] == ["book/_offline"]
    assert not (ROOT / "_static").exists(), (
        "a top-level _static/ folder makes Jupyter Book inject every .js in it into every page")
    launch = CONFIG.get("launch_buttons", {})
    assert not launch.get("thebe") and not launch.get("binderhub_url") and not launch.get("colab_url")
    assert not any(CONFIG.get("html", {}).get("comments", {}).values())


def test_offline_asset_paths_exist_when_fetched():
    offline = ROOT / "book" / "_offline"
    if not offline.is_dir():
        pytest.skip("book/_offline not fetched yet (scripts/fetch_web_assets.sh)")
    assert (offline / SPHINX["mathjax_path"]).is_file()
    for path in SPHINX["nb_ipywidgets_js"]:
        assert (offline / path).is_file(), path


def test_no_execute_config_variant(tmp_path):
    """scripts/book_config.py (``make test`` uses it with ``--execute force``) only switches execution."""
    import subprocess
    import sys

    out = tmp_path / "_config.yml"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "book_config.py"), "--execute", "off",
                    "--out", str(out)], check=True, capture_output=True)
    variant = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert variant["execute"]["execute_notebooks"] == "off"
    variant["execute"]["execute_notebooks"] = CONFIG["execute"]["execute_notebooks"]
    assert variant == CONFIG
