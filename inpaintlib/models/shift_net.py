r"""Shift-Net: image inpainting via deep feature rearrangement (Yan et al., ECCV 2018): Chapter 5.

What is new in this paper, and therefore new code here:

* the **shift-connection layer** (:mod:`inpaintlib.nn.shift`): at one level of a U-Net decoder,
  every hole position copies the encoder feature of the known position most similar to its
  own decoder feature, and the next layer reads [decoder, encoder, shifted];
* the **guidance loss** (:func:`inpaintlib.nn.shift.guidance_loss`): the decoder feature in the
  hole is pulled towards the ground truth's encoder feature at the same level;
* :class:`ShiftNetGenerator` — a U-Net (Ronneberger et al.; pix2pix's) with the shift at the
  level where the feature map is 1/8 of the image's side, and :class:`ShiftNetRecipe`,
  :math:`L_1 + \lambda_g L_g + \lambda_{adv} L_{adv}` with a PatchGAN (Chapter 4's).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.nn.layers import init_dcgan_weights
from inpaintlib.models.base import InpaintingModel
from inpaintlib.nn.shift import ShiftConnection, feature_mask


class ShiftNetGenerator(InpaintingModel):
    """Shift-Net's U-Net generator with a shift-connection layer. Defined in Chapter 5 (Shift-Net).

    ``num_downs`` 4x4 stride-2 convolutions (LeakyReLU 0.2 before each but the first, instance
    norm after each but the first and the last), channels ``ngf * 2**i`` capped at
    ``max_channels``; the decoder mirrors them with 4x4 stride-2 transposed convolutions (ReLU
    before, instance norm after), each reading the previous decoder output concatenated with
    the encoder feature of the same size (the U-Net's skip connections). At ``shift_level``
    (the encoder output of index ``shift_level``, 1/2**(shift_level+1) of the side) the
    concatenation also holds the shifted feature (3x the channels). Input: the image in [-1, 1]
    with the hole set to 0 and the mask (1 = hole) as a fourth channel; output in [0, 1].

    The reference code (8 downsamplings at 256 px, 64 ... 512 channels, the shift at 32x32, i.e.
    1/8 of the side) is 54 M parameters; the book's defaults (6 downsamplings at 128 px, 32 ...
    96 channels, the shift at 16x16, 1/8 of the side too) keep the shipped file under 4 MB.
    ``shift=False`` is the same U-Net without the shift (the chapter's ablation).
    """

    name = "shift_net"
    display_name = "Shift-Net"
    size_multiple = 64  # 2 ** num_downs for the default 6
    min_size = 64

    def __init__(self, ngf: int = 32, max_channels: int = 96, num_downs: int = 6, shift_level: int = 2,
                 shift: bool = True, threshold: float = 0.5):
        super().__init__()
        if not 0 < shift_level < num_downs - 1:
            raise ValueError(f"shift_level must lie in 1..{num_downs - 2}, got {shift_level}")
        self.ngf, self.max_channels, self.num_downs = ngf, max_channels, num_downs
        self.shift_level, self.use_shift, self.threshold = shift_level, bool(shift), threshold
        self.size_multiple = 2 ** num_downs
        ch = [min(ngf * 2**i, max_channels) for i in range(num_downs)]
        self.channels = ch
        downs = [nn.Conv2d(4, ch[0], 4, 2, 1)]
        for i in range(1, num_downs):
            innermost = i == num_downs - 1
            downs.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=innermost),
                                       nn.Identity() if innermost else nn.InstanceNorm2d(ch[i], affine=True)))
        self.downs = nn.ModuleList(downs)
        ups = {}
        for i in range(num_downs - 1, -1, -1):
            if i == num_downs - 1:
                cin = ch[i]  # the innermost block reads its own encoder output only
            else:
                cin = (3 if (self.use_shift and i == shift_level) else 2) * ch[i]
            if i == 0:
                ups[str(i)] = nn.Sequential(nn.ConvTranspose2d(cin, 3, 4, 2, 1), nn.Sigmoid())
            else:
                ups[str(i)] = nn.Sequential(nn.ConvTranspose2d(cin, ch[i - 1], 4, 2, 1, bias=False),
                                            nn.InstanceNorm2d(ch[i - 1], affine=True))
        self.ups = nn.ModuleDict(ups)
        self.shift = ShiftConnection(threshold) if self.use_shift else None
        self.apply(init_dcgan_weights)

    def config(self):
        return {"ngf": self.ngf, "max_channels": self.max_channels, "num_downs": self.num_downs,
                "shift_level": self.shift_level, "shift": self.use_shift, "threshold": self.threshold}

    def _input(self, image, mask):
        return torch.cat([(2 * image - 1) * (1 - mask), mask], dim=1)  # hole = 0 in [-1, 1]

    def encode(self, image: torch.Tensor, mask: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        """Encoder outputs ``e_0 ... e_upto`` (all by default) of ``image`` with ``mask``'s hole blanked."""
        h, feats = self._input(image, mask), []
        for down in self.downs[: (self.num_downs if upto is None else upto + 1)]:
            h = down(h)
            feats.append(h)
        return feats

    def level_target(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The guidance loss's target: ReLU of the encoder feature at the shift level of the
        *ground-truth* image (nothing blanked; the mask channel as in the real pass)."""
        h = torch.cat([2 * image - 1, mask], dim=1)
        for down in self.downs[: self.shift_level + 1]:
            h = down(h)
        return F.relu(h)

    def forward(self, masked_image, mask, return_features: bool = False):
        feats = self.encode(masked_image, mask)
        d = self.ups[str(self.num_downs - 1)](F.relu(feats[-1]))
        level = {}
        for i in range(self.num_downs - 2, -1, -1):
            dec, enc = F.relu(d), F.relu(feats[i])  # the U-Net's ReLU before each up-block
            if i == self.shift_level:
                level = {"decoder": dec, "encoder": enc,
                         "feature_mask": feature_mask(mask, tuple(enc.shape[-2:]), self.threshold)}
            if self.use_shift and i == self.shift_level:
                h = self.shift(dec, enc, mask)  # (B, 3C, h, w)
            else:
                h = torch.cat([dec, enc], dim=1)  # (B, 2C, h, w)
            d = self.ups[str(i)](h)
        return (d, level) if return_features else d


# --------------------------------------------------------------------------------------------
# Training recipe
# --------------------------------------------------------------------------------------------
from inpaintlib.training.engine import Recipe, TrainSettings  # noqa: E402


class ShiftNetRecipe(Recipe):
    r"""Training of Chapter 5: L1 + guidance + PatchGAN, on the centre hole.

    Defined in Chapter 5 (Shift-Net). With :math:`\hat x` the generator's full output,

    .. math:: L = \lVert \hat x - x \rVert_1 + \lambda_g \mathcal L_g + \lambda_{adv} \mathcal L_{adv},
       \qquad \lambda_g = 0.01, \ \lambda_{adv} = 0.002,

    the paper's weights (the reference code's 100 / 1 / 0.2 divided by 100, before the extra
    terms it adds); the L1 is a mean over the whole output, :math:`\mathcal L_g` a mean over
    the hole positions and channels at the shift level (:func:`inpaintlib.nn.shift.guidance_loss`),
    :math:`\mathcal L_{adv}` the non-saturating BCE of a PatchGAN on the whole output. Masks:
    the centre square of half the side (64x64 at 128 px), as the reference trains. Adam 2e-4,
    betas (0.5, 0.999) (the reference's), cosine decay, a moving average of the generator.
    """

    model_name = "shift_net"
    settings = TrainSettings(steps=1000, batch_size=16, image_size=128, lr_g=2e-4, lr_d=2e-4,
                             betas=(0.5, 0.999), lr_schedule="cosine", lr_final=0.1, ema_decay=0.999,
                             log_every=10, checkpoint_minutes=5.0, eval_images=100)
    weights = {"l1": 1.0, "guidance": 0.01, "adversarial": 0.002}
    shift = True
    discriminator_width = 0.5
    eval_kinds = ("center", "ff10-20", "ff20-30", "ff30-40", "ff40-50")

    def build_networks(self, settings):
        from inpaintlib.nn.discriminators import PatchDiscriminator
        from inpaintlib.losses.terms import WeightedLoss

        self.loss = WeightedLoss(self.weights)
        return {"generator": ShiftNetGenerator(shift=self.shift),
                "discriminator": PatchDiscriminator(width=self.discriminator_width)}

    def sample_masks(self, batch, height, width, generator):
        from inpaintlib.data.masks import center_square_mask

        return center_square_mask(batch, height, width)

    def discriminator_loss(self, nets, images, masks):
        from inpaintlib.losses.terms import bce_discriminator_loss

        with torch.no_grad():
            fake = nets["generator"](images * (1 - masks), masks)
        d = nets["discriminator"]
        loss = bce_discriminator_loss(d(images), d(fake))
        return loss, {"bce": loss.detach()}

    def generator_loss(self, nets, images, masks):
        from inpaintlib.losses.terms import bce_generator_loss
        from inpaintlib.nn.shift import guidance_loss

        g = nets["generator"]
        pred, level = g(images * (1 - masks), masks, return_features=True)
        with torch.no_grad():
            target = g.level_target(images, masks)  # a second pass: the ground truth's encoder
        return self.loss(l1=F.l1_loss(pred, images),
                         guidance=guidance_loss(level["decoder"], target, level["feature_mask"]),
                         adversarial=bce_generator_loss(nets["discriminator"](pred)))


class ShiftNetNoShift(ShiftNetRecipe):
    """Ablation of Chapter 5: the same U-Net without the shift connection (guidance loss kept).

    Defined in Chapter 5 (Shift-Net).
    """

    model_name = "shift_net_no_shift"
    shift = False
