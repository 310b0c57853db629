"""Run every model on the reader's hole: load once, time each fill, measure, never fail as a whole.

Defined in the "Try it yourself" chapter.

``ModelBench`` holds the models the demo shows, loaded once (a stroke must not reload a
checkpoint). ``fill`` runs each of them through :func:`inpaintlib.inpaint` and returns one
:class:`Tile` per model: the result and its time, the metrics when the photo has a ground
truth, or, when the model cannot fill this hole (the Context Encoder's fixed 64x64 centre, an
image smaller than the network accepts), the model's own one-sentence reason. A reader's sketch
(lines drawn in the hole) goes to the models that take one (:func:`uses_sketch`); the others fill
the same hole without it.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from inpaintlib.api import _as_float_image, inpaint
from inpaintlib.evaluation.metrics import inpainting_metrics

__all__ = ["Tile", "ModelBench", "is_interactive", "uses_sketch", "measure", "to_working_size"]


@dataclass
class Tile:
    """One model's answer to one hole."""

    name: str
    display_name: str
    image: np.ndarray | None = None  # (H, W, 3) uint8, composited; None when the model refused
    seconds: float = 0.0
    metrics: dict[str, float] | None = None  # psnr_db, ssim, l1_% when a ground truth exists
    message: str | None = None  # why there is no image (one sentence)
    failed: bool = False  # True for an unexpected error (a bug), False for a refusal
    sketched: bool = False  # True when the model read the reader's lines

    @property
    def ok(self) -> bool:
        return self.image is not None


def is_interactive(model) -> bool:
    """Whether a model is fast enough to run at every mouse release (feed-forward networks and
    classical fills); iterative ones (MSNPS's texture optimisation) wait for the Fill button."""
    return bool(getattr(model, "interactive", True))


def uses_sketch(model) -> bool:
    """Whether a model takes a sketch (a ``sketch`` argument: DeepFill v2's guided networks)."""
    return bool(getattr(model, "use_sketch", False))


def to_working_size(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 photo so that its *shorter* side is ``size`` pixels, then
    centre-crop the longer side to a multiple of 8 (so every network's stride fits)."""
    import cv2

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 photo, got {image.shape} {image.dtype}")
    if size < 32:
        raise ValueError(f"the working size must be at least 32 pixels, got {size}")
    h, w = image.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    ch, cw = nh - nh % 8, nw - nw % 8
    top, left = (nh - ch) // 2, (nw - cw) // 2
    return np.ascontiguousarray(resized[top:top + ch, left:left + cw])


class ModelBench:
    """The models of the demo, loaded once.

    ``names`` defaults to :func:`inpaintlib.available_models`, so every chapter's shipped model
    appears in the demo without the demo changing. ``loader`` is injectable for tests.
    """

    def __init__(self, names: Iterable[str] | None = None, loader=None):
        import inpaintlib

        self.names = list(names) if names is not None else inpaintlib.available_models()
        self._loader = loader or inpaintlib.load_pretrained
        self._models: dict[str, object] = {}
        self.load_seconds: dict[str, float] = {}
        self.load_errors: dict[str, str] = {}

    def model(self, name: str):
        """The loaded model (loaded at the first call only); None if it could not be loaded."""
        if name not in self._models and name not in self.load_errors:
            t = time.perf_counter()
            try:
                self._models[name] = self._loader(name)
            except (ValueError, FileNotFoundError, RuntimeError, KeyError) as err:
                self.load_errors[name] = f"could not be loaded: {err}"
            self.load_seconds[name] = time.perf_counter() - t
        return self._models.get(name)

    def display_name(self, name: str) -> str:
        model = self.model(name)
        return getattr(model, "display_name", name) if model is not None else name

    def interactive_names(self) -> list[str]:
        return [n for n in self.names if self.model(n) is not None and is_interactive(self.model(n))]

    def fill_one(self, name: str, image: np.ndarray, hole: np.ndarray, truth: np.ndarray | None = None,
                 sketch: np.ndarray | None = None) -> Tile:
        """Fill ``hole`` ((H, W) bool, True = hole) of ``image`` ((H, W, 3) uint8) with one model;
        ``sketch`` ((H, W) bool, True = a line) is read inside the hole by a sketch model."""
        model = self.model(name)
        if model is None:
            return Tile(name, name, message=self.load_errors[name], failed=True)
        tile = Tile(name, model.display_name)
        options = {}
        if sketch is not None and uses_sketch(model):
            sketch = np.asarray(sketch, dtype=bool)
            if sketch.shape != np.shape(hole):
                raise ValueError(f"the sketch {sketch.shape} and the hole {np.shape(hole)} differ in size")
            lines = sketch & np.asarray(hole, dtype=bool)
            if lines.any():
                device = next((p.device for p in model.parameters()), torch.device("cpu"))
                options["sketch"] = torch.from_numpy(lines.astype(np.float32))[None, None].to(device)
                tile.sketched = True
        t = time.perf_counter()
        try:
            tile.image = inpaint(image, hole, model, **options)
        except ValueError as err:  # the model's own refusal: one sentence in its tile
            tile.message = str(err).rstrip(".") + "."
        except Exception as err:  # noqa: BLE001 -- a bug must not take the other tiles down
            tile.message, tile.failed = f"failed ({type(err).__name__}: {err})", True
        tile.seconds = time.perf_counter() - t
        if tile.ok and truth is not None:
            tile.metrics = measure(tile.image, truth, hole)
        return tile

    def fill(self, image: np.ndarray, hole: np.ndarray, truth: np.ndarray | None = None,
             names: Iterable[str] | None = None, sketch: np.ndarray | None = None) -> list[Tile]:
        """One tile per model in ``names`` (default: all), in that order."""
        return [self.fill_one(n, image, hole, truth, sketch) for n in (self.names if names is None else names)]


def measure(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    """PSNR (dB) and SSIM over the image, L1 (%) over the hole: the book's protocol (Chapter 0)."""
    if truth.shape != result.shape:
        raise ValueError(f"ground truth {truth.shape} and result {result.shape} differ in shape")
    m = torch.from_numpy(np.asarray(hole, dtype=np.float32))[None, None]
    # the same checked uint8 -> (1, 3, H, W) float conversion as inpaint's
    values = inpainting_metrics(_as_float_image(result)[0], _as_float_image(truth)[0], m)
    return {k: float(values[k][0]) for k in ("psnr_db", "ssim", "l1_%")}
