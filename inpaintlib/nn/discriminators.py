r"""Discriminators shared by several chapters.

Defined in Chapter 3 (GLCIC): the global + local pair of Iizuka et al. (2017, Sec. 3.3) and
the hole-centred crop the local one looks at. PGGAN (Chapter 4) and GMCNN (Chapter 7) reuse them.
Chapter 4 (PGGAN) adds the PatchGAN discriminator (a map of scores, one per patch) and the
two-headed discriminator whose global and patch heads share their first layers; Chapters 9
and 10 reuse the PatchGAN. Chapter 9 (EdgeConnect) adds its spectrally normalised form, which
also returns its layers' activations for the feature-matching loss.

Why two? A discriminator that sees the whole image judges whether the scene is *globally*
coherent (a completed building has the right number of storeys) but, after several stride-2
layers, a 64-pixel hole is a few units of its feature map; one that sees only a window around
the hole judges *local* texture at full resolution. Iizuka et al. concatenate the two feature
vectors and let one fully connected layer decide, so each discriminator's verdict depends on
both views.

**Critics trained with a gradient penalty (WGAN-GP) must have no BatchNorm.** The penalty
constrains the gradient of the critic's score *per sample*; BatchNorm makes each score depend on
the whole batch, so the per-sample gradient the penalty measures is not the critic's. Build such
critics with ``norm=None`` (or layer/instance normalisation), and check them with
:func:`check_no_batchnorm`; the Chapter 0 engine's WGAN-GP phases assume it.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from inpaintlib.nn.layers import conv_block, init_dcgan_weights
from inpaintlib.data.masks import mask_bbox

__all__ = ["crop_around_hole", "conv_feature_stack", "GlobalLocalDiscriminator", "check_no_batchnorm",
           "GlobalPatchDiscriminator", "PatchDiscriminator", "SpectralPatchDiscriminator"]


def check_no_batchnorm(net: nn.Module, role: str = "a critic trained with a gradient penalty") -> nn.Module:
    """Raise ``ValueError`` if ``net`` holds a BatchNorm layer (see the module docstring); return it.

    Defined in Chapter 0 (Foundations), for the engine's WGAN-GP phases (Chapters 6 and 7).
    """
    found = [name for name, m in net.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if found:
        raise ValueError(f"{role} must not use BatchNorm (it couples the samples of a batch, so the "
                         f"per-sample gradient penalty is wrong); found it at {found[:3]}: build it with norm=None")
    return net


def crop_around_hole(images: torch.Tensor, masks: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Square ``size`` x ``size`` windows centred on each hole's bounding box, kept inside the image.

    Defined in Chapter 3 (GLCIC). Returns ``(crops, corners)``: crops (B, C, size, size) of
    ``images`` and the long tensor (B, 2) of their (top, left) corners. The window is centred on
    the hole's bounding box and then shifted (not shrunk) to lie inside the image, so a hole no
    larger than ``size`` is always wholly inside its crop. An image without a hole gets the
    centre window. Cropping is indexing, so gradients flow back into ``images``.
    """
    if images.ndim != 4 or masks.ndim != 4 or images.shape[0] != masks.shape[0] \
            or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"images (B,C,H,W) and masks (B,1,H,W) of the same size expected, got "
                         f"{tuple(images.shape)} and {tuple(masks.shape)}")
    b, _, h, w = images.shape
    if size > min(h, w):
        raise ValueError(f"crop size {size} does not fit in {h}x{w} images")
    boxes = mask_bbox(masks.detach().cpu())
    corners = torch.zeros(b, 2, dtype=torch.long)
    crops = []
    for i, (top, left, bottom, right) in enumerate(boxes.tolist()):
        if bottom == 0:  # no hole
            cy, cx = h // 2, w // 2
        else:
            cy, cx = (top + bottom) // 2, (left + right) // 2
        y0 = min(max(cy - size // 2, 0), h - size)
        x0 = min(max(cx - size // 2, 0), w - size)
        corners[i] = torch.tensor([y0, x0])
        crops.append(images[i, :, y0:y0 + size, x0:x0 + size])
    return torch.stack(crops), corners


def conv_feature_stack(input_size: int, widths=(64, 128, 256, 512, 512, 512), out_side: int = 4,
                       kernel_size: int = 5, norm: str | None = "batch", activation: str = "relu") -> nn.Sequential:
    """Stride-2 5x5 convolutions from ``input_size`` down to ``out_side``, then flatten.

    Defined in Chapter 3 (GLCIC). The number of layers is ``log2(input_size / out_side)``; the
    first that many entries of ``widths`` give their channels.
    """
    n = int(round(math.log2(input_size / out_side)))
    if n < 1 or input_size != out_side * 2**n or n > len(widths):
        raise ValueError(f"input_size must be out_side * 2**n with 1 <= n <= {len(widths)}, got {input_size}")
    layers, c_in = [], 3
    for c in widths[:n]:
        layers.append(conv_block(c_in, c, kernel_size, 2, norm=norm, activation=activation))
        c_in = c
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


class GlobalLocalDiscriminator(nn.Module):
    r"""Global + local discriminator of Iizuka et al. (2017, Sec. 3.3), one logit per image.

    Defined in Chapter 3 (GLCIC), where the notebook writes the same network from the paper's
    description and checks that, with these weights, it computes the same logits.

    * global: the whole ``image_size`` image, stride-2 5x5 convolutions to a 4x4 map, FC 1024;
    * local: the ``local_size`` window centred on the hole (:func:`crop_around_hole`), the same
      kind of stack, FC 1024;
    * the two 1024-vectors are concatenated and one FC layer gives the logit (the sigmoid is
      inside the BCE loss).

    The paper's sizes are 256 / 128 (six and five convolutions); at our 128 / 64 each stack
    has one convolution less and the same 4x4 output. ``width`` scales every channel count
    (1.0 = the paper's 64 ... 512). ``norm``: ``"batch"`` (the paper's) or ``None``, which a
    WGAN-GP critic needs (see the module docstring).
    """

    def __init__(self, image_size: int = 128, local_size: int = 64, width: float = 1.0, norm: str | None = "batch"):
        super().__init__()
        self.image_size, self.local_size, self.width = image_size, local_size, width
        widths = tuple(max(8, int(c * width)) for c in (64, 128, 256, 512, 512, 512))
        self.global_features = conv_feature_stack(image_size, widths, norm=norm)
        self.local_features = conv_feature_stack(local_size, widths, norm=norm)
        g_out = widths[int(round(math.log2(image_size / 4))) - 1] * 16
        l_out = widths[int(round(math.log2(local_size / 4))) - 1] * 16
        self.global_fc = nn.Sequential(nn.Linear(g_out, 1024), nn.ReLU(inplace=True))
        self.local_fc = nn.Sequential(nn.Linear(l_out, 1024), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(2048, 1)
        self.apply(init_dcgan_weights)

    def forward(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"the global discriminator expects {self.image_size}x{self.image_size} images, "
                             f"got {tuple(images.shape[-2:])}")
        local, _ = crop_around_hole(images, masks, self.local_size)
        x = 2 * images - 1
        g = self.global_fc(self.global_features(x))
        l_ = self.local_fc(self.local_features(2 * local - 1))
        return self.classifier(torch.cat([g, l_], dim=1))


class GlobalPatchDiscriminator(nn.Module):
    r"""PGGAN's discriminator (Demir & Unal 2018): shared layers, then a global and a patch head.

    Defined in Chapter 4 (PGGAN), whose notebook builds the same network from the paper's
    description and checks it computes the same scores with these weights.

    * **shared**: three 4x4 stride-2 convolutions (64, 128, 256 channels at ``width=1``; LeakyReLU
      0.2, BatchNorm from the second on): the image at 1/8 of its side;
    * **patch head** (PatchGAN, Isola et al. 2017): a 4x4 stride-1 convolution (512) and a 4x4
      stride-1 convolution to one channel: a *map* of logits, each judging one 70x70 patch of
      the input (the receptive field of the five layers, derived in Chapter 4); 14x14 logits
      for a 128 px image;
    * **global head** (G-GAN): two more 4x4 stride-2 convolutions to a 4x4 map (512, 512) and a
      fully connected layer: one logit per image, which sees the whole image.

    ``forward`` returns ``{"global": (B, 1), "patch": (B, 1, h, w)}`` for the heads in
    ``heads`` (``("global",)`` is the Chapter 4 ablation without the patch head). ``norm=None``
    gives a critic for a gradient penalty. Inputs are images in [0, 1].
    """

    def __init__(self, image_size: int = 128, width: float = 1.0, heads=("global", "patch"),
                 norm: str | None = "batch"):
        super().__init__()
        heads = tuple(heads)
        if not heads or any(h not in ("global", "patch") for h in heads):
            raise ValueError(f"heads must be a non-empty subset of ('global', 'patch'), got {heads}")
        if image_size % 32 or image_size < 32:
            raise ValueError(f"image_size must be a multiple of 32 (>= 32), got {image_size}")
        self.image_size, self.width, self.heads = image_size, width, heads

        def c(n: int) -> int:
            return max(8, int(round(n * width)))

        self.shared = nn.Sequential(
            conv_block(3, c(64), 4, 2, padding=1, norm=None, activation="lrelu"),
            conv_block(c(64), c(128), 4, 2, padding=1, norm=norm, activation="lrelu"),
            conv_block(c(128), c(256), 4, 2, padding=1, norm=norm, activation="lrelu"),
        )
        if "patch" in heads:
            self.patch_head = nn.Sequential(
                conv_block(c(256), c(512), 4, 1, padding=1, norm=norm, activation="lrelu"),
                nn.Conv2d(c(512), 1, 4, 1, 1),
            )
        if "global" in heads:
            side = image_size // 32  # two more stride-2 layers after the shared 1/8
            self.global_head = nn.Sequential(
                conv_block(c(256), c(512), 4, 2, padding=1, norm=norm, activation="lrelu"),
                conv_block(c(512), c(512), 4, 2, padding=1, norm=norm, activation="lrelu"),
                nn.Flatten(),
                nn.Linear(c(512) * side * side, 1),
            )
        self.apply(init_dcgan_weights)

    def patch_map_size(self, size: int | None = None) -> int:
        """Side of the patch head's logit map for ``size`` px inputs: ``size / 8 - 2`` (14 at 128)."""
        size = self.image_size if size is None else size
        return size // 8 - 2

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B,3,H,W), got {tuple(images.shape)}")
        if "global" in self.heads and images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"the global head expects {self.image_size}x{self.image_size} images, "
                             f"got {tuple(images.shape[-2:])}")
        features = self.shared(2 * images - 1)  # (B, 256w, H/8, W/8)
        out = {}
        if "global" in self.heads:
            out["global"] = self.global_head(features)  # (B, 1)
        if "patch" in self.heads:
            out["patch"] = self.patch_head(features)  # (B, 1, H/8 - 2, W/8 - 2)
        return out


class PatchDiscriminator(GlobalPatchDiscriminator):
    """The PatchGAN alone: the shared layers and the patch head; returns the (B, 1, h, w) logits.

    Defined in Chapter 4 (PGGAN); the discriminator of Chapters 9 (EdgeConnect) and 10. Fully
    convolutional, so any image size that is a multiple of 32 works.
    """

    def __init__(self, width: float = 1.0, norm: str | None = "batch"):
        super().__init__(image_size=32, width=width, heads=("patch",), norm=norm)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return super().forward(images)["patch"]


class SpectralPatchDiscriminator(nn.Module):
    r"""EdgeConnect's discriminator: a 70x70 PatchGAN with spectral normalisation and no norm layer.

    Defined in Chapter 9 (EdgeConnect). Layers, as the reference's ``Discriminator``
    (``src/networks.py``; the paper, Sec. 3, cites the 70x70 PatchGAN of Isola et al. 2017),
    widths at ``width=1``::

        4x4 /2 64 | 4x4 /2 128 | 4x4 /2 256 | 4x4 /1 512 | 4x4 /1 1     (padding 1 each)

    LeakyReLU 0.2 after all but the last; every convolution spectrally normalised (Miyato et al.
    2018: each weight divided by its largest singular value, estimated by one power iteration per
    training step, so each layer is at most 1-Lipschitz) and without bias, as the reference
    (``bias=not use_spectral_norm``). Weights start from N(0, 0.02), the reference's
    ``init_weights``. The receptive field of one output is 70x70 input pixels; a 128 px input
    gives 14x14 logits.

    ``forward`` returns ``(logits, features)``: the (B, 1, h, w) logits (the sigmoid belongs to
    the BCE loss) and the list of the five layers' outputs, the last being the logits, which the
    feature-matching loss (:mod:`inpaintlib.losses.feature_matching`) compares. Inputs are taken
    as they are, in [0, 1] (the reference does not rescale them): ``in_channels`` 2 for the edge
    discriminator (greyscale image, edge map), 3 for the image discriminator. ``width`` scales
    every channel count.
    """

    def __init__(self, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        from torch.nn.utils.parametrizations import spectral_norm

        if in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        self.in_channels, self.width = int(in_channels), float(width)

        def c(n: int) -> int:
            return max(8, int(round(n * width)))

        def conv(cin: int, cout: int, stride: int) -> nn.Module:
            layer = nn.Conv2d(cin, cout, 4, stride, 1, bias=False)
            nn.init.normal_(layer.weight, 0.0, 0.02)  # before the parametrisation wraps the weight
            return spectral_norm(layer)

        chans = [self.in_channels, c(64), c(128), c(256), c(512)]
        strides = [2, 2, 2, 1]
        self.layers = nn.ModuleList(
            [nn.Sequential(conv(a, b, s), nn.LeakyReLU(0.2)) for a, b, s in zip(chans[:-1], chans[1:], strides)]
            + [nn.Sequential(conv(chans[-1], 1, 1))])

    def patch_map_size(self, size: int) -> int:
        """Side of the logit map for ``size`` px inputs: ``size / 8 - 2`` (14 at 128)."""
        return size // 8 - 2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"this discriminator expects (B,{self.in_channels},H,W) inputs, got {tuple(x.shape)}")
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"inputs must be at least 32x32 (three stride-2 layers, then two 4x4 ones), "
                             f"got {tuple(x.shape[-2:])}")
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)  # (B,64w,H/2,W/2), (B,128w,H/4,..), (B,256w,H/8,..), (B,512w,H/8-1,..), logits
        return x, features
