r"""The book's first trained model: a small network that corrects a classical fill.

Defined in Chapter 0 (Foundations), section "What a small budget can learn".

Diffusion methods (Telea, Navier-Stokes, biharmonic) already do what a network trained from
scratch spends most of its budget learning: carry the colours at the border of the hole inwards,
smoothly. What they cannot do is *decide*: continue an edge rather than blur it, keep a texture's
contrast, stop a sky's colour at a roof line. So instead of asking a network for the whole hole,
we ask it for the **difference** between the classical fill and the truth:

.. math:: \hat y = b(x, M) + M \odot r_\theta\big(b(x, M), M\big),

with :math:`b` the classical fill (known pixels included), :math:`M` the hole and :math:`r_\theta`
a small convolutional network whose last layer starts at zero, so that training starts *exactly*
at the classical method and can only move away from it where the data say so (the residual
learning of He et al. 2016, applied to a fill instead of a layer). Trained with the L1 error over
the hole, at the ``cpu`` budget, through the same engine as every paper's model.

The network: a U-Net-like encoder-decoder in three resolutions (full, 1/2, 1/4); at 1/4 a stack
of 3x3 convolutions with dilations 2, 4, 8, 16 (Chapter 3's tool) gives each hole pixel a
receptive field of 205 px, wider than the 128 px test crops; skip connections carry full- and
half-resolution detail past the bottleneck. ELU activations, no normalisation (small batches).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.models.base import InpaintingModel

#: classical methods the refiner can start from (names of :data:`inpaintlib.evaluation.baselines.BASELINES`)
BASES = ("telea", "navier_stokes", "biharmonic")


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, padding=dilation * (k - 1) // 2, dilation=dilation),
                         nn.ELU(inplace=True))


class ResidualFillNet(nn.Module):
    """The residual :math:`r_\\theta`: (B,C,H,W) fill(s) + mask -> (B,3,H,W) correction. Chapter 0."""

    def __init__(self, width: int = 32, dilations=(2, 4, 8, 16), in_channels: int = 4):
        super().__init__()
        w = int(width)
        self.at_full = _conv(in_channels, w, 5)                                          # (B, w, H, W)
        self.at_half = nn.Sequential(_conv(w, 2 * w, 3, 2), _conv(2 * w, 2 * w))  # (B, 2w, H/2, W/2)
        self.at_quarter = nn.Sequential(_conv(2 * w, 4 * w, 3, 2),              # (B, 4w, H/4, W/4)
                                     *[_conv(4 * w, 4 * w, dilation=d) for d in dilations],
                                     _conv(4 * w, 4 * w))
        self.up_half = _conv(4 * w, 2 * w)
        self.fuse_half = _conv(4 * w, 2 * w)
        self.up_full = _conv(2 * w, w)
        self.fuse_full = _conv(2 * w, w)
        self.out = nn.Conv2d(w, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # start exactly at the classical fill
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.at_full(x)
        f2 = self.at_half(f1)
        f4 = self.at_quarter(f2)
        u2 = self.up_half(F.interpolate(f4, scale_factor=2.0, mode="nearest"))
        u2 = self.fuse_half(torch.cat([u2, f2], dim=1))
        u1 = self.up_full(F.interpolate(u2, scale_factor=2.0, mode="nearest"))
        u1 = self.fuse_full(torch.cat([u1, f1], dim=1))
        return self.out(u1)


class FillRefiner(InpaintingModel):
    """A classical fill plus a learned correction inside the hole. Defined in Chapter 0 (Foundations).

    ``base``: which classical method fills first (one of :data:`BASES`); ``guides``: other
    classical fills given to the network as extra input channels (not added to the output), so
    that it can lean towards whichever method suits a region; ``width``: channels at full
    resolution (x2 at 1/2, x4 at 1/4). Any image size divisible by 4.
    """

    name = "fill_refiner"
    display_name = "Fill refiner (learned)"
    size_multiple = 4
    min_size = 16

    def __init__(self, base: str = "telea", width: int = 32, dilations=(2, 4, 8, 16), guides=()):
        super().__init__()
        from inpaintlib.evaluation.baselines import BASELINES

        for name in (base, *guides):
            if name not in BASES:
                raise ValueError(f"base must be one of {BASES}, got {name!r}")
        self.base, self.width, self.dilations = base, int(width), tuple(int(d) for d in dilations)
        self.guides = tuple(guides)
        self.classical = BASELINES[base]()
        self.guide_methods = [BASELINES[g]() for g in self.guides]  # parameter-free: a plain list
        self.residual = ResidualFillNet(self.width, self.dilations, in_channels=4 + 3 * len(self.guides))
        short = {"telea": "Telea", "navier_stokes": "Navier-Stokes", "biharmonic": "biharmonic"}
        guided = "".join(f", {short[g]}-guided" for g in self.guides)
        self.display_name = f"Fill refiner ({short[base]} + learned{guided})"

    def config(self):
        return {"base": self.base, "width": self.width, "dilations": list(self.dilations), "guides": list(self.guides)}

    def classical_fill(self, masked_image: torch.Tensor, mask: torch.Tensor, method=None) -> torch.Tensor:
        """:math:`b(x, M)`: the classical method's fill, computed without gradients (on the CPU)."""
        method = self.classical if method is None else method
        with torch.no_grad():
            filled = method(masked_image.float().cpu(), mask.float().cpu())
        return filled.to(masked_image.device, masked_image.dtype)

    def classical_fills(self, masked_image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The base fill and the guide fills, stacked: (B, 3 * (1 + guides), H, W)."""
        return torch.cat([self.classical_fill(masked_image, mask),
                          *[self.classical_fill(masked_image, mask, g) for g in self.guide_methods]], dim=1)

    def forward(self, masked_image: torch.Tensor, mask: torch.Tensor, fills: torch.Tensor | None = None):
        """Classical fill + mask x residual of (fill, guide fills, mask). ``fills``: the
        :meth:`classical_fills` computed beforehand (in training, by a data worker)."""
        if fills is None:
            fills = self.classical_fills(masked_image, mask)
        fills = fills.to(masked_image.dtype)
        b = fills[:, :3]
        return b + mask * self.residual(torch.cat([fills, mask], dim=1))


# --------------------------------------------------------------------------------------------
# Training recipe
# --------------------------------------------------------------------------------------------
from inpaintlib.training.engine import Recipe, TrainSettings  # noqa: E402


class FillRefinerRecipe(Recipe):
    r"""L1 over the hole, free-form and rectangular holes, progressive resizing. Chapter 0.

    Masks: half of the images get DeepFill v2 free-form holes with a hole ratio drawn uniformly
    in 10-50 % (the test buckets), a quarter a square of half the side near the centre, a quarter
    one to three random rectangles, so that training covers every kind of test hole. Crops of
    64 px for the first 75 % of the budget, then 128 px (holes scale with the crop). Adam at
    5e-4 with a cosine decay to 5e-5, and an exponential moving average (0.999) of the weights.
    """

    model_name = "fill_refiner"
    settings = TrainSettings(steps=2000, batch_size=16, image_size=128, resize_schedule=((0.0, 64), (0.75, 128)),
                             lr_g=5e-4, betas=(0.9, 0.999), lr_schedule="cosine", lr_final=0.1, ema_decay=0.999,
                             log_every=20, checkpoint_minutes=5.0, eval_images=100)
    profiles = {"book": dict(steps=150, log_every=5)}  # the rest: the engine's defaults (inpaintlib.training.profiles)
    base = "biharmonic"  # chosen by measurement in Chapter 0: the best start, for ~25 % fewer steps
    guides: tuple[str, ...] = ()
    width = 32
    dilations = (2, 4, 8, 16)

    def build_networks(self, settings):
        from inpaintlib.losses.terms import WeightedLoss

        self.loss = WeightedLoss(l1=1.0)
        return {"generator": FillRefiner(self.base, self.width, self.dilations, self.guides)}

    def sample_masks(self, batch, height, width, generator):
        return training_masks(batch, height, width, generator)

    def prepare_batch(self, images, masks):
        """The classical fills of the batch, computed where the batch is made (a data worker when
        the run has them): scikit-image on the CPU, the costliest part of a step on a GPU."""
        if getattr(self, "_fills", None) is None:  # a tiny refiner: only its classical part is used
            self._fills = FillRefiner(self.base, 1, self.dilations, self.guides)
        return {"fills": self._fills.classical_fills(images * (1 - masks), masks)}

    def generator_loss(self, nets, images, masks, fills=None):
        from inpaintlib.losses.terms import masked_l1

        pred = nets["generator"](images * (1 - masks), masks, fills=fills)
        return self.loss(l1=masked_l1(pred, images, masks))


def training_masks(batch: int, height: int, width: int, generator) -> torch.Tensor:
    """The fill refiner's training holes (see :class:`FillRefinerRecipe`), (B,1,H,W), 1 = hole."""
    from inpaintlib.data.masks import _numpy_rng, free_form_mask_in_bucket, random_rectangles_mask

    rng = _numpy_rng(generator)
    out = []
    for _ in range(batch):
        u = rng.random()
        if u < 0.5:
            low = float(rng.uniform(0.1, 0.4))
            out.append(free_form_mask_in_bucket(height, width, low, low + 0.1, generator=rng))
        elif u < 0.75:
            h, w = height // 2, width // 2
            jitter_y, jitter_x = (int(rng.integers(-(height // 16), height // 16 + 1)),
                                  int(rng.integers(-(width // 16), width // 16 + 1)))
            m = torch.zeros(1, 1, height, width)
            top, left = (height - h) // 2 + jitter_y, (width - w) // 2 + jitter_x
            m[..., top:top + h, left:left + w] = 1
            out.append(m)
        else:
            out.append(random_rectangles_mask(1, height, width, num=(1, 3), min_size=(height // 8, width // 8),
                                              max_size=(height // 2, width // 2), generator=rng))
    return torch.cat(out).float()


def compare_starting_fills(images: torch.Tensor, masks: torch.Tensor, sizes=(64, 128)) -> dict:
    """Each classical fill of :data:`BASES` on ``images`` with ``masks``, at each training crop size:
    ``{(base, size): {"psnr_db", "l1_%", "ms_per_fill"}}`` (means over the crops, composited first).

    Defined in Chapter 0 (Foundations), to choose the refiner's start by measurement on
    *validation* crops: the cheapest fill leaves more of the budget to training steps, the best
    one gives a head start (:func:`best_starting_fill`).
    """
    import time

    from inpaintlib.evaluation.baselines import BASELINES
    from inpaintlib.evaluation.compositing import composite
    from inpaintlib.evaluation.metrics import inpainting_metrics

    scores = {}
    for base in BASES:
        model = BASELINES[base]()
        for size in sizes:
            xs = F.interpolate(images, size=size, mode="area")
            ms = F.interpolate(masks, size=size, mode="nearest")
            start = time.perf_counter()
            out = model(xs * (1 - ms), ms)
            ms_per_fill = 1000 * (time.perf_counter() - start) / len(images)
            q = inpainting_metrics(composite(out, xs, ms), xs, ms)
            scores[base, size] = {"psnr_db": q["psnr_db"].mean().item(), "l1_%": q["l1_%"].mean().item(),
                                  "ms_per_fill": ms_per_fill}
    return scores


def best_starting_fill(scores: dict) -> str:
    """The base of :func:`compare_starting_fills` with the highest PSNR summed over the sizes. Chapter 0."""
    return max(BASES, key=lambda b: sum(v["psnr_db"] for (base, _), v in scores.items() if base == b))


class FillRefinerGuided(FillRefinerRecipe):
    """Variant of Chapter 0: the network also sees the Navier-Stokes fill (lower hole L1 than
    biharmonic on some hole sizes), to lean towards it where it is closer. Defined in Chapter 0."""

    model_name = "fill_refiner_guided"
    guides = ("navier_stokes",)
