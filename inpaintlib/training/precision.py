"""Fast arithmetic for training: bfloat16 autocast and channels-last memory, on the CPU too.

Defined in Chapter 0 (Foundations).

Why: a convolution in bfloat16 moves half the bytes of one in float32, and CPUs with AVX-512
BF16 (or AMX, or ARM's BF16 extension) multiply bfloat16 pairs natively. On the book's 2-core
AMD EPYC a 1.5 M-parameter conv net trains at about 490,000 pixels/s with bf16 autocast and
channels-last, against 300,000 in plain float32 (``make bench`` measures it for every model).

What stays in float32, and why:

* the **weights and the optimiser step** (autocast casts copies for the convolutions, the
  master weights and Adam's moments stay float32: bfloat16 has only 8 bits of mantissa, so
  ``w + lr * g`` with ``lr * g`` 1000 times smaller than ``w`` would round back to ``w``);
* the **losses and the gradient penalty**: :func:`autocast_networks` runs only the networks'
  ``forward`` under autocast and hands their outputs back as float32, so every loss written in
  a recipe is computed in float32 without the recipe doing anything.

A frozen *loss network* (the VGG-16 of the perceptual and style losses) is a network too: a
recipe that opts in runs it through :func:`loss_network_forward`, in bfloat16 when the training
is, with its features handed back as float32 before the Gram matrices and distances. Measured
for Partial Convolutions (Chapter 8), whose three VGG passes per step are about 95 % of its
FLOPs: 3.4 s per step with the VGG in float32, 1.7 s in bfloat16 (batch 16 at 128 px, 2 threads).

On a CPU without bfloat16 instructions, autocast would emulate them and run *slower*, so
:func:`resolve_precision` picks float32 there.
"""
from __future__ import annotations

import contextlib
import functools
import platform
from pathlib import Path

import torch
from torch import nn

PRECISIONS = ("auto", "bf16", "fp32")


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bfloat16 arithmetic (x86 AVX-512 BF16 or AMX, ARM BF16).

    Defined in Chapter 0 (Foundations). Reads PyTorch's own check where it exists, else the
    CPU flags in ``/proc/cpuinfo``.
    """
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(torch.cpu, name, None)  # private helpers: absent from some versions
        try:
            if check is not None and check():
                return True
        except RuntimeError:
            pass
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    words = set(flags.split())
    return bool({"avx512_bf16", "amx_bf16"} & words) or (platform.machine() == "aarch64" and "bf16" in words)


def cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo``), for the checkpoint's metadata."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"bf16"`` or ``"fp32"``: what ``precision`` (``auto``, ``bf16``, ``fp32``) means on ``device``.

    Defined in Chapter 0 (Foundations). ``auto`` is bf16 on CUDA GPUs that support it and on
    CPUs with native bfloat16 (:func:`cpu_supports_bf16`), fp32 elsewhere.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return "fp32"


def _to_float(value):
    """Cast every floating tensor in a (nested) network output back to float32."""
    if torch.is_tensor(value):
        return value.float() if value.is_floating_point() and value.dtype != torch.float32 else value
    if isinstance(value, tuple):
        return tuple(_to_float(v) for v in value)
    if isinstance(value, list):
        return [_to_float(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_float(v) for k, v in value.items()}
    return value


@contextlib.contextmanager
def autocast_networks(nets: dict[str, nn.Module], precision: str, device: torch.device | str = "cpu"):
    """Run the ``forward`` of each network in ``nets`` under bfloat16 autocast, outputs as float32.

    Defined in Chapter 0 (Foundations). Inside the ``with`` block, calling ``nets[k](...)``
    computes the convolutions in bfloat16 and returns float32 tensors, so the losses around the
    call stay float32. ``precision="fp32"`` changes nothing. The state dicts are untouched (the
    wrapper is an instance attribute, removed on exit).
    """
    device = torch.device(device)
    if precision != "bf16":
        yield nets
        return
    wrapped = []
    for net in nets.values():
        if "forward" in vars(net):  # already wrapped (nested use): leave it
            continue
        original = net.forward

        @functools.wraps(original)
        def forward(*args, _original=original, **kwargs):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out = _original(*args, **kwargs)
            return _to_float(out)

        net.forward = forward
        wrapped.append(net)
    try:
        yield nets
    finally:
        for net in wrapped:
            del net.forward


def loss_network_forward(net: nn.Module, images: torch.Tensor, *args, precision: str = "fp32", **kwargs):
    """``net(images, *args, **kwargs)`` under bfloat16 autocast when ``precision == "bf16"``, the
    outputs as float32 (a tensor, or a tuple, list or dict of them).

    Defined in Chapter 8 (Partial Convolutions), for frozen loss networks such as the VGG-16:
    their convolutions are the bulk of a perceptual loss's cost, and the losses computed from
    their features stay float32. ``precision="fp32"`` is a plain call. The images go in
    channels-last order, which oneDNN's bfloat16 convolutions read fastest.
    """
    if precision != "bf16":
        return net(images, *args, **kwargs)
    with torch.autocast(images.device.type, dtype=torch.bfloat16):
        out = net(to_channels_last(images), *args, **kwargs)
    return _to_float(out)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last (NHWC) memory order when it is a 4-D tensor, else unchanged.

    Defined in Chapter 0 (Foundations). oneDNN's (and cuDNN's) fastest convolutions read NHWC;
    a network and its inputs in that order skip a transposition at every layer.
    """
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
