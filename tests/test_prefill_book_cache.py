"""scripts/prefill_book_cache.py: notebooks executed side by side land in the cache Jupyter Book reads."""
import importlib.util
import sys
from pathlib import Path

import nbformat
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("prefill_book_cache", ROOT / "scripts" / "prefill_book_cache.py")
prefill_book_cache = importlib.util.module_from_spec(_spec)
sys.modules["prefill_book_cache"] = prefill_book_cache  # its worker function is pickled by module name
_spec.loader.exec_module(prefill_book_cache)


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a page")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_notebooks_run_side_by_side_are_found_by_the_cache_and_a_failure_is_left_out(tmp_path):
    good = [_notebook(tmp_path / f"n{i}.ipynb", "import os", f"print({i} + 1, os.environ['OMP_NUM_THREADS'])")
            for i in range(2)]
    bad = _notebook(tmp_path / "bad.ipynb", "raise RuntimeError('broken on purpose')")
    cache_dir, lines = tmp_path / "cache", []
    done = prefill_book_cache.prefill(cache_dir, jobs=2, notebooks=good + [bad], log=lines.append)
    assert done["n0"] is not None and done["n1"] is not None and done["bad"] is None
    assert any("bad: failed" in line and "broken on purpose" in line for line in lines)
    cache = get_cache(str(cache_dir))
    for i, path in enumerate(good):  # what myst-nb's cache mode does with the page's notebook
        _, merged = cache.merge_match_into_notebook(nbformat.read(str(path), as_version=4))
        printed = merged.cells[2].outputs[0]["text"].split()
        assert printed[0] == str(i + 1) and int(printed[1]) >= 1  # its own output, with the threads it had
    assert prefill_book_cache.prefill(cache_dir, jobs=2, notebooks=good, log=lines.append) == {}  # cached: skipped


def test_the_book_notebooks_are_those_of_the_toc_in_order():
    names = [p.stem for p in prefill_book_cache.book_notebooks()]
    assert names[0] == "00_foundations" and "03b_glcic_results" in names and names[-1] == "12_try_it_yourself"
    assert all((ROOT / "notebooks" / f"{n}.ipynb").is_file() for n in names)
