#!/usr/bin/env python3
"""Execute the book's notebooks several at a time into jupyter-cache, before ``jupyter-book build``.

    python scripts/prefill_book_cache.py --cache _build/.jupyter_cache [--jobs 2]

``make book`` builds with ``execute_notebooks: cache``: Jupyter Book executes, one after the
other, every notebook the cache has no record of. On a fresh clone that is all of them, and
most of a first build is spent there. This script does the same execution first, ``--jobs`` at
a time, each kernel with ``cores / jobs`` torch threads (``OMP_NUM_THREADS``), and stores each
executed notebook in the same cache, the way myst-nb's cache mode does (its
``single_nb_execution``, then ``cache_notebook_bundle`` keyed on the notebook's code). Jupyter
Book then finds every notebook cached and only renders. Why it is faster on a small machine:
a notebook spends much of its time in work that one core does (starting a kernel, importing,
plotting, Python between torch calls), and torch's small convolutions gain less than twice from
a second thread; two notebooks side by side keep both cores busy.

A notebook already in the cache is skipped. One that fails is not cached: Jupyter Book then
executes it again itself and reports the error the usual way. The longest notebooks start first
(``EXPECTED_SECONDS``, measured with ``scripts/time_notebooks.py``; an unlisted one counts as
long), so that the last to finish is a short one.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
#: seconds per notebook in a `book`-profile build, two at a time with one thread each (README, "How
#: long each command takes"), so that the longest start first
EXPECTED_SECONDS = {"00_foundations": 174, "01_context_encoder": 53, "02_msnps": 85, "03_glcic": 49,
                    "03b_glcic_results": 66, "04_pggan": 235, "05_shift_net": 218, "06_deepfill_v1": 170,
                    "07_gmcnn": 175, "08_partial_conv": 88, "11_comparison": 600,
                    "12_try_it_yourself": 35}


def book_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of ``_toc.yml``, in its order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found: list[Path] = []

    def walk(entries):
        for entry in entries or []:
            path = root / f"{entry['file']}.ipynb" if "file" in entry else None
            if path is not None and path.is_file():
                found.append(path)
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return found


def _execute(path: str, threads: int, timeout: int, allow_errors: bool):
    """Run in a worker process: execute one notebook; (path, notebook or None, seconds, error)."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=allow_errors,
                                 meta_override=True)
    if result.err is not None:
        return path, None, result.time, f"{type(result.err).__name__}: {str(result.err)[:300]}"
    return path, nb, result.time, None


def prefill(cache_path: Path, jobs: int, notebooks: list[Path] | None = None, config: Path = ROOT / "_config.yml",
            log=print) -> dict[str, float | None]:
    """Execute every uncached notebook of the book into ``cache_path``; {name: seconds, None if it failed}."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    settings = yaml.safe_load(config.read_text()).get("execute", {})
    timeout, allow_errors = int(settings.get("timeout", 1800)), bool(settings.get("allow_errors", False))
    cache = get_cache(str(cache_path))
    todo = []
    for path in notebooks if notebooks is not None else book_notebooks():
        try:
            cache.match_cache_notebook(nbformat.read(str(path), as_version=4))
        except KeyError:
            todo.append(path)
    todo.sort(key=lambda p: -EXPECTED_SECONDS.get(p.stem, 10_000))
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    log(f"== prefilling {cache_path}: {len(todo)} notebook(s) to execute, {jobs} at a time, "
        f"{threads} torch thread(s) each")
    done: dict[str, float | None] = {}
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_execute, str(p), threads, timeout, allow_errors) for p in todo]
        for fut in as_completed(futures):
            path, nb, seconds, error = fut.result()
            name = Path(path).stem
            if nb is None:
                done[name] = None
                log(f"   {name}: failed after {seconds:.0f} s ({error}); Jupyter Book will run it again")
                continue
            cache.cache_notebook_bundle(CacheBundleIn(nb, path, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            done[name] = seconds
            log(f"   {name}: {seconds:.0f} s")
    log(f"== prefilled in {time.perf_counter() - start:.0f} s")
    return done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(ROOT / "_build" / ".jupyter_cache"))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("BOOK_JOBS", "2")),
                        help="notebooks executed at once (default 2, or $BOOK_JOBS); 1 leaves it all to Jupyter Book")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook of _toc.yml")
    args = parser.parse_args(argv)
    if args.jobs <= 1:
        print("== prefill skipped (--jobs 1): Jupyter Book executes the notebooks one by one")
        return 0
    prefill(Path(args.cache), args.jobs, args.notebooks or None)
    return 0  # a failed notebook is not an error here: Jupyter Book runs it again and reports it


if __name__ == "__main__":
    sys.exit(main())
