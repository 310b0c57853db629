r"""DeepFill v1: generative image inpainting with contextual attention (Yu et al., CVPR 2018): Chapter 6.

What is new in this paper, and therefore new code:

* :mod:`inpaintlib.nn.contextual_attention`: the attention layer (Sec. 4);
* :func:`inpaintlib.losses.pixel_weights.spatial_discount`: the discounted reconstruction weights (Sec. 3.3):
  :math:`\gamma^l` with :math:`l` the chessboard distance to the nearest known pixel (1 all around
  the hole's rim), for any mask. The reference's ``spatial_discounting_mask`` is a fixed map over its
  training box, :math:`\gamma^{\min(i, H-i, j, W-j)}` (weight 1 on the box's top and left edges,
  :math:`\gamma` on the other two), measured to the box rather than to the hole (its issue 103);
* :class:`DeepFillV1Generator`: a coarse dilated network, then a refinement network with a dilated
  branch and a contextual-attention branch (Sec. 3.1 and Fig. 4), ELU everywhere;
* :class:`DeepFillV1Recipe`: discounted L1 on the hole and L1 on the known pixels for both stages,
  WGAN-GP with a global and a local critic (Sec. 3.2), random rectangles.
"""
from __future__ import annotations

import torch
from torch import nn

from inpaintlib.nn.contextual_attention import ContextualAttention
from inpaintlib.nn.layers import conv_block
from inpaintlib.models.base import InpaintingModel


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, act: str | None = "elu") -> nn.Sequential:
    return conv_block(cin, cout, k, stride, norm=None, activation=act, dilation=dilation)


def _up(cin: int, cout: int) -> nn.Sequential:
    # the reference's "gen_deconv": nearest-neighbour x2, then a 3x3 convolution
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(cin, cout))


def _dilated_trunk(c4: int, dilations) -> list[nn.Module]:
    return [_conv(c4, c4, dilation=d) for d in dilations]


def _decoder(cin: int, c: int) -> nn.Sequential:
    # 1/4 -> full size: 2 convs at 1/4, x2, conv, x2, conv, to RGB (no activation: clipped)
    return nn.Sequential(_conv(cin, 4 * c), _conv(4 * c, 4 * c), _up(4 * c, 2 * c), _conv(2 * c, 2 * c),
                         _up(2 * c, c), _conv(c, c // 2), _conv(c // 2, 3, act=None))


class DeepFillV1Generator(InpaintingModel):
    """DeepFill v1's two-stage generator. Defined in Chapter 6 (DeepFill v1).

    Input: the image in [-1, 1] with the hole set to 0, a channel of ones and the mask (1 =
    hole), as the reference. Coarse stage: 5x5 conv, two stride-2 3x3 convs (to 1/4), dilated
    3x3 convs (rates 2, 4, 8, 16) and a decoder with nearest-neighbour upsampling; its output,
    clipped to [-1, 1], fills the hole of the input of the refinement stage, whose two branches
    (dilated convs; contextual attention at 1/4 resolution) are concatenated and decoded.
    ``cnum`` scales every width (the reference's 32; the book's 22, 1.7 M parameters, keeps the
    file under 4 MB).
    ``attention=False`` is the chapter's ablation: the dilated branch alone.
    """

    name = "deepfill_v1"
    display_name = "DeepFill v1"
    size_multiple = 8  # 1/4 resolution, and the attention matches at half of that
    min_size = 32

    def __init__(self, cnum: int = 22, attention: bool = True, dilations=(2, 4, 8, 16)):
        super().__init__()
        c = cnum
        self.cnum, self.use_attention, self.dilations = cnum, bool(attention), tuple(dilations)
        self.coarse = nn.Sequential(
            _conv(5, c, 5), _conv(c, 2 * c, 3, 2), _conv(2 * c, 2 * c), _conv(2 * c, 4 * c, 3, 2),
            _conv(4 * c, 4 * c), _conv(4 * c, 4 * c), *_dilated_trunk(4 * c, self.dilations),
            *_decoder(4 * c, c))
        self.refine_dilated = nn.Sequential(
            _conv(5, c, 5), _conv(c, c, 3, 2), _conv(c, 2 * c), _conv(2 * c, 2 * c, 3, 2),
            _conv(2 * c, 4 * c), _conv(4 * c, 4 * c), *_dilated_trunk(4 * c, self.dilations))
        if self.use_attention:
            self.refine_attention_in = nn.Sequential(
                _conv(5, c, 5), _conv(c, c, 3, 2), _conv(c, 2 * c), _conv(2 * c, 4 * c, 3, 2),
                _conv(4 * c, 4 * c), _conv(4 * c, 4 * c, act="relu"))
            self.attention = ContextualAttention(ksize=3, rate=2, fuse_k=3, softmax_scale=10.0)
            self.refine_attention_out = nn.Sequential(_conv(4 * c, 4 * c), _conv(4 * c, 4 * c))
        self.refine_out = _decoder((8 if self.use_attention else 4) * c, c)

    def config(self):
        return {"cnum": self.cnum, "attention": self.use_attention, "dilations": list(self.dilations)}

    def stages(self, masked_image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(coarse, fine)``: both stages' raw outputs in [0, 1] (the losses need both)."""
        x = (2 * masked_image - 1) * (1 - mask)  # hole = 0 in [-1, 1]
        ones = torch.ones_like(mask)  # lets the convolutions tell the zero padding from the image
        coarse = self.coarse(torch.cat([x, ones, mask], dim=1)).clamp(-1, 1)
        x2 = coarse * mask + x * (1 - mask)
        inp = torch.cat([x2, ones, mask], dim=1)
        h = self.refine_dilated(inp)
        if self.use_attention:
            a = self.refine_attention_out(self.attention(self.refine_attention_in(inp), mask))
            h = torch.cat([h, a], dim=1)
        fine = self.refine_out(h).clamp(-1, 1)
        return (coarse + 1) / 2, (fine + 1) / 2

    def forward(self, masked_image, mask, stage: str = "fine"):
        """The fine stage's output; ``stage="coarse"`` answers with the first network's instead
        (Chapter 6 measures each stage, and the option keys the cached test-set numbers)."""
        if stage not in ("coarse", "fine"):
            raise ValueError(f"stage must be 'coarse' or 'fine', got {stage!r}")
        return self.stages(masked_image, mask)[stage == "fine"]


class WGANCritic(nn.Module):
    """DeepFill v1's critic: 5x5 stride-2 convs with LeakyReLU, no normalisation, a linear score.

    Defined in Chapter 6 (DeepFill v1); Chapter 7 (GMCNN) reuses it. Widths ``c, 2c, 4c, 4c``
    (global: the whole image) or ``c, 2c, 4c, 8c`` (local: the window around the hole), as the
    reference. No BatchNorm: the gradient penalty is per sample.
    """

    def __init__(self, size: int, c: int = 32, widths=(1, 2, 4, 4)):
        super().__init__()
        layers, cin = [], 3
        for w in widths:
            layers.append(conv_block(cin, c * w, 5, 2, padding=2, norm=None, activation="lrelu"))
            cin = c * w
        self.features = nn.Sequential(*layers, nn.Flatten())
        side = size // 2 ** len(widths)
        self.score = nn.Linear(cin * side * side, 1)
        self.size = size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.size, self.size):
            raise ValueError(f"this critic expects {self.size}x{self.size} images, got {tuple(images.shape[-2:])}")
        return self.score(self.features(2 * images - 1))


class GlobalLocalCritics(nn.Module):
    """The two WGAN-GP critics: ``forward(images, masks) -> {"global": (B,1), "local": (B,1)}``.

    Defined in Chapter 6 (DeepFill v1). The local critic sees the ``local_size`` window around
    the hole (Chapter 3's :func:`crop_around_hole`), the global one the whole image.
    """

    def __init__(self, image_size: int = 128, local_size: int = 64, c: int = 32):
        super().__init__()
        self.local_size = local_size
        self.global_critic = WGANCritic(image_size, c, (1, 2, 4, 4))
        self.local_critic = WGANCritic(local_size, c, (1, 2, 4, 8))

    def crops(self, images, masks):
        from inpaintlib.nn.discriminators import crop_around_hole

        local, corners = crop_around_hole(images, masks, self.local_size)
        local_masks = torch.stack([masks[i, :, y:y + self.local_size, x:x + self.local_size]
                                   for i, (y, x) in enumerate(corners.tolist())])
        return local, local_masks

    def forward(self, images, masks):
        local, _ = self.crops(images, masks)
        return {"global": self.global_critic(images), "local": self.local_critic(local)}


# --------------------------------------------------------------------------------------------
# Training recipe
# --------------------------------------------------------------------------------------------
from inpaintlib.training.engine import Phase, Recipe, TrainSettings, Update  # noqa: E402


class DeepFillV1Recipe(Recipe):
    r"""Training of Chapter 6. Defined in Chapter 6 (DeepFill v1).

    For both stages' outputs :math:`\hat x_c, \hat x_f` (Sec. 3.3; the weights are the reference's,
    except that the book weighs both stages equally, see below):

    .. math:: L_G = 1.2 \sum_{s} \frac{\sum M_\gamma \lvert \hat x_s - x\rvert}{\sum M}
              + 1.2 \sum_s \frac{\sum (1 - M)\lvert \hat x_s - x\rvert}{\sum (1 - M)}
              - 0.001 \big(D_g(\tilde x) + D_l(\tilde x_{loc})\big),

    :math:`M_\gamma` the spatially discounted weights (:math:`\gamma = 0.99`, the paper's),
    :math:`\tilde x` the composited fine output.

    **Deviation from the reference** (``inpaint_model.py``, v1.0.0): the reference multiplies the
    coarse stage's two L1 terms by ``COARSE_L1_ALPHA`` = 1.2 before the sums are weighted by
    ``L1_LOSS_ALPHA`` / ``AE_LOSS_ALPHA`` = 1.2, so its coarse stage weighs 1.44 and its fine stage
    1.2; this recipe weighs both stages 1.2. The reference also averages the discounted term over
    its training box, this recipe over the hole.

    Critics: WGAN with gradient penalty 10 on the hole (the reference's masked penalty), 5 critic
    updates per generator update, each on a fresh batch (Update(fresh_batch=True)). Adam 1e-4,
    betas (0.5, 0.9). Random rectangles (the paper's training holes), sides 1/4 to 1/2 of the
    crop. The book's choices for the budget
    (one CPU core for 90 minutes; measured at batch 16, bf16, a reconstruction step costs about
    0.7 s at 64 px and 2.8 s at 128 px, and an adversarial step, whose 5 critic updates each
    need a generator forward pass of 1.5 s, about 13 s): a reconstruction-only first phase
    (60 %, on 64 px crops for its first half), then the adversarial phase (40 %) at 128 px, the
    size the global critic needs.
    """

    model_name = "deepfill_v1"
    settings = TrainSettings(steps=1000, batch_size=16, image_size=128, resize_schedule=((0.0, 64), (0.3, 128)),
                             lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9),
                             lr_schedule="cosine", lr_final=0.1, ema_decay=0.999, log_every=10,
                             checkpoint_minutes=5.0, eval_images=100)
    profiles = {"book": dict(steps=40)}  # the rest: the engine's profile defaults (inpaintlib.training.profiles)
    weights = {"hole_l1": 1.2, "known_l1": 1.2, "adversarial": 0.001}
    gamma = 0.99
    gp_weight = 10.0
    critic_updates = 5
    critic_fresh_batches = True  # each critic update on a new batch (Chapter 7 shares one)
    attention = True
    cnum = 22
    phase_split = {"reconstruction": 0.6, "adversarial": 0.4}
    eval_kinds = ("center", "ff10-20", "ff20-30", "ff30-40", "ff40-50")

    def build_networks(self, settings):
        from inpaintlib.nn.discriminators import check_no_batchnorm
        from inpaintlib.losses.terms import WeightedLoss

        self.loss = WeightedLoss(self.weights)
        critics = check_no_batchnorm(GlobalLocalCritics(settings.image_size, settings.image_size // 2))
        return {"generator": DeepFillV1Generator(self.cnum, attention=self.attention), "discriminator": critics}

    def phases(self, settings, nets):
        split = self.phase_split
        return [Phase("reconstruction", train=("generator",), fraction=split["reconstruction"]),
                Phase("adversarial", fraction=split["adversarial"],
                      updates=(Update("discriminator", "discriminator_loss", self.critic_updates,
                                      fresh_batch=self.critic_fresh_batches),
                               Update("generator", "generator_loss")))]

    def sample_masks(self, batch, height, width, generator):
        from inpaintlib.data.masks import random_rectangles_mask

        return random_rectangles_mask(batch, height, width, num=1, generator=generator)

    def completed(self, nets, images, masks) -> torch.Tensor:
        """The composite the critics judge: known pixels, and the generator's output in the hole."""
        with torch.no_grad():
            fake = nets["generator"](images * (1 - masks), masks)
        return images * (1 - masks) + fake * masks

    def discriminator_loss(self, nets, images, masks):
        """WGAN-GP for both critics, the penalty on the hole in fp32. Chapter 7 (GMCNN) reuses it."""
        from inpaintlib.losses.terms import gradient_penalty, wgan_critic_loss

        fake = self.completed(nets, images, masks)
        critics = nets["discriminator"]
        real_s, fake_s = critics(images, masks), critics(fake, masks)
        w = {k: wgan_critic_loss(real_s[k], fake_s[k]) for k in ("global", "local")}
        real_l, local_masks = critics.crops(images, masks)
        fake_l, _ = critics.crops(fake, masks)
        with torch.autocast(images.device.type, enabled=False):  # the penalty in fp32
            gp = (gradient_penalty(critics.global_critic, images.float(), fake.float(), mask=masks.float())
                  + gradient_penalty(critics.local_critic, real_l.float(), fake_l.float(), mask=local_masks.float()))
        total = w["global"] + w["local"] + self.gp_weight * gp
        return total, {"wgan_global": w["global"].detach(), "wgan_local": w["local"].detach(), "gp": gp.detach()}

    def generator_loss(self, nets, images, masks):
        from inpaintlib.losses.pixel_weights import spatial_discount
        from inpaintlib.losses.terms import wgan_generator_loss

        coarse, fine = nets["generator"].stages(images * (1 - masks), masks)
        disc = spatial_discount(masks, self.gamma)
        hole = sum((disc * (s - images).abs()).sum() / (3 * masks.sum()).clamp_min(1) for s in (coarse, fine))
        known = sum(((1 - masks) * (s - images).abs()).sum() / (3 * (1 - masks).sum()).clamp_min(1)
                    for s in (coarse, fine))
        if self.current_phase == "adversarial":
            composite = images * (1 - masks) + fine * masks
            scores = nets["discriminator"](composite, masks)
            adv = wgan_generator_loss(scores["global"]) + wgan_generator_loss(scores["local"])
            return self.loss(hole_l1=hole, known_l1=known, adversarial=adv)
        total, parts = self.loss(hole_l1=hole, known_l1=known, adversarial=0.0)
        return total, {**parts, "adversarial": float("nan")}


class DeepFillV1NoAttention(DeepFillV1Recipe):
    """Ablation of Chapter 6: the refinement network's dilated branch alone. Defined in Chapter 6."""

    model_name = "deepfill_v1_no_attention"
    attention = False
