r"""The implicit diversified MRF (ID-MRF) loss of GMCNN (Wang et al., NeurIPS 2018): Chapter 7.

Defined in Chapter 7 (GMCNN), which builds it step by step before this batched version.

Chapter 2's nearest-neighbour texture loss asks every generated feature patch to be close to
*some* real patch, so a fill made of one good patch repeated everywhere scores well. ID-MRF
turns the question round: every *real* patch should be the clear nearest neighbour of *some*
generated patch, so the fill must be as diverse as the real region. For generated features
:math:`v \in Y` and target (real) features :math:`s \in T`, as the reference code computes it:

.. math::

    d(v, s) = \frac{1 - \cos(v, s)}{2}, \qquad
    \tilde d(v, s) = \frac{d(v, s)}{\min_{r \in T} d(v, r) + \epsilon}, \qquad
    w(v, s) = \exp\Big(\frac{1 - \tilde d(v, s)}{h}\Big),

.. math::

    \mathrm{RS}(v, s) = \frac{w(v, s)}{\sum_{r \in T} w(v, r)}, \qquad
    \mathcal L_M = -\log \frac{1}{|T|} \sum_{s \in T} \max_{v \in Y} \mathrm{RS}(v, s),

with :math:`h = 0.5` and :math:`\epsilon = 10^{-5}`. The relative distance :math:`\tilde d` is 1
for :math:`v`'s nearest real patch and larger for the others, so :math:`\mathrm{RS}(v, s)` is
large only when :math:`s` is clearly :math:`v`'s nearest neighbour. A real patch that no
generated patch singles out contributes little to the sum, and the loss is high.

Patches are 1x1 (single feature vectors), as the reference's; features are centred on the
target's mean per channel (the TensorFlow code's; the PyTorch port centres on each position's
mean over channels) and L2-normalised. The reference sums the loss over the batch; the book
takes the mean.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["relative_similarity", "id_mrf_loss", "IDMRFLoss"]


def _check_features(gen: torch.Tensor, target: torch.Tensor) -> None:
    for name, t in (("generated", gen), ("target", target)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4:
            raise ValueError(f"{name} features must be a (B, C, H, W) tensor, got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    if gen.shape[:2] != target.shape[:2]:
        raise ValueError(f"generated {tuple(gen.shape)} and target {tuple(target.shape)} features must share "
                         "batch and channels")


def relative_similarity(gen: torch.Tensor, target: torch.Tensor, h: float = 0.5, eps: float = 1e-5) -> torch.Tensor:
    """RS(v, s): (B, N_gen, N_target) for features (B, C, H, W) of the generated and target image.

    Defined in Chapter 7 (GMCNN). Each row (a generated position v) sums to 1 over the target
    positions s.
    """
    _check_features(gen, target)
    gen, target = gen.float(), target.float()
    mean_t = target.mean(dim=(0, 2, 3), keepdim=True)  # the target's mean, per channel
    g = F.normalize((gen - mean_t).flatten(2), dim=1)  # (B, C, Ng)
    t = F.normalize((target - mean_t).flatten(2), dim=1)  # (B, C, Nt)
    cos = torch.bmm(g.transpose(1, 2), t)  # (B, Ng, Nt)
    dist = (1 - cos) / 2
    rel = dist / (dist.min(dim=2, keepdim=True).values + eps)  # 1 for v's nearest real patch
    return torch.softmax((1 - rel) / h, dim=2)  # = exp((1 - rel)/h) / sum_r exp(...)


def id_mrf_loss(gen: torch.Tensor, target: torch.Tensor, h: float = 0.5, eps: float = 1e-5) -> torch.Tensor:
    """ID-MRF at one layer: -log of the mean, over target positions, of their best RS. Mean over the batch.

    Defined in Chapter 7 (GMCNN).
    """
    rs = relative_similarity(gen, target, h, eps)  # (B, Ng, Nt)
    best = rs.max(dim=1).values  # (B, Nt): each real patch, its best generated match
    return (-torch.log(best.mean(dim=1))).mean()


class IDMRFLoss(nn.Module):
    r"""ID-MRF on VGG features: :math:`\sum_l w_l \mathcal L_M(l)` of two images in [0, 1].

    Defined in Chapter 7 (GMCNN). The reference uses VGG-19's relu3_2 and relu4_2 (its
    "style" layers) plus relu4_2 again (its "content" layer), each weight 1: relu4_2 counts
    twice. The book's VGG-16 (:mod:`inpaintlib.losses.vgg`) has layers of the same names, at the same
    resolutions (1/4 and 1/8) and widths (256, 512). relu3_2 is the 6th convolution of both
    networks; relu4_2 is VGG-16's 9th and VGG-19's 10th, so the taps are the nearest ones,
    not the same features (the weights differ too).
    """

    def __init__(self, layers: dict[str, float] | None = None, h: float = 0.5, eps: float = 1e-5, vgg=None):
        super().__init__()
        self.layers = dict(layers or {"relu3_2": 1.0, "relu4_2": 2.0})
        self.h, self.eps = h, eps
        self._vgg = vgg

    @property
    def vgg(self):
        if self._vgg is None:
            from inpaintlib.losses.vgg import pretrained_vgg16

            self._vgg = pretrained_vgg16()
        return self._vgg

    def forward(self, generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if generated.shape != target.shape:
            raise ValueError(f"generated {tuple(generated.shape)} and target {tuple(target.shape)} differ in shape")
        vgg = self.vgg.to(generated.device)
        fg = vgg(generated, tuple(self.layers))
        with torch.no_grad():
            ft = vgg(target, tuple(self.layers))
        return sum(w * id_mrf_loss(fg[k], ft[k], self.h, self.eps) for k, w in self.layers.items())
