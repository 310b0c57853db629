"""Painting a hole with a round brush: the mask the reader draws in the "Try it yourself" chapter.

Defined in the "Try it yourself" chapter. Plain NumPy, so that it is tested without a browser.

A brush of width ``w`` dragged along the segment from ``p`` to ``q`` marks every pixel whose
*centre* lies within ``w / 2`` of the segment (a "capsule": a rectangle with two half-discs).
Pixel ``(row, col)`` has its centre at ``(x, y) = (col, row)`` in the coordinates the mouse
gives, so a horizontal stroke of odd width ``w`` along row ``r`` from column ``a`` to column
``b`` marks rows ``r - (w-1)/2 .. r + (w-1)/2``, columns ``a .. b``, plus the round caps. Using
the exact distance (and not, say, OpenCV's anti-aliased lines) is what makes the marked pixels
predictable, so the tests can say exactly which pixels a stroke marks.

**Two layers.** The canvas holds the hole and a *sketch*: thin lines the reader draws for the
models that take one (DeepFill v2, Chapter 10, trained with Canny edges as the user's lines).
``layer`` says which one a stroke paints; the sketch pen is ``sketch_width`` pixels wide (1: a
one-pixel line, as Canny's). A model reads only the lines inside the hole
(:attr:`MaskCanvas.sketch_in_hole`): the known pixels need no guide.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["MaskCanvas", "LAYERS", "segment_distance", "scale_points"]

#: what a stroke paints: the hole, or the sketch's lines
LAYERS = ("hole", "sketch")

Point = tuple[float, float]


def segment_distance(height: int, width: int, p: Point, q: Point) -> np.ndarray:
    """Distance from every pixel centre of an (H, W) grid to the segment p-q, shape (H, W).

    ``p`` and ``q`` are (x, y) = (column, row). Projection onto the segment, clamped to its
    ends: t = clip(((c - p) . (q - p)) / |q - p|^2, 0, 1), distance = |c - (p + t (q - p))|.
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)  # (H, W) each
    px, py = map(float, p)
    dx, dy = float(q[0]) - px, float(q[1]) - py
    length2 = dx * dx + dy * dy
    if length2 == 0.0:  # a click: the segment is a point
        t = np.zeros_like(xs)
    else:
        t = np.clip(((xs - px) * dx + (ys - py) * dy) / length2, 0.0, 1.0)
    return np.hypot(xs - (px + t * dx), ys - (py + t * dy))


def scale_points(points: Iterable[Point], from_size: tuple[int, int], to_size: tuple[int, int]) -> list[Point]:
    """Map (x, y) points from an image shown at ``from_size`` (H, W) to ``to_size`` (H, W).

    The mouse gives coordinates on the *displayed* image; the mask lives at the working size.
    Pixel centres map to pixel centres: x' = (x + 0.5) * W' / W - 0.5.
    """
    (fh, fw), (th, tw) = from_size, to_size
    return [((x + 0.5) * tw / fw - 0.5, (y + 0.5) * th / fh - 0.5) for x, y in points]


class MaskCanvas:
    """A hole mask (H, W) bool (True = hole) painted with brush strokes, with erase and undo, and a
    sketch (H, W) bool (True = a line) drawn with a thin pen (``layer = "sketch"``).

    A stroke is ``begin_stroke(point)``, any number of ``continue_stroke(point)`` while the mouse
    moves, ``end_stroke()``; ``stroke(points)`` does all three. One stroke (or one ``clear``, or
    one ``set_mask``) is one undo step, however many mouse events it took, on either layer.
    """

    def __init__(self, height: int, width: int, brush: float = 12.0, max_undo: int = 64,
                 sketch_width: float = 1.0):
        if height <= 0 or width <= 0:
            raise ValueError(f"a canvas needs a positive size, got {height}x{width}")
        self.height, self.width = int(height), int(width)
        self.brush, self.sketch_width = float(brush), float(sketch_width)
        self.erase = False
        self._layer = "hole"
        self.mask = np.zeros((self.height, self.width), dtype=bool)
        self.sketch = np.zeros((self.height, self.width), dtype=bool)
        self._undo: list[tuple[np.ndarray, np.ndarray]] = []
        self._max_undo = int(max_undo)
        self._last: Point | None = None

    @property
    def layer(self) -> str:
        """What strokes paint: ``"hole"`` (the brush) or ``"sketch"`` (the thin pen)."""
        return self._layer

    @layer.setter
    def layer(self, value: str) -> None:
        if value not in LAYERS:
            raise ValueError(f"layer must be one of {LAYERS}, got {value!r}")
        self._layer = value

    # -- history -------------------------------------------------------------------------
    def _push(self) -> None:
        self._undo.append((self.mask.copy(), self.sketch.copy()))
        del self._undo[: -self._max_undo]

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> bool:
        """Restore the mask and sketch before the last stroke/clear; False when there is nothing to undo."""
        if not self._undo:
            return False
        self.mask, self.sketch = self._undo.pop()
        self._last = None
        return True

    def clear(self) -> None:
        """Remove every hole and every line (one undo step)."""
        self._push()
        self.mask = np.zeros_like(self.mask)
        self.sketch = np.zeros_like(self.sketch)

    def set_mask(self, mask: np.ndarray) -> None:
        """Replace the mask (a preset or an uploaded mask file), as one undo step; the sketch stays."""
        mask = np.asarray(mask)
        if mask.shape != self.mask.shape:
            raise ValueError(f"mask of shape {mask.shape} does not fit the canvas {self.mask.shape}")
        self._push()
        self.mask = mask.astype(bool).copy()

    # -- painting ------------------------------------------------------------------------
    def _dab(self, p: Point, q: Point) -> None:
        sketching = self._layer == "sketch"
        r = (self.sketch_width if sketching else self.brush) / 2.0
        # only the bounding box of the capsule can change: keeps a drag cheap on big canvases
        x0 = max(int(np.floor(min(p[0], q[0]) - r)), 0)
        x1 = min(int(np.ceil(max(p[0], q[0]) + r)) + 1, self.width)
        y0 = max(int(np.floor(min(p[1], q[1]) - r)), 0)
        y1 = min(int(np.ceil(max(p[1], q[1]) + r)) + 1, self.height)
        if x0 >= x1 or y0 >= y1:
            return
        local = segment_distance(y1 - y0, x1 - x0, (p[0] - x0, p[1] - y0), (q[0] - x0, q[1] - y0))
        target = self.sketch if sketching else self.mask
        target[y0:y1, x0:x1][local <= r] = not self.erase

    def begin_stroke(self, point: Point) -> None:
        self._push()
        self._last = (float(point[0]), float(point[1]))
        self._dab(self._last, self._last)

    def continue_stroke(self, point: Point) -> None:
        if self._last is None:  # a move without a press (the mouse entered while pressed)
            self.begin_stroke(point)
            return
        point = (float(point[0]), float(point[1]))
        self._dab(self._last, point)
        self._last = point

    def end_stroke(self) -> None:
        self._last = None

    @property
    def drawing(self) -> bool:
        """Whether a stroke is under way (pressed and not yet released)."""
        return self._last is not None

    def stroke(self, points: Sequence[Point], brush: float | None = None, erase: bool | None = None,
               layer: str | None = None) -> None:
        """Paint (or erase) one polyline stroke through ``points`` ((x, y) pairs), on ``layer``
        (default: the current one; given, it becomes the current one)."""
        if len(points) == 0:
            raise ValueError("a stroke needs at least one (x, y) point")
        if layer is not None:
            self.layer = layer
        if brush is not None:
            self.brush = float(brush)
        if erase is not None:
            self.erase = bool(erase)
        self.begin_stroke(points[0])
        for point in points[1:]:
            self.continue_stroke(point)
        self.end_stroke()

    # -- reading -------------------------------------------------------------------------
    @property
    def hole_ratio(self) -> float:
        """Fraction of pixels in the hole (0..1)."""
        return float(self.mask.mean())

    @property
    def sketch_in_hole(self) -> np.ndarray:
        """The lines a model reads, (H, W) bool: the sketch inside the hole only."""
        return self.sketch & self.mask

    def as_tensor(self):
        """The mask as the book's convention: float (1, 1, H, W), 1 = hole."""
        import torch

        return torch.from_numpy(self.mask.astype(np.float32))[None, None]

    def sketch_tensor(self):
        """:attr:`sketch_in_hole` as float (1, 1, H, W), 1 = a line: a sketch model's ``sketch``."""
        import torch

        return torch.from_numpy(self.sketch_in_hole.astype(np.float32))[None, None]
