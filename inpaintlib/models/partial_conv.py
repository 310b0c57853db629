r"""Partial Convolutions: image inpainting for irregular holes (Liu et al., ECCV 2018): Chapter 8.

What is new in this paper, and therefore new code:

* :class:`inpaintlib.nn.partial_conv.PartialConv2d`: the convolution that reads only known pixels,
  rescales by the share of the window that was known, and updates its mask (Sec. 3.1);
* :class:`PConvUNet`: a U-Net made of partial convolutions, with nearest-neighbour upsampling and
  skip connections that carry the masks along with the features (Sec. 3.2);
* :class:`PConvRecipe`: the loss of Sec. 3.3 with the paper's weights (valid 1, hole 6,
  perceptual 0.05, style 120 on the output and on the composite, total variation 0.1; VGG
  pool1-pool3) on free-form holes, then the fine-tuning of Sec. 4.2 (lr 5e-5, the encoder's
  BatchNorm frozen);
* two ablations: :class:`PConvPlainConv` (ordinary convolutions, the mask as an input channel:
  the paper's central claim, Fig. 2(e)-(f)) and :class:`PConvSoftUpdate` (a real-valued mask
  update instead of the paper's 0/1).

The loss terms already live in :mod:`inpaintlib.losses.terms` with the paper's definitions:
``masked_l1`` / ``valid_l1`` with ``normalize="all"`` (size-averaged, the errata on the authors'
wiki), ``perceptual_loss`` and ``style_loss`` with ``reduction="sum"`` (the paper sums the
layers), ``gram_matrix`` with :math:`K_p = 1/(C_p H_p W_p)`, and ``total_variation_loss`` with a
mask (the 1-pixel dilation of the hole).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.losses.feature_scale import TORCHVISION_INPUT_SCALE, at_input_scale
from inpaintlib.models.base import InpaintingModel
from inpaintlib.nn.partial_conv import MASK_UPDATES, PartialConv2d, PartialConvBlock, PlainConvBlock
from inpaintlib.training.engine import Phase, Recipe, TrainSettings, set_learning_rate
from inpaintlib.training.precision import loss_network_forward

#: the paper's eight encoder kernels at 512 px (Sec. 3.2 and its layer table)
PAPER_KERNELS = (7, 5, 5, 3, 3, 3, 3, 3)
#: the paper's encoder widths at 512 px
PAPER_WIDTHS = (64, 128, 256, 512, 512, 512, 512, 512)


class PConvUNet(InpaintingModel):
    r"""The Partial Convolutions U-Net, scaled to 128 px. Defined in Chapter 8 (Partial Convolutions).

    **The paper's network (Sec. 3.2, 512 px).** Eight encoder levels, each a stride-2 partial
    convolution (kernels 7, 5, 5, 3, 3, 3, 3, 3; widths 64, 128, 256, 512, ..., 512) with
    BatchNorm (not on the first) and ReLU, down to a 2x2 map. Eight decoder levels, each:
    nearest-neighbour upsampling x2 of the features *and of the mask*, concatenation with the
    encoder's features *and mask* of the same size (the skip connection), a 3x3 partial
    convolution with BatchNorm and LeakyReLU 0.2. The last level reads the input image and its
    mask as its skip and outputs 3 channels, without BatchNorm or activation.

    **Scaled to 128 px (the book's choice).** 128 = 512 / 4, so two stride-2 levels fewer keep
    the innermost map at 2x2, as in the paper: six encoder levels with the paper's first six
    kernels (7, 5, 5, 3, 3, 3) and six decoder levels; the two dropped levels are two of the
    paper's identical 3x3, 512-channel ones. Every width is the paper's divided by 4 (16, 32,
    64, 128, 128, 128: the same 1:8 ratio between the first and the widest level), which keeps
    the network at 1.17 M parameters and its float16 file under 4 MB. Each layer's kernel
    covers the same number of *pixels of its own map* as in the paper, so at the book's
    resolution a hole closes after as many layers as a hole four times larger (in pixels) at
    512 px.

    Further details (the book's, where the paper is silent): the image enters in [-1, 1]; the
    decoder's concatenated masks are kept per channel (the reference layer's ``multi_channel``),
    so the upsampled decoder features and the skip's features each count with their own mask;
    convolutions followed by BatchNorm have no bias (the BatchNorm's shift replaces it); the
    last layer's output goes through :math:`(\tanh + 1)/2` into [0, 1] (the paper leaves it
    linear; a clamp would stop the gradient of pixels beyond the range).

    ``partial=False`` builds the same U-Net from ordinary convolutions with the mask as a fourth
    input channel (hole pixels set to 0, i.e. mid-grey), the ablation ``pconv_plain_conv``;
    ``mask_update="soft"`` is the ablation ``pconv_soft_update``
    (:class:`~inpaintlib.nn.partial_conv.PartialConv2d`). :meth:`freeze_encoder_batchnorm` is the
    fine-tuning switch of Sec. 4.2.
    """

    name = "pconv"
    display_name = "Partial Conv"
    size_multiple = 64  # 2 ** levels for the default 6
    min_size = 64

    def __init__(self, width: int = 16, max_width: int = 128, kernels=(7, 5, 5, 3, 3, 3), partial: bool = True,
                 mask_update: str = "binary"):
        super().__init__()
        if mask_update not in MASK_UPDATES:
            raise ValueError(f"mask_update must be one of {MASK_UPDATES}, got {mask_update!r}")
        if not partial and mask_update != "binary":
            raise ValueError("mask_update only applies to partial convolutions (partial=True)")
        self.width, self.max_width, self.kernels = int(width), int(max_width), tuple(int(k) for k in kernels)
        self.partial, self.mask_update = bool(partial), mask_update
        self.levels = len(self.kernels)
        self.size_multiple = 2 ** self.levels
        self.min_size = 2 ** self.levels
        self.widths = [min(self.width * 2**i, self.max_width) for i in range(self.levels)]
        self.in_channels = 3 if self.partial else 4  # the plain U-Net reads the mask as a channel
        self.encoder_batchnorm_frozen = False
        w = self.widths
        self.encoder = nn.ModuleList(
            self._block(self.in_channels if i == 0 else w[i - 1], w[i], k, 2, bn=i > 0, act="relu")
            for i, k in enumerate(self.kernels))
        # decoder level j reads up(previous) and the skip of the encoder level below it
        dec = []
        previous = w[-1]
        for i in range(self.levels - 2, -2, -1):  # skips: encoder levels L-2 ... 0, then the input
            skip = w[i] if i >= 0 else self.in_channels
            out = w[i] if i >= 0 else 3
            last = i < 0
            dec.append(self._block(previous + skip, out, 3, 1, bn=not last, act=None if last else "lrelu"))
            previous = out
        self.decoder = nn.ModuleList(dec)

    def _block(self, cin: int, cout: int, k: int, stride: int, bn: bool, act: str | None) -> nn.Sequential:
        after: list[nn.Module] = []
        if bn:
            after.append(nn.BatchNorm2d(cout))
        if act == "relu":
            after.append(nn.ReLU())
        elif act == "lrelu":
            after.append(nn.LeakyReLU(0.2))
        if self.partial:
            conv = PartialConv2d(cin, cout, k, stride, padding=(k - 1) // 2, bias=not bn, update=self.mask_update)
            conv.strict = False  # the network checks its input mask once, in forward
            return PartialConvBlock(conv, *after)
        return PlainConvBlock(nn.Conv2d(cin, cout, k, stride, padding=(k - 1) // 2, bias=not bn), *after)

    def config(self):
        return {"width": self.width, "max_width": self.max_width, "kernels": list(self.kernels),
                "partial": self.partial, "mask_update": self.mask_update}

    # ------------------------------------------------------------------------------------------
    def freeze_encoder_batchnorm(self, frozen: bool = True) -> "PConvUNet":
        """Fine-tuning switch (Sec. 4.2): the encoder's BatchNorm layers use and keep their running
        statistics (eval mode, also after ``train()``) and their scale and shift stop learning.

        Why: a BatchNorm normalises with the batch's mean and variance over all positions,
        including the positions still inside the hole, where the partial convolution wrote 0. The
        hole's share, and so the statistics, change with every batch's masks; the decoder, where
        the holes have closed, keeps learning BatchNorm.
        """
        self.encoder_batchnorm_frozen = bool(frozen)
        for module in self.encoder.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.train(self.training and not frozen)
                for p in module.parameters():
                    p.requires_grad_(not frozen)
        return self

    def train(self, mode: bool = True) -> "PConvUNet":
        super().train(mode)
        if self.encoder_batchnorm_frozen:
            for module in self.encoder.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self

    # ------------------------------------------------------------------------------------------
    def _check(self, masked_image: torch.Tensor, mask: torch.Tensor) -> None:
        from inpaintlib.data.masks import check_mask

        if masked_image.ndim != 4 or masked_image.shape[1] != 3:
            raise ValueError(f"{type(self).__name__} expects an RGB batch (B, 3, H, W), got {tuple(masked_image.shape)}")
        check_mask(mask, masked_image)
        h, w = masked_image.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"{type(self).__name__} needs H and W divisible by {self.size_multiple} "
                             f"({self.levels} stride-2 levels), got {h}x{w}; inpaintlib.inpaint pads for you")

    def inputs(self, masked_image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The network's input: the image in [-1, 1] with the hole set to 0, plus the mask as a fourth
        channel for the plain U-Net (the partial one gets the mask through its layers instead)."""
        x = (2 * masked_image - 1) * (1 - mask)
        return x if self.partial else torch.cat([x, mask], dim=1)

    def run(self, masked_image: torch.Tensor, mask: torch.Tensor) -> dict[str, list[torch.Tensor] | torch.Tensor]:
        """One forward pass that keeps what the chapter draws: ``{"output": (B, 3, H, W),
        "encoder_holes": [hole after each encoder level], "decoder_holes": [...]}``, 1 = hole.
        Level i's hole is (B, 1, H / 2**(i+1), W / 2**(i+1)). For the plain U-Net the holes are
        the input's max-pooled to each size (what the layers would ignore, shown for comparison)."""
        self._check(masked_image, mask)
        x, hole = self.inputs(masked_image, mask), mask
        skips, enc_holes, dec_holes = [(x, hole)], [], []
        for block in self.encoder:
            x, hole = block(x, hole)  # (B, w_i, H/2^(i+1), W/2^(i+1)), (B, 1, ...)
            skips.append((x, hole))
            enc_holes.append(hole)
        skips.pop()  # the innermost level is the decoder's start, not a skip
        for block in self.decoder:
            skip_x, skip_hole = skips.pop()
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            hole = F.interpolate(hole, scale_factor=2, mode="nearest")
            if self.partial:  # the mask per channel: each half of the concatenation keeps its own
                hole = torch.cat([hole[:, :1].expand(-1, x.shape[1], -1, -1),
                                  skip_hole[:, :1].expand(-1, skip_x.shape[1], -1, -1)], dim=1)
            x, hole = block(torch.cat([x, skip_x], dim=1), hole)
            dec_holes.append(hole)
        return {"output": (torch.tanh(x) + 1) / 2, "encoder_holes": enc_holes, "decoder_holes": dec_holes}

    def encoder_holes(self, masked_image: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """The hole mask after each encoder level (1 = hole), from the input's level 1 to the innermost."""
        return self.run(masked_image, mask)["encoder_holes"]

    def forward(self, masked_image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.run(masked_image, mask)["output"]


def start_fine_tuning(recipe: "PConvRecipe", nets, optimizers) -> None:
    """The fine-tuning phase's start (Sec. 4.2): the generator's learning rate to ``recipe.fine_tune_lr``
    (5e-5) and the encoder's BatchNorm frozen. Defined in Chapter 8 (Partial Convolutions).

    Runs when the phase starts and again after a resume inside it (the engine calls it then too);
    the learning rate is set, not multiplied, so running it twice changes nothing.
    """
    set_learning_rate(optimizers["generator"], recipe.fine_tune_lr)
    nets["generator"].freeze_encoder_batchnorm(True)


class PConvRecipe(Recipe):
    r"""Training of Chapter 8. Defined in Chapter 8 (Partial Convolutions).

    **Loss (Sec. 3.3, the paper's weights).** With :math:`I_{out}` the network's output,
    :math:`I_{comp}` the composite (known pixels of the ground truth :math:`I_{gt}`, the output in
    the hole), :math:`\Psi_p` the VGG-16 features at pool1, pool2, pool3 (the book's VGG-16,
    :mod:`inpaintlib.losses.vgg`: the paper's network is an ImageNet VGG-16 too):

    .. math:: L = L_{valid} + 6 L_{hole} + 0.05 L_{perc} + 120 (L_{style_{out}} + L_{style_{comp}})
                  + 0.1 L_{tv},

    * :math:`L_{hole}, L_{valid}`: L1 on the hole / on the known pixels, divided by the number of
      all elements (``normalize="all"``: "size-averaged", the errata on the authors' wiki);
    * :math:`L_{perc} = \sum_p \lVert\Psi_p(I_{out}) - \Psi_p(I_{gt})\rVert_1 / N_{\Psi_p}
      + \sum_p \lVert\Psi_p(I_{comp}) - \Psi_p(I_{gt})\rVert_1 / N_{\Psi_p}`
      (``perceptual_loss(..., reduction="sum")`` twice);
    * :math:`L_{style}`: the L1 distance of the Gram matrices :math:`K_p \Psi^\top\Psi`,
      :math:`K_p = 1/(C_p H_p W_p)`, divided by :math:`C_p^2`, summed over the layers
      (``style_loss(..., reduction="sum")``), once for the output and once for the composite;
    * :math:`L_{tv}`: total variation of :math:`I_{comp}` over :math:`P`, the hole dilated by one
      pixel (``total_variation_loss(composite, mask)``).

    **The book's deviation: features at torchvision's scale.** The paper's weights were set for
    PyTorch's VGG-16 on normalised input; the book's VGG-16 reads Caffe input, 57.6 times larger,
    which makes the style terms about 3300 times too heavy (99.9 % of the loss). The features are
    divided by 57.6 before both VGG terms (:func:`inpaintlib.losses.feature_scale.at_input_scale`).

    The ground truth's features are computed without gradient; the output's and the composite's
    VGG passes carry it. The VGG passes (three per step, to pool3) cost most of a step's FLOPs.

    **Masks.** Free-form holes from the library's generator
    (:func:`inpaintlib.data.masks.free_form_mask`: strokes OR a box), the family of the paper's
    irregular masks, unlike the rectangles of Chapters 3-7.

    **Two phases (Sec. 4.2).** Adam (PyTorch's default betas: the paper names Adam and nothing
    else) at 2e-4 for ``reconstruction``, then ``fine_tune`` at 5e-5 with the encoder's BatchNorm
    frozen (:func:`start_fine_tuning`). The paper gives the learning rates but not how long each
    phase lasts. **The book's split: 80 % / 20 % of the FLOP budget.** The fine-tuning is a
    correction, not a second training: a quarter of the learning rate with statistics that no
    longer move; like the last stretch of a decaying schedule it needs a fraction of the
    run, and a fifth still gives it hundreds of steps at the equal budget, while the first
    phase, which learns the filling itself, keeps most of the compute.

    Batch 16, learning rate constant within each phase (the paper's), a moving average of the
    generator (the book's, as every chapter since 5). **Crops: 64 px for the first half of the
    FLOPs, then 128 px** (progressive resizing, as Chapters 3, 4, 6 and 10; the paper trains at
    512 px throughout). Measured at 5e13 FLOPs on 20 test crops: 128 px throughout reached
    25.33 dB on ff10-20, the 64 px first half 26.42 dB (2.5 times the steps for the same FLOPs).
    The fine-tuning phase is all at 128 px.
    """

    model_name = "pconv"
    settings = TrainSettings(steps=1000, batch_size=16, image_size=128, resize_schedule=((0.0, 64), (0.5, 128)),
                             lr_g=2e-4, lr_d=2e-4, betas=(0.9, 0.999),
                             lr_schedule="constant", ema_decay=0.999, log_every=10, checkpoint_minutes=5.0,
                             eval_images=100)
    profiles = {"book": dict(steps=40)}  # the rest: the engine's profile defaults (inpaintlib.training.profiles)
    weights = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style_out": 120.0, "style_comp": 120.0, "tv": 0.1}
    vgg_layers = ("pool1", "pool2", "pool3")
    #: the VGG features are divided by this (57.6, torchvision's input scale), the scale the paper's
    #: weights were set for: the book's deviation; 1.0 gives the raw features, where the style terms
    #: make 99.9 % of the loss
    vgg_input_scale = TORCHVISION_INPUT_SCALE
    fine_tune_lr = 5e-5
    phase_split = {"reconstruction": 0.8, "fine_tune": 0.2}
    partial = True
    mask_update = "binary"
    width = 16
    eval_kinds = ("center", "ff10-20", "ff20-30", "ff30-40", "ff40-50")

    def build_networks(self, settings):
        from inpaintlib.losses.terms import WeightedLoss

        self.loss = WeightedLoss(self.weights)
        return {"generator": PConvUNet(self.width, partial=self.partial, mask_update=self.mask_update)}

    @property
    def vgg(self):
        """The process-wide frozen VGG-16 (a measuring device: not a network of the recipe, never saved)."""
        from inpaintlib.losses.vgg import pretrained_vgg16

        return pretrained_vgg16()

    def features(self, images: torch.Tensor):
        """VGG features at ``vgg_layers``, divided by ``vgg_input_scale`` (the book's deviation:
        :func:`inpaintlib.losses.feature_scale.at_input_scale` says why)."""
        vgg = self.vgg.to(images.device)  # in bfloat16 when the training is (95 % of the step's FLOPs)
        return at_input_scale(loss_network_forward(vgg, images, self.vgg_layers, precision=self.precision),
                              self.vgg_input_scale)

    def phases(self, settings, nets):
        split = self.phase_split
        return [Phase("reconstruction", fraction=split["reconstruction"], train=("generator",)),
                Phase("fine_tune", fraction=split["fine_tune"], train=("generator",), on_start=start_fine_tuning)]

    def sample_masks(self, batch, height, width, generator):
        from inpaintlib.data.masks import free_form_mask

        return free_form_mask(batch, height, width, generator=generator)

    def loss_terms(self, images: torch.Tensor, masks: torch.Tensor, output: torch.Tensor) -> dict[str, torch.Tensor]:
        """The six unweighted terms of Sec. 3.3 for a batch, its hole masks and the network's output."""
        from inpaintlib.losses.terms import masked_l1, perceptual_loss, style_loss, total_variation_loss, valid_l1

        composite = images * (1 - masks) + output * masks
        f_out, f_comp = self.features(output), self.features(composite)
        with torch.no_grad():
            f_gt = self.features(images)
        return {
            "valid": valid_l1(output, images, masks, normalize="all"),
            "hole": masked_l1(output, images, masks, normalize="all"),
            "perceptual": (perceptual_loss(f_out, f_gt, reduction="sum")
                           + perceptual_loss(f_comp, f_gt, reduction="sum")),
            "style_out": style_loss(f_out, f_gt, reduction="sum"),
            "style_comp": style_loss(f_comp, f_gt, reduction="sum"),
            "tv": total_variation_loss(composite, masks),
        }

    def generator_loss(self, nets, images, masks):
        output = nets["generator"](images * (1 - masks), masks)
        return self.loss(**self.loss_terms(images, masks, output))


class PConvPlainConv(PConvRecipe):
    """Ablation of Chapter 8: the same U-Net, loss and phases with ordinary convolutions and the mask as a
    fourth input channel. It tests the paper's central claim (Fig. 2(e)-(f), Sec. 1): that
    conditioning on the known pixels only beats a plain convolution that also reads the hole's
    placeholder values. Defined in Chapter 8 (Partial Convolutions).
    """

    model_name = "pconv_plain_conv"
    partial = False


class PConvSoftUpdate(PConvRecipe):
    """Ablation of Chapter 8: a real-valued mask update, the window sum divided by the number of the
    window's in-image positions, instead of the paper's 0/1 (see :mod:`inpaintlib.nn.partial_conv`
    for why this normaliser). Defined in Chapter 8 (Partial Convolutions).
    """

    model_name = "pconv_soft_update"
    mask_update = "soft"
