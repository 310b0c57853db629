"""Metrics measured on composited outputs.

Defined in Chapter 0 (Foundations).

The protocol (the same for every model and baseline in the book):

1. The output is composited first (`inpaintlib.evaluation.compositing.composite`), so known pixels equal
   the ground truth exactly.
2. **L1 and L2 over the hole**: mean absolute / squared error over the hole pixels only (all three
   channels, values in [0, 1]), reported in percent like the Context Encoder paper. Averaging
   over the whole image instead would make a small hole look better than it is.
3. **PSNR over the image**: ``10 log10(1 / MSE)`` with the MSE over the whole composited image,
   per image, then averaged over the test set (in dB).
4. **SSIM over the image**: the Gaussian-window SSIM of Wang et al. (2004) (sigma 1.5, window
   11, K1 0.01, K2 0.03, data range 1) on the RGB image, per image, then averaged — computed by
   the maintained implementation in ``torchmetrics``.

Because known pixels are copied, PSNR and SSIM also depend on the hole ratio: they are only
comparable inside one mask bucket.

**The Context Encoder paper's protocol** (Pathak et al. 2016, Sec. 5.1, Table 1) measures L1,
L2 *and PSNR* over the hole only: :func:`hole_psnr`. With the known pixels copied, the squared
error outside the hole is exactly zero, so the whole-image MSE is the hole MSE times the hole
fraction ``a``, and ``psnr = hole_psnr - 10 log10(a)`` per image: +6.02 dB for the centre
square, which is a quarter of the image (Chapter 1 checks this on the test crops).
"""
from __future__ import annotations

import torch

__all__ = ["hole_l1", "hole_l2", "hole_psnr", "psnr", "ssim", "inpainting_metrics"]


def _check(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    if output.ndim != 4 or output.shape != target.shape:
        raise ValueError(
            f"expected output and target of the same shape (B,3,H,W), got {tuple(output.shape)} "
            f"and {tuple(target.shape)}"
        )
    if mask is not None and (mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != output.shape[-2:]):
        raise ValueError(f"expected mask of shape (B,1,H,W) matching the images, got {tuple(mask.shape)}")


def hole_l1(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute error over the hole, shape (B,). Defined in Chapter 0."""
    _check(output, target, mask)
    err = (output - target).abs() * mask
    return err.sum(dim=(1, 2, 3)) / (3 * mask.sum(dim=(1, 2, 3))).clamp_min(1.0)


def hole_l2(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error over the hole, shape (B,). Defined in Chapter 0."""
    _check(output, target, mask)
    err = (output - target).pow(2) * mask
    return err.sum(dim=(1, 2, 3)) / (3 * mask.sum(dim=(1, 2, 3))).clamp_min(1.0)


def hole_psnr(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB over the hole only (data range 1), shape (B,).

    Defined in Chapter 1 (Context Encoder): the protocol of the paper's Table 1 (Sec. 5.1),
    ``10 log10(1 / hole_l2)``. For a composited output it equals :func:`psnr` plus
    ``10 log10(hole fraction)``; the book's tables use :func:`psnr` (whole image).
    """
    _check(output, target, mask)
    if not bool((mask.sum(dim=(1, 2, 3)) > 0).all()):
        raise ValueError("hole_psnr needs a hole in every mask: an empty mask has no hole PSNR")
    return 10.0 * torch.log10(1.0 / hole_l2(output, target, mask).clamp_min(1e-10))


def psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB over the whole image (data range 1), shape (B,). Defined in Chapter 0."""
    _check(output, target)
    mse = (output - target).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return 10.0 * torch.log10(1.0 / mse)


def ssim(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM over the whole image, shape (B,), via torchmetrics. Defined in Chapter 0."""
    _check(output, target)
    from torchmetrics.functional.image import structural_similarity_index_measure

    return structural_similarity_index_measure(
        output.float().clamp(0, 1), target.float(), data_range=1.0, reduction="none"
    )


@torch.no_grad()
def inpainting_metrics(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """All four metrics per image: ``{"l1_%", "l2_%", "psnr_db", "ssim"}``, each shape (B,).

    Defined in Chapter 0 (Foundations). ``output`` must already be composited.
    """
    return {
        "l1_%": 100.0 * hole_l1(output, target, mask),
        "l2_%": 100.0 * hole_l2(output, target, mask),
        "psnr_db": psnr(output, target),
        "ssim": ssim(output, target),
    }
