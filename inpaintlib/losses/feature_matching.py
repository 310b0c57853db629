r"""The feature-matching loss: match the discriminator's inner layers, not only its verdict.

Defined in Chapter 9 (EdgeConnect).

A discriminator :math:`D` that ends in one score per patch tells the generator only *whether*
a patch looks real. Its inner layers say *in what way*: each layer :math:`D^{(i)}` holds
:math:`N_i` activations that respond to the patterns the discriminator found useful. Feature
matching (Salimans et al. 2016; Wang et al. 2018, pix2pixHD) asks the generated sample to
produce the same activations as the real one, layer by layer. EdgeConnect (Nazeri et al. 2019,
Sec. 3.1, Eq. 3) trains its edge generator with it:

.. math:: \mathcal L_{FM} = \mathbb E\Big[\sum_{i=1}^{L} \frac{1}{N_i}
          \big\lVert D_1^{(i)}(C_{gt}) - D_1^{(i)}(C_{pred}) \big\rVert_1\Big],

where :math:`C` is the edge map (with the greyscale image beside it), :math:`L` the number of
layers and :math:`N_i` the number of elements of layer :math:`i`. The paper's Eq. 3; the
reference code (``src/models.py``, ``EdgeModel.process``) computes exactly that: ``nn.L1Loss``
(the mean over every element of a layer, batch included) for each of the discriminator's five
layers, **summed** over the layers (not averaged), the real activations detached (the loss trains
the generator, never the discriminator), and the last "layer" is the discriminator's output
before its sigmoid. It is weighted 10 against the adversarial term (``FM_LOSS_WEIGHT: 10``).

Why it helps an edge generator: edges are thin and sparse, so a pixel loss against the true
edges is small whatever the generator does (most pixels are 0 in both) and an adversarial loss
alone is a noisy signal; matching the discriminator's features gives a dense target at every
layer, and it stabilises the adversarial game (the paper, Sec. 3.1).
"""
from __future__ import annotations

from typing import Mapping, Sequence, Union

import torch
import torch.nn.functional as F

__all__ = ["feature_matching_loss"]

Features = Union[Sequence[torch.Tensor], Mapping[str, torch.Tensor]]


def _as_list(features: Features, name: str) -> list[torch.Tensor]:
    if isinstance(features, Mapping):
        return list(features.values())
    if isinstance(features, (list, tuple)):
        return list(features)
    raise ValueError(f"{name} must be a list (or dict) of feature maps, one per layer, got {type(features).__name__}")


def feature_matching_loss(fake_features: Features, real_features: Features, reduction: str = "sum") -> torch.Tensor:
    r"""L1 between the discriminator's activations on a generated and on a real sample, per layer.

    Defined in Chapter 9 (EdgeConnect). ``fake_features`` and ``real_features``: the
    discriminator's layers on the generated and on the real input, in the same order (lists, or
    dicts with the same keys in the same order), each layer of the same shape in both. Each layer
    contributes the mean absolute difference over its elements,
    :math:`\frac{1}{N_i}\lVert D^{(i)}(real) - D^{(i)}(fake)\rVert_1`; ``reduction="sum"`` adds
    the layers, as the reference (and the paper's Eq. 3) does, ``"mean"`` divides by their number.
    The real activations are detached: the gradient reaches the generator (through the fake
    activations) and never pushes the discriminator's real activations towards the fake ones.
    """
    fake, real = _as_list(fake_features, "fake_features"), _as_list(real_features, "real_features")
    if isinstance(fake_features, Mapping) and isinstance(real_features, Mapping) \
            and list(fake_features) != list(real_features):
        raise ValueError(f"layer names differ: {list(fake_features)} and {list(real_features)}")
    if not fake:
        raise ValueError("no layers to match: give at least one feature map")
    if len(fake) != len(real):
        raise ValueError(f"{len(fake)} fake layers but {len(real)} real layers: they must match one to one")
    terms = []
    for i, (f, r) in enumerate(zip(fake, real)):
        if f.shape != r.shape:
            raise ValueError(f"layer {i}: fake {tuple(f.shape)} and real {tuple(r.shape)} differ in shape")
        terms.append(F.l1_loss(f, r.detach()))
    total = torch.stack(terms)
    if reduction == "sum":
        return total.sum()
    if reduction == "mean":
        return total.mean()
    raise ValueError(f"reduction must be 'sum' (the reference's) or 'mean', got {reduction!r}")
