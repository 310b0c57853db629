"""``inpaint(image, mask, model)``: one call for every method in the book.

Defined in Chapter 0 (Foundations).

It accepts what a reader is likely to hold — a float tensor or a uint8 photo array — checks it
(and says clearly what was expected when it is wrong), blanks the hole, adapts the size to what
the model accepts, runs the model and copies the known pixels back (compositing). The result has
the input's type and shape.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from inpaintlib.evaluation.compositing import composite
from inpaintlib.models.base import InpaintingModel

__all__ = ["inpaint"]


def _check_not_empty(size, batch: int = 1) -> None:
    """An empty image has nothing to fill from: say so before torch fails on it."""
    if batch == 0 or 0 in tuple(size):
        raise ValueError(
            f"the image is empty (batch {batch}, size {tuple(int(v) for v in size)}); "
            "expected at least one image with height and width > 0"
        )


def _as_float_image(image) -> tuple[torch.Tensor, str]:
    """(B,3,H,W) float tensor and a tag saying how to give the result back."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(
                f"a NumPy image must be uint8 of shape (H,W,3), got dtype {image.dtype}; "
                "for float images pass a torch tensor (3,H,W) in [0,1]"
            )
        if image.ndim == 3 and image.shape[2] == 4:
            raise ValueError("got an RGBA image (H,W,4): drop the alpha channel first, e.g. image[..., :3]")
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"a NumPy image must have shape (H,W,3) (RGB), got {image.shape}")
        _check_not_empty(image.shape[:2])
        return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0, "numpy"
    if not torch.is_tensor(image):
        raise ValueError(f"image must be a torch tensor or a uint8 NumPy array, got {type(image).__name__}")
    if not image.is_floating_point():
        raise ValueError(
            f"a tensor image must be float in [0,1], got dtype {image.dtype}; convert with image.float() / 255"
        )
    if image.ndim == 3:
        tag, image = "chw", image[None]
    elif image.ndim == 4:
        tag = "bchw"
    else:
        raise ValueError(f"a tensor image must have shape (3,H,W) or (B,3,H,W), got {tuple(image.shape)}")
    if image.shape[1] == 4:
        raise ValueError("got 4 channels (RGBA?): pass RGB only, e.g. image[:, :3]")
    if image.shape[1] != 3:
        raise ValueError(f"expected 3 (RGB) channels in dimension 1, got shape {tuple(image.shape)}")
    _check_not_empty(image.shape[-2:], batch=image.shape[0])
    finite = torch.isfinite(image)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(
            f"the image holds {bad} NaN or infinite value(s); an image must be finite, in [0,1]. "
            "Replace them (e.g. torch.nan_to_num) or, if they mark missing pixels, put them in the mask"
        )
    if float(image.min()) < -1e-6 or float(image.max()) > 1 + 1e-6:
        raise ValueError(
            f"image values must lie in [0,1], got [{float(image.min()):.3g}, {float(image.max()):.3g}]; "
            "a 0..255 image must be divided by 255"
        )
    return image, tag


def _as_float_mask(mask, batch: int, height: int, width: int) -> torch.Tensor:
    if isinstance(mask, np.ndarray):
        if mask.dtype == bool:
            m = torch.from_numpy(mask.astype(np.float32))
        elif mask.dtype == np.uint8:
            values = np.unique(mask)
            if set(values.tolist()) <= {0, 1}:
                m = torch.from_numpy(mask.astype(np.float32))
            elif set(values.tolist()) <= {0, 255}:
                m = torch.from_numpy((mask > 0).astype(np.float32))
            else:
                raise ValueError(
                    "a uint8 mask must be binary ({0,1} or {0,255}, hole = 1/255), got other values; "
                    "threshold it first (JPEG masks are not binary: save masks as PNG)"
                )
        else:
            raise ValueError(f"a NumPy mask must be bool or uint8 of shape (H,W), got dtype {mask.dtype}")
    elif torch.is_tensor(mask):
        m = mask.float() if mask.dtype == torch.bool else mask
        if not m.is_floating_point():
            raise ValueError(f"a tensor mask must be float {{0,1}} or bool, got dtype {mask.dtype}")
    else:
        raise ValueError(f"mask must be a torch tensor or a NumPy array, got {type(mask).__name__}")
    if m.ndim == 3 and isinstance(mask, np.ndarray) and m.shape[-1] in (3, 4):
        raise ValueError(f"a NumPy mask must be single-channel (H,W), got {tuple(m.shape)}")
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3:
        m = m[None]
    if m.ndim != 4 or m.shape[1] != 1:
        raise ValueError(f"mask must have shape (H,W), (1,H,W) or (B,1,H,W), got {tuple(m.shape)}")
    if m.shape[-2:] != (height, width):
        raise ValueError(f"mask size {tuple(m.shape[-2:])} does not match image size {(height, width)}")
    if m.shape[0] not in (1, batch):
        raise ValueError(f"mask batch {m.shape[0]} does not match image batch {batch}")
    if not bool(((m == 0) | (m == 1)).all()):
        raise ValueError("mask must be binary with values {0,1} (1 = hole); threshold soft masks first")
    m = m.expand(batch, 1, height, width)
    empty = torch.nonzero(m.flatten(1).max(dim=1).values == 0).flatten().tolist()
    if empty:
        which = "the mask" if batch == 1 else f"the mask of image(s) {empty[:5]}"
        raise ValueError(
            f"{which} marks no pixel as a hole (1 = hole): there is nothing to fill. "
            "If your mask marks the hole with 0, pass 1 - mask"
        )
    if bool((m.flatten(1).min(dim=1).values == 1).any()):
        raise ValueError(
            "the mask marks every pixel as a hole (1 = hole): nothing is known to fill from. "
            "If your mask marks *valid* pixels with 1, pass 1 - mask"
        )
    return m


def _run_padded(model: InpaintingModel, masked: torch.Tensor, mask: torch.Tensor, **kwargs) -> torch.Tensor:
    """Reflect-pad to a multiple of ``model.size_multiple``, run, crop back."""
    h, w = masked.shape[-2:]
    k = model.size_multiple
    ph, pw = (-h) % k, (-w) % k
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        masked = F.pad(masked, (0, pw, 0, ph), mode=mode)
        mask = F.pad(mask, (0, pw, 0, ph), value=0.0)
    return model(masked, mask, **kwargs)[..., :h, :w]


def _run_windowed(model: InpaintingModel, masked: torch.Tensor, mask: torch.Tensor, **kwargs) -> torch.Tensor:
    """For fixed-size models: cut a window around each image's hole, run, paste back."""
    sh, sw = model.fixed_size
    mh, mw = model.max_hole or model.fixed_size
    out = masked.clone()
    padded = F.pad(masked, (sw, sw, sh, sh), mode="replicate")
    padded_mask = F.pad(mask, (sw, sw, sh, sh), value=0.0)
    for i in range(masked.shape[0]):
        ys, xs = torch.nonzero(mask[i, 0] > 0.5, as_tuple=True)
        if len(ys) == 0:
            continue
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        if y1 - y0 > mh or x1 - x0 > mw:
            raise ValueError(
                f"{model.display_name} fills holes up to {mh}x{mw} pixels (inside a {sh}x{sw} window); "
                f"this mask's hole spans {y1 - y0}x{x1 - x0}"
            )
        # window whose central max_hole square is centred on the hole's bounding box
        top = (y0 + y1) // 2 - sh // 2
        left = (x0 + x1) // 2 - sw // 2
        win = padded[i:i + 1, :, top + sh:top + 2 * sh, left + sw:left + 2 * sw]
        win_mask = padded_mask[i:i + 1, :, top + sh:top + 2 * sh, left + sw:left + 2 * sw]
        pred = model(win, win_mask, **kwargs)
        # paste back only the part of the window that lies inside the image
        ty0, tx0 = max(top, 0), max(left, 0)
        ty1, tx1 = min(top + sh, masked.shape[-2]), min(left + sw, masked.shape[-1])
        out[i, :, ty0:ty1, tx0:tx1] = pred[0, :, ty0 - top:ty1 - top, tx0 - left:tx1 - left]
    return out


@torch.no_grad()
def inpaint(image, mask, model="telea", device: str | torch.device | None = None, **kwargs):
    """Fill the hole of ``image`` marked by ``mask`` (1 = hole) with ``model``.

    Defined in Chapter 0 (Foundations).

    * ``image``: float tensor (3,H,W) or (B,3,H,W) in [0,1], or a uint8 NumPy array (H,W,3).
    * ``mask``: (H,W), (1,H,W) or (B,1,H,W) float {0,1} or bool tensor; with a NumPy image,
      a bool or uint8 (H,W) array ({0,1} or {0,255}). 1 (or 255, or True) marks the hole.
    * ``model``: an :class:`~inpaintlib.models.base.InpaintingModel` or a name from
      :func:`inpaintlib.available_models` (loaded with ``load_pretrained``).
    * ``kwargs`` go to the model's ``forward`` (options a model offers, e.g. post-processing).

    Returns the composited result in the input's type and shape. Raises ``ValueError`` with
    what was expected for empty images, wrong shapes, dtypes, value ranges, NaN or infinite
    values, RGBA input, non-binary masks, masks with no hole or only hole, and images smaller
    than the model accepts.
    """
    if isinstance(model, str):
        from inpaintlib.registry import load_pretrained

        model = load_pretrained(model)
    if not isinstance(model, InpaintingModel):
        raise ValueError(f"model must be an InpaintingModel or a model name, got {type(model).__name__}")
    x, tag = _as_float_image(image)
    b, _, h, w = x.shape
    if min(h, w) < model.min_size:
        raise ValueError(f"{model.display_name} needs images of at least {model.min_size}x{model.min_size}, got {h}x{w}")
    m = _as_float_mask(mask, b, h, w)
    dev = torch.device(device) if device is not None else next(
        (p.device for p in model.parameters()), torch.device("cpu"))
    x_in, m_in = x.to(dev, torch.float32), m.to(dev, torch.float32)
    masked = x_in * (1 - m_in)  # the model never sees the hole's true pixels
    was_training = model.training
    model.eval()
    try:
        if model.fixed_size is not None:
            pred = _run_windowed(model, masked, m_in, **kwargs)
        else:
            pred = _run_padded(model, masked, m_in, **kwargs)
    finally:
        model.train(was_training)
    out = composite(pred.clamp(0, 1), x_in, m_in).to(x.device)
    if tag == "numpy":
        return (out[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return out[0].to(image.dtype) if tag == "chw" else out.to(image.dtype)
