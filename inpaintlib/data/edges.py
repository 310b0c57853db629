r"""Edge maps for EdgeConnect: Canny edges of the whole image, or of the known pixels only.

Defined in Chapter 9 (EdgeConnect).

EdgeConnect (Nazeri et al. 2019, Sec. 3) draws the lines first and the colours next: its first
network completes an *edge map*, its second paints the image along it. The edge maps are
Canny edges (Canny 1986) computed by scikit-image, ``skimage.feature.canny`` with
:math:`\sigma = 2` (the reference code's ``SIGMA: 2``; the paper, Sec. 3.1, uses Canny as the
edge detector), on the greyscale image, with scikit-image's default thresholds (low 0.1,
high 0.2 of the intensity range), as the reference's ``dataset.py``.

Two kinds of edge map:

* **the whole image's edges** (``canny_edges(images)``): the training target of the edge
  generator and the "perfect" edges of the chapter's what-if experiment;
* **the known pixels' edges** (``canny_edges(images, masks)``): what a test-time input allows.
  They are computed with scikit-image's own ``mask`` argument (the reference's test mode does the
  same), set to the known pixels :math:`1 - M`, which changes two steps of Canny:

  1. the Gaussian smoothing becomes a *normalised convolution* over the known pixels,
     :math:`\tilde I = g_\sigma * (I \odot K) \,/\, (g_\sigma * K)` with :math:`K = 1 - M`:
     scikit-image builds :math:`I \odot K` by copying the known pixels into an array of zeros,
     so **no hole pixel influences any value**, and dividing by :math:`g_\sigma * K` undoes the
     darkening that the zeros would cause near the hole;
  2. the edge points are kept only inside the known region eroded by one pixel (a 3x3 square),
     so the hole's rim, where the smoothing sees only one side, never becomes an edge.

  The result is 0 in the hole and on the one-pixel ring of known pixels around it. Passing the
  masked image (hole = 0) or the full image gives exactly the same map (tested). Far from the
  hole (beyond the Gaussian's reach, 4 sigma = 8 px) the map is the whole image's, except where
  Canny's hysteresis, which keeps a weak edge only if its chain reaches a strong one, loses a
  chain's link that ran near the hole (0.24 % of the far pixels on two test crops).

Greyscale: :func:`to_greyscale`, scikit-image's ``rgb2gray`` weights (ITU-R BT.709 luma,
0.2125 R + 0.7154 G + 0.0721 B), which the reference applies to its RGB images.

Tensors in, tensors out: images (B, 3, H, W) RGB or (B, 1, H, W) greyscale in [0, 1], masks
(B, 1, H, W) with 1 = hole, edge maps (B, 1, H, W) of 0.0 and 1.0 on the images' device.
Canny runs on the CPU (NumPy), one image at a time: about a millisecond per 128 px crop.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["CANNY_SIGMA", "GREY_WEIGHTS", "to_greyscale", "canny_edges", "edge_precision_recall"]

#: standard deviation of Canny's Gaussian: the reference's ``SIGMA: 2``
CANNY_SIGMA = 2.0
#: scikit-image's ``rgb2gray`` weights (BT.709 luma), R, G, B
GREY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def _check_images(images, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (B,3,H,W) or (B,1,H,W), got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape (B,3,H,W) (RGB) or (B,1,H,W) (greyscale), "
                         f"got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {images.dtype} "
                         "(convert uint8 images with x.float() / 255)")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    if float(images.min()) < 0.0 or float(images.max()) > 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{float(images.min()):.3g}, "
                         f"{float(images.max()):.3g}]")


def to_greyscale(images: torch.Tensor) -> torch.Tensor:
    r"""Greyscale (B, 1, H, W) of RGB images (B, 3, H, W): :math:`0.2125 R + 0.7154 G + 0.0721 B`.

    Defined in Chapter 9 (EdgeConnect). The weights of scikit-image's ``rgb2gray``, which the
    reference applies before Canny and for the edge generator's input. A (B, 1, H, W) batch is
    returned as it is.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"to_greyscale expects (B,3,H,W) RGB or (B,1,H,W) images, got {shape}")
    if images.shape[1] == 1:
        return images
    w = images.new_tensor(GREY_WEIGHTS).view(1, 3, 1, 1)
    return (images * w).sum(dim=1, keepdim=True)  # (B, 1, H, W)


def canny_edges(images: torch.Tensor, masks: torch.Tensor | None = None, sigma: float = CANNY_SIGMA,
                low_threshold: float | None = None, high_threshold: float | None = None) -> torch.Tensor:
    """Canny edges (B, 1, H, W) in {0, 1} of a batch, optionally from the known pixels only.

    Defined in Chapter 9 (EdgeConnect). ``images``: (B, 3, H, W) RGB or (B, 1, H, W)
    greyscale in [0, 1]. ``masks``: ``None`` for the whole image's edges, or (B, 1, H, W)
    binary with 1 = hole: then the edges come from the known pixels only (scikit-image's
    ``mask = 1 - M``; see the module docstring for what that does) and no hole pixel influences
    them; the map is 0 in the hole and on the one-pixel ring around it. ``sigma``: the Gaussian's
    standard deviation (2, the reference's); thresholds: scikit-image's defaults when ``None``.
    Computed in float64 on the CPU, returned as float32 on the images' device.
    """
    from skimage.feature import canny

    _check_images(images)
    if masks is not None:
        from inpaintlib.data.masks import check_mask

        check_mask(masks, images)
        if masks.shape[0] != images.shape[0]:
            raise ValueError(f"masks batch {masks.shape[0]} does not match images batch {images.shape[0]}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    grey = to_greyscale(images.detach().float()).cpu().double().numpy()[:, 0]  # (B, H, W)
    known = None if masks is None else (masks.detach().cpu().numpy()[:, 0] < 0.5)  # True = known pixel
    out = np.zeros(grey.shape, dtype=np.float32)
    for i in range(grey.shape[0]):
        out[i] = canny(grey[i], sigma=sigma, low_threshold=low_threshold, high_threshold=high_threshold,
                       mask=None if known is None else known[i])
    return torch.from_numpy(out)[:, None].to(images.device)  # (B, 1, H, W)


def edge_precision_recall(predicted: torch.Tensor, target: torch.Tensor, masks: torch.Tensor,
                          threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision and recall (each (B,)) of predicted edges against target edges, in the hole.

    Defined in Chapter 9 (EdgeConnect), as the reference's ``EdgeAccuracy`` (its
    ``EDGE_THRESHOLD: 0.5``) but per image: both maps are thresholded at ``threshold`` inside the
    hole; precision = true edges found / edges predicted, recall = true edges found / true
    edges. An image whose hole has neither predicted nor true edges scores 1 and 1 (nothing to
    find, nothing invented); one with only one kind scores 0 for the empty ratio's partner.
    """
    if predicted.shape != target.shape or predicted.ndim != 4 or predicted.shape[1] != 1:
        raise ValueError(f"predicted and target must both be (B,1,H,W), got {tuple(predicted.shape)} "
                         f"and {tuple(target.shape)}")
    if masks.shape != predicted.shape:
        raise ValueError(f"masks must have shape {tuple(predicted.shape)} (1 = hole), got {tuple(masks.shape)}")
    hole = masks > 0.5
    pred = (predicted > threshold) & hole
    true = (target > threshold) & hole
    found = (pred & true).flatten(1).sum(1).float()
    n_pred, n_true = pred.flatten(1).sum(1).float(), true.flatten(1).sum(1).float()
    precision = torch.where(n_pred > 0, found / n_pred.clamp_min(1), (n_true == 0).float())
    recall = torch.where(n_true > 0, found / n_true.clamp_min(1), (n_pred == 0).float())
    return precision, recall
