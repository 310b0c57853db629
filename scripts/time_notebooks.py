"""Where a build of the book spends its time: execute notebooks as the book does and time every cell.

    .venv/bin/python scripts/time_notebooks.py [NOTEBOOK ...] [--jobs 2] [--top 5] [--out DIR]

Each notebook runs in its own kernel with ``notebooks/`` as its working directory and the
environment of this process (set ``INPAINT_PROFILE``; ``make book`` uses ``book``). Prints each
notebook's wall time and its slowest cells (seconds, cell index, first line), then the total.
The executed copies go to ``--out`` (default ``_build/timed``) for a look at their outputs.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def _seconds(cell) -> float:
    """The cell's execution time from the timestamps nbclient records (0 when it did not run)."""
    t = cell.get("metadata", {}).get("execution", {})
    start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def run(path: str, out: str, timeout: int) -> tuple[str, float, list[tuple[float, int, str]]]:
    """Execute one notebook; (name, wall seconds, [(seconds, cell index, first line)])."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    wall = time.perf_counter() - start
    Path(out).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, Path(out) / Path(path).name)
    cells = [(_seconds(c), i, (c.source.splitlines() or [""])[0][:70])
             for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return Path(path).stem, wall, sorted(cells, reverse=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: every notebook in notebooks/")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed at once")
    parser.add_argument("--top", type=int, default=5, help="slowest cells shown per notebook")
    parser.add_argument("--out", default=str(ROOT / "_build" / "timed"))
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run, p, args.out, args.timeout) for p in paths]
        for fut in futures:
            name, wall, cells = fut.result()
            print(f"{name}: {wall:.0f} s")
            for sec, i, line in cells[:args.top]:
                print(f"    {sec:7.1f} s  cell {i:3d}  {line}")
            sys.stdout.flush()
    print(f"total wall time: {time.perf_counter() - start:.0f} s with {args.jobs} job(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
