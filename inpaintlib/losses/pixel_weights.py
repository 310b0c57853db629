r"""Per-pixel weights of the reconstruction loss inside the hole: Chapters 6 and 7.

* :func:`distance_to_known` and :func:`spatial_discount` — DeepFill v1's *spatially discounted*
  weights (Yu et al., CVPR 2018, Sec. 3.1 "Spatially discounted reconstruction loss"), defined
  in Chapter 6: a hole pixel far from every known pixel has many plausible values, so its
  error should count less. Weight :math:`\gamma^l`, :math:`l` the distance to the nearest known
  pixel.
* :func:`gaussian_kernel_like_reference` and :func:`confidence_weights` — GMCNN's
  *confidence-driven* weights (Wang et al., NeurIPS 2018), defined in Chapter 7: confidence
  spreads from the known region into the hole by repeated blurring, so the hole's border,
  which the known pixels constrain, weighs more than its centre.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["distance_to_known", "spatial_discount", "gaussian_kernel_like_reference", "confidence_weights"]


def _check_mask(mask: torch.Tensor) -> None:
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape (B,1,H,W) with 1 = hole, got {tuple(mask.shape)}")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must be binary (0 = known, 1 = hole)")


def distance_to_known(mask: torch.Tensor) -> torch.Tensor:
    """Chessboard distance of every pixel to the nearest known pixel: (B,1,H,W) float.

    Defined in Chapter 6 (DeepFill v1). Known pixels get 0, a hole pixel touching a known
    pixel (also diagonally) 1, and so on: the number of 3x3 dilations of the known region it
    takes to reach the pixel. The reference code does not compute this: it weighs its whole
    training box by ``gamma ** min(i, H - i, j, W - j)``, distances to the box's edges rather
    than to the hole's known pixels (Chapter 6 compares the two). An image without a known
    pixel gets ``inf`` in its hole.
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


def gaussian_kernel_like_reference(size: int = 65, sigma: float = 1.0 / 40) -> torch.Tensor:
    r"""GMCNN's smoothing kernel, built as the reference code builds it: (size, size), sums to 1.

    Defined in Chapter 7 (GMCNN). The reference samples the normal CDF at ``size + 1`` points
    evenly spread over :math:`[-\sigma - \delta/2, \sigma + \delta/2]`,
    :math:`\delta = (2\sigma + 1)/\mathrm{size}`, takes the differences (a 1-D kernel) and the
    square root of their outer product. With :math:`\sigma = 1/40` the points span only
    :math:`\pm(\sigma + \delta/2) \approx \pm 0.03` standard deviations, where the normal density
    is almost flat: the kernel is close to a ``size`` x ``size`` box filter (Chapter 7 measures
    how close).
    """
    if size < 1 or sigma <= 0:
        raise ValueError(f"size must be >= 1 and sigma > 0, got size={size}, sigma={sigma}")
    interval = (2 * sigma + 1.0) / size
    x = torch.linspace(-sigma - interval / 2, sigma + interval / 2, size + 1, dtype=torch.float64)
    cdf = 0.5 * (1 + torch.erf(x / 2 ** 0.5))
    k1 = cdf[1:] - cdf[:-1]
    k2 = torch.sqrt(torch.outer(k1, k1))
    return (k2 / k2.sum()).float()


def confidence_weights(mask: torch.Tensor, size: int = 33, sigma: float = 1.0 / 40, iterations: int = 7) -> torch.Tensor:
    r"""GMCNN's confidence-driven weights in the hole (0 outside): (B,1,H,W).

    Defined in Chapter 7 (GMCNN). Starting from the known region (confidence 1), blur with
    :func:`gaussian_kernel_like_reference` and keep the result in the hole, ``iterations``
    times: :math:`C_{i+1} = \big(g * (C_i + \bar M)\big) \odot M`, so confidence seeps into the
    hole from its border. The reference: kernel 64 (TensorFlow) or 65 (PyTorch) at 256 px, 7
    iterations, zero padding ('SAME', the TensorFlow code's; the PyTorch port reflects). The book
    scales the kernel with the image side: 33 at 128 px (odd, so that it is centred).
    """
    _check_mask(mask)
    if size % 2 == 0:
        raise ValueError(f"size must be odd (a centred kernel), got {size}")
    # The kernel is an outer product a a^T (the square root of one), and a, which sums to 1, is
    # its row sums: the blur is a vertical then a horizontal 1-D pass, 2 x 33 multiplies per
    # pixel instead of 33 x 33 (zero padding commutes with the split). In float32 even under
    # autocast: the weights are data, not a network's activations.
    a = gaussian_kernel_like_reference(size, sigma).sum(dim=1).to(mask.device, torch.float32)
    column, row, pad = a.view(1, 1, size, 1), a.view(1, 1, 1, size), size // 2
    m = mask.float()
    known = 1.0 - m
    conf = torch.zeros_like(m)
    with torch.autocast(mask.device.type, enabled=False):
        for _ in range(iterations):
            conf = F.conv2d(F.conv2d(conf + known, column, padding=(pad, 0)), row, padding=(0, pad)) * m
    return conf
