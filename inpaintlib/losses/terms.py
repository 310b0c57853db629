r"""Loss functions shared by several papers, each a separate named piece.

Each function's docstring says which chapter defines it. Conventions (Chapter 0): images are
(B, 3, H, W) in [0, 1]; masks are (B, 1, H, W) with **1 = hole**. Every loss returns a scalar
tensor (a mean), so the weights quoted by the papers can be applied with ``WeightedLoss``.

Overview:

* reconstruction: ``masked_l1``, ``masked_l2``, ``valid_l1`` (Chapter 1; the size-averaged
  variant of Partial Convolutions in Chapter 8);
* adversarial: BCE / non-saturating GAN (Chapter 1), WGAN with gradient penalty (Chapter 6),
  hinge (Chapter 10);
* feature losses on a frozen network (``inpaintlib.losses.vgg``): ``perceptual_loss``,
  ``gram_matrix``, ``style_loss`` (Chapter 8), ``total_variation_loss`` (Chapter 2, masked in
  Chapter 8);
* ``WeightedLoss``: the named, weighted sum that every training loop logs (Chapter 1).
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F

__all__ = [
    "masked_l1",
    "masked_l2",
    "valid_l1",
    "bce_discriminator_loss",
    "bce_generator_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
    "gradient_penalty",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "perceptual_loss",
    "gram_matrix",
    "style_loss",
    "total_variation_loss",
    "WeightedLoss",
]

_EPS = 1e-8


# --------------------------------------------------------------------------------------------
# Reconstruction
# --------------------------------------------------------------------------------------------
def _masked_mean(error: torch.Tensor, mask: torch.Tensor, normalize: str, region: str) -> torch.Tensor:
    r"""$\sum_i w_i e_i$ divided by $C \sum_p w_p$ ("mask") or by the number of elements ("all")."""
    if region == "hole":
        weight = mask
    elif region == "valid":
        weight = 1.0 - mask
    else:
        raise ValueError(f"region must be 'hole' or 'valid', got {region!r}")
    if mask.ndim != error.ndim or mask.shape[0] != error.shape[0] or mask.shape[-2:] != error.shape[-2:]:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not fit images of shape {tuple(error.shape)}; "
            "expected (B, 1, H, W) (or (B, C, H, W))"
        )
    if mask.shape[1] not in (1, error.shape[1]):
        raise ValueError(f"mask must have 1 or {error.shape[1]} channels, got {mask.shape[1]}")
    weight = weight.to(error.dtype)
    total = (error * weight).sum()
    if normalize == "mask":
        # Number of (pixel, channel) pairs in the region: a 1-channel mask counts C times.
        count = weight.sum() * (error.shape[1] // weight.shape[1])
        return total / count.clamp_min(_EPS)
    if normalize == "all":
        return total / error.numel()
    raise ValueError(f"normalize must be 'mask' or 'all', got {normalize!r}")


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")


def masked_l1(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    normalize: str = "mask",
    region: str = "hole",
) -> torch.Tensor:
    r"""Mean absolute error over the hole (or the known region).

    Defined in Chapter 1 (Context Encoder); ``normalize="all"`` in Chapter 8 (Partial Conv).

    With $M$ the hole mask (1 = hole) broadcast over the $C$ channels and $e = |\hat y - y|$,

    $$\mathcal{L}_{\text{hole}} = \frac{\sum_{b,c,i,j} M_{b,i,j}\, e_{b,c,i,j}}
                                     {C \sum_{b,i,j} M_{b,i,j}} \quad (\texttt{normalize="mask"}),$$

    the mean error *per hole pixel and channel*: its size does not depend on how big the hole is,
    and errors on known pixels are ignored completely. Partial Convolutions instead divide by the
    number of all elements $N = B\,C\,H\,W$ (``normalize="all"``, "size-averaged" in the
    paper's errata), which makes the term proportional to the hole ratio.
    ``region="valid"`` uses $1 - M$ (the known pixels) instead of $M$. ``mask`` may be a soft
    weight map (e.g. DeepFill's spatially discounted weights, Chapter 6); the denominator then is
    its sum. An empty region gives 0.
    """
    _check_pair(pred, target)
    return _masked_mean((pred - target).abs(), mask, normalize, region)


def masked_l2(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    normalize: str = "mask",
    region: str = "hole",
) -> torch.Tensor:
    r"""Mean squared error over the hole (or the known region).

    Defined in Chapter 1 (Context Encoder), whose reconstruction loss is
    $\| M \odot (y - \hat y) \|_2^2$, here normalised like ``masked_l1``:

    $$\mathcal{L} = \frac{\sum M\,(\hat y - y)^2}{C \sum M}.$$

    Same ``normalize`` and ``region`` options as ``masked_l1``.
    """
    _check_pair(pred, target)
    return _masked_mean((pred - target).square(), mask, normalize, region)


def valid_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, normalize: str = "mask") -> torch.Tensor:
    """L1 over the known pixels: ``masked_l1(pred, target, mask, normalize, region="valid")``.

    Defined in Chapter 1 (Context Encoder); Partial Convolutions (Chapter 8) pair it with the
    hole term: ``valid_l1(..., normalize="all") + 6 * masked_l1(..., normalize="all")``.
    """
    return masked_l1(pred, target, mask, normalize=normalize, region="valid")


# --------------------------------------------------------------------------------------------
# Adversarial losses
# --------------------------------------------------------------------------------------------
def bce_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The original GAN discriminator loss, on logits.

    Defined in Chapter 1 (Context Encoder). The discriminator $D$ outputs a logit $\ell$ and
    $D = \sigma(\ell)$; it maximises $\log D(y) + \log(1 - D(\hat y))$, i.e. minimises

    $$\mathcal{L}_D = \underbrace{\operatorname{mean}\,\mathrm{softplus}(-\ell_{\text{real}})}_{-\log\sigma(\ell)}
                    + \underbrace{\operatorname{mean}\,\mathrm{softplus}(\ell_{\text{fake}})}_{-\log(1-\sigma(\ell))},$$

    the binary cross-entropy with target 1 for real and 0 for fake. Working on logits
    (``binary_cross_entropy_with_logits``) is numerically stable where $\sigma$ saturates. The
    means run over all elements, so a PatchGAN's score map works too. The two halves are added
    (DCGAN, Context Encoder); pix2pix-style code halves the sum.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def bce_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The non-saturating generator loss $-\log D(\hat y) = \mathrm{softplus}(-\ell_{\text{fake}})$.

    Defined in Chapter 1 (Context Encoder). Minimising $\log(1 - D(\hat y))$ (the minimax form)
    gives vanishing gradients when the discriminator is confident; Goodfellow et al. suggest
    maximising $\log D(\hat y)$ instead: BCE with target 1 on the fake logits.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""WGAN critic loss $\mathbb{E}[f(\hat y)] - \mathbb{E}[f(y)]$.

    Defined in Chapter 6 (DeepFill v1). The critic $f$ (no sigmoid) estimates the Wasserstein-1
    distance $\sup_{\|f\|_L \le 1} \mathbb{E}[f(y)] - \mathbb{E}[f(\hat y)]$; minimising the
    negative maximises the estimate. The Lipschitz constraint comes from ``gradient_penalty``.
    """
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    r"""WGAN generator loss $-\mathbb{E}[f(\hat y)]$. Defined in Chapter 6 (DeepFill v1)."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    mask: torch.Tensor | None = None,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""WGAN-GP gradient penalty (Gulrajani et al. 2017), optionally restricted to the hole.

    Defined in Chapter 6 (DeepFill v1). A 1-Lipschitz critic has gradient norm at most 1; the
    optimal critic has norm exactly 1 on lines between real and generated samples. So sample
    $\tilde x = \alpha y + (1 - \alpha)\hat y$ with $\alpha \sim U(0, 1)$ drawn once per sample,
    and penalise

    $$\mathcal{L}_{GP} = \mathbb{E}_{\tilde x}\big[(\|\nabla_{\tilde x} f(\tilde x)\|_2 - 1)^2\big].$$

    DeepFill v1 only asks for the constraint on the missing region: with ``mask`` (1 = hole) the
    gradient is multiplied by the mask before its norm is taken,
    $\|M \odot \nabla f\|_2$. The caller multiplies by $\lambda$ (10 in the papers).

    ``critic`` is any callable from the interpolated batch to scores; a critic that needs more
    arguments is wrapped, e.g. ``lambda x: D(x, mask)``. ``alpha`` (shape (B,) or broadcastable
    to ``real``) overrides the random draw, for tests. The result is differentiable with
    respect to the critic's parameters (``create_graph=True``); ``real`` and ``fake`` are
    detached.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    batch = real.shape[0]
    view = (batch,) + (1,) * (real.ndim - 1)
    if alpha is None:
        alpha = torch.rand(view, device=real.device, dtype=real.dtype)
    else:
        alpha = torch.as_tensor(alpha, device=real.device, dtype=real.dtype)
        if alpha.ndim == 1:
            alpha = alpha.reshape(view)
    mixed = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        scores = critic(mixed)
        (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    if mask is not None:
        grad = grad * mask.to(grad.dtype)
    # sqrt(sum + eps): the norm's gradient stays finite when the gradient is exactly 0.
    norm = (grad.flatten(1).square().sum(dim=1) + 1e-12).sqrt()
    return (norm - 1.0).square().mean()


def hinge_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""Hinge discriminator loss $\mathbb{E}[\max(0, 1 - D(y))] + \mathbb{E}[\max(0, 1 + D(\hat y))]$.

    Defined in Chapter 10 (DeepFill v2, SN-PatchGAN). Real scores above 1 and fake scores below
    -1 cost nothing, so the discriminator stops pushing samples it already separates by a margin.
    Means run over every element of the score maps.
    """
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    r"""Hinge generator loss $-\mathbb{E}[D(\hat y)]$. Defined in Chapter 10 (DeepFill v2)."""
    return -fake_scores.mean()


# --------------------------------------------------------------------------------------------
# Feature losses
# --------------------------------------------------------------------------------------------
def _layer_names(
    features_a: Mapping[str, torch.Tensor],
    features_b: Mapping[str, torch.Tensor],
    layers: Iterable[str] | None,
) -> list[str]:
    names = list(features_a) if layers is None else list(layers)
    if not names:
        raise ValueError("no layers to compare")
    for name in names:
        if name not in features_a or name not in features_b:
            raise ValueError(
                f"layer {name!r} missing: first has {list(features_a)}, second has {list(features_b)}"
            )
        if features_a[name].shape != features_b[name].shape:
            raise ValueError(
                f"layer {name!r}: shapes {tuple(features_a[name].shape)} and "
                f"{tuple(features_b[name].shape)} differ"
            )
    return names


def _reduce(values: list[torch.Tensor], reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return torch.stack(values).mean()
    if reduction == "sum":
        return torch.stack(values).sum()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def perceptual_loss(
    features_a: Mapping[str, torch.Tensor],
    features_b: Mapping[str, torch.Tensor],
    layers: Iterable[str] | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""L1 distance between two dicts of features, averaged (or summed) over layers.

    Defined in Chapter 8 (Partial Convolutions). With $\Psi_p$ the features at layer $p$
    (e.g. from ``inpaintlib.losses.vgg.VGG16Features``),

    $$\mathcal{L}_{\text{perc}} = \frac{1}{P}\sum_{p=1}^{P}
        \frac{\|\Psi_p(a) - \Psi_p(b)\|_1}{N_{\Psi_p}},$$

    where $N_{\Psi_p}$ is the number of elements of the layer. Each layer is size-averaged, so
    deep (small) and shallow (large) layers count alike. ``reduction="sum"`` drops the $1/P$, as
    in the Partial Convolutions paper. ``layers=None`` uses every key of ``features_a``.
    """
    names = _layer_names(features_a, features_b, layers)
    return _reduce([F.l1_loss(features_a[n], features_b[n]) for n in names], reduction)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    r"""Normalised Gram matrix $G = \frac{1}{C H W} \Psi \Psi^\top$ of features (B, C, H, W) -> (B, C, C).

    Defined in Chapter 8 (Partial Convolutions). Flatten each channel to a row of $\Psi \in
    \mathbb{R}^{C \times HW}$; $G_{c,d} = \frac{1}{CHW}\sum_{i} \Psi_{c,i}\Psi_{d,i}$ is the
    (uncentred) correlation of channels $c$ and $d$ over positions: it keeps *which features
    occur together* (texture, style) and throws away *where* (Gatys et al. 2016).

    Why divide by $C H W$ (the paper's $K_p$): the raw sum grows with the number of positions
    $HW$, so without $1/(HW)$ the loss would change with the image size and be dominated by the
    large early layers; the extra $1/C$ keeps the values of wide (512-channel) and narrow
    (64-channel) layers on a similar scale, so one style weight (120 in Partial Conv) works for
    all layers. Half-precision input is computed in float32 (the sums overflow easily).
    """
    if features.ndim != 4:
        raise ValueError(f"gram_matrix expects (B, C, H, W) features, got shape {tuple(features.shape)}")
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def style_loss(
    features_a: Mapping[str, torch.Tensor],
    features_b: Mapping[str, torch.Tensor],
    layers: Iterable[str] | None = None,
    reduction: str = "mean",
    distance: str = "l1",
) -> torch.Tensor:
    r"""Distance between the Gram matrices of two feature dicts, averaged (or summed) over layers.

    Defined in Chapter 8 (Partial Convolutions):

    $$\mathcal{L}_{\text{style}} = \frac{1}{P}\sum_p \frac{1}{C_p^2}
        \big\| G_p(a) - G_p(b) \big\|_1,$$

    with $G_p$ from ``gram_matrix`` (Partial Convolutions and EdgeConnect use L1, as here;
    ``distance="l2"`` gives the squared error of Gatys et al.). ``reduction="sum"`` sums the
    layers like the paper.
    """
    names = _layer_names(features_a, features_b, layers)
    if distance == "l1":
        dist = F.l1_loss
    elif distance == "l2":
        dist = F.mse_loss
    else:
        raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}")
    values = [dist(gram_matrix(features_a[n]), gram_matrix(features_b[n])) for n in names]
    return _reduce(values, reduction)


def total_variation_loss(image: torch.Tensor, mask: torch.Tensor | None = None, power: int = 1) -> torch.Tensor:
    r"""Total variation: absolute (or, ``power=2``, squared) differences between neighbours.

    Defined in Chapter 2 (MSNPS, the smoothness term); the masked form in Chapter 8 (Partial
    Convolutions). With $N = C H W$ and $P$ a set of pixels,

    $$\mathcal{L}_{tv} = \frac{1}{N}\Big(\sum_{(i,j),(i,j+1) \in P} |x_{i,j+1} - x_{i,j}|
                                       + \sum_{(i,j),(i+1,j) \in P} |x_{i+1,j} - x_{i,j}|\Big),$$

    summed over channels and averaged over the batch. Without ``mask``, $P$ is the whole image
    (so the loss is about the sum of the mean horizontal and the mean vertical difference).
    With ``mask`` (1 = hole), $P$ is the hole dilated by one pixel (a 3x3 max filter), so the
    seam between filled and known pixels is smoothed too but known texture is left alone, and a
    pair counts only if both pixels are in $P$. The normaliser stays $N$ (the whole image), as in
    Partial Convolutions. ``power=2`` squares the differences instead, the smoothness term
    $\Upsilon(x) = \sum_{i,j} (x_{i,j+1} - x_{i,j})^2 + (x_{i+1,j} - x_{i,j})^2$ of Yang et al.
    (2017), with the same normaliser.
    """
    if power not in (1, 2):
        raise ValueError(f"power must be 1 (absolute differences) or 2 (squared), got {power!r}")
    if image.ndim != 4:
        raise ValueError(f"total_variation_loss expects (B, C, H, W), got shape {tuple(image.shape)}")
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().pow(power)
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().pow(power)
    if mask is not None:
        if mask.ndim != 4 or mask.shape[-2:] != image.shape[-2:] or mask.shape[0] != image.shape[0]:
            raise ValueError(f"mask {tuple(mask.shape)} does not fit image {tuple(image.shape)}")
        region = F.max_pool2d(mask.to(image.dtype), kernel_size=3, stride=1, padding=1)
        dx = dx * (region[..., :, 1:] * region[..., :, :-1])
        dy = dy * (region[..., 1:, :] * region[..., :-1, :])
    return (dx.sum() + dy.sum()) / image.numel()


# --------------------------------------------------------------------------------------------
# Weighted sums of named terms
# --------------------------------------------------------------------------------------------
class WeightedLoss:
    r"""A weighted sum of named loss terms that also reports each term, for logging.

    Defined in Chapter 1 (Context Encoder). Every paper's objective is a sum
    $\mathcal{L} = \sum_k \lambda_k \mathcal{L}_k$ (Context Encoder: $0.999\,\mathcal{L}_{rec} +
    0.001\,\mathcal{L}_{adv}$). Naming the terms, as MMagic and LaMa configs do, keeps the weights
    next to their meaning and lets ablations change one weight::

        loss = WeightedLoss(reconstruction=0.999, adversarial=0.001)
        total, parts = loss(reconstruction=l2, adversarial=adv)
        total.backward()
        parts  # {'reconstruction': 0.0123, 'adversarial': 0.69, 'total': 0.0130}
        no_gan = loss.with_weights(adversarial=0.0)

    ``parts`` holds plain floats: each term's *unweighted* value (detached) and ``"total"``.
    Every declared term must be passed, and no other (a typo is an error, not a silent 0).
    A term with weight 0 is still logged but not added to ``total`` (so it adds no gradient and
    a NaN in it cannot spread); computing it or not is the caller's decision. Reading the floats
    synchronises with the GPU once per call.
    """

    def __init__(self, weights: Mapping[str, float] | None = None, **named_weights: float):
        merged = dict(weights or {})
        overlap = set(merged) & set(named_weights)
        if overlap:
            raise ValueError(f"weights given twice: {sorted(overlap)}")
        merged.update(named_weights)
        if not merged:
            raise ValueError("WeightedLoss needs at least one named term, e.g. WeightedLoss(l1=1.0)")
        for name, weight in merged.items():
            if name == "total":
                raise ValueError("'total' is reserved for the sum; choose another term name")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise ValueError(f"weight of {name!r} must be a finite number, got {weight!r}")
        self._weights = {name: float(w) for name, w in merged.items()}

    @property
    def weights(self) -> dict[str, float]:
        """A copy of the weights, name -> float (changing it does not change the loss)."""
        return dict(self._weights)

    @property
    def names(self) -> tuple[str, ...]:
        """The term names, in declaration order."""
        return tuple(self._weights)

    def with_weights(self, **overrides: float) -> "WeightedLoss":
        """A new ``WeightedLoss`` with some weights replaced (for ablations); self is unchanged."""
        unknown = set(overrides) - set(self._weights)
        if unknown:
            raise ValueError(f"unknown term(s) {sorted(unknown)}; known: {list(self._weights)}")
        return WeightedLoss({**self._weights, **overrides})

    def __call__(self, **terms: torch.Tensor | float) -> tuple[torch.Tensor, dict[str, float]]:
        missing = [n for n in self._weights if n not in terms]
        unknown = [n for n in terms if n not in self._weights]
        if missing or unknown:
            raise ValueError(
                f"WeightedLoss terms do not match: missing {missing}, unknown {unknown}; "
                f"expected exactly {list(self._weights)}"
            )
        total: torch.Tensor | None = None
        parts: dict[str, float] = {}
        reference = next((t for t in terms.values() if isinstance(t, torch.Tensor)), None)
        for name, weight in self._weights.items():
            term = terms[name]
            if isinstance(term, torch.Tensor):
                if term.numel() != 1:
                    raise ValueError(f"term {name!r} must be a scalar, got shape {tuple(term.shape)}")
                term = term.reshape(())
                parts[name] = float(term.detach())
            else:
                parts[name] = float(term)
                term = torch.as_tensor(float(term)) if reference is None else reference.new_tensor(float(term))
            if weight != 0.0:
                total = weight * term if total is None else total + weight * term
        if total is None:  # every weight is 0
            total = torch.zeros(()) if reference is None else reference.new_zeros(())
        parts["total"] = float(total.detach())
        return total, parts

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={w:g}" for n, w in self._weights.items())
        return f"WeightedLoss({inner})"
