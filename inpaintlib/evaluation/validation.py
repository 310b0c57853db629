"""Choices made on the validation crops: which of several trained variants to keep.

Defined in Chapter 3 (GLCIC), used by Chapter 0's shipping rule
(:func:`inpaintlib.training.checkpoint.choose_shipped_weights`). The test set is for reporting
only; a choice between variants trained with the same budget is made here, on
:func:`inpaintlib.evaluation.fixed_test_set.validation_crops`.
"""
from __future__ import annotations

from inpaintlib.evaluation.fixed_test_set import _per_image_metrics, validation_crops


def validation_rows(model, n: int = 48, seed: int = 5, batch_size: int = 16) -> dict:
    """:func:`~inpaintlib.evaluation.fixed_test_set.evaluate_on_validation`'s rows (the same
    numbers), with a mask kind the model cannot fill mapped to ``None``, as ``evaluate_model``
    does: a Context Encoder fills only its 64x64 centre square.

    Defined in Chapter 3 (GLCIC); the shipping rule of Chapter 0 meets the Context Encoder here.
    """
    images, masks = validation_crops(n, seed)
    results = {}
    for kind, m in masks.items():
        try:
            values = _per_image_metrics(model, images, m, batch_size)
        except ValueError as err:
            if "fills holes up to" not in str(err) and "only fills holes" not in str(err):
                raise
            results[kind] = None  # a hole this model refuses: not a number to compare
            continue
        results[kind] = {k: sum(v) / len(v) for k, v in values.items()}
    return results


def validation_preference(models: dict, n: int = 48, seed: int = 5,
                          metric: str = "psnr_db") -> tuple[str, dict[str, dict]]:
    """Which of ``models`` (``{name: model}``) the validation crops prefer, and their rows.

    Defined in Chapter 3 (GLCIC), for a choice between variants trained with the same budget: the
    preferred one has the best mean of ``metric`` over the mask kinds of :func:`evaluate_on_validation`
    (higher is better for PSNR and SSIM, lower for L1 and L2) that every model can fill (a
    Context Encoder is scored on its centre square only). The test set stays for reporting. Ties
    go to the first name.
    """
    if len(models) < 2:
        raise ValueError(f"validation_preference needs at least two models to choose from, got {list(models)}")
    lower_is_better = metric in ("l1_%", "l2_%")
    rows = {name: validation_rows(model, n=n, seed=seed) for name, model in models.items()}
    kinds = [k for k in next(iter(rows.values())) if all(r[k] is not None for r in rows.values())]
    if not kinds:
        raise ValueError(f"validation_preference: no mask kind that all of {list(models)} can fill")
    score = {name: sum(r[k][metric] for k in kinds) / len(kinds) for name, r in rows.items()}
    sign = -1 if lower_is_better else 1
    best = max(score, key=lambda name: sign * score[name])  # max keeps the first of equal scores
    return best, rows
