"""The one interface every inpainting method in the book implements.

Defined in Chapter 0 (Foundations).

A method — a classical algorithm or a trained network — is an :class:`InpaintingModel`: it is
called as ``model(masked_image, mask)`` on a float batch (B,3,H,W) in [0,1] whose hole pixels
are already blanked (set to 0), with the mask (B,1,H,W), 1 = hole, and returns a full image
prediction of the same shape. It never composites: :func:`inpaintlib.inpaint` does that, and also
pads, crops and checks the input, so each model only declares what sizes it accepts:

* ``size_multiple``: H and W must be divisible by it (e.g. 2**k for a network with k stride-2
  layers); ``inpaint`` pads by reflection and crops back.
* ``fixed_size``: the network only works at one size (the Context Encoder's 128x128);
  ``inpaint`` cuts a window of that size around the hole and pastes the result back.
* ``max_hole``: (h, w) of the largest hole bounding box the model can fill inside that window,
  or ``None``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class InpaintingModel(nn.Module):
    """Base class of every method: classical baselines and trained networks alike.

    Defined in Chapter 0 (Foundations).
    """

    #: short registry name, e.g. ``"telea"`` or ``"context_encoder"``
    name: str = "model"
    #: human name used in tables and figures
    display_name: str = "model"
    size_multiple: int = 1
    fixed_size: tuple[int, int] | None = None
    max_hole: tuple[int, int] | None = None
    #: the smallest H and W the method accepts
    min_size: int = 8
    #: fast enough to run at every mouse release in the demo ("Try it yourself"); iterative
    #: methods (MSNPS's texture optimisation) set False and wait for the demo's Fill button
    interactive: bool = True

    def config(self) -> dict[str, Any]:
        """Constructor arguments, stored in checkpoints so the model can be rebuilt."""
        return {}

    def forward(self, masked_image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError
