"""Compositing: copy the known pixels through.

Defined in Chapter 0 (Foundations).

Every model in the book predicts a whole image, but only the hole pixels of its prediction are
kept. The survey this book follows insists on it, and so does every paper's evaluation code:
known pixels are copied from the input *before* anything is measured, otherwise a model is
penalised for slightly re-colouring pixels it was given.

.. math::  \\hat{x} = m \\odot G(x, m) + (1 - m) \\odot x, \\qquad m = 1 \\text{ on the hole}
"""
from __future__ import annotations

import torch


def composite(prediction: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return ``mask * prediction + (1 - mask) * image`` (mask: 1 = hole).

    Defined in Chapter 0 (Foundations). Works on (3,H,W) or (B,3,H,W) images with a mask that
    broadcasts over the channels ((1,H,W) or (B,1,H,W)).
    """
    if prediction.shape != image.shape:
        raise ValueError(
            f"prediction and image must have the same shape, got {tuple(prediction.shape)} "
            f"and {tuple(image.shape)}"
        )
    return mask * prediction + (1.0 - mask) * image


def mask_image(image: torch.Tensor, mask: torch.Tensor, fill: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Blank the hole: known pixels stay, hole pixels become ``fill``.

    Defined in Chapter 0 (Foundations). ``fill`` is a number or a per-channel colour of shape
    (3,) — Context Encoder and GLCIC fill the hole with the data set's mean colour, so that the
    network does not read "black" as content.
    """
    if not torch.is_tensor(fill):
        fill = torch.tensor(float(fill), dtype=image.dtype, device=image.device)
    fill = fill.to(image)
    if fill.ndim == 1:
        fill = fill.view(-1, 1, 1)
    return (1.0 - mask) * image + mask * fill
