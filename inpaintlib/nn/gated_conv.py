r"""Gated convolution: a convolution that learns, per pixel and per channel, how much to let through.

Defined in Chapter 10 (DeepFill v2, Yu et al., ICCV 2019).

**The layer (paper, Sec. 3.1).** One convolution of the input :math:`I` gives two sets of
channels, features and gates:

.. math:: \text{Gating}_{y,x} = \sum\sum W_g \cdot I, \qquad
          \text{Feature}_{y,x} = \sum\sum W_f \cdot I, \qquad
          O_{y,x} = \phi(\text{Feature}_{y,x}) \odot \sigma(\text{Gating}_{y,x}),

with :math:`\phi` the ELU and :math:`\sigma` the sigmoid, so every gate lies in (0, 1). Where
Chapter 8's partial convolution applies a *rule* (a pixel is known when its window saw at least
one known pixel, and only then), the gate is *learned* from the features themselves, per channel:
it can keep a half-filled border, pass a user's sketch, or close the hole gradually.

**The reference's half-split** (``JiahuiYu/generative_inpainting``, ``inpaint_ops.py``,
``gen_conv`` of the v2 code): ``gen_conv(x, cnum)`` runs one convolution with ``cnum`` outputs and
splits them in two, so a layer written with ``cnum`` channels really outputs ``cnum / 2``
features. :class:`GatedConv2d` takes the number it really outputs (``out_channels``) and runs a
convolution with twice as many; DeepFill v2's layer list is written in the reference's numbers
divided by 2. The layer that outputs the image (3 channels) is a plain convolution, not gated,
as the reference (``if cnum == 3 or activation is None: return x``).

**The masks that travel with the features.** Every layer here takes and returns
``(features, hole)``: the hole (1 = hole, the book's polarity) shrinks by the partial-convolution
rule of Chapter 8, :func:`pconv_mask_update`. A gated layer does not need it (the figures of
Chapter 10 put its learned gates beside this rule); the residual gate, the survey's idea 5, uses
it:

**The residual gate** (``residual_gate=True``, the ablation ``deepfill_v2_residual_gate``).
The survey suggests a gate that learns a residual over partial convolution's mask update,
:math:`m' = \sigma(m'_{partial} + \text{conv}(M))`. Written as a logit,

.. math:: O = \phi(\text{Feature}) \odot \sigma\big(\text{Gating} + s\,(2 m'_{partial} - 1)\big),

with :math:`m'_{partial} \in \{0, 1\}` the rule's update (1 = the window saw a known pixel) and a
fixed prior strength :math:`s` (3: :math:`\sigma(\pm 3)` = 0.95 / 0.05). With the learned term
at 0 the gate *is* partial convolution's update, softened; learning moves it away where that
helps. Why the factor: adding :math:`m'_{partial}` itself, 0 or 1, as a logit gives gates of
0.5 and 0.73 at the start, a prior too weak to tell a hole from an image.

**Initialisation (the book's; the reference uses TensorFlow's Glorot-uniform default).** A gate
near :math:`\sigma(0) = 0.5` halves the signal at every layer, on top of what the convolution
and the ELU take: with PyTorch's default initialisation, an untrained DeepFill v2 coarse stage
(17 layers) passes so little of its input that flipping the input image changed its output by
6e-8 (measured, Chapter 10), and gradients shrink the same way on the way back. The book starts
every convolution from He et al.'s normal initialisation (variance 2 / fan-in) and the gates'
biases at ``gate_bias`` = 2, :math:`\sigma(2) = 0.88`: a fresh network passes its input through
(the same flip changes the output by 0.1 to 0.6, depending on the width and crop size) and
learns where to close its gates, as an LSTM's forget gate starts open. The residual gate starts from its partial-convolution prior
instead (gate bias 0).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.nn.activations import elu
from inpaintlib.nn.partial_conv import mask_window_sum

#: the feature activations :class:`GatedConv2d` accepts (the reference: ELU; one ReLU before the attention)
FEATURE_ACTIVATIONS = {"elu": elu, "relu": F.relu, None: lambda x: x}


def pconv_mask_update(hole: torch.Tensor, kernel_size: int, stride: int = 1, dilation: int = 1) -> torch.Tensor:
    r"""Partial convolution's mask update for a ``kernel_size`` window, in the book's polarity.

    ``hole`` (B, 1, H, W), 1 = hole, in [0, 1]; returns the (B, 1, H', W') hole after one layer
    with this kernel, stride, dilation and "same" padding: 0 wherever the window holds any known
    pixel (:math:`m' = [\operatorname{sum}(M) > 0]` of Chapter 8), 1 elsewhere.
    """
    padding = dilation * (kernel_size - 1) // 2
    known = mask_window_sum(1.0 - hole, kernel_size, stride, padding, dilation)  # (B, 1, H', W')
    return (known <= 0).to(hole.dtype)


def _dense(part: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """``part``, a channel slice of ``whole``, copied into dense memory of ``whole``'s layout.

    In channels-last memory a slice of the channels is strided (every pixel skips the other
    half), and PyTorch's element-wise kernels run several times slower on it: a bfloat16 sigmoid
    on half the channels of a (16, 64, 64, 64) tensor took 7.8 ms strided, 1.2 ms dense, and the
    copy 0.1 ms (measured, one thread)."""
    fmt = torch.channels_last if whole.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    return part.contiguous(memory_format=fmt)


class GatedConv2d(nn.Module):
    r"""``forward(x, hole) -> (phi(features) * sigmoid(gates), new_hole)``. Defined in Chapter 10.

    ``x`` (B, C_in, H, W) and the hole (B, 1, H, W) (1 = hole; ``None`` is allowed where no
    mask is tracked: ``new_hole`` is then ``None``). One convolution with ``2 * out_channels``
    outputs, the first half features, the second gates (the reference's order). "Same" padding
    (zeros, the reference's ``SAME``) times the dilation; ``stride`` 2 halves the size.
    ``activation`` is the features' (``"elu"``, ``"relu"`` or ``None``). ``residual_gate`` adds
    the partial-convolution prior ``prior_logit * (2 m' - 1)`` to the gate logits (module
    docstring). ``keep_gates = True`` stores the last gates (B, C_out, H', W') in ``last_gates``
    for the chapter's gate maps. Weights start He-normal and the gate biases at ``gate_bias``
    (default 2, or 0 with ``residual_gate``): see the module docstring.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 dilation: int = 1, activation: str | None = "elu", residual_gate: bool = False,
                 prior_logit: float = 3.0, gate_bias: float | None = None):
        super().__init__()
        if activation not in FEATURE_ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(map(str, FEATURE_ACTIVATIONS))}, got {activation!r}")
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, padding, dilation)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.dilation = int(kernel_size), int(stride), int(dilation)
        self.activation, self.residual_gate, self.prior_logit = activation, bool(residual_gate), float(prior_logit)
        self.keep_gates, self.last_gates = False, None
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")  # He et al.: variance 2 / fan-in
        nn.init.zeros_(self.conv.bias)
        with torch.no_grad():  # gates open at the start (module docstring); the residual gate's prior instead
            self.conv.bias[out_channels:] = (0.0 if residual_gate else 2.0) if gate_bias is None else gate_bias

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"dilation={self.dilation}, activation={self.activation}, residual_gate={self.residual_gate}")

    def forward(self, x: torch.Tensor, hole: torch.Tensor | None = None):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"GatedConv2d expects input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if self.residual_gate and hole is None:
            raise ValueError("a residual gate needs the hole mask (B, 1, H, W), 1 = hole: its prior is "
                             "partial convolution's mask update")
        h = self.conv(x)  # (B, 2 C_out, H', W')
        features, logits = (_dense(part, h) for part in h.split(self.out_channels, dim=1))  # (B, C_out, H', W')
        new_hole = None if hole is None else pconv_mask_update(hole, self.kernel_size, self.stride, self.dilation)
        if self.residual_gate:
            logits = logits + self.prior_logit * (1.0 - 2.0 * new_hole).to(logits.dtype)  # +s known, -s hole
        gates = torch.sigmoid(logits)
        if self.keep_gates:
            self.last_gates = gates.detach()
        return FEATURE_ACTIVATIONS[self.activation](features) * gates, new_hole


class MaskedUpsample(nn.Module):
    """Nearest-neighbour x2 of the features and of the hole: ``forward(x, hole) -> (x2, hole2)``.

    Defined in Chapter 10. The reference's ``gen_deconv`` is this, then a (gated) 3x3 convolution.
    """

    def forward(self, x: torch.Tensor, hole: torch.Tensor | None = None):
        up = F.interpolate(x, scale_factor=2, mode="nearest")
        return up, None if hole is None else F.interpolate(hole, scale_factor=2, mode="nearest")


class MaskedSequential(nn.Sequential):
    """Layers that each take and return ``(features, hole)``, run in order. Defined in Chapter 10."""

    def forward(self, x: torch.Tensor, hole: torch.Tensor | None = None):
        for layer in self:
            x, hole = layer(x, hole)
        return x, hole
