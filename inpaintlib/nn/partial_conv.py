r"""Partial convolution: a convolution that only reads known pixels and updates its own mask.

Defined in Chapter 8 (Partial Convolutions, Liu et al., ECCV 2018).

**The layer (paper, Sec. 3.1).** Let :math:`X` be the features under one sliding window,
:math:`M` the binary mask under it with **1 = valid (known)**, the paper's polarity, and
:math:`\mathbf 1` a window of ones of the same shape. Then

.. math:: x' = \begin{cases} W^\top (X \odot M)\, \dfrac{\operatorname{sum}(\mathbf 1)}
                                {\operatorname{sum}(M)} + b & \text{if } \operatorname{sum}(M) > 0,\\
                             0 & \text{otherwise,}\end{cases}
          \qquad
          m' = \begin{cases} 1 & \text{if } \operatorname{sum}(M) > 0,\\ 0 & \text{otherwise.}\end{cases}

The convolution only sees known pixels (:math:`X \odot M`: whatever the hole holds, grey, mean
colour or noise, is multiplied by 0), and the factor :math:`\operatorname{sum}(\mathbf 1) /
\operatorname{sum}(M)` rescales the response as if the whole window had been known: a 3x3
window with :math:`k` known pixels is scaled by exactly :math:`9/k`. The mask update
:math:`m'` marks every output that saw at least one known pixel as known, so a hole shrinks by
one kernel radius per layer (at that layer's resolution) and closes after enough layers.

**What the reference adds** (``NVIDIA/partialconv``, ``models/partialconv2d.py``, the authors'
layer; the paper gives no code for it):

* the ratio is computed as ``window_size / (conv(M, ones) + eps)`` with ``eps = 1e-8``, then
  multiplied by the updated mask: no branch, no division by zero;
* the updated mask is ``clamp(conv(M, ones), 0, 1)``: for a binary :math:`M` the window sum is
  an integer count, so this is the paper's rule :math:`m' = [\operatorname{sum}(M) > 0]`;
* the bias is taken out of the rescaling: ``(conv(X*M) - b) * ratio + b``, then multiplied by
  the updated mask (here the convolution runs without its bias and adds it after the scaling,
  the same numbers);
* the mask is zero-padded: pixels outside the image count as holes, so even without any hole a
  window at the border is rescaled (9/6 at an edge, 9/4 at a corner of a 3x3 window). That is
  "partial convolution based padding" (Liu et al. 2018, arXiv:1811.11718), built in.
* ``multi_channel=True`` takes a mask per input channel; then ``window_size`` is
  :math:`C_{in} k^2` and the sum runs over channels too. The book's U-Net uses it where it
  concatenates a skip connection (features of two different masks).

**Polarity.** The rest of the book marks the **hole** with 1 (Chapter 0). The adapter is
explicit: :class:`PartialConv2d` takes and returns hole masks (1 = hole) at its interface and
converts them with :func:`~inpaintlib.data.masks.hole_to_valid` /
:func:`~inpaintlib.data.masks.valid_to_hole` on entry and exit; inside, every formula is the
paper's, with valid = 1. Feeding a valid mask by mistake makes the layer read the hole and
ignore the known pixels: the polarity is the first thing to check when porting weights or
code from ``NVIDIA/partialconv`` or its many ports.

**A real-valued mask update** (``update="soft"``, the book's ablation ``pconv_soft_update``,
not in the paper). The binary update trusts an output that saw one known pixel out of 49 as
much as one that saw 49. The soft update passes on *how much* was known:

.. math:: m'_{\text{soft}} = \frac{\operatorname{sum}(M)}{\operatorname{sum}(\mathbf 1_{\text{image}})},

the window sum of the (real-valued) mask divided by the number of window positions that lie
inside the image (a convolution of an all-ones map with the same kernel of ones). Why this
normaliser:

* :math:`m'_{\text{soft}} \in [0, 1]`, and it is exactly 1 where the window saw only known
  pixels, so an image without a hole keeps the mask 1 everywhere, at every layer;
* it is positive exactly where the binary update gives 1, so both variants agree on which
  outputs exist and differ only in how much the next layer trusts them: the next layer's
  :math:`W^\top(X \odot M) / \operatorname{sum}(M)` becomes a confidence-weighted average
  (Knutsson and Westin's normalized convolution, 1993);
* dividing by the window size :math:`\operatorname{sum}(\mathbf 1)` instead would count the
  zero padding as missing at every layer: at 128 px the innermost 2x2 map of the book's
  U-Net is all border, so even a hole-free image would reach it with a confidence well
  below 1 (the chapter measures it).

The output's rescaling, the bias and the zeroing of outputs with :math:`\operatorname{sum}(M)
= 0` are the same for both updates: the ablation changes the mask passed on, nothing else.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.data.masks import hole_to_valid, valid_to_hole

__all__ = ["PartialConv2d", "PartialConvBlock", "PlainConvBlock", "mask_window_sum", "MASK_UPDATES"]

#: the mask updates :class:`PartialConv2d` knows: the paper's (binary) and the book's real-valued one
MASK_UPDATES = ("binary", "soft")


def mask_window_sum(valid: torch.Tensor, kernel_size, stride=1, padding=0, dilation=1) -> torch.Tensor:
    r"""``conv(M, ones)``: the number of valid entries under each window, (B, 1, H', W').

    Defined in Chapter 8 (Partial Convolutions). ``valid`` (B, C, H, W), 1 = valid; the sum runs
    over the window and over the C channels (C = 1 for the usual single-channel mask). The mask is
    zero-padded, so positions outside the image count as not valid, as in the reference.
    Computed in float32 without gradient (the mask is not learned).
    """
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    ones = torch.ones(1, valid.shape[1], kh, kw, device=valid.device, dtype=torch.float32)
    with torch.no_grad(), torch.autocast(valid.device.type, enabled=False):
        return F.conv2d(valid.float(), ones, stride=stride, padding=padding, dilation=dilation)


class PartialConv2d(nn.Conv2d):
    r"""A partial convolution with the book's hole masks at its interface. Defined in Chapter 8.

    ``forward(x, hole) -> (y, new_hole)``: ``x`` (B, C_in, H, W), ``hole`` (B, 1, H, W) or
    (B, C_in, H, W) (a mask per channel, the reference's ``multi_channel``), **1 = hole**.
    Inside, with ``M = hole_to_valid(hole)`` (the paper's valid = 1), as the reference code:

    .. code-block:: text

        S     = conv(M, ones)                        # known entries under each window
        ratio = window_size / (S + eps) * clamp(S, 0, 1)
        y     = (conv_without_bias(x * M) * ratio + b) * clamp(S, 0, 1)
        M'    = clamp(S, 0, 1)                       # update="binary": the paper's 1[S > 0]
        M'    = S / conv(ones, ones)                 # update="soft": the book's ablation

    and ``new_hole = valid_to_hole(M')`` (B, 1, H', W'). ``window_size`` is
    :math:`C_{mask} k_h k_w` (:math:`C_{mask}` = the mask's channels). See the module
    docstring for the derivation, the reference's additions and the soft update's normaliser.

    ``padding=None`` keeps the size for stride 1 ("same": (k-1)/2 times the dilation) and
    halves it for stride 2. ``strict`` checks that the mask is binary (``update="binary"``) or
    in [0, 1] (``"soft"``) at every call; a network that checks its input once turns it off
    for its layers (the check synchronises with a GPU).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, bias: bool = True, update: str = "binary",
                 eps: float = 1e-8):
        if update not in MASK_UPDATES:
            raise ValueError(f"update must be one of {MASK_UPDATES}, got {update!r}")
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias)
        self.update, self.eps, self.strict = update, float(eps), True

    def extra_repr(self) -> str:
        return super().extra_repr() + f", update={self.update}"

    def _check(self, x: torch.Tensor, hole: torch.Tensor) -> None:
        if not isinstance(hole, torch.Tensor) or not hole.is_floating_point():
            raise ValueError("PartialConv2d needs a floating-point hole mask (1 = hole), got "
                             f"{type(hole).__name__ if not isinstance(hole, torch.Tensor) else hole.dtype}")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"PartialConv2d expects input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if (hole.ndim != 4 or hole.shape[0] != x.shape[0] or hole.shape[-2:] != x.shape[-2:]
                or hole.shape[1] not in (1, self.in_channels)):
            raise ValueError(f"hole mask of shape {tuple(hole.shape)} does not fit input {tuple(x.shape)}: "
                             f"expected (B, 1, H, W) or (B, {self.in_channels}, H, W), 1 = hole")
        if self.strict:
            if self.update == "binary" and bool(((hole != 0) & (hole != 1)).any()):
                raise ValueError("the hole mask must be binary (0 = known, 1 = hole) for the paper's partial "
                                 "convolution; threshold it first, e.g. (mask > 0.5).float()")
            if self.update == "soft" and bool(((hole < 0) | (hole > 1) | hole.isnan()).any()):
                raise ValueError("the hole mask must lie in [0, 1] (1 = hole)")

    def window_sum(self, valid: torch.Tensor) -> torch.Tensor:
        """``conv(M, ones)`` with this layer's kernel size, stride, padding and dilation."""
        return mask_window_sum(valid, self.kernel_size, self.stride, self.padding, self.dilation)

    def forward(self, x: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, hole)
        valid = hole_to_valid(hole)  # the adapter: the paper's polarity from here on (1 = valid)
        window_size = valid.shape[1] * self.kernel_size[0] * self.kernel_size[1]
        counts = self.window_sum(valid)  # (B, 1, H', W')
        with torch.no_grad():
            covered = counts.clamp(0, 1)  # the reference's clamped update: 1[S > 0] for a binary mask
            ratio = window_size / (counts + self.eps) * covered
            if self.update == "binary":
                new_valid = covered
            else:  # the book's soft update: the fraction of the window's in-image entries that are valid
                new_valid = counts / mask_window_sum(torch.ones_like(valid[:1]), self.kernel_size, self.stride,
                                                     self.padding, self.dilation)
        raw = F.conv2d(x * valid.to(x.dtype), self.weight, None, self.stride, self.padding, self.dilation)  # (B, C_out, H', W')
        out = raw * ratio  # float32 (under bfloat16 autocast too): the ratio is not rounded to 8 bits
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        out = out * covered  # no known pixel under the window: 0, the bias too
        return out, valid_to_hole(new_valid)  # back to the book's polarity (1 = hole)


class PartialConvBlock(nn.Sequential):
    """A partial convolution, then an optional BatchNorm and activation; ``forward(x, hole)``.

    Defined in Chapter 8 (Partial Convolutions). A ``Sequential`` whose first module is the
    :class:`PartialConv2d` and whose others only see the features, so the book's architecture
    tracer (:mod:`inpaintlib.evaluation.architecture`) draws it as one box. Returns
    ``(features, new_hole)``. The BatchNorm sees the zeros the layer writes where no known pixel
    reached (the hole that is still open): the reason the paper freezes the encoder's BatchNorm
    statistics for fine-tuning (Sec. 4.2).
    """

    def __init__(self, conv: PartialConv2d, *after: nn.Module):
        super().__init__(conv, *after)

    def forward(self, x: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        modules = list(self)
        x, hole = modules[0](x, hole)
        for module in modules[1:]:
            x = module(x)
        return x, hole


class PlainConvBlock(nn.Sequential):
    """The plain counterpart of :class:`PartialConvBlock`: an ordinary convolution that ignores the mask.

    Defined in Chapter 8 (Partial Convolutions), for the ablation ``pconv_plain_conv``. Same
    ``forward(x, hole) -> (features, hole)`` signature, so the same U-Net can be built from
    either; the hole mask is passed on unchanged (resized to the output by max pooling, so a
    caller that reads it sees where the input's hole lies at this resolution). The network then
    sees the mask only as an input channel.
    """

    def __init__(self, conv: nn.Conv2d, *after: nn.Module):
        if isinstance(conv, PartialConv2d):
            raise ValueError("PlainConvBlock takes an ordinary nn.Conv2d, not a PartialConv2d")
        super().__init__(conv, *after)

    def forward(self, x: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = x
        for module in self:
            out = module(out)
        if hole.shape[-2:] != out.shape[-2:]:
            hole = F.adaptive_max_pool2d(hole[:, :1], out.shape[-2:])
        return out, hole[:, :1]
