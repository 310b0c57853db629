r"""Contextual attention (Yu et al., CVPR 2018): Chapter 6, reused by Chapter 10.

Defined in Chapter 6 (DeepFill v1), which builds it step by step on a small feature map
before this batched version.

A hole position :math:`y` of the *foreground* feature :math:`f` (the map being filled) looks at
every 3x3 patch :math:`b_x` of the *background* :math:`b` (the known part of the map) and scores
it by cosine similarity (the paper's Eq. 1):

.. math:: s_{y,x} = \left\langle \frac{f_y}{\lVert f_y\rVert}, \frac{b_x}{\lVert b_x\rVert} \right\rangle .

With the normalised background patches as convolution kernels, one convolution of :math:`f`
computes all the scores. Patches that touch the hole are excluded. **Attention propagation**
(the paper's "fuse") adds the scores of the neighbours along a diagonal, so that neighbouring
hole positions prefer neighbouring sources (Eq. 2, a convolution with an identity kernel,
along the width, then along the height):

.. math:: \hat s_{y,x} = \sum_{d=-k}^{k} s_{y+d,\,x+d} .

A softmax with scale :math:`\lambda = 10` over the background positions turns the scores into
attention, :math:`a_{y,x} = \mathrm{softmax}_x(\lambda \hat s_{y,x})`, and the output at
:math:`y` is the attention-weighted sum of the *raw* background patches, pasted by a
transposed convolution. Matching runs at half resolution (the reference's ``rate = 2``): the
scores come from the maps downsampled by 2, while the pasted patches are 4x4 patches of the
full-resolution background taken with stride 2, so that one matched position pastes a 4x4
block; every output pixel is covered by 4 such blocks, hence the division by 4.

Where the book differs from the reference code (JiahuiYu/generative_inpainting,
``inpaint_ops.contextual_attention``), each said again where it happens:

* the reference normalises only the background patches: its scores are :math:`\lVert f_y\rVert`
  times the cosine, so its softmax scale 10 multiplies :math:`\lVert f_y\rVert \cos`, not the
  cosine, and the propagation sums each neighbour's cosine weighted by that neighbour's norm; the
  paper's Eq. 1 and the book normalise both (``normalize_query=False`` gives the reference's scores);
* the reference multiplies the scores by the valid-patch mask before and after its softmax,
  so masked patches take part in the normalisation with a score of 0 and the attention of a
  position sums to less than 1; the book masks with :math:`-\infty`, a softmax over the valid
  patches only;
* the reference propagates on the *flattened* score matrix, so the propagation along the
  width wraps from the end of one row to the start of the next; the book's stays in the row;
* the reference takes the hole mask of the first image for the whole batch; the book uses
  each image's own mask;
* the reference downsamples the mask by nearest neighbour and counts the zero padding around
  the map as known, so a pasted patch can hold hole pixels (a stroke thinner than ``rate``)
  or padding zeros; the book max-pools the mask and uses only patches inside the map.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.nn.layers import check_feature_pair

__all__ = ["attention_propagation", "contextual_attention", "ContextualAttention", "attention_offsets"]


def attention_propagation(scores: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Sum each score with its ``k`` neighbours on each side along the diagonal, width then height.

    Defined in Chapter 6 (DeepFill v1). ``scores``: (B, Hf, Wf, Hb, Wb), the score of foreground
    position (i, j) for background position (p, q). Along the width,
    ``out[i, j, p, q] = sum_d scores[i, j+d, p, q+d]`` for ``d`` in ``-k..k`` (positions outside
    the map count 0); then the same along the height. ``k = 1`` is the reference's fuse_k = 3.
    """
    if scores.ndim != 5:
        raise ValueError(f"scores must have shape (B, Hf, Wf, Hb, Wb), got {tuple(scores.shape)}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if k == 0:
        return scores
    out = _propagate(scores, k, fdim=2, bdim=4)
    return _propagate(out, k, fdim=1, bdim=3)


def _propagate(s: torch.Tensor, k: int, fdim: int, bdim: int) -> torch.Tensor:
    nf, nb = s.shape[fdim], s.shape[bdim]
    pad = [0, 0] * s.ndim  # F.pad lists dimensions from the last one
    for dim in (fdim, bdim):
        pad[2 * (s.ndim - 1 - dim)] = pad[2 * (s.ndim - 1 - dim) + 1] = k
    sp = F.pad(s, pad)
    out = torch.zeros_like(s)
    for d in range(-k, k + 1):
        out = out + sp.narrow(fdim, k + d, nf).narrow(bdim, k + d, nb)
    return out


def _same_padding(n: int, size: int, stride: int) -> int:
    """TensorFlow's 'SAME' padding in total along one axis (the extra pixel goes after)."""
    return max((-(-n // stride) - 1) * stride + size - n, 0)


def _same_pad_patches(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, C, size, size): patches with TensorFlow's 'SAME' padding."""
    b, c, h, w = x.shape
    pad_h, pad_w = _same_padding(h, size, stride), _same_padding(w, size, stride)
    xp = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    cols = F.unfold(xp, size, stride=stride)  # (B, C*size*size, L)
    return cols.transpose(1, 2).reshape(b, -1, c, size, size)


def contextual_attention(foreground: torch.Tensor, background: torch.Tensor, mask: torch.Tensor,
                         ksize: int = 3, rate: int = 2, fuse_k: int = 3, softmax_scale: float = 10.0,
                         normalize_query: bool = True, eps: float = 1e-4):
    """``(output, attention)``: the contextual attention of ``foreground`` over ``background``.

    Defined in Chapter 6 (DeepFill v1).

    * ``foreground``, ``background``: (B, C, H, W) feature maps of the same size (in DeepFill
      both are the same map: the hole attends to the rest of its own image);
    * ``mask``: (B, 1, H, W), 1 = hole; a background patch is used only when none of its
      pixels (at matching resolution) is in the hole;
    * ``output``: (B, C, H, W), the attention-weighted raw background patches;
    * ``attention``: (B, Hf, Wf, Hb, Wb) at matching resolution (H/rate, W/rate), each
      position's weights over the background positions (zero for excluded patches; all zero
      for an image with no usable patch).

    * ``normalize_query``: True (the default, the paper's Eq. 1 and the book's) divides the
      foreground patches by their norm too, so the scores are cosines; False gives the reference
      code's scores, the norm of the foreground patch times the cosine.

    Defaults are the reference's: ksize 3, stride 1, rate 2, fuse_k 3, softmax_scale 10.
    """
    b, c, h, w = check_feature_pair(foreground, background, mask, ("foreground", "background"))
    if h % rate or w % rate:
        raise ValueError(f"feature size {h}x{w} must be divisible by rate={rate}")
    if ksize % 2 == 0 or fuse_k % 2 == 0:
        raise ValueError(f"ksize and fuse_k must be odd, got {ksize} and {fuse_k}")
    dtype = foreground.dtype
    fg, bg, m = foreground.float(), background.float(), mask.float()
    # raw patches: 2*rate x 2*rate at stride rate, from the full-resolution background
    raw = _same_pad_patches(bg, 2 * rate, rate)  # (B, L, C, 2r, 2r), L = (H/r)(W/r)
    # matching at 1/rate: features by nearest neighbour, as the reference; the mask by max
    # pooling, so that a cell with any hole pixel is hole (nearest sampling can miss a stroke)
    fs, bs = fg[..., ::rate, ::rate], bg[..., ::rate, ::rate]
    ms = F.max_pool2d(m, rate)
    hf, wf = fs.shape[-2:]
    kernels = _same_pad_patches(bs, ksize, 1).flatten(2)  # (B, L, C*k*k)
    kernels = kernels / kernels.norm(dim=2, keepdim=True).clamp_min(eps)
    queries = F.unfold(fs, ksize, padding=ksize // 2)  # (B, C*k*k, Hf*Wf)
    if normalize_query:
        queries = queries / queries.norm(dim=1, keepdim=True).clamp_min(eps)
    scores = torch.bmm(kernels, queries)  # (B, L, Hf*Wf): background x, foreground y
    scores = scores.transpose(1, 2).reshape(b, hf, wf, hf, wf)  # (B, Hf, Wf, Hb, Wb)
    scores = attention_propagation(scores, fuse_k // 2)
    # usable background patches: every cell of the ksize x ksize patch known and inside the map
    # (outside counts as hole, so that no pasted raw patch carries padding)
    r = ksize // 2
    touched = F.max_pool2d(F.pad(ms, (r, r, r, r), value=1.0), ksize, stride=1)  # (B, 1, Hb, Wb)
    valid = (touched == 0).flatten(1)  # (B, L)
    logits = (softmax_scale * scores).reshape(b, hf * wf, hf * wf)
    logits = logits.masked_fill(~valid[:, None, :], float("-inf"))
    attention = torch.softmax(logits, dim=2)  # (B, Hf*Wf, L)
    attention = torch.nan_to_num(attention, nan=0.0)  # an image with no usable patch
    # paste: every y receives sum_x a_{y,x} raw_x, as a transposed convolution (fold)
    cols = torch.bmm(raw.flatten(2).transpose(1, 2), attention.transpose(1, 2))  # (B, C*4r^2, Hf*Wf)
    pad_h, pad_w = _same_padding(h, 2 * rate, rate), _same_padding(w, 2 * rate, rate)
    canvas = F.fold(cols, (h + pad_h, w + pad_w), 2 * rate, stride=rate)  # the padded map
    top, left = pad_h // 2, pad_w // 2
    out = canvas[..., top:top + h, left:left + w] / 4.0  # 4 blocks overlap each inner pixel
    return out.to(dtype), attention.reshape(b, hf, wf, hf, wf)


def attention_offsets(attention: torch.Tensor) -> torch.Tensor:
    """(B, Hf, Wf, Hb, Wb) attention -> (B, 2, Hf, Wf): (dy, dx) to the most attended position.

    Defined in Chapter 6 (DeepFill v1), for the paper's colour-coded attention maps (a
    position with no attention gets offset 0).
    """
    b, hf, wf, hb, wb = attention.shape
    flat = attention.reshape(b, hf, wf, hb * wb)
    best = flat.argmax(dim=3)
    ys = torch.arange(hf, device=attention.device).view(1, hf, 1)
    xs = torch.arange(wf, device=attention.device).view(1, 1, wf)
    dy, dx = best // wb - ys, best % wb - xs
    none = flat.sum(dim=3) == 0
    return torch.stack([dy.masked_fill(none, 0), dx.masked_fill(none, 0)], dim=1)


class ContextualAttention(nn.Module):
    """:func:`contextual_attention` as a layer: ``forward(x, mask)`` attends ``x`` over itself.

    Defined in Chapter 6 (DeepFill v1). ``mask``: (B, 1, H', W') at any resolution, 1 = hole;
    it is resized to the features' size (a position is hole when any pixel of its cell is).
    The last attention is kept in ``self.last`` for the chapter's attention maps.
    """

    def __init__(self, ksize: int = 3, rate: int = 2, fuse_k: int = 3, softmax_scale: float = 10.0):
        super().__init__()
        self.ksize, self.rate, self.fuse_k, self.softmax_scale = ksize, rate, fuse_k, softmax_scale
        self.last: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = F.adaptive_max_pool2d(mask.float(), x.shape[-2:]).to(x.dtype)
        out, attention = contextual_attention(x, x, m, self.ksize, self.rate, self.fuse_k, self.softmax_scale)
        self.last = attention.detach()
        return out
