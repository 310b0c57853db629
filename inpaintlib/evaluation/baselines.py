"""Classical (non-learned) inpainting baselines behind the same call as the networks.

Defined in Chapter 0 (Foundations).

* **Telea** (2004): fast marching. Pixels are filled in order of their distance to the hole's
  boundary; each one is a weighted average of already known neighbours, weighted by direction
  (along the image gradient), distance and level-set closeness.
* **Navier-Stokes** (Bertalmio, Bertozzi & Sapiro, 2001): image intensity treated as a stream
  function of a 2-D incompressible fluid; isophotes (lines of equal brightness) are continued
  into the hole while smoothness (vorticity) is transported.
* **Biharmonic** (Damelin & Hoang, 2018): solve the biharmonic equation ``Δ²u = 0`` in the hole
  with the known pixels as boundary conditions, channel by channel: the smoothest surface that
  meets the boundary.

All three only propagate what lies at the hole's border: they cannot invent texture or objects,
which is exactly the bar the learned models in this book must clear.
"""
from __future__ import annotations

import numpy as np
import torch

from inpaintlib.models.base import InpaintingModel


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


class _OpenCVInpainter(InpaintingModel):
    """``cv2.inpaint`` with the method named by ``cv2_flag`` (a uint8 round trip, as OpenCV needs)."""

    cv2_flag: str = ""

    def __init__(self, radius: int = 3):
        super().__init__()
        self.radius = int(radius)

    def config(self):
        return {"radius": self.radius}

    @torch.no_grad()
    def forward(self, masked_image, mask):
        import cv2

        out = []
        for img, m in zip(masked_image, mask):
            hole = (m[0].cpu().numpy() > 0.5).astype(np.uint8) * 255
            filled = cv2.inpaint(_to_uint8(img), hole, self.radius, getattr(cv2, self.cv2_flag))
            out.append(torch.from_numpy(filled).permute(2, 0, 1).float() / 255.0)
        return torch.stack(out).to(masked_image)


class TeleaInpainter(_OpenCVInpainter):
    """OpenCV's fast-marching inpainting (Telea 2004). Defined in Chapter 0 (Foundations)."""

    name = "telea"
    display_name = "Telea (fast marching)"
    cv2_flag = "INPAINT_TELEA"


class NavierStokesInpainter(_OpenCVInpainter):
    """OpenCV's Navier-Stokes inpainting (Bertalmio et al. 2001). Defined in Chapter 0 (Foundations)."""

    name = "navier_stokes"
    display_name = "Navier-Stokes"
    cv2_flag = "INPAINT_NS"


class BiharmonicInpainter(InpaintingModel):
    """scikit-image's biharmonic inpainting (Damelin & Hoang 2018). Defined in Chapter 0 (Foundations)."""

    name = "biharmonic"
    display_name = "Biharmonic"

    @torch.no_grad()
    def forward(self, masked_image, mask):
        from skimage.restoration import inpaint_biharmonic

        out = []
        for img, m in zip(masked_image, mask):
            arr = img.permute(1, 2, 0).cpu().double().numpy()
            hole = m[0].cpu().numpy() > 0.5
            filled = inpaint_biharmonic(arr, hole, channel_axis=-1)
            out.append(torch.from_numpy(np.clip(filled, 0, 1)).permute(2, 0, 1).float())
        return torch.stack(out).to(masked_image)


BASELINES = {cls.name: cls for cls in (TeleaInpainter, NavierStokesInpainter, BiharmonicInpainter)}
