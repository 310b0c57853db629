"""Small building blocks shared by several chapters' networks.

Defined in Chapter 1 (Context Encoder) unless a docstring says otherwise: dilated stacks in
Chapter 3 (GLCIC), residual blocks and interpolated convolutions in Chapter 4 (PGGAN).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from inpaintlib.nn.activations import ELU


def conv_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 4,
    stride: int = 2,
    padding: int | None = None,
    norm: str | None = "batch",
    activation: str | None = "lrelu",
    dilation: int = 1,
    transposed: bool = False,
) -> nn.Sequential:
    """Convolution (or transposed convolution) + optional normalisation + activation.

    Defined in Chapter 1 (Context Encoder); the DCGAN-style 4x4 stride-2 block that halves
    (or, transposed, doubles) the resolution is the default. ``norm`` is ``"batch"``,
    ``"instance"`` or ``None``; ``activation`` is ``"relu"``, ``"lrelu"`` (slope 0.2, the GAN
    default), ``"elu"``, ``"tanh"`` or ``None``. A convolution followed by a normalisation gets no
    bias (the normalisation's shift replaces it).
    """
    if padding is None:
        padding = dilation * (kernel_size - 1) // 2 if stride == 1 else (kernel_size - stride) // 2 + (kernel_size - stride) % 2
    conv_cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    kwargs = {} if transposed else {"dilation": dilation}
    layers: list[nn.Module] = [
        conv_cls(in_channels, out_channels, kernel_size, stride, padding, bias=norm is None, **kwargs)
    ]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(out_channels))
    elif norm == "instance":
        layers.append(nn.InstanceNorm2d(out_channels, affine=True))
    elif norm is not None:
        raise ValueError(f"unknown norm {norm!r}: expected 'batch', 'instance' or None")
    layers.append(activation_layer(activation))
    return nn.Sequential(*layers)


def activation_layer(name: str | None) -> nn.Module:
    """The activation named ``name`` as a module (``None`` gives the identity). Defined in Chapter 1."""
    table = {
        None: nn.Identity,
        "relu": lambda: nn.ReLU(inplace=True),
        "lrelu": lambda: nn.LeakyReLU(0.2, inplace=True),
        "elu": ELU,  # F.elu's value from exp: 2-7x faster on a CPU (inpaintlib.nn.activations)
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}: expected one of {sorted(k for k in table if k)}")
    return table[name]()


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016): conv weights ~ N(0, 0.02), BN weights ~ N(1, 0.02).

    Defined in Chapter 1 (Context Encoder). Use as ``net.apply(init_dcgan_weights)``.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def dilated_conv_stack(
    channels: int,
    dilations=(2, 4, 8, 16),
    kernel_size: int = 3,
    norm: str | None = "batch",
    activation: str | None = "relu",
) -> nn.Sequential:
    """3x3 convolutions at full resolution with growing dilation, one block per entry of ``dilations``.

    Defined in Chapter 3 (GLCIC); reused by PGGAN (Chapter 4) and GMCNN (Chapter 7).

    A 3x3 convolution with dilation ``d`` reads the 3x3 grid of pixels ``d`` apart: the same nine
    weights, but the receptive field grows by ``2 d`` (times the stride of the feature map so
    far) instead of 2. Doubling ``d`` at each layer grows the receptive field exponentially with
    depth while the feature map keeps its size ("same" padding ``d``), which is how GLCIC replaces
    the Context Encoder's fully connected bottleneck and stays fully convolutional.
    """
    return nn.Sequential(*[
        conv_block(channels, channels, kernel_size, 1, dilation=d, norm=norm, activation=activation)
        for d in dilations
    ])


class InterpolatedConv2d(nn.Module):
    r"""*Interpolated convolution*: resize by interpolation, then a standard convolution.

    Defined in Chapter 4 (PGGAN). ``scale`` is the resize factor before the convolution:

    * ``scale=2`` doubles the map: an **upsampling** layer without the transposed convolution's
      phases (:mod:`inpaintlib.nn.upsampling`), so a flat input stays flat (no checkerboard);
    * ``scale=1/d`` with ``back=True`` shrinks the map by ``d``, convolves, and resizes the
      result back to the input's size: a 3x3 kernel then spans at least ``3d`` input pixels
      (more, with the interpolation filters' width), an alternative to a 3x3 convolution with
      **dilation** ``d`` (``2d + 1`` pixels) in which every input pixel contributes (through
      the interpolation weights) instead of one in ``d`` along each axis, so it has no
      gridding pattern; the price is that detail finer than ``d`` pixels is averaged away.

    ``mode`` is ``"bilinear"`` (default; antialiased when shrinking, so that no pixel is
    skipped) or ``"nearest"``. The convolution keeps the resized
    map's size ("same" padding), so the output is ``scale`` x the input (``back=False``) or the
    input's size (``back=True``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, scale: float = 2.0,
                 back: bool = False, mode: str = "bilinear", bias: bool = True):
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
        self.scale, self.back, self.mode = float(scale), bool(back), mode
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, 1, kernel_size // 2, bias=bias)

    def _resize(self, x, size):
        kwargs = {}
        if self.mode == "bilinear":
            # shrinking with plain bilinear weights reads 2 of every d pixels (d > 2) and skips
            # the rest: the gaps dilation has. The antialiased filter widens with the factor, so
            # every pixel counts (Chapter 4 measures both)
            kwargs = {"align_corners": False, "antialias": size[0] < x.shape[-2] or size[1] < x.shape[-1]}
        return F.interpolate(x, size=size, mode=self.mode, **kwargs)

    def forward(self, x):
        h, w = x.shape[-2:]
        size = (max(1, int(round(h * self.scale))), max(1, int(round(w * self.scale))))
        y = self.conv(self._resize(x, size))
        return self._resize(y, (h, w)) if self.back else y


class ResidualBlock(nn.Module):
    r"""Residual block ``x + F(x)`` whose two 3x3 convolutions are dilated (or interpolated).

    Defined in Chapter 4 (PGGAN). :math:`F` = conv, norm, ReLU, conv, norm (Johnson et al.'s
    block, used by ResNet generators; no activation after the sum). With ``dilation`` ``d`` both
    convolutions read pixels ``d`` apart: the *dilated residual block* of PGGAN's generator,
    which adds ``2 \cdot 2d`` units to the receptive field where a plain block adds 4, while the
    identity path keeps a short route for the gradient and for the input's own detail.
    ``kind="interpolated"`` replaces each dilated convolution by an
    :class:`InterpolatedConv2d` that works at ``1/d`` of the resolution and comes back (the
    alternative the chapter compares).
    """

    def __init__(self, channels: int, dilation: int = 1, kind: str = "dilated", norm: str | None = "batch"):
        super().__init__()
        if kind not in ("dilated", "interpolated"):
            raise ValueError(f"kind must be 'dilated' or 'interpolated', got {kind!r}")
        self.dilation, self.kind = int(dilation), kind

        def conv():
            if kind == "interpolated" and dilation > 1:
                return InterpolatedConv2d(channels, channels, 3, scale=1 / dilation, back=True, bias=norm is None)
            return nn.Conv2d(channels, channels, 3, 1, dilation, dilation=dilation, bias=norm is None)

        def normalisation():
            if norm is None:
                return nn.Identity()
            if norm == "batch":
                return nn.BatchNorm2d(channels)
            if norm == "instance":
                return nn.InstanceNorm2d(channels, affine=True)
            raise ValueError(f"unknown norm {norm!r}: expected 'batch', 'instance' or None")

        self.residual = nn.Sequential(conv(), normalisation(), nn.ReLU(inplace=True), conv(), normalisation())

    def forward(self, x):
        return x + self.residual(x)


def check_feature_pair(first, second, mask, names=("first", "second"), mask_name="mask") -> tuple[int, int, int, int]:
    """Check two (B,C,H,W) feature maps of one shape and a (B,1,H,W) mask; return (B, C, H, W).

    Defined in Chapter 5 (Shift-Net); used again by Chapter 6's contextual attention. Both layers
    compare every position of one map with every position of another under a mask, and a wrong
    shape would otherwise fail deep inside a batched matrix product.
    """
    if first.shape != second.shape or first.ndim != 4:
        raise ValueError(f"{names[0]} and {names[1]} features must have the same (B,C,H,W) shape, got "
                         f"{tuple(first.shape)} and {tuple(second.shape)}")
    b, c, h, w = first.shape
    if mask.shape != (b, 1, h, w):
        raise ValueError(f"{mask_name} must have shape {(b, 1, h, w)} (1 = hole), got {tuple(mask.shape)}")
    return b, c, h, w
