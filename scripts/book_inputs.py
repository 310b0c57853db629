#!/usr/bin/env python3
"""Keep the book's cache of executed notebooks only while everything outside the notebooks is unchanged.

``make book`` executes notebooks through jupyter-cache (``execute_notebooks: cache``): a notebook
whose code cells did not change since the last build is not run again. jupyter-cache looks at the
notebook's code only, but the outputs also depend on the library, the data and checkpoints, the
installed requirements and the training profile. This script hashes all of those::

    python scripts/book_inputs.py --cache _build/.jupyter_cache

and empties the cache when the hash differs from the one stored beside it, so that after any such
change every notebook runs again (after an edit of one notebook, only that one does). It prints
which case it is. ``--key`` prints the hash alone.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: what the executed outputs depend on besides the notebooks themselves
INPUT_FOLDERS = ("inpaintlib", "data")
INPUT_FILES = ("requirements.txt", "requirements-nodeps.txt", "pyproject.toml")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}
KEY_FILE = "inputs.sha256"


def input_files(root: Path = ROOT) -> list[Path]:
    """Every file of :data:`INPUT_FOLDERS` (bytecode caches aside) and :data:`INPUT_FILES`, sorted."""
    files = [p for folder in INPUT_FOLDERS for p in (root / folder).rglob("*")
             if p.is_file() and not SKIP_PARTS & set(p.parts) and p.suffix != ".pyc"]
    files += [root / f for f in INPUT_FILES if (root / f).is_file()]
    return sorted(files)


def inputs_key(root: Path = ROOT, environ=os.environ) -> str:
    """sha256 over the paths and contents of :func:`input_files`, every ``INPAINT_*`` variable
    (the profile first of all) and the Python version."""
    h = hashlib.sha256()
    for path in input_files(root):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for name in sorted(k for k in environ if k.startswith("INPAINT_")):
        h.update(f"{name}={environ[name]}\n".encode())
    h.update(platform.python_version().encode())
    return h.hexdigest()


def sync(cache: Path, key: str) -> bool:
    """Empty ``cache`` unless it was made with ``key``; True when it was kept."""
    stored = cache / KEY_FILE
    if stored.is_file() and stored.read_text().strip() == key:
        return True
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    stored.write_text(key + "\n")
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="the jupyter-cache folder to keep or empty")
    parser.add_argument("--key", action="store_true", help="print the inputs' hash and exit")
    args = parser.parse_args(argv)
    key = inputs_key()
    if args.key or args.cache is None:
        print(key)
        return 0
    if sync(args.cache, key):
        print("== library, data, requirements and profile unchanged: notebooks whose code did not "
              "change are reused from the last build")
    else:
        print("== library, data, requirements or profile changed (or first build): every notebook runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
