r"""Nearest-neighbour matching of feature patches: the "neural patch" (MRF) term.

Defined in Chapter 2 (MSNPS); Shift-Net (Chapter 5) and contextual attention (Chapter 6) are
differentiable, learned relatives of the same idea.

Cut a feature map :math:`\phi(x)` (C channels) into ``k x k`` patches, each a vector of
:math:`C k^2` numbers, indexed by the position of their centre. Patches whose centre lies in
the hole are the *queries* :math:`P_i, i \in R^\phi`; patches whose centre lies outside it are
the *keys* (the paper's :math:`j \notin R^\phi`: a key may overlap the hole's border; with
``strict_keys=True`` only patches that do not touch the hole at all are keys). For each query
the nearest key in Euclidean distance is

.. math:: nn(i) = \arg\min_{j \notin R^\phi} \lVert P_i - P_j \rVert_2^2
               = \arg\min_j \big(\lVert P_j\rVert^2 - 2 P_i \cdot P_j\big),

(the :math:`\lVert P_i\rVert^2` term is the same for every ``j``), so all distances come from
one matrix product. The texture energy of Yang et al. (2017) is the mean squared distance to
those neighbours,

.. math:: E_t = \frac{1}{|R^\phi|} \sum_{i \in R^\phi} \lVert P_i - P_{nn(i)} \rVert_2^2 ,

with the neighbours chosen anew at every evaluation and held fixed for its gradient (the arg
min is not differentiable). We divide each squared distance by :math:`C k^2` as well, so the
term is a mean over elements and its weight does not depend on the layer's width.

The paper writes the neighbour as this Euclidean arg min; the released code (inherited from
Li and Wand's CNNMRF) picks the key with the highest *normalised cross-correlation*,
:math:`\arg\max_j P_i \cdot P_j / (\lVert P_i\rVert \lVert P_j\rVert)`, which ignores how
strong a patch is and only compares its pattern. ``similarity="cosine"`` selects that rule;
the energy is the same squared distance to whichever neighbour was chosen.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["PatchMatches", "SIMILARITIES", "extract_patches", "feature_mask", "match_patches", "has_keys",
           "patch_match_loss"]


def extract_patches(features: torch.Tensor, size: int = 3, stride: int = 1) -> torch.Tensor:
    """All ``size`` x ``size`` patches of a (C, H, W) map as rows of an (N, C*size*size) matrix.

    Defined in Chapter 2 (MSNPS). Patches are taken without padding, row-major by their
    top-left corner: patch ``n`` starts at ``(n // cols * stride, n % cols * stride)`` with
    ``cols = (W - size) // stride + 1``.
    """
    if features.ndim != 3:
        raise ValueError(f"features must be one (C, H, W) map, got shape {tuple(features.shape)}")
    if min(features.shape[-2:]) < size:
        raise ValueError(f"a {size}x{size} patch does not fit in a {tuple(features.shape[-2:])} map")
    return F.unfold(features[None], size, stride=stride)[0].t()


def feature_mask(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The hole at feature resolution: a feature unit is hole if its pixels overlap the hole at all.

    Defined in Chapter 2 (MSNPS). ``mask``: (1, H, W) or (H, W), 1 = hole; returns (height,
    width) bool. (Area interpolation, then anything above zero.)
    """
    m = mask.reshape(1, 1, *mask.shape[-2:]).float()
    return F.interpolate(m, size=(height, width), mode="area")[0, 0] > 1e-6


@dataclass
class PatchMatches:
    """Result of :func:`match_patches`. Defined in Chapter 2 (MSNPS).

    ``query_pos`` and ``key_pos``: (Nq, 2) and (Nk, 2) long tensors with the (row, col) of each
    patch's centre on the feature map; ``nearest``: (Nq,) index into the keys;
    ``distance``: (Nq,) squared Euclidean distance to it.
    """

    query_pos: torch.Tensor
    key_pos: torch.Tensor
    nearest: torch.Tensor
    distance: torch.Tensor

    @property
    def source(self) -> torch.Tensor:
        """(Nq, 2) centre of the known patch each hole patch copies."""
        return self.key_pos[self.nearest]


def _positions(h: int, w: int, size: int, stride: int) -> torch.Tensor:
    rows = torch.arange(0, h - size + 1, stride)
    cols = torch.arange(0, w - size + 1, stride)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    return grid + size // 2


SIMILARITIES = ("euclidean", "cosine")


def match_patches(features: torch.Tensor, hole: torch.Tensor, size: int = 3, stride: int = 1,
                  key_stride: int = 1, strict_keys: bool = False,
                  similarity: str = "euclidean") -> tuple[PatchMatches, torch.Tensor, torch.Tensor]:
    """Match every hole patch of one (C, H, W) map to its nearest known patch.

    Defined in Chapter 2 (MSNPS). ``hole``: (H, W) bool (see :func:`feature_mask`). Queries are
    the patches (every ``stride``) whose centre is a hole unit; keys are the patches (every
    ``key_stride``) whose centre is not (``strict_keys``: that contain no hole unit at all).
    ``similarity``: ``"euclidean"`` (the paper's arg min of the squared distance) or
    ``"cosine"`` (the released code's normalised cross-correlation). ``distance`` is the
    squared Euclidean distance to the chosen key either way. Returns ``(matches, queries,
    keys)`` with the patch matrices (rows are patches). Raises ``ValueError`` when there is no
    key or ``similarity`` is unknown.
    """
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    c, h, w = features.shape
    if hole.shape != (h, w):
        raise ValueError(f"hole must be ({h}, {w}) like the features, got {tuple(hole.shape)}")
    hole_f = hole.float()[None]
    q_pos = _positions(h, w, size, stride)
    q_all = extract_patches(features, size, stride)
    is_query = hole[q_pos[:, 0], q_pos[:, 1]]
    k_pos = _positions(h, w, size, key_stride)
    if strict_keys:
        excluded = F.unfold(hole_f[None], size, stride=key_stride)[0].sum(0) > 0
    else:
        excluded = hole[k_pos[:, 0], k_pos[:, 1]]
    keys = extract_patches(features, size, key_stride)[~excluded]
    k_pos = k_pos[~excluded]
    if keys.shape[0] == 0:
        raise ValueError(f"no {size}x{size} feature patch is centred outside the hole "
                         f"({'strict keys, ' if strict_keys else ''}map {h}x{w}): nothing to copy from")
    queries = q_all[is_query]
    with torch.no_grad():
        d2 = (keys.square().sum(1)[None] - 2 * queries @ keys.t()) + queries.square().sum(1, keepdim=True)
        if similarity == "cosine":  # highest correlation of unit-length patches
            cos = F.normalize(queries, dim=1) @ F.normalize(keys, dim=1).t()
            nearest = cos.argmax(dim=1)
            distance = d2.gather(1, nearest[:, None])[:, 0]
        else:
            distance, nearest = d2.min(dim=1)
    return PatchMatches(q_pos[is_query], k_pos, nearest, distance.clamp_min(0)), queries, keys


def has_keys(hole: torch.Tensor, size: int = 3, strict_keys: bool = False) -> bool:
    """Whether a map with this ``hole`` (H, W) has at least one key patch. Defined in Chapter 2."""
    h, w = hole.shape
    if min(h, w) < size:
        return False
    pos = _positions(h, w, size, 1)
    if strict_keys:
        return bool((F.unfold(hole.float()[None, None], size)[0].sum(0) == 0).any())
    return bool((~hole[pos[:, 0], pos[:, 1]]).any())


def patch_match_loss(features: torch.Tensor, hole: torch.Tensor, size: int = 3, stride: int = 1,
                     key_stride: int = 1, strict_keys: bool = False,
                     similarity: str = "euclidean") -> tuple[torch.Tensor, PatchMatches]:
    r"""The texture energy :math:`E_t` of one feature map (see the module docstring), and the matches.

    Defined in Chapter 2 (MSNPS). Mean over hole patches of the mean squared difference to the
    nearest known patch (held fixed: no gradient flows into the known patch; ``similarity`` as
    in :func:`match_patches`). Zero when the map has no hole unit.
    """
    matches, queries, keys = match_patches(features, hole, size, stride, key_stride, strict_keys,
                                           similarity)
    if queries.shape[0] == 0:
        return features.sum() * 0.0, matches
    target = keys[matches.nearest].detach()
    return (queries - target).square().mean(), matches
