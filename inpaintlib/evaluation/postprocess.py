r"""Post-processing of a network's fill: fast marching, then Poisson blending.

Defined in Chapter 3 (GLCIC). Iizuka et al. (2017, Sec. 3.4) blend the completed region into
its surroundings with "simple post-processing": the hole is first filled by the fast marching
method (Telea 2004, :mod:`inpaintlib.evaluation.baselines`), which gives boundary colours that continue the
known pixels; then Poisson image editing (Pérez et al. 2003) replaces the hole by the image
whose *gradients* are the network's and whose values on the hole's border are those of the
fast-marching image:

.. math:: \min_f \iint_{\Omega} \lVert \nabla f - \nabla g \rVert^2
          \quad \text{with} \quad f|_{\partial\Omega} = f^*|_{\partial\Omega},

i.e. :math:`\Delta f = \Delta g` inside the hole :math:`\Omega` (``g`` the network's output,
``f*`` the fast-marching fill). Colour shifts between the fill and its surroundings (a common
GAN failure) disappear; the network's texture stays. OpenCV provides both steps
(``cv2.inpaint`` and ``cv2.seamlessClone``).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

__all__ = ["fast_marching_poisson_blend"]

# seamlessClone refuses a mask that touches the image border; blend on a padded copy.
_PAD = 8


def _to_u8(image: torch.Tensor) -> np.ndarray:
    return (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def fast_marching_poisson_blend(prediction: torch.Tensor, masked_image: torch.Tensor, mask: torch.Tensor,
                                radius: int = 3, dilate: int = 1) -> torch.Tensor:
    """Blend ``prediction`` into ``masked_image`` inside the hole ``mask`` (1 = hole).

    Defined in Chapter 3 (GLCIC). All three are (B, C, H, W) float tensors in [0, 1] (mask with
    one channel); returns a (B, 3, H, W) tensor on the input's device. ``radius``: the fast
    marching neighbourhood in pixels; ``dilate``: grow the blended region by this many pixels so
    that its border lies on known pixels. The computation is 8-bit, on the CPU (OpenCV).
    """
    if prediction.shape != masked_image.shape or mask.shape[1] != 1 or mask.shape[-2:] != prediction.shape[-2:]:
        raise ValueError(f"prediction and image (B,3,H,W) and mask (B,1,H,W) expected, got "
                         f"{tuple(prediction.shape)}, {tuple(masked_image.shape)}, {tuple(mask.shape)}")
    out = []
    for pred, known, m in zip(prediction, masked_image, mask):
        hole = (m[0].detach().cpu().numpy() > 0.5).astype(np.uint8)
        if not hole.any():
            out.append(known.detach().cpu().float())
            continue
        if dilate:
            hole = cv2.dilate(hole, np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8))
        known_u8 = _to_u8(known)
        fmm = cv2.inpaint(known_u8, hole * 255, radius, cv2.INPAINT_TELEA)
        pad = ((_PAD, _PAD), (_PAD, _PAD), (0, 0))
        src = np.pad(_to_u8(pred), pad, mode="reflect")
        dst = np.pad(fmm, pad, mode="reflect")
        blend_mask = np.pad(hole * 255, pad[:2], mode="constant")
        ys, xs = np.nonzero(blend_mask)
        # seamlessClone puts the centre of the mask's bounding box of `src` at `center` in `dst`;
        # the centre of the same box keeps the two images aligned.
        center = ((int(xs.min()) + int(xs.max()) + 1) // 2, (int(ys.min()) + int(ys.max()) + 1) // 2)
        blended = cv2.seamlessClone(src, dst, blend_mask, center, cv2.NORMAL_CLONE)[_PAD:-_PAD, _PAD:-_PAD]
        out.append(torch.from_numpy(blended).permute(2, 0, 1).float() / 255.0)
    return torch.stack(out).to(prediction.device)
