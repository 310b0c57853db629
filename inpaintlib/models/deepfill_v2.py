r"""DeepFill v2: free-form image inpainting with gated convolution (Yu et al., ICCV 2019): Chapter 10.

What is new in this paper, and therefore new code:

* :mod:`inpaintlib.nn.gated_conv`: the gated convolution (Sec. 3.1), the layer this chapter is
  about, with the reference's half-split;
* :class:`DeepFillV2Generator`: DeepFill v1's coarse-to-fine network (Chapter 6) with every
  convolution gated, contextual attention kept (imported from Chapter 6, not rewritten), and an
  optional sketch channel (Sec. 3.5, user-guided inpainting);
* :class:`SNPatchGANDiscriminator`: six 5x5 stride-2 spectrally normalised convolutions, every
  output a score (Sec. 3.2), the mask (and the sketch) fed beside the image;
* :class:`DeepFillV2Recipe`: the hinge loss, L1 on both stages, free-form strokes OR-ed with a
  box; the ablations :class:`DeepFillV2Partial` (partial convolutions instead of gates: the
  paper's claim against Chapter 8) and :class:`DeepFillV2ResidualGate` (the survey's idea 5).

Sources: the paper (arXiv 1806.03589) for the method; the authors' code
(``JiahuiYu/generative_inpainting``, v2: ``inpaint_model.py``, ``inpaint_ops.py``,
``inpaint.yml``) for the layer list, the losses and their weights, the masks and the sketch.
Each docstring says which.
"""
from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.data.edges import CANNY_SIGMA, canny_edges
from inpaintlib.models.base import InpaintingModel
from inpaintlib.nn.activations import ELU
from inpaintlib.nn.contextual_attention import ContextualAttention
from inpaintlib.nn.gated_conv import GatedConv2d, MaskedSequential, MaskedUpsample
from inpaintlib.nn.partial_conv import PartialConv2d, PartialConvBlock

#: the layer each variant builds: the paper's gates, Chapter 8's partial convolution, the survey's residual gate
CONV_KINDS = ("gated", "partial", "residual_gate")


class _PartialELU(PartialConvBlock):
    """A partial convolution (Chapter 8) and the features' activation: the ablation's layer."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, dilation: int, activation: str):
        conv = PartialConv2d(cin, cout, k, stride, dilation=dilation)
        conv.strict = False  # the network checks its mask once, at the input
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # as the gated layers (nn.gated_conv)
        nn.init.zeros_(conv.bias)
        super().__init__(conv, ELU() if activation == "elu" else nn.ReLU())


class _Plain(nn.Module):
    """The output convolution (3 channels, not gated, as the reference), in the (x, hole) interface."""

    def __init__(self, cin: int, cout: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1)
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")  # as the gated layers (nn.gated_conv)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x, hole=None):
        return self.conv(x), hole


class DeepFillV2Generator(InpaintingModel):
    r"""DeepFill v2's generator. Defined in Chapter 10 (DeepFill v2).

    ``forward(masked_image, mask, sketch=None)``, the book's convention (hole = 1, hole pixels
    blanked). Input of the coarse stage, as the reference's ``build_inpaint_net``: the image in
    [-1, 1] with the hole at 0, the sketch channel (``sketch=True`` networks; the user's lines,
    kept inside the hole only, zeros when none is given), a channel of ones and the mask. The
    coarse stage (5x5, two stride-2 layers to 1/4, four dilated layers with rates 2, 4, 8, 16,
    a decoder with nearest-neighbour upsampling) gives :math:`\tanh` output, pasted into the
    hole; the refinement stage reads that 3-channel composite only (the reference's ``xnow = x``)
    through two branches, dilated layers and contextual attention at 1/4 resolution
    (Chapter 6's :class:`~inpaintlib.nn.contextual_attention.ContextualAttention`, with the same
    settings as Chapter 6: 3x3 patches, matched at half resolution, fused 3x3, scale 10),
    concatenated and decoded.

    Widths: the reference's layer list with ``cnum`` 48, every gated layer outputting half of
    its ``cnum`` (module docstring of :mod:`inpaintlib.nn.gated_conv`). ``cnum`` scales them: the
    book's 32 keeps the float16 file under 4 MB.

    ``conv``: ``"gated"`` (the paper), ``"partial"`` (every gated layer replaced by a partial
    convolution with the same real width, then the same activation: the ablation
    ``deepfill_v2_partial``) or ``"residual_gate"`` (gates with partial convolution's update as
    a prior: ``deepfill_v2_residual_gate``). The hole mask travels with the features (partial
    convolution's rule); the coarse stage starts from the hole, the refinement stage from an
    all-known mask, since after the coarse stage every pixel holds a value (as the partial
    U-Net's decoder of Chapter 8, once the hole has closed).

    Initialisation: He-normal, gates open (bias 2): the book's, see :mod:`inpaintlib.nn.gated_conv`.
    """

    name = "deepfill_v2"
    display_name = "DeepFill v2"
    size_multiple = 8  # 1/4 resolution, and the attention matches at half of that
    min_size = 32

    def __init__(self, cnum: int = 32, conv: str = "gated", sketch: bool = True, attention: bool = True):
        super().__init__()
        if conv not in CONV_KINDS:
            raise ValueError(f"conv must be one of {CONV_KINDS}, got {conv!r}")
        if cnum < 4 or cnum % 4:
            raise ValueError(f"cnum must be a positive multiple of 4 (a layer outputs cnum/4), got {cnum}")
        self.cnum, self.conv_kind, self.use_sketch, self.use_attention = int(cnum), conv, bool(sketch), bool(attention)
        c = self.cnum // 2  # what a layer written "cnum" in the reference really outputs

        def g(cin, cout, k=3, stride=1, dilation=1, activation="elu"):
            if conv == "partial":
                return _PartialELU(cin, cout, k, stride, dilation, activation)
            return GatedConv2d(cin, cout, k, stride, dilation, activation, residual_gate=conv == "residual_gate")

        def up(cin, cout):  # the reference's gen_deconv: nearest x2, then a gated 3x3
            return [MaskedUpsample(), g(cin, cout)]

        def decoder(cin):  # conv11 ... conv17: 1/4 -> full size, to RGB (not gated)
            return [g(cin, 4 * c), g(4 * c, 4 * c), *up(4 * c, 2 * c), g(2 * c, 2 * c), *up(2 * c, c),
                    g(c, c // 2), _Plain(c // 2)]

        dilated = [g(4 * c, 4 * c, dilation=d) for d in (2, 4, 8, 16)]
        cin = 3 + int(self.use_sketch) + 2
        self.coarse = MaskedSequential(
            g(cin, c, 5), g(c, 2 * c, 3, 2), g(2 * c, 2 * c), g(2 * c, 4 * c, 3, 2), g(4 * c, 4 * c),
            g(4 * c, 4 * c), *dilated, *decoder(4 * c))  # (B, 3, H, W) logits of tanh
        self.refine_dilated = MaskedSequential(
            g(3, c, 5), g(c, c, 3, 2), g(c, 2 * c), g(2 * c, 2 * c, 3, 2), g(2 * c, 4 * c), g(4 * c, 4 * c),
            *[g(4 * c, 4 * c, dilation=d) for d in (2, 4, 8, 16)])  # (B, 4c, H/4, W/4)
        if self.use_attention:
            self.refine_attention_in = MaskedSequential(
                g(3, c, 5), g(c, c, 3, 2), g(c, 2 * c), g(2 * c, 4 * c, 3, 2), g(4 * c, 4 * c),
                g(4 * c, 4 * c, activation="relu"))  # (B, 4c, H/4, W/4)
            self.attention = ContextualAttention(ksize=3, rate=2, fuse_k=3, softmax_scale=10.0)
            self.refine_attention_out = MaskedSequential(g(4 * c, 4 * c), g(4 * c, 4 * c))
        self.refine_out = MaskedSequential(*decoder((8 if self.use_attention else 4) * c))

    def config(self):
        return {"cnum": self.cnum, "conv": self.conv_kind, "sketch": self.use_sketch, "attention": self.use_attention}

    def _check_sketch(self, sketch, mask):
        if sketch is None:
            return torch.zeros_like(mask)
        if not self.use_sketch:
            raise ValueError("this network has no sketch channel (built with sketch=False)")
        if not isinstance(sketch, torch.Tensor) or sketch.shape != mask.shape:
            raise ValueError(f"sketch must be a (B, 1, H, W) tensor like the mask {tuple(mask.shape)}, "
                             f"got {getattr(sketch, 'shape', type(sketch).__name__)}")
        if bool(((sketch < 0) | (sketch > 1) | sketch.isnan()).any()):
            raise ValueError("sketch values must lie in [0, 1] (1 = a line)")
        return sketch.to(mask.dtype)

    def stages(self, masked_image: torch.Tensor, mask: torch.Tensor, sketch: torch.Tensor | None = None):
        """``(coarse, fine)``: both stages' outputs in [0, 1] (the losses need both).

        ``sketch`` (B, 1, H, W) in [0, 1]: the user's lines; only their part inside the hole is
        read (the reference's ``edge * mask``)."""
        sketch = self._check_sketch(sketch, mask)
        x = (2 * masked_image - 1) * (1 - mask)  # [-1, 1], hole = 0
        ones = torch.ones_like(mask)  # lets the convolutions tell the zero padding from the image
        guide = [sketch * mask] if self.use_sketch else []
        coarse, _ = self.coarse(torch.cat([x, *guide, ones, mask], dim=1), mask)
        coarse = torch.tanh(coarse)  # (B, 3, H, W) in [-1, 1]
        x2 = coarse * mask + x * (1 - mask)
        known = torch.zeros_like(mask)  # refinement: every pixel now holds a value
        h, _ = self.refine_dilated(x2, known)
        if self.use_attention:
            a, hole_a = self.refine_attention_in(x2, known)
            a = self.attention(a, mask)
            a, _ = self.refine_attention_out(a, hole_a)
            h = torch.cat([h, a], dim=1)
        fine, _ = self.refine_out(h, known[:, :, ::4, ::4])
        return (coarse + 1) / 2, (torch.tanh(fine) + 1) / 2

    def forward(self, masked_image, mask, sketch=None):
        return self.stages(masked_image, mask, sketch)[1]

    def gated_layers(self) -> list[tuple[str, GatedConv2d]]:
        """``(name, layer)`` of every gated convolution, in the order the forward pass runs them."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, GatedConv2d)]


class SNPatchGANDiscriminator(nn.Module):
    r"""SN-PatchGAN (Sec. 3.2): six 5x5 stride-2 spectrally normalised convolutions, LeakyReLU,
    every value of the last feature map a score. Defined in Chapter 10 (DeepFill v2).

    The reference's ``build_sn_patch_gan_discriminator``: widths 64, 128, 256, 256, 256, 256
    (``width`` scales them), "same" padding, LeakyReLU 0.2 after every layer including the last,
    then flattened. At 128 px the last map is 2x2, so each image gets 4 x 256 scores, each seeing
    the whole crop. Input: the image in [-1, 1], the mask and, for a sketch model, the sketch
    (``gan_with_mask``, and the conditional GAN of ``guided``). Spectral normalisation is
    ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per training step);
    the chapter builds the power iteration by hand and checks it against that.
    """

    def __init__(self, in_channels: int = 4, width: float = 1.0):
        super().__init__()
        from torch.nn.utils.parametrizations import spectral_norm

        self.in_channels, self.width = int(in_channels), float(width)
        chans = [self.in_channels] + [max(8, int(round(n * width))) for n in (64, 128, 256, 256, 256, 256)]
        self.layers = nn.Sequential(*[
            nn.Sequential(spectral_norm(nn.Conv2d(a, b, 5, 2, 2)), nn.LeakyReLU(0.2))
            for a, b in zip(chans[:-1], chans[1:])])

    def forward(self, images: torch.Tensor, masks: torch.Tensor, sketch: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (B, N): ``images`` (B, 3, H, W) in [0, 1], ``masks`` (B, 1, H, W), ``sketch`` or None."""
        parts = [2 * images - 1, masks] + ([] if sketch is None else [sketch])
        x = torch.cat(parts, dim=1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"this discriminator reads {self.in_channels} channels (image, mask"
                             f"{', sketch' if self.in_channels > 4 else ''}), got {x.shape[1]}")
        if min(x.shape[-2:]) < 64:
            raise ValueError("SN-PatchGAN needs crops of at least 64x64 (six stride-2 layers), "
                             f"got {tuple(x.shape[-2:])}")
        return self.layers(x).flatten(1)  # (B, 256 w * H/64 * W/64)


# --------------------------------------------------------------------------------------------
# Training recipe
# --------------------------------------------------------------------------------------------
from inpaintlib.training.engine import Phase, Recipe, TrainSettings, Update  # noqa: E402


def sketch_keep_draw(masks: torch.Tensor, keep: float) -> torch.Tensor:
    """(B,) booleans, True = this crop keeps its sketch, with probability ``keep``; drawn from a
    generator seeded by the masks' bytes, so the data worker, the discriminator's and the
    generator's losses of a step all see the same draw, and a rerun the same."""
    seed = zlib.crc32((masks.detach().cpu() > 0.5).numpy().tobytes())
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(masks.shape[0], generator=gen) < keep


class DeepFillV2Recipe(Recipe):
    r"""Training of Chapter 10. Defined in Chapter 10 (DeepFill v2).

    Losses, as the reference (``build_graph_with_losses``, ``inpaint.yml``): for the coarse and
    the fine output, the L1 distance to the image over **every** pixel (``tf.reduce_mean``, no
    spatial discount, the reference computes a plain mean), weight 1 each
    (``l1_loss_alpha``); the SN-PatchGAN's hinge loss (Sec. 3.2):

    .. math:: L_D = \mathbb E[\mathrm{ReLU}(1 - D(x))] + \mathbb E[\mathrm{ReLU}(1 + D(G(z)))], \qquad
              L_G = -\mathbb E[D(G(z))] + \lVert \hat x_c - x\rVert_1 + \lVert \hat x_f - x\rVert_1,

    weight 1 (``gan_loss_alpha``), the discriminator judging the composite. One discriminator
    update per generator update, on the same batch. Adam, lr 1e-4, betas (0.5, 0.999), the
    reference's.

    Masks (the reference's ``brush_stroke_mask`` OR ``bbox2mask``): the library's free-form
    strokes and a box whose side is 3/8 to 1/2 of the crop (the reference's 128 px box at 256,
    shrunk by up to 16 px per side). The sketch (``guided``): the crop's Canny edges (sigma 2,
    Chapter 9's) inside the hole; the book drops it for half of the crops (zeros), so the shipped
    model also fills without one (the reference trains a separate model for each).

    The book's budget split, as Chapter 6's: a reconstruction phase (60 %, L1 only), then the
    adversarial phase (40 %); the reference trains with the GAN from the start.
    """

    model_name = "deepfill_v2"
    settings = TrainSettings(steps=1000, batch_size=16, image_size=128, resize_schedule=((0.0, 64), (0.3, 128)),
                             lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.999),
                             lr_schedule="cosine", lr_final=0.1, ema_decay=0.999, log_every=10,
                             checkpoint_minutes=5.0, eval_images=100)
    profiles = {"book": dict(steps=40)}
    weights = {"coarse_l1": 1.0, "fine_l1": 1.0, "adversarial": 1.0}
    conv = "gated"
    cnum = 32
    sketch = True
    sketch_keep = 0.5
    sigma = CANNY_SIGMA
    box_size = (3 / 8, 1 / 2)
    discriminator_width = 1.0
    phase_split = {"reconstruction": 0.6, "adversarial": 0.4}
    eval_kinds = ("center", "ff10-20", "ff20-30", "ff30-40", "ff40-50")

    def build_networks(self, settings):
        from inpaintlib.losses.terms import WeightedLoss

        self.loss = WeightedLoss(self.weights)
        disc = SNPatchGANDiscriminator(4 + int(self.sketch), self.discriminator_width)
        return {"generator": DeepFillV2Generator(self.cnum, conv=self.conv, sketch=self.sketch), "discriminator": disc}

    def phases(self, settings, nets):
        split = self.phase_split
        return [Phase("reconstruction", train=("generator",), fraction=split["reconstruction"]),
                Phase("adversarial", fraction=split["adversarial"],
                      updates=(Update("discriminator", "discriminator_loss"), Update("generator", "generator_loss")))]

    def sample_masks(self, batch, height, width, generator):
        from inpaintlib.data.masks import free_form_mask

        return free_form_mask(batch, height, width, box_size=self.box_size, generator=generator)

    def prepare_batch(self, images, masks):
        """The sketch: the crop's Canny edges inside the hole, zeros for the crops that drop it."""
        if not self.sketch:
            return {}
        keep = sketch_keep_draw(masks, self.sketch_keep).to(images.dtype).view(-1, 1, 1, 1)
        return {"sketch": canny_edges(images, sigma=self.sigma) * masks * keep}

    def _sketch(self, images, masks, sketch):
        if not self.sketch:
            return None
        if sketch is None:  # e.g. when the FLOPs are counted: made here as the worker would
            sketch = self.prepare_batch(images.cpu(), masks.cpu())["sketch"].to(images.device)
        return sketch

    def discriminator_loss(self, nets, images, masks, sketch=None):
        from inpaintlib.losses.terms import hinge_discriminator_loss

        sketch = self._sketch(images, masks, sketch)
        with torch.no_grad():
            fake = nets["generator"](images * (1 - masks), masks, sketch)
        composite = images * (1 - masks) + fake * masks
        d = nets["discriminator"]
        loss = hinge_discriminator_loss(d(images, masks, sketch), d(composite, masks, sketch))
        return loss, {"hinge_d": loss.detach()}

    def generator_loss(self, nets, images, masks, sketch=None):
        from inpaintlib.losses.terms import hinge_generator_loss

        sketch = self._sketch(images, masks, sketch)
        coarse, fine = nets["generator"].stages(images * (1 - masks), masks, sketch)
        l1 = {"coarse_l1": (coarse - images).abs().mean(), "fine_l1": (fine - images).abs().mean()}
        if self.current_phase == "adversarial":
            composite = images * (1 - masks) + fine * masks
            adv = hinge_generator_loss(nets["discriminator"](composite, masks, sketch))
            return self.loss(**l1, adversarial=adv)
        total, parts = self.loss(**l1, adversarial=0.0)
        return total, {**parts, "adversarial": float("nan")}


class DeepFillV2Partial(DeepFillV2Recipe):
    """Ablation of Chapter 10: partial convolutions (Chapter 8) instead of gates. Defined in Chapter 10."""

    model_name = "deepfill_v2_partial"
    conv = "partial"


class DeepFillV2ResidualGate(DeepFillV2Recipe):
    """Ablation of Chapter 10, the survey's idea 5: gates with partial convolution's mask update as
    a prior, learning a residual over it (:mod:`inpaintlib.nn.gated_conv`). Defined in Chapter 10."""

    model_name = "deepfill_v2_residual_gate"
    conv = "residual_gate"
