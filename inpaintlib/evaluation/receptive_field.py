r"""Receptive fields: the formula, the exact field of one unit, and a measurement.

Defined in Chapter 3 (GLCIC), where dilated convolutions replace the fully connected bottleneck.

**The formula.** Walk the layers from the input. Keep two numbers: the receptive field ``r``
(how many input pixels, along one axis, one unit of the current feature map can see) and the
jump ``j`` (how many input pixels apart two neighbouring units of the current map are).
At the input, :math:`r_0 = 1, j_0 = 1`. A convolution with kernel ``k``, stride ``s`` and
dilation ``d`` spans :math:`d(k-1)+1` units of its input, i.e. :math:`d(k-1)` more units than
one, each :math:`j` input pixels apart:

.. math:: r_{l} = r_{l-1} + d_l (k_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, s_l .

Padding does not change the field (it only decides what the border units see).

**What is exact.** For a stack of convolutions and poolings the formula is exact: every unit
of a layer sees a field of the same size (away from the image border), because neighbouring
units are exactly ``j`` input pixels apart. :func:`receptive_field` of GLCIC's trunk (encoder
+ dilated stack) is what back-propagation measures at every output unit.

**What is not.** A transposed convolution of stride ``s`` makes ``s`` output units out of each
input unit, and these ``s`` *phases* read different input units: with ``k = 4, s = 2`` (GLCIC's
decoder) the output units ``2q`` and ``2q+1`` read the input units ``{q-1, q}`` and ``{q, q+1}``,
so ``2q+1`` and ``2q+2`` read the same two units. Neighbours are then *not* ``j/s`` apart:
``j/s`` is only their average spacing, and the field of an output unit depends on its phase
(its index modulo the product of the transposed strides). The formula, continued with
:math:`r_l = r_{l-1} + (\lceil k/s\rceil - 1)\, j_{l-1}` and :math:`j_l = j_{l-1}/s`, gives a
single number that is neither an upper nor a lower bound: GLCIC's whole completion network
sees 299 px at some output units and 303 px at others, around the formula's 301.
:func:`unit_field` gives the exact field of one given unit, whatever the layers.

**The measurement.** Back-propagate from one output unit to the input: the input pixels with a
non-zero gradient are exactly the ones that unit depends on (for generic weights).
:func:`measured_receptive_field` does it; Chapter 3 measures both phases.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from inpaintlib.nn.upsampling import phase_taps

__all__ = ["LayerGeometry", "receptive_field", "layer_geometry", "unit_field",
           "measured_receptive_field"]


@dataclass(frozen=True)
class LayerGeometry:
    """Kernel, stride, dilation (and padding) of one layer along one axis.

    Defined in Chapter 3 (GLCIC). ``padding`` does not change the size of a field, only where
    it lies: :func:`receptive_field` ignores it, :func:`unit_field` needs it.
    """

    kernel: int
    stride: int = 1
    dilation: int = 1
    transposed: bool = False
    padding: int = 0


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
            out.append(LayerGeometry(_first(m.kernel_size), _first(m.stride), _first(m.dilation), True,
                                     _first(m.padding)))
        elif isinstance(m, nn.Conv2d):
            if isinstance(m.padding, str):
                raise ValueError(f"padding={m.padding!r} is not supported: give the padding in pixels")
            out.append(LayerGeometry(_first(m.kernel_size), _first(m.stride), _first(m.dilation), False,
                                     _first(m.padding)))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            dilation = _first(getattr(m, "dilation", 1))
            out.append(LayerGeometry(_first(m.kernel_size), _first(m.stride or m.kernel_size), dilation,
                                     False, _first(m.padding)))
    return out


def _geometries(layers) -> list[LayerGeometry]:
    if isinstance(layers, nn.Module):
        layers = layer_geometry(layers)
    out = []
    for g in layers:
        if not isinstance(g, LayerGeometry):
            g = LayerGeometry(*g)
        if g.kernel < 1 or g.stride < 1 or g.dilation < 1:
            raise ValueError(f"kernel, stride and dilation must be >= 1, got {g}")
        if g.padding < 0:
            raise ValueError(f"padding must be >= 0, got {g}")
        out.append(g)
    return out


def receptive_field(layers: Iterable[LayerGeometry | tuple] | nn.Module) -> tuple[int, float]:
    """``(r, j)``: receptive field (input pixels, one axis) and jump after ``layers``, by the formula.

    Defined in Chapter 3 (GLCIC). ``layers``: a network, or a sequence of
    :class:`LayerGeometry` / ``(kernel, stride, dilation)`` tuples. See the module docstring for
    the derivation. Example: three 3x3 convolutions with dilations 1, 2, 4 see
    1 + 2 + 4 + 8 = 15 pixels.

    Exact for convolutions and poolings (every unit's field has this size). After a transposed
    convolution ``r`` is a single number for units whose fields differ by phase, and ``j`` their
    average spacing: neither is exact, and ``r`` bounds the fields neither from above nor from
    below (use :func:`unit_field` for the field of a given unit).
    """
    r, j = 1, 1.0
    for g in _geometries(layers):
        if g.transposed:
            r += (math.ceil(g.kernel / g.stride) - 1) * j
            j /= g.stride
        else:
            r += g.dilation * (g.kernel - 1) * j
            j *= g.stride
    return int(round(r)), j


def _read_by(g: LayerGeometry, first: int, last: int) -> tuple[int, int]:
    """The units of the layer's input that output units ``first..last`` read (one axis)."""
    if not g.transposed:
        # output o reads the input units o*s - p + d*t, t = 0 .. k-1
        return first * g.stride - g.padding, last * g.stride - g.padding + g.dilation * (g.kernel - 1)
    # a transposed convolution writes input i to the outputs i*s - p + d*t: output o reads the
    # inputs i = (o + p - d*t) / s that are whole numbers. Walk a full period of phases at each end.
    def inputs(o: int) -> list[int]:  # the taps of o's phase (Chapter 1), mapped back to inputs
        taps = phase_taps(g.kernel, g.stride, g.padding, o % g.stride, g.dilation)
        return [(o + g.padding - g.dilation * t) // g.stride for t in taps]

    lows = [i for o in range(first, min(last, first + g.stride - 1) + 1) for i in inputs(o)]
    highs = [i for o in range(max(first, last - g.stride + 1), last + 1) for i in inputs(o)]
    if not lows or not highs:
        raise ValueError(f"{g}: some output units read no input unit (kernel smaller than stride)")
    return min(lows), max(highs)


def unit_field(layers: Iterable[LayerGeometry | tuple] | nn.Module, index: int) -> tuple[int, int]:
    """``(first, last)``: the input pixels (one axis) that output unit ``index`` depends on.

    Defined in Chapter 3 (GLCIC). Exact for any stack of convolutions, poolings and transposed
    convolutions (the paddings included), on an unbounded input: walk the layers backwards and
    map the interval of units read at each layer to the interval of units of the layer before
    it. The field's size is ``last - first + 1``; the image border clips it where ``first < 0``
    or ``last`` is past the input. Unlike :func:`receptive_field`, it depends on ``index``
    where the layers include a transposed convolution (the module docstring says why).
    """
    first = last = int(index)
    for g in reversed(_geometries(layers)):
        first, last = _read_by(g, first, last)
    return first, last


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
    ``input_size`` must exceed the field, or the border clips the measurement. Through
    transposed convolutions the extent depends on the unit's phase: measure more than one.
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
