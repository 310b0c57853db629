r"""The ELU, computed from ``exp`` so that it runs at the speed of the other activations on a CPU.

Defined for Chapter 10 (DeepFill v2), whose gated layers apply it to half of every convolution's
output (:mod:`inpaintlib.nn.gated_conv`); every ``"elu"`` layer of the book is this one
(:func:`inpaintlib.nn.layers.activation_layer`: MSNPS, PGGAN, DeepFill v1, GMCNN):

.. math:: \operatorname{ELU}(x) = \begin{cases} x & x > 0 \\ e^{x} - 1 & x \le 0 \end{cases}

**Why not ``torch.nn.functional.elu``.** PyTorch's CPU kernel evaluates :math:`e^x - 1` with
``expm1``, which it does not vectorise. Measured on this book's 2-core machine (PyTorch 2.14, one
thread, a (16, 32, 64, 64) channels-last tensor), forward only: ``F.elu`` 18.6 ms in bfloat16 and
18.4 ms in float32, where ``exp`` takes 1.1 ms and ``sigmoid`` 1.2 ms. Profiled, the ELUs took
13 % of a DeepFill v2 training step at 64 px, against 18 % for all the convolutions' forward passes;
with this function (and dense gate halves, :mod:`inpaintlib.nn.gated_conv`) the step went from 1.25
to 1.06 s (bfloat16, one thread). DeepFill v1 and GMCNN first kept ``nn.ELU(inplace=True)``:
whole training steps timed one after the other, with two trainers sharing the CPU, showed no
difference (11.5 and 7.3 s per adversarial step at 128 px either way). Timed again on
2026-12-06 with the two versions alternating in one process (CPU time, bfloat16, one thread,
batch 16 at 128 px, a generator's forward and backward pass, 4 repeats each): DeepFill v1 2.74
-> 2.12 s, GMCNN 1.95 -> 1.62 s, so the book's ``"elu"`` layers use this function since.

**The same function, from vectorised pieces.** With :math:`x^- = \min(x, 0)`,

.. math:: \operatorname{ELU}(x) = \max(x, 0) + \left(e^{x^-} - 1\right),

since exactly one of the two terms is non-zero. The bracket is evaluated first: :math:`e^{x^-}`
lies in (0, 1], and subtracting 1 from it loses nothing a bfloat16 ELU would keep, while adding
:math:`\max(x, 0)` first and 1 last would round large outputs to bfloat16's coarse grid near 1
(an error of 0.016 at x = 4, measured). Against ``F.elu``: 6e-8 in float32, 0.004 in bfloat16
(one rounding step of a value in (-1, -0.5]).

**The backward pass** reuses the output: :math:`\mathrm{d}\,\mathrm{ELU}/\mathrm{d}x` is 1 where
:math:`x > 0` and :math:`e^x = y + 1` elsewhere, which is :math:`\min(y, 0) + 1` in both cases.
Forward and backward together: 5.2 ms against 22 ms for ``F.elu`` in bfloat16; in float32 the two
are about equal (21.7 against 35.9 ms).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ELUFromExp(torch.autograd.Function):
    """:func:`elu`'s forward and backward (module docstring)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(x) + (torch.exp(torch.clamp(x, max=0)) - 1)  # the bracket first: see the docstring
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return grad * (torch.clamp(y, max=0) + 1)  # 1 where x > 0, e^x = y + 1 elsewhere


def elu(x: torch.Tensor) -> torch.Tensor:
    """The ELU (alpha = 1), ``F.elu(x)`` computed from ``exp``: see the module docstring."""
    return _ELUFromExp.apply(x)


class ELU(nn.ELU):
    """:func:`elu` as a module, a drop-in for ``nn.ELU()`` (alpha 1, not in place). A subclass, so
    code that asks ``isinstance(m, nn.ELU)`` (the architecture figures) sees an ELU."""

    def __init__(self):
        super().__init__(alpha=1.0, inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return elu(x)
