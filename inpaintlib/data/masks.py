"""Hole masks: the shapes that inpainting papers cut out of images.

Defined in Chapter 0 (Foundations).

Every generator here returns a float32 tensor of shape (B, 1, H, W) whose values are exactly
0.0 or 1.0, and **1 marks a hole** (a missing pixel). The shape of the hole matters as much as
the network: a model trained only on centre squares (Context Encoder, 2016) fails on thin
free-form strokes and vice versa, so the book trains and evaluates with several families:

* ``center_square_mask``: the fixed centre square of Context Encoders (64x64 in 128x128).
* ``random_rectangles_mask``: one or several axis-aligned boxes at random places
  (Globally and Locally Consistent Image Completion, Contextual Attention).
* ``free_form_mask``: DeepFill v2's random brush strokes ("Free-Form Image Inpainting with
  Gated Convolution", Yu et al. 2019), OR-combined with a random box as in its training.
* ``irregular_mask``: strokes, circles and ellipses, similar in spirit to the irregular masks of
  Partial Convolutions (Liu et al. 2018).

Randomness. Every random generator takes ``generator``: ``None`` (draw from torch's global RNG,
so ``torch.manual_seed`` controls it), an ``int`` seed (the same seed gives the same masks), a
``torch.Generator`` (advanced by each call, so successive calls differ but a re-seeded generator
replays them), or a ``numpy.random.Generator``. The strokes are drawn with OpenCV on numpy
arrays, so a torch generator is only used to draw one 63-bit seed for a numpy generator.
"""
from __future__ import annotations

import math
from typing import Union

import cv2
import numpy as np
import torch

__all__ = [
    "GeneratorLike",
    "center_square_mask",
    "random_rectangles_mask",
    "free_form_mask",
    "irregular_mask",
    "hole_ratio",
    "free_form_mask_in_bucket",
    "hole_to_valid",
    "valid_to_hole",
    "check_mask",
    "mask_bbox",
]

GeneratorLike = Union[torch.Generator, int, np.random.Generator, None]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _numpy_rng(generator: GeneratorLike) -> np.random.Generator:
    """Turn any accepted ``generator`` into a numpy Generator.

    Why: OpenCV draws on numpy arrays and numpy's Generator has the distributions we need
    (normal, integers, uniform); torch generators are kept as the public interface because the
    rest of the book seeds everything through torch.
    """
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (bool,)):
        raise TypeError("generator must be None, an int seed, a torch.Generator or a numpy Generator")
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    if generator is None or isinstance(generator, torch.Generator):
        seed = torch.randint(0, 2**62, (1,), generator=generator).item()
        return np.random.default_rng(seed)
    raise TypeError(
        "generator must be None, an int seed, a torch.Generator or a numpy.random.Generator, "
        f"got {type(generator).__name__}"
    )


def _pair(value, name: str) -> tuple[int, int]:
    """Accept ``n`` or ``(h, w)`` and return ``(h, w)`` as ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _check_size(batch: int, height: int, width: int) -> None:
    if int(batch) < 1 or int(height) < 1 or int(width) < 1:
        raise ValueError(f"batch, height and width must be positive, got {batch}, {height}, {width}")


def _to_tensor(masks: np.ndarray) -> torch.Tensor:
    """(B, H, W) array of 0/1 (any dtype) -> float32 tensor (B, 1, H, W) of exactly 0.0/1.0."""
    return torch.from_numpy((masks > 0).astype(np.float32)).unsqueeze(1)


# --------------------------------------------------------------------------------------------
# generators
# --------------------------------------------------------------------------------------------
def center_square_mask(batch: int, height: int, width: int, hole_size=None) -> torch.Tensor:
    """A hole in the centre of every image: the Context Encoder setting.

    Defined in Chapter 0 (Foundations). ``hole_size`` is an int or ``(h, w)``; by default it is
    half of each side (64x64 in a 128x128 image), the region Context Encoders (Pathak et al.
    2016) always removed. The hole starts at row ``(height - h) // 2`` and column
    ``(width - w) // 2``. Deterministic, so it takes no generator.
    """
    _check_size(batch, height, width)
    h, w = _pair(hole_size, "hole_size") if hole_size is not None else (height // 2, width // 2)
    if not (0 < h <= height and 0 < w <= width):
        raise ValueError(f"hole_size {(h, w)} does not fit in a {height}x{width} image")
    mask = torch.zeros(batch, 1, height, width, dtype=torch.float32)
    top, left = (height - h) // 2, (width - w) // 2
    mask[:, :, top : top + h, left : left + w] = 1.0
    return mask


def random_rectangles_mask(
    batch: int,
    height: int,
    width: int,
    num=(1, 1),
    min_size=None,
    max_size=None,
    margin: int = 0,
    generator: GeneratorLike = None,
) -> torch.Tensor:
    """One or several random axis-aligned rectangular holes per image.

    Defined in Chapter 0 (Foundations). ``num`` is an int or an inclusive range ``(lo, hi)`` of
    rectangles per image; each rectangle's height and width are drawn uniformly between
    ``min_size`` (default a quarter of the side) and ``max_size`` (default half of the side),
    each an int or ``(h, w)``, and it is placed uniformly at random at least ``margin`` pixels
    away from the border. Random boxes (instead of one fixed centre) stop a network from
    learning *where* the hole is rather than *how* to fill it (Iizuka et al. 2017).
    """
    _check_size(batch, height, width)
    lo, hi = (int(num), int(num)) if isinstance(num, (int, np.integer)) else (int(num[0]), int(num[1]))
    if lo < 0 or hi < lo:
        raise ValueError(f"num must be a non-negative int or a range (lo, hi) with lo <= hi, got {num!r}")
    min_h, min_w = _pair(min_size, "min_size") if min_size is not None else (max(1, height // 4), max(1, width // 4))
    max_h, max_w = _pair(max_size, "max_size") if max_size is not None else (max(1, height // 2), max(1, width // 2))
    margin = int(margin)
    avail_h, avail_w = height - 2 * margin, width - 2 * margin
    if not (1 <= min_h <= max_h <= avail_h and 1 <= min_w <= max_w <= avail_w):
        raise ValueError(
            f"rectangle sizes {min_h}..{max_h} x {min_w}..{max_w} with margin {margin} do not fit "
            f"in a {height}x{width} image"
        )
    rng = _numpy_rng(generator)
    masks = np.zeros((batch, height, width), dtype=np.uint8)
    for b in range(batch):
        for _ in range(int(rng.integers(lo, hi + 1))):
            h = int(rng.integers(min_h, max_h + 1))
            w = int(rng.integers(min_w, max_w + 1))
            top = margin + int(rng.integers(0, avail_h - h + 1))
            left = margin + int(rng.integers(0, avail_w - w + 1))
            masks[b, top : top + h, left : left + w] = 1
    return _to_tensor(masks)


def _brush_strokes(
    rng: np.random.Generator,
    height: int,
    width: int,
    num_strokes: tuple[int, int],
    num_vertices: tuple[int, int],
    width_range: tuple[float, float],
) -> np.ndarray:
    """Draw DeepFill v2 style brush strokes into one (H, W) uint8 canvas (1 = hole).

    Why each choice (Yu et al. 2019, supplementary "free-form mask generation"): a stroke is a
    polyline whose segments turn by about 2*pi/5; turning to the other side on every other
    vertex keeps strokes meandering instead of curling into circles; segment lengths are normal
    around an eighth of the image diagonal so a stroke spans a good part of the image; the
    filled circle at every vertex rounds off the joints like a real brush.
    """
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    radius = math.sqrt(height**2 + width**2) / 8
    scale = math.sqrt(height * width) / 256.0  # the published widths are for 256x256 images
    canvas = np.zeros((height, width), dtype=np.uint8)
    for _ in range(int(rng.integers(num_strokes[0], num_strokes[1] + 1))):
        n_vertex = int(rng.integers(num_vertices[0], num_vertices[1] + 1))
        brush = max(1, int(round(rng.uniform(width_range[0], width_range[1]) * scale)))
        x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        points = [(x, y)]
        for i in range(n_vertex):
            angle = rng.uniform(mean_angle - angle_range, mean_angle + angle_range)
            if i % 2 == 0:
                angle = 2 * math.pi - angle
            length = float(np.clip(rng.normal(radius, radius / 2), 0, 2 * radius))
            x = float(np.clip(x + length * math.cos(angle), 0, width - 1))
            y = float(np.clip(y + length * math.sin(angle), 0, height - 1))
            points.append((x, y))
        pts = [(int(round(px)), int(round(py))) for px, py in points]
        for p, q in zip(pts[:-1], pts[1:]):
            cv2.line(canvas, p, q, 1, thickness=brush)
        for p in pts:
            cv2.circle(canvas, p, brush // 2, 1, thickness=-1)
    # A random flip, so the "turn left first" convention of the walk leaves no bias.
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1]
    if rng.random() < 0.5:
        canvas = canvas[::-1, :]
    return np.ascontiguousarray(canvas)


def free_form_mask(
    batch: int,
    height: int,
    width: int,
    num_strokes=(1, 3),
    num_vertices=(4, 12),
    stroke_width=(12, 40),
    with_box: bool = True,
    box_size=None,
    generator: GeneratorLike = None,
) -> torch.Tensor:
    """DeepFill v2 free-form brush-stroke holes, optionally OR-ed with a random box.

    Defined in Chapter 0 (Foundations). Per image: ``num_strokes`` strokes (inclusive range,
    default 1-3), each a polyline of ``num_vertices`` vertices (default 4-12) turning by
    2*pi/5 +- 2*pi/15 (alternating side on every other vertex), with step lengths
    ~ N(r, r/2) clipped to [0, 2r] where r = sqrt(H^2 + W^2) / 8, a brush width uniform in
    ``stroke_width`` (pixels at 256x256, scaled with sqrt(H*W)/256) and a filled circle at each
    vertex. With ``with_box`` (the default, as in DeepFill v2's training) a random rectangle of
    side ``box_size`` (inclusive range as fractions of the side, default (1/8, 3/8)) is OR-ed in:
    users erase objects as often as they scribble.
    """
    _check_size(batch, height, width)
    rng = _numpy_rng(generator)
    lo_box, hi_box = box_size if box_size is not None else (1 / 8, 3 / 8)
    masks = np.zeros((batch, height, width), dtype=np.uint8)
    for b in range(batch):
        masks[b] = _brush_strokes(rng, height, width, tuple(num_strokes), tuple(num_vertices), tuple(stroke_width))
        if with_box:
            h = max(1, int(round(rng.uniform(lo_box, hi_box) * height)))
            w = max(1, int(round(rng.uniform(lo_box, hi_box) * width)))
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            masks[b, top : top + h, left : left + w] = 1
    return _to_tensor(masks)


def irregular_mask(
    batch: int,
    height: int,
    width: int,
    num_lines=(1, 6),
    num_circles=(0, 4),
    num_ellipses=(1, 4),
    generator: GeneratorLike = None,
) -> torch.Tensor:
    """Irregular holes made of thick lines, filled circles and elliptical arcs.

    Defined in Chapter 0 (Foundations). Partial Convolutions (Liu et al. 2018) trained on a
    released set of irregular masks obtained from occlusion maps of videos; that set cannot be
    downloaded here, so this generator draws masks of the same character (thin-to-thick blobs
    and curves scattered over the image) from random lines, circles and ellipses. Counts are
    inclusive ranges per image; sizes scale with the image.
    """
    _check_size(batch, height, width)
    rng = _numpy_rng(generator)
    side = min(height, width)
    masks = np.zeros((batch, height, width), dtype=np.uint8)
    for b in range(batch):
        canvas = masks[b]
        for _ in range(int(rng.integers(num_lines[0], num_lines[1] + 1))):
            p = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            q = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            thickness = int(rng.integers(max(1, side // 40), max(2, side // 10) + 1))
            cv2.line(canvas, p, q, 1, thickness=thickness)
        for _ in range(int(rng.integers(num_circles[0], num_circles[1] + 1))):
            c = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            r = int(rng.integers(max(1, side // 40), max(2, side // 8) + 1))
            cv2.circle(canvas, c, r, 1, thickness=-1)
        for _ in range(int(rng.integers(num_ellipses[0], num_ellipses[1] + 1))):
            c = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            axes = (int(rng.integers(1, max(2, side // 4))), int(rng.integers(1, max(2, side // 4))))
            rotation = float(rng.uniform(0, 360))
            start = float(rng.uniform(0, 360))
            sweep = float(rng.uniform(90, 360))
            thickness = int(rng.integers(max(1, side // 40), max(2, side // 12) + 1))
            cv2.ellipse(canvas, c, axes, rotation, start, start + sweep, 1, thickness=thickness)
    return _to_tensor(masks)


# --------------------------------------------------------------------------------------------
# measuring, bucketing, converting
# --------------------------------------------------------------------------------------------
def hole_ratio(mask: torch.Tensor) -> torch.Tensor:
    """Fraction of hole pixels of each mask, shape (B,).

    Defined in Chapter 0 (Foundations). Papers since Partial Convolutions report results per
    hole-ratio bucket (10-20 %, 20-30 %, ...) because every metric gets worse as the hole grows;
    this is the number that decides the bucket.
    """
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape (B,1,H,W), got {tuple(mask.shape)}")
    return mask.float().flatten(1).mean(dim=1)


def free_form_mask_in_bucket(
    height: int,
    width: int,
    low: float,
    high: float,
    generator: GeneratorLike = None,
    *,
    batch: int = 1,
    max_tries: int = 10000,
) -> torch.Tensor:
    """Free-form masks whose hole ratio lies in ``[low, high)``, shape (batch, 1, H, W).

    Defined in Chapter 0 (Foundations). Rejection sampling: draw a ``free_form_mask``; while its
    hole ratio is below ``low`` OR another free-form mask into it (more strokes: a large hole is
    still made of brush strokes, not one big box); accept once the ratio is in the bucket, start
    over if it overshoots ``high``. Used to build the fixed test masks of the 10-20 %, 20-30 %,
    30-40 % and 40-50 % buckets.
    """
    if not (0.0 <= low < high <= 1.0):
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    rng = _numpy_rng(generator)
    out = []
    for _ in range(int(batch)):
        for _attempt in range(max_tries):
            mask = free_form_mask(1, height, width, generator=rng)
            ratio = hole_ratio(mask).item()
            while ratio < low:
                mask = torch.maximum(mask, free_form_mask(1, height, width, with_box=False, generator=rng))
                ratio = hole_ratio(mask).item()
            if ratio < high:
                out.append(mask)
                break
        else:
            raise RuntimeError(
                f"no free-form mask with hole ratio in [{low}, {high}) after {max_tries} tries; "
                f"the bucket is probably too narrow for a {height}x{width} image"
            )
    return torch.cat(out, dim=0)


def hole_to_valid(mask: torch.Tensor) -> torch.Tensor:
    """Convert a hole mask (1 = hole) to a validity mask (1 = known pixel).

    Defined in Chapter 0 (Foundations). Partial Convolutions and some reference code use the
    opposite polarity; converting explicitly at the boundary is what keeps the rest of the book
    on one convention.
    """
    return 1.0 - mask


def valid_to_hole(mask: torch.Tensor) -> torch.Tensor:
    """Convert a validity mask (1 = known pixel) back to a hole mask (1 = hole).

    Defined in Chapter 0 (Foundations). The inverse of ``hole_to_valid`` (and the same formula,
    ``1 - mask``, since the polarity swap is its own inverse).
    """
    return 1.0 - mask


def check_mask(
    mask,
    image: torch.Tensor | None = None,
    *,
    allow_empty: bool = True,
    allow_full: bool = True,
    name: str = "mask",
) -> torch.Tensor:
    """Validate a mask batch and return it unchanged; raise ``ValueError`` with a clear reason.

    Defined in Chapter 0 (Foundations). Checks that ``mask`` is a floating-point torch tensor of
    shape (B, 1, H, W) (matching ``image`` (B, 3, H, W) if given; a batch of 1 may broadcast),
    with no NaN and only the values 0 and 1, 1 marking the hole. With ``allow_empty=False`` a
    mask without any hole is refused; with ``allow_full=False`` a mask that is all hole is
    refused. Why so strict: a uint8 0..255 mask or a soft (blurred, resized) mask silently makes
    ``composite`` blend images and every metric wrong, and a reversed polarity inpaints the
    wrong region; those errors are easy to make and hard to see.
    """
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if not mask.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor (float32) with values in {{0,1}} and 1 = hole, "
            f"got dtype {mask.dtype}; convert with `(m > 0).float()` (or `m.float() / 255` for 0..255)"
        )
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"{name} must have shape (B,1,H,W), got {tuple(mask.shape)}")
    if image is not None:
        if image.ndim != 4:
            raise ValueError(f"image must have shape (B,3,H,W), got {tuple(image.shape)}")
        if mask.shape[-2:] != image.shape[-2:]:
            raise ValueError(
                f"{name} size {tuple(mask.shape[-2:])} does not match image size {tuple(image.shape[-2:])}"
            )
        if mask.shape[0] not in (1, image.shape[0]):
            raise ValueError(f"{name} batch {mask.shape[0]} does not match image batch {image.shape[0]}")
    if torch.isnan(mask).any():
        raise ValueError(f"{name} contains NaN; mask must be binary {{0,1}} with 1 = hole")
    binary = (mask == 0) | (mask == 1)
    if not bool(binary.all()):
        top = float(mask.max())
        hint = (
            "it looks like a 0..255 mask: divide by 255"
            if top > 1
            else "it has soft values (blurred or resized?): threshold it with `(m > 0.5).float()`"
        )
        raise ValueError(f"{name} must be binary {{0,1}} with 1 = hole; {hint}")
    ratio = mask.flatten(1).mean(dim=1)
    if not allow_empty and bool((ratio == 0).any()):
        raise ValueError(f"{name} has an image with no hole at all (all valid); 1 = hole")
    if not allow_full and bool((ratio == 1).any()):
        raise ValueError(f"{name} has an image that is all hole (nothing known); is the polarity reversed? 1 = hole")
    return mask


def mask_bbox(mask: torch.Tensor) -> torch.Tensor:
    """Bounding box of the hole of each mask: long tensor (B, 4) = (top, left, bottom, right).

    Defined in Chapter 0 (Foundations). ``bottom`` and ``right`` are exclusive, so
    ``mask[b, :, top:bottom, left:right]`` holds the whole hole. A mask without a hole gets
    (0, 0, 0, 0). Used for the local discriminator of Iizuka et al. and for zoomed figures.
    """
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape (B,1,H,W), got {tuple(mask.shape)}")
    boxes = torch.zeros(mask.shape[0], 4, dtype=torch.long)
    hole = mask[:, 0] > 0.5
    for b in range(mask.shape[0]):
        rows = torch.nonzero(hole[b].any(dim=1)).flatten()
        cols = torch.nonzero(hole[b].any(dim=0)).flatten()
        if rows.numel():
            boxes[b] = torch.tensor([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1])
    return boxes
