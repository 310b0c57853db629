"""Ready-made holes for the demo: centre square, random rectangles, free-form strokes.

Defined in the "Try it yourself" chapter. Each preset takes the hole ratio the reader sets with
the slider and reuses the mask generators of Chapter 0 (``inpaintlib.data.masks``), so a preset hole
is drawn the way the book's training and test holes are drawn.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from inpaintlib.data import masks

__all__ = ["PRESETS", "preset_mask"]

#: preset name -> how its hole ratio is reached
PRESETS = {
    "centre square": "one square in the middle; side = sqrt(ratio) x the image side",
    "random rectangles": "1-4 random rectangles, redrawn until the union is within 5 points of the ratio",
    "free-form strokes": "DeepFill v2 brush strokes (plus a box) until the ratio is within 5 points",
}
#: the free-form and rectangle presets land within this distance of the asked ratio
RATIO_TOLERANCE = 0.05


def _centre_square(height: int, width: int, ratio: float) -> torch.Tensor:
    h = max(1, min(height, round(math.sqrt(ratio) * height)))
    w = max(1, min(width, round(math.sqrt(ratio) * width)))
    return masks.center_square_mask(1, height, width, hole_size=(h, w))


def _rectangles(height: int, width: int, ratio: float, rng: np.random.Generator) -> torch.Tensor:
    side = math.sqrt(ratio)  # one rectangle of this relative side would be enough on its own
    lo = (max(1, int(0.35 * side * height)), max(1, int(0.35 * side * width)))
    hi = (max(lo[0], min(height, int(1.1 * side * height) + 1)), max(lo[1], min(width, int(1.1 * side * width) + 1)))
    best = None
    for _ in range(2000):
        m = masks.random_rectangles_mask(1, height, width, num=(1, 4), min_size=lo, max_size=hi, generator=rng)
        gap = abs(masks.hole_ratio(m).item() - ratio)
        if best is None or gap < best[0]:
            best = (gap, m)
        if gap <= RATIO_TOLERANCE:
            break
    return best[1]


def preset_mask(name: str, height: int, width: int, ratio: float = 0.25, seed: int = 0) -> np.ndarray:
    """A preset hole as an (H, W) bool array (True = hole), with about ``ratio`` of the pixels.

    Defined in the "Try it yourself" chapter. ``seed`` picks the random draw (same seed, same
    hole). The centre square is exact up to rounding of its side; the random presets are drawn
    until their hole ratio is within ``RATIO_TOLERANCE`` of ``ratio``.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {list(PRESETS)}")
    if not 0.01 <= ratio <= 0.75:
        raise ValueError(f"hole ratio must be between 0.01 and 0.75, got {ratio}")
    if height < 8 or width < 8:
        raise ValueError(f"presets need an image of at least 8x8 pixels, got {height}x{width}")
    rng = np.random.default_rng(seed)
    if name == "centre square":
        m = _centre_square(height, width, ratio)
    elif name == "random rectangles":
        m = _rectangles(height, width, ratio, rng)
    else:
        low, high = max(0.0, ratio - RATIO_TOLERANCE), min(1.0, ratio + RATIO_TOLERANCE)
        m = masks.free_form_mask_in_bucket(height, width, low, high, generator=rng)
    return m[0, 0].numpy() > 0.5
