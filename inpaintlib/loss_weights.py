r"""Per-pixel weights of the reconstruction loss inside the hole: Chapters 6 and 7.

* :func:`distance_to_known` and :func:`spatial_discount` — DeepFill v1's *spatially discounted*
  weights (Yu et al., CVPR 2018, Sec. 3.1 "Spatially discounted reconstruction loss"), defined
  in Chapter 6: a hole pixel far from every known pixel has many plausible values, so its
  error should count less. Weight :math:`\gamma^l`, :math:`l` the distance to the nearest known
  pixel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["distance_to_known", "spatial_discount"]


def _check_mask(mask: torch.Tensor) -> None:
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape (B,1,H,W) with 1 = hole, got {tuple(mask.shape)}")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must be binary (0 = known, 1 = hole)")


def distance_to_known(mask: torch.Tensor) -> torch.Tensor:
    """Chessboard distance of every pixel to the nearest known pixel: (B,1,H,W) float.

    Defined in Chapter 6 (DeepFill v1). Known pixels get 0, a hole pixel touching a known
    pixel (also diagonally) 1, and so on: the number of 3x3 dilations of the known region it
    takes to reach the pixel. The chessboard distance is the reference code's for a
    rectangle (the distance to the nearest edge along each axis, the smaller of the two). An
    image without a known pixel gets ``inf`` in its hole.
    """
    _check_mask(mask)
    known = 1.0 - mask.float()
    dist = torch.where(known > 0, 0.0, float("inf"))
    reached = known
    for step in range(1, max(mask.shape[-2:]) + 1):
        grown = F.max_pool2d(reached, 3, stride=1, padding=1)
        if torch.equal(grown, reached):  # everything reached, or nothing known to grow from
            break
        dist = torch.where((grown > 0) & (reached == 0), float(step), dist)
        reached = grown
    return dist


def spatial_discount(mask: torch.Tensor, gamma: float = 0.99) -> torch.Tensor:
    r"""DeepFill v1's weights :math:`\gamma^l` in the hole, 0 outside: (B,1,H,W).

    Defined in Chapter 6 (DeepFill v1). The paper uses :math:`\gamma = 0.99`; the reference
    code's default is 0.9, which at 128 px already weighs the centre of a 64 px hole
    :math:`0.9^{32} \approx 0.03` (the paper's :math:`0.99^{32} \approx 0.72`).
    """
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
    dist = distance_to_known(mask)
    return torch.where(mask > 0, gamma ** dist, torch.zeros_like(dist))
