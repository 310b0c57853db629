r"""High-Resolution Image Inpainting using Multi-Scale Neural Patch Synthesis (Yang et al., CVPR 2017).

The model of Chapter 2. Two networks, used very differently:

* the **content network** — a Context Encoder (Chapter 1) with the two changes the paper makes:
  a standard fully connected bottleneck instead of the channel-wise one, and ELU instead of
  (leaky) ReLU everywhere. It is trained like the Context Encoder (L2 + adversarial) and gives a
  blurry but plausible fill. Only :class:`MSNPSContentRecipe` is new here, a recipe subclass that
  overrides exactly those attributes;
* the **texture network** — a fixed, pretrained VGG (:mod:`inpaintlib.vgg`). Nothing is trained:
  the *image* is optimised so that every feature patch in the hole looks like its nearest known
  patch (:mod:`inpaintlib.patches`), while staying close to the content network's fill and
  smooth (:class:`NeuralPatchSynthesis`).
"""
from __future__ import annotations

from inpaintlib.models.context_encoder import ContextEncoderRecipe
from inpaintlib.train import TrainSettings


class MSNPSContentRecipe(ContextEncoderRecipe):
    """Training of Chapter 2's content network: Chapter 1's recipe with the paper's two changes.

    Defined in Chapter 2 (MSNPS). A standard fully connected bottleneck (``fully_connected``)
    and ELU activations in encoder, bottleneck and decoder. The paper does not give the width of
    its fully connected layer; the released Context Encoder goes through a 4000-wide code. We use
    a 512-wide code (``8192 -> 512 -> 8192``, 8.4 M weights, a 37 MB checkpoint; 4000 would be
    65 M weights and 260 MB for our 29 training photos). Losses and optimiser are Chapter 1's.
    """

    model_name = "msnps_content"
    bottleneck = "fully_connected"
    activation, decoder_activation, fc_code_size = "elu", "elu", 512
    settings = TrainSettings(steps=1200, batch_size=32, image_size=128, lr_g=2e-4, lr_d=2e-4,
                             betas=(0.5, 0.999), log_every=10, checkpoint_every=200, eval_images=100)


# --------------------------------------------------------------------------------------------
# The texture network: optimise the image, not weights
# --------------------------------------------------------------------------------------------
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from inpaintlib.models.base import InpaintingModel  # noqa: E402

#: the paper's VGG-19 layers for the texture term, and the VGG-16 taps that stand in for them
#: (same names: both networks' third and fourth blocks start with the same layer, see
#: :data:`inpaintlib.vgg.VGG19_TO_VGG16`)
TEXTURE_LAYERS = ("relu3_1", "relu4_1")


class NeuralPatchSynthesis(InpaintingModel):
    r"""Content network + multi-scale texture optimisation (Yang et al. 2017): Chapter 2's model.

    Defined in Chapter 2 (MSNPS). For a 128x128 window with its hole inside the central 64x64:

    1. the content network paints the hole: :math:`x_0`;
    2. for each scale :math:`s = 1/4, 1/2, 1` (32, 64, 128 px), the image, initialised with the
       previous scale's result (upsampled; :math:`x_0` downsampled at the first scale), is
       optimised, only inside the hole, to minimise the joint energy

       .. math:: E(x) = \alpha\, E_c + \beta\, E_t + \gamma\, \Upsilon(x),

       * :math:`E_c = \lVert h(x, R) - h(x_{s-1}, R) \rVert^2`, the mean squared difference in
         the hole to that initial image: stay near the content network's fill (pixels; the
         released code compares relu4_2 features instead);
       * :math:`E_t = \sum_{l} E_t^{(l)}`, the neural patch term of
         :func:`inpaintlib.patches.patch_match_loss` at ``relu3_1`` and ``relu4_1``;
       * :math:`\Upsilon`, the squared total variation (``total_variation_loss(power=2)``);
    3. L-BFGS (Liu & Nocedal 1989) with a strong-Wolfe line search, ``iterations`` per scale,
       with the neighbours recomputed at every evaluation of the energy.

    **Iteration budget**: 50 L-BFGS iterations per scale, 150 in all (the paper and its code:
    100 per scale); Chapter 2 plots the energy per evaluation and shows where it flattens.
    ``weights`` default to (content 1, texture 1e-4, tv 1). The texture term, a mean of squared
    VGG activations, is about 10^5 times larger than the pixel terms; 1e-4 makes its gradient in
    the hole comparable to the content term's for a fill 0.1 away from its reference, and was
    the better of 1e-3 / 1e-4 / 0 on a few validation crops (the paper's absolute weights depend
    on its VGG-19's feature scale and do not transfer). ``forward(..., trace=dict)`` fills
    ``trace`` with the energy per evaluation, its scale, the image after each scale and the
    seconds per scale; ``forward(..., iterations=k)`` overrides the budget.
    """

    name = "msnps"
    display_name = "MSNPS (content + texture)"
    fixed_size = (128, 128)
    max_hole = (64, 64)
    min_size = 128

    def __init__(self, content: InpaintingModel, iterations: int = 50, scales: int = 3,
                 weights: dict | None = None, layers=TEXTURE_LAYERS, patch_size: int = 3):
        super().__init__()
        self.content = content
        self.iterations, self.scales, self.layers, self.patch_size = int(iterations), int(scales), tuple(layers), patch_size
        self.weights = {"content": 1.0, "texture": 1e-4, "tv": 1.0, **(weights or {})}

    def config(self):
        return {"iterations": self.iterations, "scales": self.scales, "weights": dict(self.weights),
                "layers": list(self.layers), "content": self.content.config()}

    @property
    def vgg(self):
        """The process-wide frozen VGG-16, not a submodule: it is a measuring device, never saved."""
        from inpaintlib.vgg import pretrained_vgg16

        return pretrained_vgg16()

    def energy(self, x: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor):
        """The joint energy of one image (1,3,h,w) and its named, unweighted terms."""
        from inpaintlib.losses import WeightedLoss, masked_l2, total_variation_loss
        from inpaintlib.patches import feature_mask, has_keys, patch_match_loss

        feats = self.vgg.to(x.device)(x, self.layers)
        texture = x.new_zeros(())
        for f in feats.values():
            hole = feature_mask(mask[0], *f.shape[-2:])
            # a map too small to have a known patch centre (relu4_1 of a 32 px image) is skipped
            if hole.any() and has_keys(hole, self.patch_size):
                texture = texture + patch_match_loss(f[0], hole, self.patch_size)[0]
        return WeightedLoss(**self.weights)(
            content=masked_l2(x, reference, mask), texture=texture, tv=total_variation_loss(x, power=2))

    def optimise(self, image: torch.Tensor, mask: torch.Tensor, iterations: int | None = None,
                 trace: dict | None = None) -> torch.Tensor:
        """Coarse-to-fine texture optimisation of ``image`` (1,3,H,W) inside ``mask`` (1,1,H,W)."""
        iterations = self.iterations if iterations is None else int(iterations)
        h, w = image.shape[-2:]
        sizes = [(h // 2 ** k, w // 2 ** k) for k in reversed(range(self.scales))]
        current = image
        if trace is not None:
            for key in ("energy", "scale", "images", "seconds"):
                trace.setdefault(key, [])
        for size in sizes:
            t0 = time.perf_counter()
            m = (F.interpolate(mask, size=size, mode="area") > 1e-6).float()
            known = F.interpolate(image, size=size, mode="area")
            if current.shape[-2] > size[0]:  # first scale: the content fill, downsampled
                start = F.interpolate(current, size=size, mode="area")
            elif current.shape[-2] < size[0]:  # later scales: the previous result, upsampled
                start = F.interpolate(current, size=size, mode="bilinear", align_corners=False)
            else:
                start = current
            reference = start.detach()
            hole_values = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
            opt = torch.optim.LBFGS([hole_values], lr=1.0, max_iter=iterations, history_size=20,
                                    tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")

            def compose():
                return known * (1 - m) + hole_values.clamp(0, 1) * m

            def closure():
                opt.zero_grad()
                total, parts = self.energy(compose(), reference, m)
                total.backward()
                if trace is not None:
                    trace["energy"].append(parts["total"])
                    trace["scale"].append(size[0])
                return total

            if iterations > 0:
                with torch.enable_grad():
                    opt.step(closure)
            current = compose().detach()
            if trace is not None:
                trace["images"].append(current.cpu())
                trace["seconds"].append(time.perf_counter() - t0)
        return current

    def forward(self, masked_image, mask, iterations: int | None = None, trace: dict | None = None):
        """Content network fill, then the texture optimisation of each image in the batch."""
        from inpaintlib.compositing import composite

        start = composite(self.content(masked_image, mask), masked_image, mask)
        return torch.cat([self.optimise(start[i:i + 1], mask[i:i + 1], iterations, trace)
                          for i in range(start.shape[0])])
