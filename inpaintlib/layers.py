"""Small building blocks shared by several chapters' networks.

Defined in Chapter 1 (Context Encoder) unless a docstring says otherwise.
"""
from __future__ import annotations

from torch import nn


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
        "elu": lambda: nn.ELU(inplace=True),
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
