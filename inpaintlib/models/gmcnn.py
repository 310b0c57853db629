r"""GMCNN: image inpainting via generative multi-column CNNs (Wang et al., NeurIPS 2018): Chapter 7.

What is new in this paper, and therefore new code:

* :class:`GMCNNGenerator`: three columns (encoder-decoders) with 7x7, 5x5 and 3x3 kernels, each
  with dilated convolutions, whose full-resolution outputs are concatenated and decoded;
* :class:`inpaintlib.losses.id_mrf.IDMRFLoss`: the implicit diversified MRF loss on VGG features;
* :func:`inpaintlib.losses.pixel_weights.confidence_weights`: the confidence-driven reconstruction weights;
* :class:`GMCNNRecipe`: reconstruction first, then the ID-MRF and adversarial terms; the WGAN-GP
  global and local critics of Chapter 6 (:class:`~inpaintlib.models.deepfill_v1.GlobalLocalCritics`).

The authors' code (``shepnerd/inpainting_gmcnn``) has two versions: TensorFlow, which produced
the paper's results, and a later PyTorch port. The book takes the layer list from the PyTorch
port, the zero padding and the critics' loss (WGAN-GP) from the TensorFlow code, and the shared
batch of the critic updates from the PyTorch port; the width is the book's. The docstrings below
say which version each part follows.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.nn.layers import conv_block
from inpaintlib.models.base import InpaintingModel
from inpaintlib.models.deepfill_v1 import DeepFillV1Recipe


def _conv(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1, act: str | None = "elu") -> nn.Sequential:
    return conv_block(cin, cout, k, stride, norm=None, activation=act, dilation=dilation)


class _Upsample(nn.Module):
    def __init__(self, scale: int, mode: str):
        super().__init__()
        self.scale, self.mode = scale, mode

    def forward(self, x):
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return F.interpolate(x, scale_factor=self.scale, mode=self.mode, align_corners=True)


def gmcnn_column(k: int, c: int, dilations=(2, 4, 8, 16), in_channels: int = 4) -> nn.Sequential:
    """One column of GMCNN with ``k`` x ``k`` kernels, ``c`` base channels.

    Defined in Chapter 7 (GMCNN). As the reference's PyTorch port (``pytorch/model/net.py``): a
    conv, two stride-2 convs (to 1/4) with a conv after each, a second conv at 1/4, four dilated
    convs, two convs; then back to full size: the 7x7 column by bilinear x4 (4c channels out),
    the 5x5 column by nearest x2, two convs to 2c, bilinear x2 (2c out), the 3x3 column by
    nearest x2, two convs to 2c, nearest x2, two convs to c (c out). ELU after every conv.
    The TensorFlow code (``tensorflow/net/network.py``) differs: its 5x5 column's first conv
    after the upsampling is 3x3, and its 3x3 column starts with a 5x5 conv and ends with c/2
    channels. Padding: zeros, as the TensorFlow code (see :class:`GMCNNGenerator`).
    """
    layers = [_conv(in_channels, c, k), _conv(c, 2 * c, k, 2), _conv(2 * c, 2 * c, k),
              _conv(2 * c, 4 * c, k, 2), _conv(4 * c, 4 * c, k), _conv(4 * c, 4 * c, k)]
    layers += [_conv(4 * c, 4 * c, k, dilation=d) for d in dilations]
    layers += [_conv(4 * c, 4 * c, k), _conv(4 * c, 4 * c, k)]
    if k == 7:
        layers += [_Upsample(4, "bilinear")]
    elif k == 5:
        layers += [_Upsample(2, "nearest"), _conv(4 * c, 2 * c, k), _conv(2 * c, 2 * c, k), _Upsample(2, "bilinear")]
    else:
        layers += [_Upsample(2, "nearest"), _conv(4 * c, 2 * c, k), _conv(2 * c, 2 * c, k), _Upsample(2, "nearest"),
                   _conv(2 * c, c, k), _conv(c, c, k)]
    return nn.Sequential(*layers)


#: output channels of each column, in units of ``cnum``
COLUMN_WIDTHS = {7: 4, 5: 2, 3: 1}


class GMCNNGenerator(InpaintingModel):
    """GMCNN's generator: three columns side by side, concatenated, two convs to RGB.

    Defined in Chapter 7 (GMCNN). Input, as the reference's PyTorch port: the image in [-1, 1]
    with the hole set to 0 and the mask (1 = hole), 4 channels (the TensorFlow code adds a
    channel of ones: 5). The output is clipped to [-1, 1] and returned in [0, 1]. The layer
    list is the PyTorch port's (see :func:`gmcnn_column` for where the TensorFlow code's
    differs); the decoder reads 7c channels (the TensorFlow code's 6.5c). The reference's
    ``cnum`` is 32 in both versions (12.5 M parameters); **the book's** 12 keeps the file
    under 4 MB. Padding: zeros, as the TensorFlow code (``padding='SAME'``), which produced
    the paper's numbers; the PyTorch port pads by reflection, which the book could not do
    anyway: its dilated 7x7 convolutions (dilation 16, padding 48) run on maps of 32x32 at
    128 px, smaller than a reflection pad may be.
    """

    name = "gmcnn"
    display_name = "GMCNN"
    size_multiple = 4
    min_size = 16

    def __init__(self, cnum: int = 12, kernels=(7, 5, 3), dilations=(2, 4, 8, 16)):
        super().__init__()
        self.cnum, self.kernels, self.dilations = cnum, tuple(kernels), tuple(dilations)
        if any(k not in COLUMN_WIDTHS for k in self.kernels):
            raise ValueError(f"kernels must be among {sorted(COLUMN_WIDTHS)}, got {self.kernels}")
        self.columns = nn.ModuleList([gmcnn_column(k, cnum, self.dilations) for k in self.kernels])
        width = sum(COLUMN_WIDTHS[k] for k in self.kernels) * cnum
        self.decoder = nn.Sequential(_conv(width, cnum // 2, 3), _conv(cnum // 2, 3, 3, act=None))

    def config(self):
        return {"cnum": self.cnum, "kernels": list(self.kernels), "dilations": list(self.dilations)}

    def inputs(self, masked_image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The 4-channel input: the image in [-1, 1], hole = 0, and the mask."""
        return torch.cat([(2 * masked_image - 1) * (1 - mask), mask], dim=1)

    def column_features(self, masked_image: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """Each column's full-resolution output, (B, width_k, H, W), in the order of ``kernels``."""
        x = self.inputs(masked_image, mask)
        return [col(x) for col in self.columns]

    def forward(self, masked_image, mask):
        h = torch.cat(self.column_features(masked_image, mask), dim=1)
        return (self.decoder(h).clamp(-1, 1) + 1) / 2


class GMCNNRecipe(DeepFillV1Recipe):
    r"""Training of Chapter 7. Defined in Chapter 7 (GMCNN).

    Generator loss, with :math:`C` the confidence-driven weights, :math:`\tilde x` the composite
    and :math:`\tilde x_{loc}, x_{loc}` the windows around the hole (the local critic's):

    .. math:: L_G = 1.4 \frac{\sum C\,\lvert \hat x - x\rvert}{\sum M}
              + 1.2 \frac{\sum (1 - M)\lvert \hat x - x\rvert}{\sum (1 - M)}
              + 0.05\, \mathcal L_{mrf}(\tilde x_{loc}, x_{loc})
              - 0.001 \big(D_g(\tilde x) + D_l(\tilde x_{loc})\big),

    the weights of the reference's PyTorch options (rec 1.4, ae 1.2, mrf 0.05, adv 1e-3; the
    TensorFlow code composes its weights differently: 1.68, 2.88 in the adversarial phase,
    0.07, 1e-3). Two phases, as the reference's README: reconstruction only (its authors:
    30-40 % of the training), then the adversarial phase with all terms.

    Critics, a mix of the reference's two versions. The loss follows the TensorFlow code, which
    produced the paper's results: WGAN-GP, the gradient penalty 10 on the hole, here on Chapter
    6's global and local critics (DeepFill v1's layers; GMCNN's TensorFlow critics have six
    stride-2 convs). The PyTorch port instead trains spectrally normalised critics with a hinge
    loss and never uses its ``lambda_gp`` option. The batch sharing follows the PyTorch port:
    the 5 critic updates of a step reuse the step's batch and its completed images, one
    generator pass, not five (the TensorFlow code draws a fresh batch, mask and generator pass
    for each critic update). Measured on one core, bf16, batch 16: an adversarial step then
    costs about 9 s, 4.6 s of it for the critics.
    Adam with betas (0.5, 0.9); the reference's learning rate is 1e-5 for batch 16 at 256 px
    over days of training, the book's 1e-4 for 90 minutes (the book's choice). Random
    rectangles, as the reference's default ``mask_type``.
    """

    model_name = "gmcnn"
    weights = {"reconstruction": 1.4, "known_l1": 1.2, "id_mrf": 0.05, "adversarial": 0.001}
    cnum = 12
    confidence_kernel = 33  # the reference's 65 at 256 px, scaled to 128 px
    confidence_iterations = 7
    phase_split = {"reconstruction": 0.4, "adversarial": 0.6}
    critic_fresh_batches = False  # the 5 critic updates share the step's batch (the PyTorch port's)
    mrf_layers = {"relu3_2": 1.0, "relu4_2": 2.0}

    def build_networks(self, settings):
        from inpaintlib.nn.discriminators import check_no_batchnorm
        from inpaintlib.losses.id_mrf import IDMRFLoss
        from inpaintlib.losses.terms import WeightedLoss
        from inpaintlib.models.deepfill_v1 import GlobalLocalCritics

        self.loss = WeightedLoss(self.weights)
        self.id_mrf = IDMRFLoss(self.mrf_layers)
        self._fake = None
        critics = check_no_batchnorm(GlobalLocalCritics(settings.image_size, settings.image_size // 2))
        return {"generator": GMCNNGenerator(self.cnum), "discriminator": critics}

    def completed(self, nets, images, masks) -> torch.Tensor:
        """The composite the critics judge, computed once per batch (the 5 critic updates share it)."""
        cached = self._fake
        if cached is not None and cached[0] is images and cached[1] is masks:
            return cached[2]
        with torch.no_grad():
            fake = images * (1 - masks) + nets["generator"](images * (1 - masks), masks) * masks
        self._fake = (images, masks, fake)
        return fake

    def generator_loss(self, nets, images, masks):
        from inpaintlib.losses.pixel_weights import confidence_weights
        from inpaintlib.losses.terms import wgan_generator_loss

        self._fake = None  # the generator changes after this step
        out = nets["generator"](images * (1 - masks), masks)
        conf = confidence_weights(masks, self.confidence_kernel, iterations=self.confidence_iterations)
        err = (out - images).abs()
        rec = (conf * err).sum() / (3 * masks.sum()).clamp_min(1)
        known = ((1 - masks) * err).sum() / (3 * (1 - masks).sum()).clamp_min(1)
        if self.current_phase != "adversarial":
            total, parts = self.loss(reconstruction=rec, known_l1=known, id_mrf=0.0, adversarial=0.0)
            return total, {**parts, "id_mrf": float("nan"), "adversarial": float("nan")}
        composite = images * (1 - masks) + out * masks
        critics = nets["discriminator"]
        local_fake, _ = critics.crops(composite, masks)
        local_real, _ = critics.crops(images, masks)
        scores = critics(composite, masks)
        adv = wgan_generator_loss(scores["global"]) + wgan_generator_loss(scores["local"])
        if not self.weights["id_mrf"]:  # the ablation: not computed (logged as NaN, not 0)
            total, parts = self.loss(reconstruction=rec, known_l1=known, id_mrf=0.0, adversarial=adv)
            return total, {**parts, "id_mrf": float("nan")}
        mrf = self.id_mrf(local_fake.float(), local_real.float())
        return self.loss(reconstruction=rec, known_l1=known, id_mrf=mrf, adversarial=adv)


class GMCNNNoMRF(GMCNNRecipe):
    """Ablation of Chapter 7: the ID-MRF term off (weight 0, not computed). Defined in Chapter 7."""

    model_name = "gmcnn_no_mrf"
    weights = {**GMCNNRecipe.weights, "id_mrf": 0.0}
