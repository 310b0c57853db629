r"""EdgeConnect: generative image inpainting with adversarial edge learning (Nazeri et al. 2019): Chapter 9.

"Lines first, colour next". What is new in this paper, and therefore new code:

* :mod:`inpaintlib.data.edges`: Canny edge maps (sigma 2), of the whole image for training and of
  the known pixels only at test time;
* :class:`EdgeGenerator` (:math:`G_1`): greyscale image, its known edges and the mask in, the
  whole edge map out (Sec. 3.1);
* :class:`InpaintGenerator` (:math:`G_2`): the image and a complete edge map in, the image out
  (Sec. 3.2);
* :class:`EdgeConnect`: the two in sequence, the :class:`~inpaintlib.models.base.InpaintingModel`
  the book ships; its ``hole_edges`` option feeds any edge map for the hole (the ground truth:
  "what if the edges were perfect");
* :func:`inpaintlib.losses.feature_matching.feature_matching_loss` and
  :class:`inpaintlib.nn.discriminators.SpectralPatchDiscriminator`;
* :class:`EdgeConnectRecipe`: three phases (edge, inpaint, joint) and the reference's losses and
  weights; :class:`EdgeConnectNoEdges`, the ablation with an empty edge channel.

Sources: the paper (arXiv 1901.00212) for the method and the equations; the authors' code
(``knazeri/edge-connect``: ``src/networks.py``, ``src/models.py``, ``src/loss.py``,
``src/dataset.py``, ``src/edge_connect.py``, ``config.yml.example``) for layer sizes, weights
and training details; the authors' answers in its issue tracker (issues 30 and 35) for the
stages. Each docstring says which.

**Two generators in one engine.** The engine (Chapter 0) trains a dict of networks, one of which
is ``"generator"``: the one averaged, evaluated and shipped. EdgeConnect has two generators,
each with its own discriminator. The smallest clean way: one generator module, :class:`EdgeConnect`,
holding both stages (``edge_generator``, ``inpaint_generator``), and two discriminators,
``"edge_discriminator"`` (:math:`D_1`) and ``"discriminator"`` (:math:`D_2`). Every phase names
its updates (:class:`~inpaintlib.training.engine.Update`): the edge phase steps :math:`D_1` and the
generator with the edge loss, the other phases :math:`D_2` and the generator with the inpainting
loss. A stage that a loss does not reach gets no gradient, and Adam leaves a parameter without a
gradient untouched (its moments too), so "the generator" trains exactly the stage the phase is
about; the moving average and the shipped checkpoint (one file) hold both.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from inpaintlib.data.edges import CANNY_SIGMA, canny_edges, to_greyscale
from inpaintlib.models.base import InpaintingModel


def _conv(cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1,
          spectral: bool = False, bias: bool = False, transposed: bool = False, reflect: bool = False) -> nn.Module:
    """A convolution initialised from N(0, 0.02) (the reference's ``init_weights``), optionally
    spectrally normalised (after the initialisation, which the parametrisation then wraps)."""
    if transposed:
        layer = nn.ConvTranspose2d(cin, cout, k, stride, padding, bias=bias)
    else:
        layer = nn.Conv2d(cin, cout, k, stride, padding, dilation=dilation, bias=bias,
                          padding_mode="reflect" if reflect else "zeros")
    nn.init.normal_(layer.weight, 0.0, 0.02)
    if bias:
        nn.init.zeros_(layer.bias)
    if spectral:
        from torch.nn.utils.parametrizations import spectral_norm

        layer = spectral_norm(layer)
    return layer


def _block(conv: nn.Module, relu: bool = True) -> nn.Sequential:
    # convolution + instance norm (+ ReLU): one box of the architecture figure
    layers = [conv, nn.InstanceNorm2d(conv.out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DilatedResidualBlock(nn.Module):
    r"""``x + F(x)``, :math:`F` = 3x3 conv dilated ``d``, IN, ReLU, 3x3 conv, IN (no ReLU after the sum).

    Defined in Chapter 9 (EdgeConnect), as the reference's ``ResnetBlock``: reflection padding,
    **only the first** convolution dilated (Chapter 4's :class:`~inpaintlib.nn.layers.ResidualBlock`
    dilates both), instance norm without affine parameters, spectral norm when ``spectral`` (and
    then no bias, as the reference's ``bias=not use_spectral_norm``; without it the bias would be
    cancelled by the instance norm's mean anyway, so the book drops it in both cases).
    """

    def __init__(self, channels: int, dilation: int = 2, spectral: bool = False):
        super().__init__()
        self.dilation = int(dilation)
        self.conv1 = _block(_conv(channels, channels, 3, padding=dilation, dilation=dilation, spectral=spectral,
                                  reflect=True))
        self.conv2 = _block(_conv(channels, channels, 3, padding=1, spectral=spectral, reflect=True), relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class _ResnetGenerator(nn.Module):
    """Encoder (7x7, two 4x4 stride-2 convolutions), dilated residual blocks at 1/4, decoder
    (two 4x4 transposed convolutions, 7x7 to the output). Defined in Chapter 9 (EdgeConnect)."""

    def __init__(self, in_channels: int, out_channels: int, width: int, residual_blocks: int, dilation: int,
                 spectral: bool):
        super().__init__()
        c = int(width)
        if c < 1 or residual_blocks < 0:
            raise ValueError(f"width must be positive and residual_blocks >= 0, got {width}, {residual_blocks}")
        self.encoder = nn.Sequential(
            _block(_conv(in_channels, c, 7, padding=3, spectral=spectral, reflect=True)),  # (B, c, H, W)
            _block(_conv(c, 2 * c, 4, 2, 1, spectral=spectral)),  # (B, 2c, H/2, W/2)
            _block(_conv(2 * c, 4 * c, 4, 2, 1, spectral=spectral)),  # (B, 4c, H/4, W/4)
        )
        self.middle = nn.Sequential(*[DilatedResidualBlock(4 * c, dilation, spectral) for _ in range(residual_blocks)])
        self.decoder = nn.Sequential(
            _block(_conv(4 * c, 2 * c, 4, 2, 1, spectral=spectral, transposed=True)),  # (B, 2c, H/2, W/2)
            _block(_conv(2 * c, c, 4, 2, 1, spectral=spectral, transposed=True)),  # (B, c, H, W)
            # the last convolution: no normalisation, a bias, never spectrally normalised (the reference's)
            nn.Sequential(_conv(c, out_channels, 7, padding=3, bias=True, reflect=True)),  # (B, out, H, W)
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.middle(self.encoder(x)))


class EdgeGenerator(_ResnetGenerator):
    r""":math:`G_1`: (greyscale with the hole white, known edges, mask) -> edge probabilities (B, 1, H, W).

    Defined in Chapter 9 (EdgeConnect). The paper's Sec. 3.1 and the reference's
    ``EdgeGenerator``: every convolution but the last spectrally normalised (the paper: "we use
    spectral normalization in both the generator and the discriminator" of the edge stage),
    instance norm, eight residual blocks dilated 2, a sigmoid at the end.
    """

    def __init__(self, width: int = 16, residual_blocks: int = 8, dilation: int = 2):
        super().__init__(3, 1, width, residual_blocks, dilation, spectral=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


class InpaintGenerator(_ResnetGenerator):
    r""":math:`G_2`: (RGB with the hole white, complete edge map) -> RGB image (B, 3, H, W) in [0, 1].

    Defined in Chapter 9 (EdgeConnect). The same network as :math:`G_1` without spectral
    normalisation (the reference's ``InpaintGenerator``; the paper, Sec. 3.2), 4 input channels,
    output :math:`(\tanh(\cdot) + 1) / 2`.
    """

    def __init__(self, width: int = 16, residual_blocks: int = 8, dilation: int = 2):
        super().__init__(4, 3, width, residual_blocks, dilation, spectral=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(self.logits(x)) + 1) / 2


class EdgeConnect(InpaintingModel):
    r"""EdgeConnect: complete the edge map, then paint along it. Defined in Chapter 9 (EdgeConnect).

    ``forward(masked_image, mask)`` with the book's convention (hole = 1, hole pixels blanked):

    1. **known edges** :math:`C_{known}`: Canny (sigma 2) of the known pixels only
       (:func:`~inpaintlib.data.edges.canny_edges` with the mask: no hole pixel influences them);
    2. **hole edges**: :math:`C_{pred} = G_1(\tilde I_{gray}, C_{known}, M)`, with
       :math:`\tilde I_{gray}` the greyscale image whose hole is set to 1 (white), as the
       reference (``images * (1 - masks) + masks``; filling with 1 rather than 0, the authors
       say in their issue 42, keeps the first filters from being starved of gradient);
    3. **complete edges** :math:`C = C_{pred} \odot M + C_{known} \odot (1 - M)` (Sec. 3.2);
    4. **image**: :math:`G_2(\tilde I, C)`, :math:`\tilde I` the RGB image with the hole white.

    Options of ``forward``:

    * ``hole_edges`` (B, 1, H, W): an edge map whose hole part replaces :math:`C_{pred}` (the
      known part stays :math:`C_{known}`); with the ground truth's Canny edges
      (``canny_edges(images)``) this is the chapter's "what if the edges were perfect", which
      separates the edge generator's error from the inpainting generator's;
    * ``known_edges``: precomputed known edges (training computes them in the data workers);
    * ``output``: ``"image"`` (default), ``"edges"`` (:math:`G_1`'s raw map only, :math:`G_2` not
      run) or ``"all"`` (a dict: ``known_edges``, ``predicted_edges``, ``edges``, ``image``).

    ``use_edges=False`` is the chapter's ablation: no :math:`G_1`, and :math:`G_2`'s edge channel
    is all zeros.

    **Scaled from 256 to 128 px (the book's choice).** The depth is the reference's: two stride-2
    levels and eight dilated residual blocks at 1/4 of the image, so the trunk's receptive field
    (about 200 px) still covers the whole 128 px crop. The widths are a quarter of the reference's
    (64/128/256 -> 16/32/64 at ``width=16``): about 0.68 M parameters per generator instead of 10.8 M,
    so both generators together (1.35 M) ship in float16 under 4 MB.
    """

    name = "edgeconnect"
    display_name = "EdgeConnect"
    size_multiple = 4  # two stride-2 levels
    min_size = 16  # the 1/4 map must be wider than the dilation's reflection padding (2)

    def __init__(self, width: int = 16, residual_blocks: int = 8, dilation: int = 2, sigma: float = CANNY_SIGMA,
                 use_edges: bool = True):
        super().__init__()
        self.width, self.residual_blocks, self.dilation = int(width), int(residual_blocks), int(dilation)
        self.sigma, self.use_edges = float(sigma), bool(use_edges)
        if self.use_edges:
            self.edge_generator = EdgeGenerator(width, residual_blocks, dilation)
        self.inpaint_generator = InpaintGenerator(width, residual_blocks, dilation)

    def config(self) -> dict[str, Any]:
        return {"width": self.width, "residual_blocks": self.residual_blocks, "dilation": self.dilation,
                "sigma": self.sigma, "use_edges": self.use_edges}

    # -- the steps of forward, each usable on its own ----------------------------------------
    @staticmethod
    def _check(masked_image: torch.Tensor, mask: torch.Tensor) -> None:
        from inpaintlib.data.masks import check_mask

        if not isinstance(masked_image, torch.Tensor) or masked_image.ndim != 4 or masked_image.shape[1] != 3:
            shape = tuple(masked_image.shape) if isinstance(masked_image, torch.Tensor) else type(masked_image).__name__
            raise ValueError(f"masked_image must be an RGB batch (B,3,H,W) in [0,1], got {shape}")
        check_mask(mask, masked_image)
        if mask.shape[0] != masked_image.shape[0]:
            raise ValueError(f"mask batch {mask.shape[0]} does not match image batch {masked_image.shape[0]}")

    def known_edges(self, masked_image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """:math:`C_{known}` (B, 1, H, W): Canny of the known pixels only (0 in the hole and its rim)."""
        return canny_edges(masked_image, mask, sigma=self.sigma)

    @staticmethod
    def edge_inputs(masked_image: torch.Tensor, mask: torch.Tensor, known_edges: torch.Tensor) -> torch.Tensor:
        """:math:`G_1`'s input (B, 3, H, W): greyscale with the hole white, known edges, mask."""
        grey = to_greyscale(masked_image) * (1 - mask) + mask  # (B, 1, H, W), hole = 1
        return torch.cat([grey, known_edges * (1 - mask), mask], dim=1)

    @staticmethod
    def image_inputs(masked_image: torch.Tensor, mask: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """:math:`G_2`'s input (B, 4, H, W): RGB with the hole white, the complete edge map."""
        return torch.cat([masked_image * (1 - mask) + mask, edges], dim=1)

    def forward(self, masked_image: torch.Tensor, mask: torch.Tensor, hole_edges: torch.Tensor | None = None,
                known_edges: torch.Tensor | None = None, output: str = "image"):
        if output not in ("image", "edges", "all"):
            raise ValueError(f"output must be 'image', 'edges' or 'all', got {output!r}")
        self._check(masked_image, mask)
        for name, given in (("hole_edges", hole_edges), ("known_edges", known_edges)):
            if given is not None and given.shape != mask.shape:
                raise ValueError(f"{name} must have the mask's shape {tuple(mask.shape)}, got {tuple(given.shape)}")
        predicted = None
        if not self.use_edges:
            if hole_edges is not None or output == "edges":
                raise ValueError("this model has no edge stage (use_edges=False): its edge channel is empty, "
                                 "so it takes no hole_edges and predicts no edges")
            known_edges = torch.zeros_like(mask)
            edges = known_edges  # the ablation: an empty edge channel
        else:
            if known_edges is None:
                known_edges = self.known_edges(masked_image, mask)
            if hole_edges is None:
                predicted = self.edge_generator(self.edge_inputs(masked_image, mask, known_edges))  # (B, 1, H, W)
                if output == "edges":
                    return predicted
                hole_edges = predicted
            elif output == "edges":
                raise ValueError("output='edges' asks for the edge generator's prediction; do not pass hole_edges")
            edges = hole_edges * mask + known_edges * (1 - mask)  # C = C_pred M + C_known (1 - M)
        image = self.inpaint_generator(self.image_inputs(masked_image, mask, edges))  # (B, 3, H, W)
        if output == "all":
            return {"known_edges": known_edges, "predicted_edges": predicted, "edges": edges, "image": image}
        return image


def residual_block_units(units: list) -> list:
    """The units of :func:`~inpaintlib.evaluation.architecture.trace_layers` with each
    :class:`DilatedResidualBlock` drawn as one box. Defined in Chapter 9 (EdgeConnect).

    The tracer sees a block's two convolutions; the sum :math:`x + F(x)` is not a module, so the
    block's output carries the tags of its input *and* of its second convolution, and every
    later unit appears to read all earlier blocks (eight arcs into the decoder). Here the two
    convolutions (``...middle.k.conv1``, ``...conv2``) become one unit ``...middle.k``
    ("residual 3x3 d2"), with their parameters summed and the second one's output shape, and a
    source already carried by another source's residual path is dropped, so each block reads
    the block before it. Other units are copied with their sources renumbered.
    """
    import dataclasses
    import re

    new: list = []
    index: dict[int, int] = {}  # old unit -> new unit
    carries: dict[int, set[int]] = {}  # new block -> the units its output carries through the skip
    for i, u in enumerate(units):
        match = re.fullmatch(r"(.*\.middle\.\d+)\.conv([12])", u.name)
        if match and match.group(2) == "2" and new and new[-1].name == match.group(1):
            last = new[-1]  # the block's second convolution: folded into its box
            new[-1] = dataclasses.replace(last, shape=u.shape, params=last.params + u.params)
            index[i] = len(new) - 1
            continue
        mapped = {index[s] if s >= 0 else -1 for s in u.sources}
        kept = sorted(s for s in mapped if not any(s in carries.get(t, ()) for t in mapped if t != s))
        if match:  # a block's first convolution opens the block's box
            dilation = re.search(r" d(\d+)", u.kind)
            u = dataclasses.replace(u, name=match.group(1),
                                    kind="residual 3x3" + (f" d{dilation.group(1)}" if dilation else ""))
            carries[len(new)] = set(kept).union(*(carries.get(s, set()) for s in kept))
        new.append(dataclasses.replace(u, sources=kept))
        index[i] = len(new) - 1
    return new


def evaluate_with_true_edges(model: EdgeConnect, kinds=None, n: int | None = None, batch_size: int = 20) -> dict:
    """Metrics on the fixed test set when the hole's edges are the ground truth's Canny edges.

    Defined in Chapter 9 (EdgeConnect): "what if the edges were perfect". The same numbers as
    :func:`inpaintlib.evaluation.fixed_test_set.evaluate_model` (``{kind: {"l1_%", "l2_%",
    "psnr_db", "ssim"}}``, composited by :func:`inpaintlib.inpaint`), with ``hole_edges`` set to
    the Canny edges of the true test crop; the known region's edges stay those of the known
    pixels, so the only change is the edge generator's output. Not cached.
    """
    from inpaintlib.api import inpaint
    from inpaintlib.data.photos import TEST_MASK_KINDS, load_test_masks, load_test_set
    from inpaintlib.evaluation.metrics import inpainting_metrics

    if not getattr(model, "use_edges", False):
        raise ValueError("the model has no edge stage: there are no edges to make perfect")
    images = load_test_set()
    n = min(n or len(images), len(images))
    images = images[:n]
    results = {}
    for kind in tuple(kinds or TEST_MASK_KINDS):
        masks = load_test_masks(kind)[:n]
        values: dict[str, list[float]] = {}
        for i in range(0, n, batch_size):
            x, m = images[i:i + batch_size], masks[i:i + batch_size]
            with torch.no_grad():
                out = inpaint(x, m, model, hole_edges=canny_edges(x, sigma=model.sigma))
            for k, v in inpainting_metrics(out.cpu(), x, m).items():
                values.setdefault(k, []).extend(v.tolist())
        results[kind] = {k: sum(v) / len(v) for k, v in values.items()}
    return results


# --------------------------------------------------------------------------------------------
# Training recipe
# --------------------------------------------------------------------------------------------
from inpaintlib.losses.feature_scale import RAW_INPUT_SCALE, at_input_scale  # noqa: E402
from inpaintlib.training.engine import Phase, Recipe, TrainSettings, Update  # noqa: E402
from inpaintlib.training.precision import loss_network_forward  # noqa: E402

#: VGG layers of the perceptual loss (the reference's relu1_1 ... relu5_1, VGG-19 names; the
#: book's VGG-16 has the same taps) and of the style loss (relu2_2, relu3_4, relu4_4, relu5_2:
#: VGG-19 names, read as VGG-16's relu2_2, relu3_3, relu4_3, relu5_2, see inpaintlib.losses.vgg)
PERCEPTUAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_LAYERS = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")


class EdgeConnectRecipe(Recipe):
    r"""Training of Chapter 9. Defined in Chapter 9 (EdgeConnect).

    **Edge loss** (:math:`G_1`, the paper's Eq. 1-3; weights of the reference's config):

    .. math:: \mathcal L_{G_1} = \mathcal L_{adv,1} + 10\, \mathcal L_{FM},

    :math:`\mathcal L_{adv,1}` the non-saturating GAN loss of :math:`D_1` on (greyscale, predicted
    edge map) against (greyscale, true edge map), :math:`\mathcal L_{FM}` the feature matching on
    :math:`D_1`'s five layers (:func:`~inpaintlib.losses.feature_matching.feature_matching_loss`).
    :math:`D_1` sees :math:`G_1`'s whole raw output, as the reference. No pixel loss on the edges
    (the reference has none).

    **Inpainting loss** (:math:`G_2`, Eq. 4-7; weights of the reference's config):

    .. math:: \mathcal L_{G_2} = 1\,\mathcal L_{\ell_1} + 0.1\,\mathcal L_{adv,2}
              + 0.1\,\mathcal L_{perc} + 250\,\mathcal L_{style},

    with, as the reference's ``InpaintingModel.process`` computes them, :math:`\hat I` the raw
    output (not the composite):

    * :math:`\mathcal L_{\ell_1} = \operatorname{mean}\lvert \hat I - I\rvert / \operatorname{mean}(M)`,
      the mean over the whole image divided by the hole ratio, i.e. the sum of the errors over
      every pixel divided by :math:`3 \sum M`;
    * :math:`\mathcal L_{adv,2}`: non-saturating GAN loss of :math:`D_2` on :math:`\hat I`;
    * :math:`\mathcal L_{perc}`: :func:`~inpaintlib.losses.terms.perceptual_loss` summed over
      ``PERCEPTUAL_LAYERS`` of :math:`\hat I` and :math:`I`;
    * :math:`\mathcal L_{style}`: :func:`~inpaintlib.losses.terms.style_loss` (Gram matrices
      normalised by :math:`CHW`, L1) summed over ``STYLE_LAYERS`` of :math:`\hat I \odot M` and
      :math:`I \odot M` (the reference's; the paper's Eq. 7 does not say the images are masked).

    The features are the book's VGG-16 (ImageNet start, HED fine-tune; Chapter 2), not the
    reference's VGG-19, which cannot be had offline. The reference feeds [0, 1] images to a
    torchvision VGG-19 without normalising them; the book's network reads Caffe input, the same
    image 255 times larger. **The book's deviation** (as Chapter 8's): every feature is divided by
    255 (``vgg_input_scale``, :func:`inpaintlib.losses.feature_scale.at_input_scale`), so that the weights
    0.1 and 250 meet features of about the reference's scale; without it the Gram term would be
    :math:`255^2` times heavier. The two networks' weights still differ, so the balance is not the
    reference's exactly: the chapter measures the one the book's run has. The discriminators' losses: BCE on real and fake, halved
    (``(real + fake) / 2``, the reference's).

    **Phases** (the authors' README: "trained in three stages"; issue 30: the first two are
    independent and can run at the same time, the third fine-tunes):

    * ``edge``: :math:`G_1` and :math:`D_1` (the reference's ``--model 1``);
    * ``inpaint``: :math:`G_2` and :math:`D_2` on the **true** edge map (``--model 2``);
    * ``joint``: :math:`G_2` and :math:`D_2` on :math:`G_1`'s completed edges, :math:`G_1` frozen
      (the released code's third stage, ``--model 3``). The paper's results came from training
      :math:`G_1` and :math:`G_2` end to end (the code's undocumented ``--model 4``); the authors
      found no significant gain over freezing :math:`G_1`, which is much cheaper, and released
      the frozen version (issue 35).

    **The split of the equal budget** (the book's choice): fractions of the FLOPs, ``edge`` 0.15,
    ``inpaint`` 0.45, ``joint`` 0.40. An edge step costs about a seventh of an inpainting step
    (no VGG passes; measured by the engine at 128 px, batch 8), so 15 % of the FLOPs buys
    :math:`G_1` about as many steps as :math:`G_2` gets over the two other phases together.
    :math:`G_2` gets the rest because it paints what is measured; of it, a little less than
    half goes to the joint phase, where :math:`G_2` learns to paint along :math:`G_1`'s imperfect
    edges, which is what it meets at test time.

    **Optimiser and crops: the book's deviation, measured.** The reference's config has Adam with
    betas (0, 0.9), learning rate 1e-4 for the generators and 0.1 of it for the discriminators
    (``LR``, ``BETA1``, ``BETA2``, ``D2G_LR``), and 256 px crops throughout. The book's first
    equal-budget run used them (at 128 px; 1 PFLOP, 3,377 steps, 119 min on one core) and ended
    10 dB behind the classical baselines (ff10-20: 23.19 dB against biharmonic's 33.26 dB), with
    :math:`G_2` as poor on the true edges as on none (23.14 dB). A check of :math:`G_2` alone at 5e13 FLOPs
    (20 test crops, ff10-20): the reference's settings 19.90 dB; lr 2e-4 with betas (0.5, 0.999),
    the other chapters' GAN settings, 20.63 dB; 64 px crops for the first half of the FLOPs
    20.97 dB; both 21.46 dB. The book keeps both: learning rate 2e-4 (discriminators 2e-5, the
    reference's ratio), betas (0.5, 0.999), and **64 px crops for the first half of**
    :math:`G_2` **'s FLOPs** (from 0.15 to 0.575 of the budget: the inpaint phase's first part),
    128 px elsewhere; the edge phase stays at 128 px, so :math:`G_1` learns edges at the scale
    it meets at test time. Batch 8 (``BATCH_SIZE``), 128 px (the reference's 256, scaled). The reference
    lowers its learning rate by hand (to 1e-6 at the end, issue 33); the book decays it by a
    cosine to a tenth. **What the perceptual and style terms cost** (the book keeps them, as the
    reference): their four VGG passes are 83 % of an inpainting step's FLOPs, so at a fixed
    budget they buy few steps. The same check at 5e13 FLOPs without them (L1 and adversarial
    only): 1,606 steps instead of 227, and on 20 test crops ff10-20 23.25 dB (hole L1 14.59 %)
    against 21.46 dB (19.45 %), ff30-40 19.33 dB against 17.55 dB. PSNR and L1 reward what L1
    alone optimises; what the two terms buy (texture, sharpness) is what they do not measure.
    Discriminators: :class:`~inpaintlib.nn.discriminators.SpectralPatchDiscriminator`
    at half the reference's width (the book's choice: the generators are a quarter as wide).
    Moving average of the generator with decay 0.995 (the book's choice; other chapters use
    0.999): each stage trains for only part of the run, so the average must forget a stage's
    untrained weights within that stage's own phases; with 0.995 the initial weights of
    :math:`G_2` weigh :math:`0.995^n` after its :math:`n` steps. Training masks: the library's
    free-form strokes (:func:`~inpaintlib.data.masks.free_form_mask`; the reference trains on
    the irregular masks of Liu et al. 2018, which cannot be had here). Edges: the target is
    the whole crop's Canny map; :math:`G_1`'s input edges are those of the known pixels only, as
    at test time (the reference feeds the whole image's edges, masked, at training time and the
    known pixels' edges at test time; the book trains on what the model meets at test time).
    """

    model_name = "edgeconnect"
    settings = TrainSettings(steps=1000, batch_size=8, image_size=128, lr_g=2e-4, lr_d=2e-5, betas=(0.5, 0.999),
                             resize_schedule=((0.0, 128), (0.15, 64), (0.575, 128)),
                             lr_schedule="cosine", lr_final=0.1, ema_decay=0.995, log_every=10,
                             checkpoint_minutes=5.0, eval_images=100)
    profiles = {"book": dict(steps=30)}  # the rest: the engine's profile defaults (inpaintlib.training.profiles)
    #: loss weights of the reference's config.yml.example: edge stage (adversarial 1, FM_LOSS_WEIGHT 10),
    #: inpainting stage (L1_LOSS_WEIGHT 1, INPAINT_ADV_LOSS_WEIGHT 0.1, CONTENT_LOSS_WEIGHT 0.1,
    #: STYLE_LOSS_WEIGHT 250)
    weights = {"edge_adversarial": 1.0, "feature_matching": 10.0,
               "l1": 1.0, "adversarial": 0.1, "perceptual": 0.1, "style": 250.0}
    phase_split = {"edge": 0.15, "inpaint": 0.45, "joint": 0.40}
    use_edges = True
    #: the VGG features are divided by this (255: the reference feeds [0, 1] images to its VGG, the
    #: book's VGG reads them 255 times larger), the scale the weights 0.1 and 250 were set for
    vgg_input_scale = RAW_INPUT_SCALE
    width = 16
    residual_blocks = 8
    discriminator_width = 0.5
    sigma = CANNY_SIGMA
    eval_kinds = ("center", "ff10-20", "ff20-30", "ff30-40", "ff40-50")

    EDGE_TERMS = ("edge_adversarial", "feature_matching")
    INPAINT_TERMS = ("l1", "adversarial", "perceptual", "style")

    def build_networks(self, settings):
        from inpaintlib.losses.terms import WeightedLoss
        from inpaintlib.losses.vgg import pretrained_vgg16
        from inpaintlib.nn.discriminators import SpectralPatchDiscriminator

        self.loss = WeightedLoss(self.weights)
        self.vgg = pretrained_vgg16()
        nets = {"generator": EdgeConnect(self.width, self.residual_blocks, sigma=self.sigma, use_edges=self.use_edges),
                "discriminator": SpectralPatchDiscriminator(3, self.discriminator_width)}
        if self.use_edges:
            nets["edge_discriminator"] = SpectralPatchDiscriminator(2, self.discriminator_width)
        return nets

    def phases(self, settings, nets):
        image_updates = (Update("discriminator", "discriminator_loss"), Update("generator", "generator_loss"))
        if not self.use_edges:
            return [Phase("inpaint", fraction=1.0, updates=image_updates)]
        split = self.phase_split
        return [Phase("edge", fraction=split["edge"],
                      updates=(Update("edge_discriminator", "edge_discriminator_loss"),
                               Update("generator", "generator_loss"))),
                Phase("inpaint", fraction=split["inpaint"], updates=image_updates),
                Phase("joint", fraction=split["joint"], updates=image_updates)]

    def sample_masks(self, batch, height, width, generator):
        from inpaintlib.data.masks import free_form_mask

        return free_form_mask(batch, height, width, generator=generator)

    def prepare_batch(self, images, masks):
        """The whole crop's Canny edges (the target) and the known pixels' (the input), made where
        the batch is made (a data worker when the run has them): scikit-image, on the CPU."""
        if not self.use_edges:
            return {}
        return {"edges": canny_edges(images, sigma=self.sigma), "known_edges": canny_edges(images, masks, sigma=self.sigma)}

    # -- pieces shared by the losses ----------------------------------------------------------
    def _edges(self, images, masks, edges, known_edges):
        """The batch's edge maps: the data worker's, or computed here (e.g. when FLOPs are counted)."""
        if edges is None:
            edges = canny_edges(images, sigma=self.sigma)
        if known_edges is None:
            known_edges = canny_edges(images, masks, sigma=self.sigma)
        return edges, known_edges

    def _check_phase(self, allowed):
        if self.current_phase not in allowed:
            raise ValueError(f"{type(self).__name__} has no phase {self.current_phase!r} here; "
                             f"expected one of {allowed}")

    def fill(self, nets, images, masks, edges=None, known_edges=None) -> torch.Tensor:
        """:math:`G_2`'s raw output for the current phase: on the true edges (``inpaint``), on
        :math:`G_1`'s completed edges, :math:`G_1` frozen (``joint``), on an empty edge channel
        (the ablation)."""
        g, masked = nets["generator"], images * (1 - masks)
        if not self.use_edges:
            return g(masked, masks)
        self._check_phase(("inpaint", "joint"))
        edges, known_edges = self._edges(images, masks, edges, known_edges)
        if self.current_phase == "inpaint":  # the whole true edge map, as the reference's stage 2
            return g(masked, masks, hole_edges=edges, known_edges=edges)
        with torch.no_grad():  # joint: G1 frozen (the released code's stage 3)
            predicted = g(masked, masks, known_edges=known_edges, output="edges")
        return g(masked, masks, hole_edges=predicted, known_edges=known_edges)

    def _edge_pairs(self, nets, images, masks, edges, known_edges, grad: bool):
        """(greyscale, true edges) and (greyscale, predicted edges): :math:`D_1`'s real and fake inputs."""
        edges, known_edges = self._edges(images, masks, edges, known_edges)
        with torch.set_grad_enabled(grad):
            predicted = nets["generator"](images * (1 - masks), masks, known_edges=known_edges, output="edges")
        grey = to_greyscale(images)
        return torch.cat([grey, edges], dim=1), torch.cat([grey, predicted], dim=1)

    # -- the losses ---------------------------------------------------------------------------
    def edge_discriminator_loss(self, nets, images, masks, edges=None, known_edges=None):
        """:math:`D_1`: BCE on (greyscale, true edges) as real and (greyscale, predicted edges) as fake, halved."""
        from inpaintlib.losses.terms import bce_discriminator_loss

        real, fake = self._edge_pairs(nets, images, masks, edges, known_edges, grad=False)
        d = nets["edge_discriminator"]
        loss = bce_discriminator_loss(d(real)[0], d(fake)[0]) / 2
        return loss, {"bce": loss.detach()}

    def discriminator_loss(self, nets, images, masks, edges=None, known_edges=None):
        """:math:`D_2`: BCE on the true image as real and :math:`G_2`'s raw output as fake, halved."""
        from inpaintlib.losses.terms import bce_discriminator_loss

        with torch.no_grad():
            fake = self.fill(nets, images, masks, edges, known_edges)
        d = nets["discriminator"]
        loss = bce_discriminator_loss(d(images)[0], d(fake)[0]) / 2
        return loss, {"bce": loss.detach()}

    def edge_generator_loss(self, nets, images, masks, edges=None, known_edges=None):
        r""":math:`\mathcal L_{G_1}`: ``(total, {term: value})``, the inpainting terms logged as NaN."""
        from inpaintlib.losses.feature_matching import feature_matching_loss
        from inpaintlib.losses.terms import bce_generator_loss

        real, fake = self._edge_pairs(nets, images, masks, edges, known_edges, grad=True)
        d = nets["edge_discriminator"]
        fake_logits, fake_features = d(fake)
        with torch.no_grad():
            _, real_features = d(real)
        total, parts = self.loss(edge_adversarial=bce_generator_loss(fake_logits),
                                 feature_matching=feature_matching_loss(fake_features, real_features),
                                 **{k: 0.0 for k in self.INPAINT_TERMS})
        return total, {**parts, **{k: float("nan") for k in self.INPAINT_TERMS}}

    def features(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        """VGG features divided by ``vgg_input_scale`` (the book's deviation, see the class docstring)."""
        features = loss_network_forward(self.vgg, images, layers, precision=self.precision)  # bf16 if training is
        return at_input_scale(features, self.vgg_input_scale)

    def inpaint_generator_loss(self, nets, images, masks, edges=None, known_edges=None):
        r""":math:`\mathcal L_{G_2}`: ``(total, {term: value})``, the edge terms logged as NaN."""
        from inpaintlib.losses.terms import bce_generator_loss, perceptual_loss, style_loss

        out = self.fill(nets, images, masks, edges, known_edges)  # (B, 3, H, W), raw
        l1 = (out - images).abs().sum() / (3 * masks.sum()).clamp_min(1)  # mean |out - x| / mean(M)
        adv = bce_generator_loss(nets["discriminator"](out)[0])
        with torch.no_grad():
            real_p = self.features(images, PERCEPTUAL_LAYERS)
            real_s = self.features(images * masks, STYLE_LAYERS)
        perceptual = perceptual_loss(self.features(out, PERCEPTUAL_LAYERS), real_p, reduction="sum")
        style = style_loss(self.features(out * masks, STYLE_LAYERS), real_s, reduction="sum")
        total, parts = self.loss(l1=l1, adversarial=adv, perceptual=perceptual, style=style,
                                 **{k: 0.0 for k in self.EDGE_TERMS})
        return total, {**parts, **{k: float("nan") for k in self.EDGE_TERMS}}

    def generator_loss(self, nets, images, masks, edges=None, known_edges=None):
        """The generator's loss in the current phase: the edge loss in ``edge``, else the inpainting loss."""
        if self.use_edges:
            self._check_phase(("edge", "inpaint", "joint"))
        if self.current_phase == "edge":
            return self.edge_generator_loss(nets, images, masks, edges, known_edges)
        return self.inpaint_generator_loss(nets, images, masks, edges, known_edges)


class EdgeConnectNoEdges(EdgeConnectRecipe):
    """Ablation of Chapter 9: the inpainting generator alone, its edge channel all zeros.

    Defined in Chapter 9 (EdgeConnect). The same :math:`G_2`, :math:`D_2`, losses, masks and
    settings; no edge generator, so one phase, ``inpaint``, takes the whole equal budget, and its
    first half is at 64 px (as the first half of :math:`G_2`'s FLOPs in the full recipe).
    """

    model_name = "edgeconnect_no_edges"
    settings = replace(EdgeConnectRecipe.settings, resize_schedule=((0.0, 64), (0.5, 128)))
    use_edges = False
