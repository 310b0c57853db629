"""The test-set numbers that ship with the book: ``data/test_results.json``.

Defined in Chapter 0 (Foundations).

Measuring every shipped checkpoint on the 100 crops x 5 mask kinds of the fixed test set is most
of the time a first build of the book takes. So the numbers ship beside the checkpoints, as
versioned data, under exactly the keys of :func:`inpaintlib.evaluation.fixed_test_set.evaluate_model`'s
cache: a key hashes the weights, the options, the test set and the source of every module that
makes the number (the model's classes, ``inpaint``, compositing, the metrics) and the versions of
torch, NumPy, OpenCV, scikit-image and torchmetrics. A shipped number is therefore served only to
the code and the weights that computed it; anything else misses and is measured afresh.

How the file is written (``make eval``): every number ``evaluate_model`` returns, computed or read,
is also recorded as one small file in ``$INPAINT_RECORD_RESULTS`` while the registered models are
measured and the book is built; :func:`collect_recorded` then replaces ``data/test_results.json``
with exactly that set, so an entry nobody asks for any more does not linger.
``tests/test_shipped_results.py`` checks that every registered model has current entries and
recomputes a sample.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

#: the shipped file, or ``off`` (read nothing shipped); unset: ``data/test_results.json``
SHIPPED_ENV = "INPAINT_SHIPPED_RESULTS"
#: a folder that receives every result ``evaluate_model`` returns, one file per entry (``make eval``)
RECORD_ENV = "INPAINT_RECORD_RESULTS"

_ABOUT = ("Mean metrics on the fixed test set, keyed like evaluate_model's cache (model-kind-key: the "
          "key hashes weights, options, test set, source code and library versions). Written by "
          "`make eval`; read by evaluate_model before it measures. Do not edit by hand.")


def shipped_results_path() -> Path | None:
    """The shipped results file, or None when none is to be read.

    ``$INPAINT_SHIPPED_RESULTS`` names another file, or ``off``. A process that moved the cache
    (``$INPAINT_CACHE_DIR``, as the tests do to measure in isolation) reads nothing shipped either,
    unless it names a file explicitly.
    """
    env = os.environ.get(SHIPPED_ENV)
    if env == "off":
        return None
    if env:
        return Path(env)
    if os.environ.get("INPAINT_CACHE_DIR"):
        return None
    from inpaintlib.data.photos import DATA_DIR

    return Path(DATA_DIR) / "test_results.json"


@lru_cache(maxsize=4)
def _entries(path: str, mtime_ns: int) -> dict:
    """The entries of one results file, read once per version of it."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise ValueError(f"{path}: expected a JSON object with an 'entries' object (written by `make eval`)")
    return data["entries"]


def shipped_entries() -> dict:
    """Every shipped entry ``{"<model>-<kind>-<key>": metrics or null}`` (empty when none is read)."""
    path = shipped_results_path()
    if path is None or not path.is_file():
        return {}
    return _entries(str(path.resolve()), path.stat().st_mtime_ns)


#: what :func:`read_shipped` returns for an entry the file does not hold (None is a shipped value)
MISSING = object()


def read_shipped(entry: str):
    """The shipped value of ``entry`` (a dict of means, or None for a kind the model cannot fill),
    or :data:`MISSING`."""
    return shipped_entries().get(entry, MISSING)


def record(entry: str, value) -> None:
    """Write ``value`` as ``$INPAINT_RECORD_RESULTS/<entry>.json`` when that variable is set."""
    folder = os.environ.get(RECORD_ENV)
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{entry}.json").write_text(json.dumps(value))


def entry_model(entry: str) -> str:
    """The method an entry belongs to: its name up to the first ``-`` (names hold none; kinds do)."""
    return entry.split("-", 1)[0]


def collect_recorded(folder: str | Path, dest: str | Path, only=None, merge: bool = False) -> int:
    """Replace ``dest`` with every entry recorded in ``folder``; returns how many entries it holds.

    ``only``: method names. Then only their entries are replaced (every entry of theirs in
    ``dest`` is dropped, every recorded one of theirs is added) and every other entry of ``dest``
    is kept: after retraining a few models, their numbers are re-measured (``measure-registered``
    and the chapters that ask for them) without rebuilding the whole book.
    ``merge``: keep ``dest``'s entries (but those of ``only``) and add every recorded one, of any
    method: for numbers a chapter adds (e.g. Chapter 11's per-crop values). A later full
    ``make eval`` drops what nobody asks for any more.
    """
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise SystemExit(f"error: nothing was recorded in {folder}: expected the files "
                         f"evaluate_model writes when {RECORD_ENV} is set")
    entries = {f.stem: json.loads(f.read_text()) for f in files}
    if only is not None or merge:
        only = set(only or ())
        recorded = {entry_model(e) for e in entries}
        if only and not only & recorded:
            raise SystemExit(f"error: nothing recorded in {folder} belongs to {sorted(only)}; "
                             f"recorded methods: {sorted(recorded)}")
        kept = {e: v for e, v in _entries(str(Path(dest).resolve()), Path(dest).stat().st_mtime_ns).items()
                if entry_model(e) not in only}
        entries = kept | {e: v for e, v in entries.items() if merge or entry_model(e) in only}
    Path(dest).write_text(_dumps(entries))
    return len(entries)


def _dumps(entries: dict) -> str:
    """The results file's text: one entry per line, compact (a per-crop entry is a few hundred
    numbers), so that a re-measured model changes a few lines of the diff."""
    lines = ",\n".join(f" {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in sorted(entries.items()))
    return f'{{"about": {json.dumps(_ABOUT)},\n "entries": {{\n{lines}\n}}}}\n'



def registered_methods() -> list[str]:
    """What ``make eval`` measures on every bucket of the whole test set: every classical baseline,
    every learned model, ablation and validation candidate with a shipped checkpoint, except the
    wrapped ones (MSNPS optimises each image for seconds: its chapter measures it on the crops it
    states)."""
    from inpaintlib.evaluation.baselines import BASELINES
    from inpaintlib.registry import ABLATIONS, CANDIDATES, LEARNED_MODELS, WRAPPED, checkpoint_path

    learned = [m for m in (*LEARNED_MODELS, *ABLATIONS, *CANDIDATES)
               if m not in WRAPPED and checkpoint_path(m).is_file()]
    return [*BASELINES, *learned]


def measure_registered(progress: bool = True) -> dict[str, dict]:
    """:func:`evaluate_model` of every :func:`registered_methods` entry on the whole test set
    (served from the cache or the shipped file when current, measured otherwise)."""
    from inpaintlib.evaluation.fixed_test_set import evaluate_model
    from inpaintlib.registry import load_pretrained
    from inpaintlib.training.progress import progress_iter

    names = registered_methods()
    return {name: evaluate_model(load_pretrained(name), progress=False)
            for name in progress_iter(names, desc="test set", disable=not progress)}
