"""Every notebook, executed once by the strict book build, ran every code cell without an error.

`make test` executes the notebooks once: the check build (`make test-build`, smoke profile, ``-W``,
``nb_execution_raise_on_error``) runs them and keeps the executed copies in
``_build/check/_build/jupyter_execute``. This file then checks those copies cell by cell, as an
nbval run in lax mode did (it compared no outputs, only that each cell ran and raised nothing):
the copy is of the current source, every code cell ran once in order, and none left an error.
`make test-notebooks` still runs nbval itself, for a developer working on one notebook.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = Path(os.environ.get("BOOK_EXECUTED_DIR", ROOT / "_build/check/_build/jupyter_execute")) / "notebooks"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_ran_once_in_order_without_an_error(notebook):
    executed = EXECUTED / notebook.name
    if not executed.is_file():
        pytest.skip(f"no executed copy at {executed}: run `make test-build` first")
    source, ran = _code_cells(notebook), _code_cells(executed)
    # the executed copy is of this source (a stale build would check old code)
    assert [_source(c) for c in ran] == [_source(c) for c in source], f"{executed} is not of the current source"
    counts = [c.get("execution_count") for c in ran if _source(c).strip()]
    assert counts == list(range(1, len(counts) + 1)), f"cells not run once in order: {counts}"
    for i, cell in enumerate(ran):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"code cell {i} raised {out.get('ename')}: {out.get('evalue')}"
            if out["output_type"] == "stream" and out.get("name") == "stderr":
                text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
                assert "Traceback" not in text, f"code cell {i} printed a traceback:\n{text[-1500:]}"
