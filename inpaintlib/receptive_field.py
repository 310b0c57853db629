r"""Receptive fields: the formula, and a measurement by back-propagation.

Defined in Chapter 3 (GLCIC), where dilated convolutions replace the fully connected bottleneck.

**The formula.** Walk the layers from the input. Keep two numbers: the receptive field ``r``
(how many input pixels, along one axis, one unit of the current feature map can see) and the
jump ``j`` (how many input pixels apart two neighbouring units of the current map are).
At the input, :math:`r_0 = 1, j_0 = 1`. A convolution with kernel ``k``, stride ``s`` and
dilation ``d`` spans :math:`d(k-1)+1` units of its input, i.e. :math:`d(k-1)` more units than
one, each :math:`j` input pixels apart:

.. math:: r_{l} = r_{l-1} + d_l (k_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, s_l .

Padding does not change the field (it only decides what the border units see). A transposed
convolution with stride ``s`` upsamples: each output unit reads :math:`\lceil k/s \rceil`
input units, and neighbours become :math:`j/s` apart, so
:math:`r_l = r_{l-1} + (\lceil k/s\rceil - 1) j_{l-1}`, :math:`j_l = j_{l-1}/s` (an upper
bound: with ``k`` not a multiple of ``s``, units of different parity read different counts).

**The measurement.** Back-propagate from one output unit to the input: the input pixels with a
non-zero gradient are exactly the ones that unit depends on (for generic weights).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

__all__ = ["LayerGeometry", "receptive_field", "layer_geometry", "measured_receptive_field"]


@dataclass(frozen=True)
class LayerGeometry:
    """Kernel, stride and dilation of one layer along one axis. Defined in Chapter 3 (GLCIC)."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    transposed: bool = False


def _first(v):
    return v[0] if isinstance(v, (tuple, list)) else v


def layer_geometry(net: nn.Module) -> list[LayerGeometry]:
    """The convolution and pooling layers of ``net`` in registration order, as :class:`LayerGeometry`.

    Defined in Chapter 3 (GLCIC). Assumes the layers run in the order they were registered (true
    for ``nn.Sequential`` stacks and the book's networks) and square kernels.
    """
    out = []
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            out.append(LayerGeometry(_first(m.kernel_size), _first(m.stride), _first(m.dilation), True))
        elif isinstance(m, nn.Conv2d):
            out.append(LayerGeometry(_first(m.kernel_size), _first(m.stride), _first(m.dilation)))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            out.append(LayerGeometry(_first(m.kernel_size), _first(m.stride or m.kernel_size)))
    return out


def receptive_field(layers: Iterable[LayerGeometry | tuple] | nn.Module) -> tuple[int, float]:
    """``(r, j)``: receptive field (input pixels, one axis) and jump after ``layers``.

    Defined in Chapter 3 (GLCIC). ``layers``: a network, or a sequence of
    :class:`LayerGeometry` / ``(kernel, stride, dilation)`` tuples. See the module docstring for
    the derivation. Example: three 3x3 convolutions with dilations 1, 2, 4 see
    1 + 2 + 4 + 8 = 15 pixels.
    """
    if isinstance(layers, nn.Module):
        layers = layer_geometry(layers)
    r, j = 1, 1.0
    for g in layers:
        if not isinstance(g, LayerGeometry):
            g = LayerGeometry(*g)
        if g.kernel < 1 or g.stride < 1 or g.dilation < 1:
            raise ValueError(f"kernel, stride and dilation must be >= 1, got {g}")
        if g.transposed:
            r += (math.ceil(g.kernel / g.stride) - 1) * j
            j /= g.stride
        else:
            r += g.dilation * (g.kernel - 1) * j
            j *= g.stride
    return int(round(r)), j


def measured_receptive_field(
    net: nn.Module,
    input_size: int | tuple[int, int],
    in_channels: int = 3,
    at: tuple[int, int] | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Gradient magnitude of one output unit with respect to the input, and its extent.

    Defined in Chapter 3 (GLCIC). Runs ``net`` (in eval mode, so that BatchNorm is a fixed
    affine map) on a random input of ``input_size``, sums the output channels at the unit
    ``at`` (default: the centre of the output map), back-propagates, and returns the (H, W) map
    of summed absolute input gradients with the ``(height, width)`` of its non-zero support.
    ``input_size`` must exceed the field, or the border clips the measurement.
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    was_training = net.training
    net.eval()
    try:
        x = torch.rand((1, in_channels, h, w), generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
        with torch.enable_grad():
            y = net(x)
            oy, ox = at if at is not None else (y.shape[-2] // 2, y.shape[-1] // 2)
            y[0, :, oy, ox].sum().backward()
    finally:
        net.train(was_training)
    grad = x.grad[0].abs().sum(0)
    rows = torch.nonzero(grad.sum(1) > 0).flatten()
    cols = torch.nonzero(grad.sum(0) > 0).flatten()
    extent = (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)) if rows.numel() else (0, 0)
    return grad, extent
