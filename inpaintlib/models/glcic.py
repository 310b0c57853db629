r"""Globally and Locally Consistent Image Completion (Iizuka et al., SIGGRAPH 2017): Chapter 3.

What is new in this paper, and therefore new code here:

* :class:`CompletionNetwork` — a *fully convolutional* encoder-decoder (the paper's Sec. 3.2,
  Table 1): two stride-2 stages take the image to 1/4 resolution, four 3x3 convolutions with
  dilation 2, 4, 8 and 16 (Sec. 3.1) widen the receptive field (no fully connected layer, so
  any image size works), and two up-convolutions come back to full size;
* :class:`GLCICRecipe` — training with one random rectangular hole per image, the weighted MSE
  plus ``alpha`` times the GAN loss of a global + local discriminator, in **three phases**
  (Sec. 3.4, Algorithm 1).

Shared pieces this chapter adds to the library: :func:`inpaintlib.nn.layers.dilated_conv_stack`,
:mod:`inpaintlib.evaluation.receptive_field`, :class:`inpaintlib.nn.discriminators.GlobalLocalDiscriminator`
with :func:`~inpaintlib.nn.discriminators.crop_around_hole`, and the fast-marching + Poisson
post-processing in :mod:`inpaintlib.evaluation.postprocess`.
"""
from __future__ import annotations

import torch
from torch import nn

from inpaintlib.evaluation.compositing import mask_image
from inpaintlib.nn.layers import conv_block, dilated_conv_stack, init_dcgan_weights
from inpaintlib.models.base import InpaintingModel

#: the paper's dilation schedule; ``(1, 1, 1, 1)`` gives the same network without dilation
PAPER_DILATIONS = (2, 4, 8, 16)


class CompletionNetwork(InpaintingModel):
    """The completion network of Iizuka et al. (2017, Sec. 3.2, Table 1), any size divisible by 4.

    Defined in Chapter 3 (GLCIC), whose notebook writes the dilated stack from the paper's
    equation (Sec. 3.1) and checks it against :attr:`dilated` with the same weights.

    Input: the image with its hole filled by the training set's mean colour, and the mask, as 4
    channels. Layers (kernel, stride or dilation, channels at ``width=1``)::

        5x5 64 | 3x3 /2 128 | 3x3 128 | 3x3 /2 256 | 3x3 256 | 3x3 256
        3x3 dil 2 256 | dil 4 256 | dil 8 256 | dil 16 256 | 3x3 256 | 3x3 256
        4x4 up x2 128 | 3x3 128 | 4x4 up x2 64 | 3x3 32 | 3x3 3 + sigmoid

    BatchNorm + ReLU after every layer but the last. ``width`` scales all channel counts (the
    book's CPU-trained checkpoint uses 0.5); ``dilations`` replaces the schedule (``(1,1,1,1)``
    is the no-dilation ablation of the receptive-field figure).

    ``forward(..., postprocess=True)`` applies the paper's fast marching + Poisson blending
    (:func:`inpaintlib.evaluation.postprocess.fast_marching_poisson_blend`).
    """

    name = "glcic"
    display_name = "GLCIC"
    size_multiple = 4
    min_size = 16

    def __init__(self, width: float = 1.0, dilations=PAPER_DILATIONS,
                 fill: tuple[float, float, float] = (0.485, 0.456, 0.406)):
        super().__init__()
        self.width, self.dilations = float(width), tuple(int(d) for d in dilations)
        self.register_buffer("fill", torch.tensor(fill, dtype=torch.float32).view(1, 3, 1, 1))

        def c(n: int) -> int:
            return max(8, int(round(n * width)))

        self.encoder = nn.Sequential(
            conv_block(4, c(64), 5, 1, activation="relu"),
            conv_block(c(64), c(128), 3, 2, padding=1, activation="relu"),
            conv_block(c(128), c(128), 3, 1, activation="relu"),
            conv_block(c(128), c(256), 3, 2, padding=1, activation="relu"),
            conv_block(c(256), c(256), 3, 1, activation="relu"),
            conv_block(c(256), c(256), 3, 1, activation="relu"),
        )
        # Replaces the Context Encoder's fully connected bottleneck: see the receptive-field
        # derivation in inpaintlib.evaluation.receptive_field (exact for this trunk; through the decoder's
        # transposed convolutions a unit's field depends on its phase).
        self.dilated = dilated_conv_stack(c(256), self.dilations, activation="relu")
        self.decoder = nn.Sequential(
            conv_block(c(256), c(256), 3, 1, activation="relu"),
            conv_block(c(256), c(256), 3, 1, activation="relu"),
            conv_block(c(256), c(128), 4, 2, padding=1, transposed=True, activation="relu"),
            conv_block(c(128), c(128), 3, 1, activation="relu"),
            conv_block(c(128), c(64), 4, 2, padding=1, transposed=True, activation="relu"),
            conv_block(c(64), c(32), 3, 1, activation="relu"),
            conv_block(c(32), 3, 3, 1, norm=None, activation="sigmoid"),
        )
        self.apply(init_dcgan_weights)

    def config(self):
        return {"width": self.width, "dilations": list(self.dilations),
                "fill": [round(float(v), 6) for v in self.fill.flatten()]}

    @property
    def trunk(self) -> nn.Sequential:
        """Encoder + dilated stack: the part whose receptive field Chapter 3 derives."""
        return nn.Sequential(self.encoder, self.dilated)

    def forward(self, masked_image, mask, postprocess: bool = False):
        """The full predicted image; ``postprocess=True``: fast marching + Poisson blending."""
        x = mask_image(masked_image, mask, self.fill)  # the paper: holes hold the mean pixel value
        pred = self.decoder(self.dilated(self.encoder(torch.cat([x, mask], dim=1))))
        if postprocess:
            from inpaintlib.evaluation.postprocess import fast_marching_poisson_blend

            pred = fast_marching_poisson_blend(pred, masked_image, mask)
        return pred


# --------------------------------------------------------------------------------------------
# Training recipe
# --------------------------------------------------------------------------------------------
from inpaintlib.training.engine import Phase, Recipe, TrainSettings, mean_colour  # noqa: E402


class GLCICRecipe(Recipe):
    r"""Training of Chapter 3: weighted MSE + alpha GAN, global + local discriminator, three phases.

    Defined in Chapter 3 (GLCIC). With :math:`C` the completion network, :math:`M_c` the hole
    and :math:`D` the discriminator pair (whose local half looks at a window around the hole):

    .. math::
        L(x, M_c) = \lVert M_c \odot (C(x, M_c) - x) \rVert^2, \qquad
        \min_C \max_D \; \mathbb{E}\big[L(x, M_c) + \alpha \log D(x, M_c)
                                   + \alpha \log(1 - D(C(x, M_c), M_c))\big],
        \quad \alpha = 4 \times 10^{-4}.

    The MSE is averaged over hole values (``masked_l2``), where the paper's Eq. 2 is a squared
    norm, i.e. a *sum* over the hole (Sec. 3.4): the paper's term is :meth:`mean_hole_values`
    (37,632 on average for its 256 px crops) times ours, so the same ``alpha`` weighs the GAN term
    that many times more here than in the paper (a deviation, measured in Chapter 3). The
    discriminator sees the completed image (known pixels pasted back). Phases, as in the paper: ``completion`` (MSE only, the
    paper's :math:`T_C`), ``discriminator`` (discriminators only, :math:`T_D`), ``adversarial``
    (both together: the paper's joint training).
    The paper's split is 90k / 10k / 400k iterations at batch 96 on 4 GPUs for two months;
    ``phase_split`` gives our fractions of ``steps``. One rectangular hole per image, each side
    uniform in [3/8, 1/2] of the image (the paper's [96, 128] px of a 256 crop).

    Deviations, each stated in the chapter: Adam (lr 2e-4 for both networks, beta1 0.5) instead
    of Adadelta, which converges too slowly for a CPU budget (a first full run with 1e-3 for the
    completion network stalled at a hole MSE of about 0.033 after 200 steps; 2e-4 went on to
    about 0.022 and gained 1-3.5 dB PSNR on every test-mask kind); half-width networks (``width = 0.5``) and 128 px crops with a 64 px local window
    (the paper: 256 / 128).
    """

    model_name = "glcic"
    # Progressive resizing inside the completion-only phase (64 px crops, 4x cheaper, for the first
    # 45 % of the budget; the discriminators only ever see 128 px), a cosine learning-rate decay
    # and a moving average of the generator: the engine's defaults for the equal budget.
    settings = TrainSettings(steps=1000, batch_size=16, image_size=128, resize_schedule=((0.0, 64), (0.45, 128)),
                             lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), lr_schedule="cosine", lr_final=0.1,
                             ema_decay=0.999, log_every=10, checkpoint_minutes=5.0, eval_images=100)
    profiles = {"gpu": dict(batch_size=96)}  # the paper's batch; the rest: the engine's defaults
    alpha = 4e-4
    width = 0.5
    dilations = PAPER_DILATIONS
    phase_split = {"completion": 0.6, "discriminator": 0.1, "adversarial": 0.3}
    hole_fraction = (3 / 8, 1 / 2)
    eval_kinds = ("center", "ff10-20", "ff20-30", "ff30-40", "ff40-50")
    fill = (0.485, 0.456, 0.406)

    def prepare(self, dataset, settings):
        # "holes are filled with the mean pixel value of the training dataset"
        self.fill = mean_colour(dataset)

    def build_networks(self, settings):
        from inpaintlib.nn.discriminators import GlobalLocalDiscriminator
        from inpaintlib.losses.terms import WeightedLoss

        self.loss = WeightedLoss(reconstruction=1.0, adversarial=self.alpha)
        s = settings.image_size
        return {
            "generator": CompletionNetwork(self.width, self.dilations, self.fill),
            "discriminator": GlobalLocalDiscriminator(s, s // 2, self.width),
        }

    def phases(self, settings, nets):
        split = self.phase_split
        return [Phase("completion", train=("generator",), fraction=split["completion"]),
                Phase("discriminator", train=("discriminator",), fraction=split["discriminator"]),
                Phase("adversarial", train=("generator", "discriminator"), fraction=split["adversarial"])]

    def hole_sides(self, size: int) -> tuple[int, int]:
        """Shortest and longest side (pixels, both included) of a training hole in ``size`` px crops.

        Defined in Chapter 3 (GLCIC). ``hole_sides(256) == (96, 128)``, the paper's range (Sec. 3.4).
        """
        if size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {size}")
        lo, hi = self.hole_fraction
        return round(size * lo), round(size * hi)

    def mean_hole_values(self, size: int, channels: int = 3) -> float:
        """Mean number of values in one training hole of a ``size`` px crop: what Eq. 2 sums.

        Defined in Chapter 3 (GLCIC). Height and width are drawn independently, each uniform on
        the integers of :meth:`hole_sides`, so the mean of ``channels * h * w`` is
        ``channels * mean(h) * mean(w)``: 37,632 for the paper's 256 px crops, 9,408 for ours.
        A sum over the hole is this many times a mean over it (on average).
        """
        lo, hi = self.hole_sides(size)
        return channels * ((lo + hi) / 2) ** 2

    def sample_masks(self, batch, height, width, generator):
        from inpaintlib.data.masks import random_rectangles_mask

        (min_h, max_h), (min_w, max_w) = self.hole_sides(height), self.hole_sides(width)
        return random_rectangles_mask(batch, height, width, num=1, min_size=(min_h, min_w),
                                      max_size=(max_h, max_w), generator=generator)

    def _completed(self, nets, images, masks):
        from inpaintlib.evaluation.compositing import composite

        pred = nets["generator"](images * (1 - masks), masks)
        return pred, composite(pred, images, masks)

    def discriminator_loss(self, nets, images, masks):
        from inpaintlib.losses.terms import bce_discriminator_loss

        with torch.no_grad():
            _, fake = self._completed(nets, images, masks)
        d = nets["discriminator"]
        # The real image's local window is cut at the same place as the fake's.
        loss = bce_discriminator_loss(d(images, masks), d(fake, masks))
        return loss, {"bce": loss.item()}

    def generator_loss(self, nets, images, masks):
        from inpaintlib.losses.terms import bce_generator_loss, masked_l2

        pred, completed = self._completed(nets, images, masks)
        rec = masked_l2(pred, images, masks)
        if self.current_phase == "adversarial":
            return self.loss(reconstruction=rec, adversarial=bce_generator_loss(nets["discriminator"](completed, masks)))
        # phase T_C: the MSE alone; the adversarial term is not computed (logged as NaN, not 0)
        total, parts = self.loss(reconstruction=rec, adversarial=0.0)
        return total, {**parts, "adversarial": float("nan")}


class GLCICNoDilation(GLCICRecipe):
    """Ablation of Chapter 3: the same network with every dilation set to 1. Defined in Chapter 3."""

    model_name = "glcic_no_dilation"
    dilations = (1, 1, 1, 1)


class GLCICBalancedAlpha(GLCICRecipe):
    r"""Variant of Chapter 3: the paper's balance between the two terms, kept with the book's mean.

    Defined in Chapter 3 (GLCIC). The book's reconstruction term is a mean over the hole where the
    paper's Eq. 2 is a sum, so the paper's objective is :math:`N` times
    :math:`L_{\text{mean}} + (\alpha / N) L_{\text{adv}}`, with :math:`N` the mean number of hole
    values of the paper's 256 px crops (:meth:`mean_hole_values`, 37,632). This variant trains
    with :math:`\alpha / N = 4 \times 10^{-4} / 37{,}632 \approx 1.06 \times 10^{-8}` and
    overrides nothing else. Trained at the same budget as :class:`GLCICRecipe`; Chapter 3b sets
    the two side by side on the validation crops, which choose.
    """

    model_name = "glcic_balanced_alpha"
    paper_crop = 256  # the paper's training crops (Sec. 3.4), whose holes its sum runs over

    @property
    def alpha(self) -> float:
        return GLCICRecipe.alpha / self.mean_hole_values(self.paper_crop)
