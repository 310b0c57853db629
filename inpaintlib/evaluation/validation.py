"""Choices made on the validation crops: which of several trained variants to keep.

Defined in Chapter 3 (GLCIC), used by Chapter 0's shipping rule
(:func:`inpaintlib.training.checkpoint.choose_shipped_weights`). The test set is for reporting
only; a choice between variants trained with the same budget is made here, on
:func:`inpaintlib.evaluation.fixed_test_set.validation_crops`.
"""
from __future__ import annotations

from inpaintlib.evaluation.fixed_test_set import evaluate_on_validation


def validation_preference(models: dict, n: int = 48, seed: int = 5,
                          metric: str = "psnr_db") -> tuple[str, dict[str, dict]]:
    """Which of ``models`` (``{name: model}``) the validation crops prefer, and their rows.

    Defined in Chapter 3 (GLCIC), for a choice between variants trained with the same budget: the
    preferred one has the best mean of ``metric`` over the mask kinds of :func:`evaluate_on_validation`
    (higher is better for PSNR and SSIM, lower for L1 and L2). The test set stays for reporting. Ties
    go to the first name.
    """
    if len(models) < 2:
        raise ValueError(f"validation_preference needs at least two models to choose from, got {list(models)}")
    lower_is_better = metric in ("l1_%", "l2_%")
    rows = {name: evaluate_on_validation(model, n=n, seed=seed) for name, model in models.items()}
    score = {name: sum(r[k][metric] for k in r) / len(r) for name, r in rows.items()}
    sign = -1 if lower_is_better else 1
    best = max(score, key=lambda name: sign * score[name])  # max keeps the first of equal scores
    return best, rows
