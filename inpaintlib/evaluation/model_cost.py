r"""What a model costs to use: parameters, FLOPs per image, CPU time per image.

Defined in Chapter 11 (the comparison). The comparison sets these beside the quality numbers,
because a reader choosing a model for their own photos pays them at every fill.

* **parameters**: trainable and frozen, of every network the model holds (its moving average
  is what ships, so it is counted once);
* **GFLOP per image**: one fill of a 128 px image through :func:`inpaintlib.inpaint`, counted as
  training FLOPs are (:func:`inpaintlib.training.flops.count_flops`: a multiply-add is 2 FLOPs,
  convolutions and matrix products only). A classical baseline (OpenCV, scikit-image) does no
  counted arithmetic: its FLOPs are ``None``, not 0. An iterative method (MSNPS's texture
  optimisation) counts all of its iterations;
* **CPU time per image**: the median over ``repeats`` fills of one image (after one warm-up fill),
  at each size, with the process's torch threads, through the same :func:`inpaintlib.inpaint` a
  user calls (padding and compositing included). It depends on the machine and on what else
  runs: the chapter states the CPU and the thread count beside it.

The hole is a centred 64 x 64 square at every size (the test set's ``center`` hole at 128 px,
and the largest the Context Encoder fills): every model accepts it. A network's cost does not
depend on the hole; MSNPS's optimisation, which works on the hole, grows with it.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from inpaintlib.api import inpaint
from inpaintlib.data.photos import load_test_set
from inpaintlib.training.flops import count_flops

__all__ = ["ModelCost", "model_cost", "inference_flops", "cpu_ms_per_image", "centre_hole"]


@dataclass(frozen=True)
class ModelCost:
    """One row of the comparison's cost columns."""

    name: str
    parameters: int
    gflop_128: float | None  # None: classical code, no counted arithmetic
    cpu_ms: dict  # {size_px: median milliseconds per image}
    threads: int


def centre_hole(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A test image (1, 3, size, size) (the first test crop, resized) and a centred 64 x 64 hole
    (1, 1, size, size), 1 = hole."""
    image = F.interpolate(load_test_set(n=1), size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    if size < 96:
        raise ValueError(f"the cost probe needs images of at least 96 px around its 64 px hole, got {size}")
    mask = torch.zeros(1, 1, size, size)
    top = (size - 64) // 2
    mask[..., top:top + 64, top:top + 64] = 1.0
    return image, mask


def inference_flops(model, size: int = 128) -> int | None:
    """Counted FLOPs of one fill at ``size`` px; ``None`` for a model without torch parameters
    (classical code)."""
    if not any(True for _ in model.parameters()):
        return None
    image, mask = centre_hole(size)
    return count_flops(lambda: inpaint(image, mask, model))


def cpu_ms_per_image(model, size: int, repeats: int = 5) -> float:
    """Median wall-clock milliseconds of one fill at ``size`` px on the CPU (one warm-up first)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    image, mask = centre_hole(size)
    inpaint(image, mask, model, device="cpu")  # warm-up: first-call allocations, lazy loads
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        inpaint(image, mask, model, device="cpu")
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def model_cost(model, sizes: tuple[int, ...] = (128, 256), repeats: int = 5, name: str | None = None) -> ModelCost:
    """Parameters, GFLOP per 128 px image and CPU milliseconds per image at ``sizes``."""
    flops = inference_flops(model, 128)
    return ModelCost(name or getattr(model, "name", type(model).__name__),
                     sum(p.numel() for p in model.parameters()),
                     None if flops is None else flops / 1e9,
                     {int(s): cpu_ms_per_image(model, int(s), repeats) for s in sizes},
                     torch.get_num_threads())
