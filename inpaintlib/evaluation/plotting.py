"""Plot helpers used by every chapter: image grids, loss curves, heat maps.

Defined in Chapter 0 (Foundations).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from inpaintlib.evaluation.compositing import mask_image


def to_numpy_image(image) -> np.ndarray:
    """(3,H,W) tensor in [0,1] (or (H,W,3) array) -> (H,W,3) float array for ``imshow``.

    Defined in Chapter 0 (Foundations).
    """
    if torch.is_tensor(image):
        image = image.detach().float().cpu()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image / 255.0
    return np.clip(image.squeeze(), 0, 1)


def show_masked(image: torch.Tensor, mask: torch.Tensor, colour=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """The image with its hole painted in ``colour`` (white by default), for display.

    Defined in Chapter 0 (Foundations).
    """
    return mask_image(image, mask, torch.tensor(colour, dtype=image.dtype, device=image.device))


def image_grid(columns: dict[str, torch.Tensor], n: int | None = None, size: float = 2.0, title: str | None = None):
    """A grid with one column per entry of ``columns`` (e.g. masked / output / ground truth) and
    one row per image of the batches.

    Defined in Chapter 0 (Foundations). Each value is a (B,3,H,W) batch in [0,1] (or (B,1,H,W)
    for masks, shown in grey). Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    names = list(columns)
    rows = min(len(v) for v in columns.values())
    rows = min(rows, n) if n else rows
    fig, axes = plt.subplots(rows, len(names), figsize=(size * len(names), size * rows), squeeze=False)
    for r in range(rows):
        for c, name in enumerate(names):
            ax = axes[r, c]
            img = to_numpy_image(columns[name][r])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_curves(history: dict[str, list], keys=None, title: str = "Training losses", logy: bool = True,
                phases: bool = True, ax=None):
    """Plot each loss term of a training history against the optimisation step, one panel per term.

    Defined in Chapter 0 (Foundations). ``history`` is what :func:`inpaintlib.training.engine.train`
    records (also stored in checkpoints). Phase changes (e.g. GLCIC's three phases) are drawn as
    vertical lines. Losses are unitless; the x axis is in optimisation steps.
    """
    import matplotlib.pyplot as plt

    keys = [k for k in (keys or history) if k not in ("step", "phase")]
    if ax is None:
        cols = min(3, len(keys))
        rows = math.ceil(len(keys) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
        axes = axes.ravel()
    else:
        axes, fig = [ax] * len(keys), ax.figure
    steps = np.asarray(history["step"])
    for a, key in zip(axes, keys):
        values = np.asarray(history[key], dtype=float)
        ok = np.isfinite(values)
        a.plot(steps, values, label=key)  # NaN (a term not computed in a phase) leaves a gap
        if logy and ok.any() and (values[ok] > 0).all():
            a.set_yscale("log")
        a.set_xlabel("optimisation step")
        a.set_ylabel("loss (unitless)")
        a.set_title(key, fontsize=10)
        if phases and history.get("phase"):
            ph = history["phase"]
            for i in range(1, len(ph)):
                if ph[i] != ph[i - 1]:
                    a.axvline(steps[i], color="grey", ls="--", lw=0.8)
    for a in list(axes)[len(keys):]:
        a.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def heat_map(values, title: str = "", label: str = "", ax=None, cmap: str = "viridis"):
    """Show a 2-D array (attention, receptive field, hole-ratio map ...) with a labelled colour bar.

    Defined in Chapter 0 (Foundations).
    """
    import matplotlib.pyplot as plt

    if torch.is_tensor(values):
        values = values.detach().float().cpu().numpy()
    values = np.asarray(values).squeeze()
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 3.4))
    im = ax.imshow(values, cmap=cmap)
    ax.figure.colorbar(im, ax=ax, label=label)
    ax.set_title(title)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    return ax.figure


def budget_schedule(settings, phases, title: str = "What the budget is spent on"):
    """Learning-rate factor, crop size and phases of a run against the fraction of its budget.

    Defined in Chapter 0 (Foundations). ``settings`` is a :class:`inpaintlib.training.engine.TrainSettings`
    and ``phases`` the recipe's phases for it; everything is drawn against the share of the
    budget (0-100 %), which is what the engine schedules by.
    """
    import matplotlib.pyplot as plt

    from inpaintlib.training.schedules import lr_factor, phase_boundaries, value_at

    p = np.linspace(0, 1, 401)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
    a.plot(100 * p, [lr_factor(settings.lr_schedule, x, settings.lr_final) for x in p])
    a.set_xlabel("share of the training budget (%)")
    a.set_ylabel("learning rate / base rate")
    a.set_title(f"learning rate ({settings.lr_schedule})", fontsize=10)
    b.step(100 * p, [value_at(settings.resize_schedule, x, settings.image_size) for x in p], where="post")
    b.set_xlabel("share of the training budget (%)")
    b.set_ylabel("training crop size (px)")
    b.set_title("progressive resizing", fontsize=10)
    ends = phase_boundaries([ph.length for ph in phases])
    for ax in (a, b):
        start = 0.0
        for i, (ph, end) in enumerate(zip(phases, ends)):
            ax.axvspan(100 * start, 100 * end, color=f"C{i}", alpha=0.08)
            if len(phases) > 1:  # one phase needs no label
                ax.text(100 * (start + end) / 2, ax.get_ylim()[1], ph.name, ha="center", va="bottom", fontsize=8)
            start = end
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def offsets_to_rgb(offsets, max_length: float | None = None) -> np.ndarray:
    """(2, H, W) offsets (dy, dx) -> (H, W, 3) colours: hue = direction, saturation = length.

    Defined in Chapter 6 (DeepFill v1), for the paper's colour-coded attention maps (the
    optical-flow convention: a zero offset is white, longer offsets are more saturated). Angles
    are measured with y pointing up, as on a map; ``max_length`` (default: the longest offset)
    is the length drawn fully saturated.
    """
    import matplotlib.colors as mcolors

    offsets = torch.as_tensor(offsets)
    if offsets.ndim != 3 or offsets.shape[0] != 2:
        raise ValueError(f"offsets must have shape (2, H, W) (dy, dx), got {tuple(offsets.shape)}")
    dy, dx = offsets[0].float(), offsets[1].float()
    length = torch.hypot(dy, dx)
    scale = max_length or max(float(length.max()), 1e-6)
    hue = (torch.atan2(-dy, dx) / (2 * math.pi)) % 1.0
    hsv = torch.stack([hue, (length / scale).clamp(0, 1), torch.ones_like(hue)], dim=-1)
    return mcolors.hsv_to_rgb(hsv.numpy())


def offset_wheel(ax, radius: int = 20, unit: str = "positions"):
    """Draw the legend of :func:`offsets_to_rgb` on ``ax``: every offset up to ``radius``.

    Defined in Chapter 6 (DeepFill v1).
    """
    yy, xx = torch.meshgrid(torch.arange(-radius, radius + 1), torch.arange(-radius, radius + 1), indexing="ij")
    wheel = offsets_to_rgb(torch.stack([yy, xx]), max_length=radius)
    wheel[(yy ** 2 + xx ** 2 > radius ** 2).numpy()] = 1.0  # white outside the disc
    ax.imshow(wheel, extent=(-radius, radius, radius, -radius))
    ax.set_xlabel(f"dx ({unit})")
    ax.set_ylabel(f"dy ({unit})")
    ax.set_title("legend: offset to the source", fontsize=9)
    return wheel
