r"""Shift-Net's shift-connection layer and guidance loss (Yan et al., ECCV 2018): Chapter 5.

Defined in Chapter 5 (Shift-Net), which builds the layer step by step on a hand-made feature
map before this batched version.

At one level of a U-Net, the decoder feature :math:`\Phi_{L-l}(I)` and the encoder feature
:math:`\Phi_l(I)` (the skip connection) have the same size. For every position :math:`y` of
the hole :math:`\Omega` (at feature resolution), the *nearest neighbour* among the known
positions :math:`\bar\Omega` is the one whose encoder feature is most similar, by cosine, to
the decoder feature at :math:`y` (the paper's nearest-neighbour search):

.. math::
    x^*(y) = \arg\max_{x \in \bar\Omega}
             \frac{\langle \Phi_{L-l}(I)_y,\ \Phi_l(I)_x \rangle}
                  {\lVert \Phi_{L-l}(I)_y \rVert\, \lVert \Phi_l(I)_x \rVert},
    \qquad u_y = x^*(y) - y .

The *shift vector* :math:`u_y` says where :math:`y` copies from. The shifted feature is the
encoder feature moved along it, zero outside the hole:

.. math:: \Phi^{shift}_{L-l}(I)_y = \Phi_l(I)_{y + u_y} \ (y \in \Omega), \qquad 0 \ (y \notin \Omega),

and the next decoder layer reads the three maps concatenated,
:math:`[\Phi_{L-l}(I), \Phi_l(I), \Phi^{shift}_{L-l}(I)]` (decoder, encoder, shifted, the
reference code's order): 3x the channels.

**Gradients.** :math:`x^*` is an argmax, piecewise constant in the features: its derivative is
zero almost everywhere, and undefined where two candidates tie. So the gradient of the shifted
map flows through the *copy* only: the gradient arriving at :math:`y` is added to the encoder
feature at :math:`x^*(y)` (several hole positions may copy the same source, and their
gradients add up), and none reaches the decoder feature through the choice. The reference
implementation writes this backward pass by hand; here the indices are computed without
gradient and the copy is a ``gather``, whose autograd backward is exactly that scatter-add.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.nn.layers import check_feature_pair

__all__ = ["feature_mask", "shift_indices", "shift_connection", "ShiftConnection", "guidance_loss"]


def feature_mask(mask: torch.Tensor, size: tuple[int, int], threshold: float = 0.5) -> torch.Tensor:
    """The image mask (B,1,H,W), 1 = hole, at a feature map's ``size``: (B,1,h,w) in {0, 1}.

    Defined in Chapter 5 (Shift-Net). A feature position is in the hole when the share of hole
    pixels in its cell of the image (area average) is above ``threshold``. The reference code
    (Zhaoyi-Yan/Shift-Net_pytorch) now samples the mask with nearest-neighbour interpolation;
    its first versions ran it through three fixed 4x4 stride-2 averaging convolutions with a
    threshold of 5/16. The area average with 0.5 keeps the hole's size at the coarse level
    whatever the factor.
    """
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape (B,1,H,W), got {tuple(mask.shape)}")
    return (F.adaptive_avg_pool2d(mask.float(), size) > threshold).to(mask.dtype)


def shift_indices(decoder: torch.Tensor, encoder: torch.Tensor, fmask: torch.Tensor,
                  eps: float = 1e-8) -> torch.Tensor:
    """For every position, the flat index ``x*`` it copies from: (B, h*w) long tensor.

    Defined in Chapter 5 (Shift-Net). Hole positions get the known position whose encoder
    feature has the largest cosine similarity with their decoder feature; known
    positions get their own index (they copy nothing; :func:`shift_connection` zeroes them).
    An image whose feature mask has no known position copies nothing either. Computed without
    gradient (the argmax has none).
    """
    b, c, h, w = check_feature_pair(decoder, encoder, fmask, ("decoder", "encoder"), "feature mask")
    with torch.no_grad():
        q = F.normalize(decoder.float().flatten(2), dim=1, eps=eps)  # (B, C, hw): queries
        k = F.normalize(encoder.float().flatten(2), dim=1, eps=eps)  # (B, C, hw): candidates
        cosine = torch.bmm(q.transpose(1, 2), k)  # (B, hw_y, hw_x)
        hole = fmask.flatten(1).bool()  # (B, hw)
        cosine = cosine.masked_fill(hole[:, None, :], float("-inf"))  # only known x compete
        best = cosine.argmax(dim=2)  # (B, hw)
        own = torch.arange(h * w, device=decoder.device).expand(b, -1)
        has_known = (~hole).any(dim=1, keepdim=True)
        return torch.where(hole & has_known, best, own)


def shift_connection(decoder: torch.Tensor, encoder: torch.Tensor, fmask: torch.Tensor):
    """``(shifted, indices)``: the shifted map (B,C,h,w) and :func:`shift_indices`.

    Defined in Chapter 5 (Shift-Net). ``shifted[:, :, y] = encoder[:, :, x*(y)]`` in the hole,
    0 at known positions. Gradients reach ``encoder`` at the source positions (summed over the
    hole positions that copy each one), none reach ``decoder``.
    """
    b, c, h, w = encoder.shape
    idx = shift_indices(decoder, encoder, fmask)
    copied = torch.gather(encoder.flatten(2), 2, idx[:, None, :].expand(b, c, h * w))  # (B, C, hw)
    shifted = copied.view(b, c, h, w) * fmask.to(encoder.dtype)
    return shifted, idx


class ShiftConnection(nn.Module):
    """The shift-connection layer: ``[decoder, encoder, shifted]``, 3x the channels.

    Defined in Chapter 5 (Shift-Net). ``forward(decoder, encoder, mask)`` takes the image mask
    (B,1,H,W) and brings it to the features' size with :func:`feature_mask`. The last shift
    (indices, feature mask) is kept in ``self.last`` for the chapter's arrow figures.
    """

    def __init__(self, threshold: float = 0.5):
        super().__init__()
        self.threshold = threshold
        self.last: dict[str, torch.Tensor] | None = None

    def forward(self, decoder: torch.Tensor, encoder: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        fmask = feature_mask(mask, tuple(encoder.shape[-2:]), self.threshold)
        shifted, idx = shift_connection(decoder, encoder, fmask)
        self.last = {"indices": idx.detach(), "feature_mask": fmask.detach()}
        return torch.cat([decoder, encoder, shifted], dim=1)  # (B, 3C, h, w)


def guidance_loss(decoder: torch.Tensor, target_encoder: torch.Tensor, fmask: torch.Tensor) -> torch.Tensor:
    r"""Shift-Net's guidance loss: squared distance, in the hole, to the ground truth's encoder feature.

    Defined in Chapter 5 (Shift-Net). With :math:`\Phi_l(I^{gt})` the encoder feature of the
    *ground-truth* image at the shift's level (a second forward pass),

    .. math:: \mathcal L_g = \sum_{y \in \Omega} \lVert \Phi_{L-l}(I)_y - \Phi_l(I^{gt})_y \rVert_2^2 ,

    here averaged over the hole's positions and channels (a mean for the paper's sum; zero when
    the decoder reproduces the ground truth's encoder feature in the hole). It pulls the decoder
    feature at :math:`y` towards what the encoder would have seen there, which makes the
    cosine matching of the shift meaningful: decoder and encoder features then live in the same
    space. The target is detached (a fixed target, as in the reference code).
    """
    if decoder.shape != target_encoder.shape:
        raise ValueError(f"decoder and target features must have the same shape, got "
                         f"{tuple(decoder.shape)} and {tuple(target_encoder.shape)}")
    m = fmask.to(decoder.dtype)
    count = m.sum() * decoder.shape[1]
    if float(count) == 0:
        return decoder.sum() * 0.0
    return ((decoder - target_encoder.detach()) ** 2 * m).sum() / count
