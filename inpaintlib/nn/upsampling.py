"""Transposed convolutions seen as interleaved convolutions: overlap, phases, checkerboards.

Defined in Chapter 1 (Context Encoder); Chapter 4 (PGGAN) reuses it.

A transposed convolution of stride ``s`` writes input pixel ``i`` to output pixels
``o = s i - p + k`` for every kernel tap ``k`` (``p`` the padding). Two facts follow:

* **Overlap.** Output pixel ``o`` receives one contribution per tap ``k`` with
  ``k = o + p (mod s)`` that lands on an existing input pixel. When the kernel size is a
  multiple of the stride (4x4 kernel, stride 2: the DCGAN block), every interior output pixel
  receives exactly ``(kernel / stride)^2`` contributions (4 for 4x4 stride 2): the overlap is
  *even*. Only kernels whose size is not a multiple of the stride (3x3 stride 2) overlap
  unevenly. :func:`contribution_counts` measures it.
* **Phases.** The output pixels with ``o = r (mod s)`` (row phase ``r``, likewise columns) are
  computed by the taps ``k = r + p (mod s)`` only: a stride-2 transposed convolution is four
  ordinary convolutions with four 2x2 *phase sub-kernels* (for a 4x4 kernel), whose outputs are
  interleaved. Nothing ties the four sub-kernels together, so training can give them different
  gains, and a flat input then comes out as a 2-periodic pattern: the checkerboard artefact.
  :func:`phase_subkernels` splits a kernel, :func:`constant_input_response` predicts the
  pattern, :func:`phase_means` measures it in any image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "contribution_counts",
    "phase_taps",
    "phase_subkernels",
    "constant_input_response",
    "phase_means",
    "checkerboard_amplitude",
]


def _check_geometry(kernel_size: int, stride: int, padding: int) -> None:
    if kernel_size < 1 or stride < 1 or padding < 0:
        raise ValueError(
            "expected kernel_size >= 1, stride >= 1 and padding >= 0, got "
            f"{kernel_size}, {stride}, {padding}"
        )


def contribution_counts(kernel_size: int = 4, stride: int = 2, padding: int = 1,
                        input_size: int = 8) -> torch.Tensor:
    """How many (input pixel, kernel tap) pairs reach each output pixel, shape (H_out, W_out).

    Defined in Chapter 1 (Context Encoder). The transposed convolution of an all-ones
    ``input_size`` x ``input_size`` map with an all-ones kernel: each output value counts the
    contributions it receives. Interior values are ``(kernel_size / stride)^2`` everywhere when
    ``stride`` divides ``kernel_size``; otherwise they alternate (uneven overlap).
    """
    _check_geometry(kernel_size, stride, padding)
    ones = torch.ones(1, 1, input_size, input_size, dtype=torch.float64)
    kernel = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    return F.conv_transpose2d(ones, kernel, stride=stride, padding=padding)[0, 0]


def phase_taps(kernel_size: int, stride: int, padding: int, phase: int, dilation: int = 1) -> list[int]:
    """Kernel taps (along one axis) that produce the output pixels ``o = phase (mod stride)``.

    Defined in Chapter 1 (Context Encoder). From ``o = stride * i - padding + dilation * k``: the
    taps with ``dilation * k = phase + padding (mod stride)``. For 4 taps, stride 2, padding 1:
    phase 0 uses taps [1, 3], phase 1 taps [0, 2]. (Chapter 3's :func:`unit_field` uses it too.)
    """
    _check_geometry(kernel_size, stride, padding)
    if not 0 <= phase < stride:
        raise ValueError(f"phase must lie in [0, {stride}), got {phase}")
    return [k for k in range(kernel_size) if (dilation * k - padding - phase) % stride == 0]


def _geometry(layer_or_weight, stride, padding):
    if isinstance(layer_or_weight, nn.ConvTranspose2d):
        layer = layer_or_weight
        if layer.groups != 1 or layer.dilation != (1, 1):
            raise ValueError("expected a ConvTranspose2d with groups=1 and dilation=1")
        if layer.stride[0] != layer.stride[1] or layer.padding[0] != layer.padding[1]:
            raise ValueError("expected the same stride and padding along both axes")
        return layer.weight.detach(), layer.stride[0], layer.padding[0]
    weight = layer_or_weight
    if not torch.is_tensor(weight) or weight.ndim != 4 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError(
            "expected an nn.ConvTranspose2d or a square kernel of shape (C_in, C_out, k, k), "
            f"got {getattr(weight, 'shape', type(weight).__name__)}"
        )
    if stride is None or padding is None:
        raise ValueError("pass stride and padding with a bare weight tensor")
    return weight.detach(), int(stride), int(padding)


def phase_subkernels(layer_or_weight, stride: int | None = None,
                     padding: int | None = None) -> dict[tuple[int, int], torch.Tensor]:
    """Split a transposed convolution's kernel into its ``stride^2`` phase sub-kernels.

    Defined in Chapter 1 (Context Encoder). ``layer_or_weight`` is an ``nn.ConvTranspose2d``
    (stride and padding read from it) or a weight of shape (C_in, C_out, k, k) with ``stride``
    and ``padding`` given. Returns ``{(row_phase, col_phase): sub_kernel}``, each sub-kernel of
    shape (C_in, C_out, k/s, k/s) (taps from :func:`phase_taps`): the weights that alone
    compute the output pixels of that phase. The sub-kernels partition the kernel's taps.
    """
    weight, stride, padding = _geometry(layer_or_weight, stride, padding)
    k = weight.shape[-1]
    taps = [phase_taps(k, stride, padding, r) for r in range(stride)]
    return {(r, c): weight[:, :, taps[r]][:, :, :, taps[c]]
            for r in range(stride) for c in range(stride)}


def constant_input_response(layer: nn.ConvTranspose2d, value) -> torch.Tensor:
    """What ``layer`` outputs, away from the borders, for a spatially constant input.

    Defined in Chapter 1 (Context Encoder). ``value`` is a number or one value per input
    channel, shape (C_in,). Returns shape (C_out, s, s): entry ``[:, r, c]`` is the output at
    every interior pixel of phase ``(r, c)``, i.e. the sum of that phase's sub-kernel weighted
    by the input values, plus the bias. Equal entries would mean a flat output; different
    entries are the 2-periodic checkerboard a flat input turns into.
    """
    if not isinstance(layer, nn.ConvTranspose2d):
        raise ValueError(f"expected an nn.ConvTranspose2d, got {type(layer).__name__}")
    subs = phase_subkernels(layer)
    s = layer.stride[0]
    value = torch.as_tensor(value, dtype=layer.weight.dtype).reshape(-1)
    if value.numel() == 1:
        value = value.expand(layer.in_channels)
    if value.numel() != layer.in_channels:
        raise ValueError(f"expected 1 or {layer.in_channels} input values, got {value.numel()}")
    out = torch.zeros(layer.out_channels, s, s, dtype=layer.weight.dtype)
    for (r, c), sub in subs.items():
        out[:, r, c] = torch.einsum("i,iokl->o", value, sub.to(value))
    if layer.bias is not None:
        out += layer.bias.detach().view(-1, 1, 1)
    return out


def phase_means(images: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """Mean of each output phase of (B,C,H,W) images: shape (B, C, stride, stride).

    Defined in Chapter 1 (Context Encoder). Entry ``[..., r, c]`` averages the pixels with
    ``row = r`` and ``col = c (mod stride)``. In a natural image the phases hold the same
    content, shifted by a pixel, so their means are nearly equal; a checkerboard artefact
    shows up as a spread between them.
    """
    if images.ndim != 4 or images.shape[-1] % stride or images.shape[-2] % stride:
        raise ValueError(
            f"expected images of shape (B,C,H,W) with H and W multiples of {stride}, "
            f"got {tuple(images.shape)}"
        )
    b, c, h, w = images.shape
    blocks = images.reshape(b, c, h // stride, stride, w // stride, stride)
    return blocks.mean(dim=(2, 4))


def checkerboard_amplitude(images: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """Spread (max - min) of the phase means, per image and channel: shape (B, C).

    Defined in Chapter 1 (Context Encoder). Zero for an image without any 2-periodic
    component (with ``stride`` 2); the amplitude of the pattern for a pure checkerboard.
    """
    means = phase_means(images, stride).flatten(2)
    return means.amax(dim=2) - means.amin(dim=2)
