r"""PGGAN: patch-based inpainting with GANs (Demir & Unal 2018, arXiv 1803.07422): Chapter 4.

What is new in this paper, and therefore new code here:

* :class:`PGGANGenerator` — a ResNet-style encoder-decoder (two stride-2 convolutions down,
  **dilated residual blocks** at 1/4 resolution, two upsampling layers back) whose upsampling
  layers are *interpolated convolutions* (resize, then convolve) rather than transposed ones;
* the discriminator with **shared layers and two heads**, a global one (one score per image)
  and a PatchGAN one (a map of scores, one per patch): :class:`inpaintlib.nn.discriminators.GlobalPatchDiscriminator`;
* :class:`PGGANRecipe` — :math:`\lambda_1 L_{rec} + \lambda_2 L_{g\_adv} + \lambda_3 L_{p\_adv}`.

Shared pieces this chapter adds to the library: :class:`inpaintlib.nn.layers.ResidualBlock`,
:class:`inpaintlib.nn.layers.InterpolatedConv2d`, and the two discriminators in
:mod:`inpaintlib.nn.discriminators` (the PatchGAN is reused by Chapters 9 and 10).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.evaluation.compositing import mask_image
from inpaintlib.nn.layers import InterpolatedConv2d, ResidualBlock, conv_block, init_dcgan_weights
from inpaintlib.models.base import InpaintingModel

#: dilation of each residual block of the shipped generator (the book's choice, see the chapter)
BOOK_DILATIONS = (1, 2, 4, 8, 1)


class PGGANGenerator(InpaintingModel):
    """PGGAN's generator, any image size divisible by 4. Defined in Chapter 4 (PGGAN).

    Input: the image with its hole filled by the training set's mean colour, and the mask (4
    channels). Layers (channels at ``width=1``; BatchNorm + ReLU after each but the last)::

        7x7 64 | 4x4 /2 128 | 4x4 /2 256
        residual blocks at 1/4 resolution, 256 channels, one per entry of ``dilations``
        up x2 + 3x3 128 | up x2 + 3x3 64 | 7x7 3 + sigmoid

    ``block="interpolated"`` swaps each dilated convolution for an interpolated one at 1/d of
    the resolution; ``upsample="transposed"`` swaps the decoder's resize-convolutions for 4x4
    stride-2 transposed convolutions (the two comparisons of the chapter).
    """

    name = "pggan"
    display_name = "PGGAN"
    size_multiple = 4
    min_size = 16

    def __init__(self, width: float = 1.0, dilations=BOOK_DILATIONS, block: str = "dilated",
                 upsample: str = "interpolated", fill: tuple[float, float, float] = (0.485, 0.456, 0.406)):
        super().__init__()
        if upsample not in ("interpolated", "transposed"):
            raise ValueError(f"upsample must be 'interpolated' or 'transposed', got {upsample!r}")
        self.width, self.dilations = float(width), tuple(int(d) for d in dilations)
        self.block, self.upsample = block, upsample
        self.register_buffer("fill", torch.tensor(fill, dtype=torch.float32).view(1, 3, 1, 1))

        def c(n: int) -> int:
            return max(8, int(round(n * width)))

        self.encoder = nn.Sequential(
            conv_block(4, c(64), 7, 1, padding=3, activation="relu"),
            conv_block(c(64), c(128), 4, 2, padding=1, activation="relu"),
            conv_block(c(128), c(256), 4, 2, padding=1, activation="relu"),
        )
        self.blocks = nn.Sequential(*[ResidualBlock(c(256), d, kind=block) for d in self.dilations])

        def up(cin: int, cout: int) -> nn.Module:
            if upsample == "transposed":
                return conv_block(cin, cout, 4, 2, padding=1, transposed=True, activation="relu")
            return nn.Sequential(InterpolatedConv2d(cin, cout, 3, scale=2, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.decoder = nn.Sequential(
            up(c(256), c(128)),
            up(c(128), c(64)),
            conv_block(c(64), 3, 7, 1, padding=3, norm=None, activation="sigmoid"),
        )
        self.apply(init_dcgan_weights)

    def config(self):
        return {"width": self.width, "dilations": list(self.dilations), "block": self.block,
                "upsample": self.upsample, "fill": [round(float(v), 6) for v in self.fill.flatten()]}

    @property
    def trunk(self) -> nn.Sequential:
        """Encoder + residual blocks: the part whose receptive field Chapter 4 derives."""
        return nn.Sequential(self.encoder, self.blocks)

    def forward(self, masked_image, mask):
        x = mask_image(masked_image, mask, self.fill)  # the hole holds the mean colour
        return self.decoder(self.blocks(self.encoder(torch.cat([x, mask], dim=1))))


# --------------------------------------------------------------------------------------------
# Training recipe
# --------------------------------------------------------------------------------------------
from inpaintlib.training.engine import Phase, Recipe, TrainSettings, mean_colour  # noqa: E402


class PGGANRecipe(Recipe):
    r"""Training of Chapter 4: L1 + global and patch adversarial terms, on random rectangles.

    Defined in Chapter 4 (PGGAN). With :math:`G` the generator, :math:`x` the image and
    :math:`\hat x = G(x \odot (1-M), M)` its full output,

    .. math::
        L = \lambda_1 \underbrace{\tfrac{1}{WHC}\lVert \hat x - x\rVert_1}_{L_{rec}}
          + \lambda_2 \underbrace{-\log D_g(\hat x)}_{L_{g\_adv}}
          + \lambda_3 \underbrace{\operatorname{mean}_{p}\, -\log D_p(\hat x)_p}_{L_{p\_adv}},
        \qquad (\lambda_1, \lambda_2, \lambda_3) = (0.995, 0.0025, 0.0025).

    The reconstruction term is the mean absolute error over the **whole** image (the survey's
    :math:`\frac{1}{N}\sum \frac{1}{WHC}\lVert y - x\rVert_1`), so the discriminator judges the
    generator's whole output, not a composite (the book's reading: with a whole-image loss every
    output pixel is the generator's). Both heads use the binary cross-entropy; the patch head's
    loss is the mean over its map, every patch of a real image labelled real and every patch of
    an output labelled fake. The weights are the book's: it could not read the paper's
    training section (see the chapter); the sum of the three is 1, as in the Context Encoder.

    Training, the book's choices (stated in the chapter): one rectangle per image, each side
    uniform in [1/4, 1/2] of the crop, anywhere (the survey lists PGGAN's masks as free-form; the
    book keeps one rectangle, as the chapter says); a reconstruction-only first phase (as GLCIC's
    :math:`T_C`), with progressive resizing inside it, then the adversarial phase at 128 px; Adam 2e-4, betas (0.5, 0.999) (pix2pix's,
    whose PatchGAN this is), cosine decay and a moving average of the generator.
    """

    model_name = "pggan"
    settings = TrainSettings(steps=1000, batch_size=16, image_size=128, resize_schedule=((0.0, 64), (0.4, 128)),
                             lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), lr_schedule="cosine", lr_final=0.1,
                             ema_decay=0.999, log_every=10, checkpoint_minutes=5.0, eval_images=100)
    profiles = {"smoke": dict(steps=4)}  # the rest: the engine's profile defaults (inpaintlib.training.profiles)
    weights = {"reconstruction": 0.995, "global_adversarial": 0.0025, "patch_adversarial": 0.0025}
    heads = ("global", "patch")
    width = 0.5
    dilations = BOOK_DILATIONS
    phase_split = {"reconstruction": 0.45, "adversarial": 0.55}
    eval_kinds = ("center", "ff10-20", "ff20-30", "ff30-40", "ff40-50")
    fill = (0.485, 0.456, 0.406)

    def prepare(self, dataset, settings):
        self.fill = mean_colour(dataset)

    def build_networks(self, settings):
        from inpaintlib.nn.discriminators import GlobalPatchDiscriminator
        from inpaintlib.losses.terms import WeightedLoss

        self.loss = WeightedLoss(self.weights)
        return {
            "generator": PGGANGenerator(self.width, self.dilations, fill=self.fill),
            "discriminator": GlobalPatchDiscriminator(settings.image_size, self.width, heads=self.heads),
        }

    def phases(self, settings, nets):
        split = self.phase_split
        return [Phase("reconstruction", train=("generator",), fraction=split["reconstruction"]),
                Phase("adversarial", train=("generator", "discriminator"), fraction=split["adversarial"])]

    def sample_masks(self, batch, height, width, generator):
        from inpaintlib.data.masks import random_rectangles_mask

        return random_rectangles_mask(batch, height, width, num=1, generator=generator)

    def discriminator_loss(self, nets, images, masks):
        from inpaintlib.losses.terms import bce_discriminator_loss

        with torch.no_grad():
            fake = nets["generator"](images * (1 - masks), masks)
        d = nets["discriminator"]
        real_out, fake_out = d(images), d(fake)
        parts = {f"bce_{h}": bce_discriminator_loss(real_out[h], fake_out[h]) for h in self.heads}
        total = sum(parts.values())
        return total, {k: v.detach() for k, v in parts.items()}

    def generator_loss(self, nets, images, masks):
        from inpaintlib.losses.terms import bce_generator_loss

        pred = nets["generator"](images * (1 - masks), masks)
        terms = {"reconstruction": F.l1_loss(pred, images)}  # 1/(WHC) |x^ - x|_1, whole image
        if self.current_phase == "adversarial":
            out = nets["discriminator"](pred)
            for head in ("global", "patch"):
                terms[f"{head}_adversarial"] = bce_generator_loss(out[head]) if head in out else 0.0
            total, parts = self.loss(**terms)
            # a head the discriminator does not have is not computed: NaN in the log, not 0
            return total, {**parts, **{f"{h}_adversarial": float("nan") for h in ("global", "patch")
                                       if h not in out}}
        # reconstruction phase: the adversarial terms are not computed (logged as NaN, not 0)
        total, parts = self.loss(reconstruction=terms["reconstruction"], global_adversarial=0.0,
                                 patch_adversarial=0.0)
        return total, {**parts, "global_adversarial": float("nan"), "patch_adversarial": float("nan")}


class PGGANGlobalOnly(PGGANRecipe):
    """Ablation of Chapter 4: the global head alone (no patch head, lambda_3 = 0). Defined in Chapter 4."""

    model_name = "pggan_global_only"
    heads = ("global",)
    weights = {"reconstruction": 0.995, "global_adversarial": 0.0025, "patch_adversarial": 0.0}
