"""Measure any method on the book's fixed test set, per mask bucket.

Defined in Chapter 0 (Foundations).

The fixed test set (``data/testset``) is ~100 crops of 128x128 from photos never used for
training, each with committed masks: the 64x64 centre square and one free-form mask per
hole-ratio bucket (10-20, 20-30, 30-40, 40-50 %). Every number in the book's tables comes from
:func:`evaluate_model`, with the protocol of :mod:`inpaintlib.evaluation.metrics` (composite first; L1/L2
over the hole, PSNR/SSIM over the image).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import math
import os
import sys
from functools import lru_cache
from pathlib import Path

import torch

from inpaintlib.api import inpaint
from inpaintlib.evaluation import result_store
from inpaintlib.evaluation.compositing import composite
from inpaintlib.evaluation.metrics import inpainting_metrics
from inpaintlib.training.progress import progress_iter

METRIC_LABELS = {"l1_%": "L1 (%)", "l2_%": "L2 (%)", "psnr_db": "PSNR (dB)", "ssim": "SSIM"}


#: the environment variable that moves the cache of :func:`evaluate_model` (tests point it at a
#: temporary folder, so they neither read the book's cached numbers nor leave entries behind)
CACHE_ENV = "INPAINT_CACHE_DIR"

#: third-party distributions whose code is part of every number (PyTorch's layers, the metrics'
#: torchmetrics, the baselines' OpenCV and scikit-image): an upgrade can move a result as surely as
#: an edit of the book's own code, so their versions are part of the cache key
_LIBRARIES = ("torch", "torchmetrics", "numpy", "opencv-python", "opencv-python-headless",
              "opencv-contrib-python", "opencv-contrib-python-headless", "scikit-image")


def cache_dir() -> Path:
    """The folder of cached results: ``$INPAINT_CACHE_DIR`` if set, else the repository's ``.cache/eval``.

    Defined in Chapter 0 (Foundations). Read at every call, like :func:`inpaintlib.data.photos.data_dir`,
    so a test or a notebook can measure into another folder by setting the variable.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    from inpaintlib.data.photos import DATA_DIR

    return Path(DATA_DIR).parent / ".cache" / "eval"


@lru_cache(maxsize=None)
def _library_versions() -> tuple[tuple[str, str], ...]:
    """(distribution, version) of each installed one of :data:`_LIBRARIES`, looked up once."""
    found = []
    for dist in _LIBRARIES:
        try:
            found.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            pass
    return tuple(found)


@lru_cache(maxsize=512)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of one source file. Keyed by its modification time and size as well as its path, so
    an unchanged file is read once per process while an edited one (reloaded by a notebook's
    autoreload) is hashed again."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _module_digest(module) -> str:
    """What stands for a module's code in the cache key: the hash of its source file (its name
    alone for a module without one, e.g. a notebook's ``__main__``)."""
    path = getattr(module, "__file__", None)
    if not path or not os.path.isfile(path):
        return module.__name__
    st = os.stat(path)
    return _file_digest(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def _code_modules(model) -> list:
    """The modules whose code makes the numbers of ``model``, sorted by name.

    The protocol (this module's averaging, :func:`inpaintlib.inpaint`, compositing, the metrics),
    found from the functions themselves so the list follows them if they move, and the module of
    every class in the MRO of the model and of each of its sub-networks (a wrapped network such as
    MSNPS's content network, shared layers, the base class).
    """
    modules = {sys.modules[__name__]} | {inspect.getmodule(f) for f in (inpaint, composite, inpainting_metrics)}
    for sub in model.modules():
        for cls in type(sub).__mro__:
            module = sys.modules.get(cls.__module__)
            if module is not None and module.__name__ != "builtins":
                modules.add(module)
    return sorted(modules, key=lambda m: m.__name__)


def _code_hash(model) -> str:
    """One hash of every source file of :func:`_code_modules` and the versions of :data:`_LIBRARIES`:
    a cached number is served only to the code that computed it."""
    h = hashlib.sha256()
    for module in _code_modules(model):
        h.update(f"{module.__name__}:{_module_digest(module)}\n".encode())
    h.update(repr(_library_versions()).encode())
    return h.hexdigest()


def _test_set_hash(kind: str, n: int) -> str:
    """The sha256 of the first ``n`` test crops and of their ``kind`` masks, from the manifest: a
    regenerated test set must not be answered with the old one's numbers."""
    from inpaintlib.data.photos import load_test_manifest

    manifest = load_test_manifest()
    rows = manifest["images"][:n] + manifest["masks"].get(kind, [])[:n]
    return hashlib.sha256(json.dumps([r.get("sha256") for r in rows]).encode()).hexdigest()


def _cache_file(model, kind: str, n: int, options: dict | None = None) -> Path | None:
    """Where the mean metrics of ``model`` on ``kind`` x the first ``n`` crops are cached, or None.

    The key covers everything a number depends on: name, config, weights and save time of the
    checkpoint, the options of ``inpaint``, the code (:func:`_code_hash`) and the test set
    (:func:`_test_set_hash`). A baseline (no parameters) is keyed by its config and code alone.
    A network fresh from training (parameters, no checkpoint) is not cached.
    """
    meta = getattr(model, "checkpoint_meta", None)
    if meta is None and any(True for _ in model.parameters()):
        return None  # a network fresh from training: nothing stable to key a cache on
    # the weights themselves are part of the key: two checkpoints saved in the same second (a
    # model and its ablation, trained side by side) must never share an entry
    weights = hashlib.sha256()
    for t in model.state_dict().values():
        weights.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    try:
        stamp = json.dumps([model.name, model.config(), kind, n, (meta or {}).get("saved_at"), options or {},
                            weights.hexdigest(), _code_hash(model), _test_set_hash(kind, n)], sort_keys=True)
    except TypeError:  # an option that is not plain data (a tensor, a callable): do not cache
        return None
    key = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    return cache_dir() / f"{model.name}-{kind}-{key}.json"


def _per_image_metrics(model, images, masks, batch_size: int, desc: str = "", progress: bool = False,
                       **inpaint_kwargs) -> dict[str, list[float]]:
    """Every metric of every image: ``inpaint`` batch by batch, then :func:`inpainting_metrics`."""
    values: dict[str, list[float]] = {}
    for i in progress_iter(range(0, len(images), batch_size), desc=desc, disable=not progress, leave=False):
        out = inpaint(images[i:i + batch_size], masks[i:i + batch_size], model, **inpaint_kwargs)
        for k, v in inpainting_metrics(out.cpu(), images[i:i + batch_size], masks[i:i + batch_size]).items():
            values.setdefault(k, []).extend(v.tolist())
    return values


def evaluate_model(
    model,
    kinds=None,
    n: int | None = None,
    batch_size: int = 20,
    progress: bool = True,
    cache: bool = True,
    per_image: bool = False,
    **inpaint_kwargs,
) -> dict:
    """Mean metrics of ``model`` on the fixed test set: ``{kind: {"l1_%": .., "l2_%": .., "psnr_db": .., "ssim": ..}}``.

    Defined in Chapter 0 (Foundations). ``kinds``: mask kinds (default: all, see
    :data:`inpaintlib.data.photos.TEST_MASK_KINDS`); ``n``: the first ``n`` test crops only. A kind the
    model cannot fill (e.g. a free-form mask for the Context Encoder, whose hole must lie in the
    centre) maps to ``None``. Results of baselines and shipped checkpoints are cached in
    ``.cache/eval`` (``$INPAINT_CACHE_DIR`` if set; delete it to recompute), keyed by the weights,
    the options, the test set and the source code that computes them (the model's modules,
    ``inpaint``, compositing, the metrics), so an edit never meets a stale number. The same keys
    ship in ``data/test_results.json`` (:mod:`inpaintlib.evaluation.result_store`, written by
    ``make eval``): a fresh clone reads the shipped checkpoints' numbers instead of measuring them.
    ``per_image=True`` returns lists instead of means.
    """
    from inpaintlib.data.photos import TEST_MASK_KINDS, load_test_masks, load_test_set

    if isinstance(model, str):
        from inpaintlib.registry import load_pretrained

        model = load_pretrained(model)
    kinds = tuple(kinds or TEST_MASK_KINDS)
    images = load_test_set()
    n = min(n or len(images), len(images))
    images = images[:n]
    results: dict = {}
    for kind in kinds:
        cfile = _cache_file(model, kind, n, inpaint_kwargs) if cache and not per_image else None
        if cfile is not None:
            known = _known_result(cfile)
            if known is not result_store.MISSING:
                results[kind] = known
                result_store.record(cfile.stem, known)
                continue
        masks = load_test_masks(kind)[:n]
        try:
            values = _per_image_metrics(model, images, masks, batch_size, f"{model.name} {kind}", progress,
                                        **inpaint_kwargs)
        except ValueError as err:
            if "fills holes up to" not in str(err) and "only fills holes" not in str(err):
                raise
            values = None  # a hole this model cannot fill: stored too, so it is not tried again
        results[kind] = values if per_image or values is None else {k: sum(v) / len(v) for k, v in values.items()}
        if cfile is not None:
            cfile.parent.mkdir(parents=True, exist_ok=True)
            cfile.write_text(json.dumps(results[kind]))
            result_store.record(cfile.stem, results[kind])
    return results


def _known_result(cfile: Path):
    """The result stored under ``cfile``'s key: in this machine's cache, else in the shipped
    ``data/test_results.json`` (:mod:`inpaintlib.evaluation.result_store`), else ``MISSING``."""
    if cfile.is_file():
        return json.loads(cfile.read_text())
    return result_store.read_shipped(cfile.stem)


def results_table(rows: dict[str, dict], metrics=("l1_%", "psnr_db", "ssim"), kinds=None) -> str:
    """A Markdown table: one row per method, one column per (mask kind, metric).

    Defined in Chapter 0 (Foundations). ``rows`` maps a method's display name to the output of
    :func:`evaluate_model`. Missing entries (a model that cannot fill that mask) show as "–".
    """
    kinds = list(kinds or next(iter(rows.values())).keys())
    header = ["method"] + [f"{k} {METRIC_LABELS.get(m, m)}" for k in kinds for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, res in rows.items():
        cells = [name]
        for k in kinds:
            for m in metrics:
                v = (res.get(k) or {}).get(m) if res.get(k) else None
                cells.append("–" if v is None or (isinstance(v, float) and math.isnan(v))
                             else (f"{v:.3f}" if m == "ssim" else f"{v:.2f}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def budget_table(metas: dict[str, dict]) -> str:
    """A Markdown table of how each checkpoint was trained: budget, device, precision, steps, speed.

    Defined in Chapter 0 (Foundations). ``metas`` maps a model's display name to its checkpoint
    metadata (``model.checkpoint_meta``). Older checkpoints lack some fields: shown as "–".
    """
    def cell(meta, key, fmt="{}"):
        v = meta.get(key)
        return "–" if v is None else fmt.format(v)

    lines = ["| model | profile | device | threads | precision | training min | core-min | steps | steps/s | crops seen |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in metas.items():
        minutes = m.get("train_seconds", m.get("wall_time_s"))
        lines.append(" | ".join([
            f"| {name}", cell(m, "profile"), cell(m, "device"), cell(m, "threads"), cell(m, "precision"),
            "–" if minutes is None else f"{minutes / 60:.1f}", cell(m, "core_minutes", "{:.0f}"),
            cell(m, "steps", "{:,}"), cell(m, "steps_per_s", "{:.2f}"), cell(m, "crops_seen", "{:,}")]) + " |")
    return "\n".join(lines)


def validation_crops(n: int = 48, seed: int = 5) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``n`` 128x128 crops of the *validation* photos and a mask per crop for every test kind.

    Defined in Chapter 0 (Foundations). For choices made by measurement (which classical fill to
    start from, which variant to ship): the test set is for reporting only. The masks follow the
    test set's recipe (the centre square; free-form masks in each hole-ratio bucket), drawn with
    ``seed``.
    """
    from inpaintlib.data.photos import InpaintingImages
    from inpaintlib.data.masks import center_square_mask, free_form_mask_in_bucket

    val = InpaintingImages(split="val", size=128, length=n, seed=seed)
    images = torch.stack([val[i] for i in range(n)])
    g = torch.Generator().manual_seed(seed)
    masks = {"center": center_square_mask(n, 128, 128)}
    for kind in ("ff10-20", "ff20-30", "ff30-40", "ff40-50"):
        lo, hi = (int(v) / 100 for v in kind[2:].split("-"))
        masks[kind] = free_form_mask_in_bucket(128, 128, lo, hi, generator=g, batch=n)
    return images, masks


def evaluate_on_validation(model, n: int = 48, seed: int = 5, batch_size: int = 16) -> dict:
    """Mean metrics of ``model`` on :func:`validation_crops`, per mask kind (like :func:`evaluate_model`).

    Defined in Chapter 0 (Foundations).
    """
    images, masks = validation_crops(n, seed)
    results = {}
    for kind, m in masks.items():
        values = _per_image_metrics(model, images, m, batch_size)
        results[kind] = {k: sum(v) / len(v) for k, v in values.items()}
    return results
