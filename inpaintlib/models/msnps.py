r"""High-Resolution Image Inpainting using Multi-Scale Neural Patch Synthesis (Yang et al., CVPR 2017).

The model of Chapter 2. Two networks, used very differently:

* the **content network** — a Context Encoder (Chapter 1) with the two changes the paper makes:
  a standard fully connected bottleneck instead of the channel-wise one, and ELU instead of
  (leaky) ReLU everywhere. It is trained like the Context Encoder (L2 + adversarial) and gives a
  blurry but plausible fill. Only :class:`MSNPSContentRecipe` is new here, a recipe subclass that
  overrides exactly those attributes;
* the **texture network** — a fixed, pretrained VGG (:mod:`inpaintlib.losses.vgg`). Nothing is trained:
  the *image* is optimised so that every feature patch in the hole looks like its nearest known
  patch (:mod:`inpaintlib.losses.patches`), while staying close to the content network's fill and
  smooth (:class:`NeuralPatchSynthesis`).
"""
from __future__ import annotations

from inpaintlib.models.context_encoder import ContextEncoderRecipe


class MSNPSContentRecipe(ContextEncoderRecipe):
    """Training of Chapter 2's content network: Chapter 1's recipe with the paper's two changes.

    Defined in Chapter 2 (MSNPS). A standard fully connected bottleneck (``fully_connected``)
    and ELU activations in encoder, bottleneck and decoder. The paper does not give the width of
    its fully connected layer; the released Context Encoder goes through a 4000-wide code. The
    book's network has half the paper's channels (``width = 0.5``, as Chapter 1 ships) and a
    48-wide code (``4096 -> 48 -> 4096``, 0.39 M weights; 1.86 M parameters in all, a 3.7 MB
    float16 checkpoint): a 4000-wide code would be 33 M weights, more than the 90 core-minute
    budget can train on our 64 training photos. Losses and optimiser are Chapter 1's.
    """

    model_name = "msnps_content"
    bottleneck = "fully_connected"
    activation, decoder_activation, fc_code_size = "elu", "elu", 48


# --------------------------------------------------------------------------------------------
# The texture network: optimise the image, not weights
# --------------------------------------------------------------------------------------------
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from inpaintlib.evaluation.compositing import composite  # noqa: E402
from inpaintlib.models.base import InpaintingModel  # noqa: E402

#: the paper's VGG-19 layers for the texture term, and the VGG-16 taps that stand in for them
#: (same names: both networks' third and fourth blocks start with the same layer, see
#: :data:`inpaintlib.losses.vgg.VGG19_TO_VGG16`)
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
         released code compares relu4_2 features instead). It is 0 at the start of every
         scale, since its reference *is* the initial image;
       * :math:`E_t = \sum_{l} E_t^{(l)}`, the neural patch term of
         :func:`inpaintlib.losses.patches.patch_match_loss` at ``relu3_1`` and ``relu4_1`` (a sum
         over layers of means over hole patches; a layer without any known patch centre, as
         ``relu4_1`` of a 32 px image, adds nothing);
       * :math:`\Upsilon`, the squared total variation (``total_variation_loss(power=2)``), a
         mean over the *whole* image, whose known pixels are fixed but differ from scale to
         scale;
    3. L-BFGS (Liu & Nocedal 1989) with a strong-Wolfe line search, ``iterations`` per scale,
       with the neighbours recomputed at every evaluation of the energy.

    Every term is a mean, so the energy of one scale is not comparable with the next one's:
    Chapter 2 measures what changes at a scale switch.

    **Iteration budget**: 50 L-BFGS iterations per scale, 150 in all (the paper and its code:
    100 per scale); Chapter 2 plots the energy per evaluation and shows where it flattens.
    ``weights`` default to (content 1, texture 1e-4, tv 1). The texture term, a mean of squared
    VGG activations, is about 10^5 times larger than the pixel terms; 1e-4 makes its gradient in
    the hole comparable to the content term's for a fill 0.1 away from its reference, and was
    the better of 1e-3 / 1e-4 / 0 on a few validation crops (the paper's absolute weights depend
    on its VGG-19's feature scale and do not transfer). With ``texture`` weight 0 (the
    smoothness-only ablation) the VGG is not run at all. ``similarity="cosine"`` matches
    patches by normalised cross-correlation, as the released code does (see
    :mod:`inpaintlib.losses.patches`). ``forward(..., trace=dict)`` fills
    ``trace`` with the energy per evaluation, its scale, the image after each scale and the
    seconds per scale; ``forward(..., iterations=k)`` overrides the budget.
    """

    name = "msnps"
    display_name = "MSNPS (content + texture)"
    fixed_size = (128, 128)
    max_hole = (64, 64)
    min_size = 128
    interactive = False  # 3 scales of L-BFGS: seconds per hole, not milliseconds

    def __init__(self, content: InpaintingModel, iterations: int = 50, scales: int = 3,
                 weights: dict | None = None, layers=TEXTURE_LAYERS, patch_size: int = 3,
                 similarity: str = "euclidean"):
        super().__init__()
        self.content = content
        self.iterations, self.scales = int(iterations), int(scales)
        self.layers, self.patch_size, self.similarity = tuple(layers), patch_size, similarity
        self.weights = {"content": 1.0, "texture": 1e-4, "tv": 1.0, **(weights or {})}

    def config(self):
        return {"iterations": self.iterations, "scales": self.scales,
                "weights": dict(self.weights), "layers": list(self.layers),
                "similarity": self.similarity, "content": self.content.config()}

    @property
    def vgg(self):
        """The process-wide frozen VGG-16, not a submodule: a measuring device, never saved."""
        from inpaintlib.losses.vgg import pretrained_vgg16

        return pretrained_vgg16()

    def texture_terms(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """:math:`E_t^{(l)}` of one image (1,3,h,w) for each texture layer that has known patches.

        Defined in Chapter 2 (MSNPS). ``mask`` (1,1,h,w), 1 = hole. A layer whose map has no
        hole unit, or no patch centred outside the hole (``relu4_1`` of a 32 px image: a 4x4
        map), is left out.
        """
        from inpaintlib.losses.patches import feature_mask, has_keys, patch_match_loss

        terms = {}
        for name, f in self.vgg.to(x.device)(x, self.layers).items():
            hole = feature_mask(mask[0], *f.shape[-2:])
            if hole.any() and has_keys(hole, self.patch_size):
                terms[name] = patch_match_loss(f[0], hole, self.patch_size,
                                               similarity=self.similarity)[0]
        return terms

    def energy(self, x: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor):
        """The joint energy of one image (1,3,h,w) and its named, unweighted terms.

        Defined in Chapter 2 (MSNPS). Returns ``(total, parts)``; ``parts`` holds ``content``,
        ``texture``, ``tv``, ``total`` and ``texture/<layer>`` per layer, as floats. With
        texture weight 0 the VGG is skipped (its term is reported as 0).
        """
        from inpaintlib.losses.terms import WeightedLoss, masked_l2, total_variation_loss

        per_layer = self.texture_terms(x, mask) if self.weights["texture"] != 0 else {}
        texture = sum(per_layer.values(), x.new_zeros(()))
        total, parts = WeightedLoss(**self.weights)(
            content=masked_l2(x, reference, mask), texture=texture,
            tv=total_variation_loss(x, power=2))
        parts.update({f"texture/{k}": float(v.detach()) for k, v in per_layer.items()})
        return total, parts

    def scale_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """The (h, w) of each scale, coarsest first: 1/4, 1/2, 1 of the window for 3 scales."""
        return [(height // 2 ** k, width // 2 ** k) for k in reversed(range(self.scales))]

    @staticmethod
    def scale_inputs(image: torch.Tensor, mask: torch.Tensor, current: torch.Tensor,
                     size: tuple[int, int]):
        """What one scale starts from: ``(known, hole, start)`` at ``size``.

        Defined in Chapter 2 (MSNPS). ``known``: ``image`` area-downsampled (its known pixels
        are fixed at this scale); ``hole``: the mask at this size, a pixel is hole if any of
        its area touches the hole; ``start``: ``current`` (the previous scale's result)
        bilinearly upsampled, or area-downsampled at the first scale, with the known pixels
        composited in.
        """
        hole = (F.interpolate(mask, size=size, mode="area") > 1e-6).float()
        known = F.interpolate(image, size=size, mode="area")
        if current.shape[-2] > size[0]:  # first scale: the content fill, downsampled
            start = F.interpolate(current, size=size, mode="area")
        elif current.shape[-2] < size[0]:  # later scales: the previous result, upsampled
            start = F.interpolate(current, size=size, mode="bilinear", align_corners=False)
        else:
            start = current
        return known, hole, composite(start, known, hole)

    def optimise(self, image: torch.Tensor, mask: torch.Tensor, iterations: int | None = None,
                 trace: dict | None = None) -> torch.Tensor:
        """Coarse-to-fine texture optimisation of ``image`` (1,3,H,W) inside ``mask`` (1,1,H,W)."""
        iterations = self.iterations if iterations is None else int(iterations)
        current = image
        if trace is not None:
            for key in ("energy", "scale", "images", "seconds"):
                trace.setdefault(key, [])
        for size in self.scale_sizes(*image.shape[-2:]):
            t0 = time.perf_counter()
            known, m, start = self.scale_inputs(image, mask, current, size)
            # the content term's reference is this scale's start: it restarts at 0 each scale
            reference = start.detach()
            hole_values = start.detach().clone(memory_format=torch.contiguous_format)
            hole_values.requires_grad_(True)
            opt = torch.optim.LBFGS([hole_values], lr=1.0, max_iter=iterations,
                                    history_size=20, tolerance_grad=0.0, tolerance_change=0.0,
                                    line_search_fn="strong_wolfe")

            def compose():
                return composite(hole_values.clamp(0, 1), known, m)

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

    def forward(self, masked_image, mask, iterations: int | None = None,
                trace: dict | None = None):
        """Content network fill, then the texture optimisation of each image in the batch."""
        start = composite(self.content(masked_image, mask), masked_image, mask)
        return torch.cat([self.optimise(start[i:i + 1], mask[i:i + 1], iterations, trace)
                          for i in range(start.shape[0])])
