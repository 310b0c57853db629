r"""Bootstrap confidence intervals over the test crops. Defined in Chapter 11 (the comparison).

A bucket's mean PSNR is a mean over 100 crops; another 100 crops would give another mean. The
percentile bootstrap (Efron and Tibshirani, 1993, Ch. 13) estimates how far: draw 100 crops with
replacement from the 100, take the mean, repeat :math:`B` times; the 2.5th and 97.5th percentiles
of those means bound a 95 % interval. :func:`paired_bootstrap_interval` does the same for the
*difference* of two models on the same crops, resampling crops (pairs), which is much narrower
than two separate intervals would suggest: the crops' difficulty is shared, and cancels.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_interval", "paired_bootstrap_interval"]


def _means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(n_resamples, len(values)))  # (B, n) crop indices
    return values[picks].mean(axis=1)


def bootstrap_interval(values, level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The percentile-bootstrap interval ``(low, high)`` of the mean of ``values`` (one per crop)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size < 2 or not np.isfinite(x).all():
        raise ValueError(f"a bootstrap interval needs at least 2 finite values, got {x.size} "
                         f"({int((~np.isfinite(x)).sum())} not finite)")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(_means(x, n_resamples, seed), [tail, 100.0 - tail])
    return float(low), float(high)


def paired_bootstrap_interval(values_a, values_b, level: float = 0.95, n_resamples: int = 2000,
                              seed: int = 0) -> tuple[float, float]:
    """The interval of ``mean(a) - mean(b)`` for two models measured on the same crops, in order."""
    a, b = np.asarray(values_a, dtype=np.float64).ravel(), np.asarray(values_b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values need one value per crop for both models, got {a.size} and {b.size}")
    return bootstrap_interval(a - b, level, n_resamples, seed)
