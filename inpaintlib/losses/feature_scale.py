r"""The scale of the book's VGG-16 features against the networks the papers' loss weights were set for.

Defined in Chapter 8 (Partial Convolutions); Chapter 9 (EdgeConnect) uses it too. The book's VGG-16
(:mod:`inpaintlib.losses.vgg`) reads Caffe input, ``255 x - mean``; the PyTorch papers fed a
torchvision VGG either normalised input, ``(x - mean) / std``, or raw [0, 1] input. The same image
therefore enters the book's network :math:`s` times larger, and the papers' perceptual and style
weights meet features of another scale. :func:`at_input_scale` divides the features by :math:`s`.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import torch

__all__ = ["TORCHVISION_INPUT_SCALE", "RAW_INPUT_SCALE", "at_input_scale"]

#: How much larger an image enters the book's VGG-16 than torchvision's VGG on *normalised* input:
#: Caffe input is ``255 x - mean``, torchvision's ``(x - mean) / std`` with std (0.229, 0.224,
#: 0.225), so 255 * 0.226 = 57.6 times larger. Chapter 8 (Partial Convolutions' weights).
TORCHVISION_INPUT_SCALE = 255.0 * (0.229 + 0.224 + 0.225) / 3
#: The same for a torchvision VGG fed [0, 1] images without normalising them, as EdgeConnect's
#: code does (``src/loss.py``): 255 times. Chapter 9.
RAW_INPUT_SCALE = 255.0


def at_input_scale(features: Mapping[str, torch.Tensor], scale: float) -> "OrderedDict[str, torch.Tensor]":
    r"""Features divided by ``scale``: the scale a paper's loss weights were chosen for.

    Defined in Chapter 8 (Partial Convolutions). Partial Convolutions (perceptual 0.05, style
    120) and EdgeConnect (perceptual 0.1, style 250) set their weights for a torchvision VGG
    (on normalised input, :data:`TORCHVISION_INPUT_SCALE`, and on raw [0, 1] input,
    :data:`RAW_INPUT_SCALE`). This network reads Caffe input, the same image :math:`s` times
    larger. Without biases a ReLU network is positively homogeneous,
    :math:`\Psi(s x) = s\,\Psi(x)`, so to first order (the biases and the networks' different
    weights are the rest) its features are :math:`s` times larger, an L1 perceptual term
    :math:`s` times and a Gram (style) term :math:`s^2` times. Chapter 8 measures it: with the
    raw features the two style terms make 99.9 % of the weighted loss at initialisation.
    Dividing every feature by :math:`s` undoes that first-order factor and keeps the papers'
    weights as published: the book's deviation, stated in Chapters 8 and 9. ``scale=1`` returns
    the features unchanged.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return OrderedDict((name, f / scale) for name, f in features.items())
