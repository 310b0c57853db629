"""What the demo shows: the mask overlay, the grid of results, and PNG files to download.

Defined in the "Try it yourself" chapter.
"""
from __future__ import annotations

import io
import textwrap

import numpy as np

from inpaintlib.demo.runner import Tile

__all__ = ["overlay", "tile_caption", "result_grid", "png_bytes"]

#: the hole is shown in this colour, half transparent, over the photo
HOLE_COLOUR = (255, 0, 170)
#: the reader's sketch lines, opaque, in a colour that stands out on the tinted hole
SKETCH_COLOUR = (0, 230, 255)


def overlay(image: np.ndarray, hole: np.ndarray, colour=HOLE_COLOUR, alpha: float = 0.55,
            sketch: np.ndarray | None = None, sketch_colour=SKETCH_COLOUR) -> np.ndarray:
    """The photo (H, W, 3) uint8 with the hole ((H, W) bool) tinted in ``colour`` and the
    sketch's lines ((H, W) bool, optional) drawn opaque in ``sketch_colour``."""
    if image.shape[:2] != hole.shape:
        raise ValueError(f"the mask {hole.shape} and the image {image.shape[:2]} differ in size")
    out = image.astype(np.float32)
    tint = np.asarray(colour, dtype=np.float32)
    out[hole] = (1 - alpha) * out[hole] + alpha * tint
    if sketch is not None:
        if sketch.shape != hole.shape:
            raise ValueError(f"the sketch {sketch.shape} and the mask {hole.shape} differ in size")
        out[sketch] = np.asarray(sketch_colour, dtype=np.float32)
    return (out + 0.5).astype(np.uint8)


def tile_caption(tile: Tile) -> str:
    """Name, time and (with a ground truth) PSNR / SSIM / hole L1, in at most three lines."""
    if not tile.ok:
        return tile.display_name
    lines = [tile.display_name, f"{1000 * tile.seconds:.0f} ms" + (", with your lines" if tile.sketched else "")]
    if tile.metrics:
        m = tile.metrics
        lines[1] += f" | PSNR {m['psnr_db']:.2f} dB"
        lines.append(f"SSIM {m['ssim']:.3f} | hole L1 {m['l1_%']:.2f} %")
    return "\n".join(lines)


def result_grid(tiles: list[Tile], masked: np.ndarray, columns: int = 4, size: float = 2.6, title: str | None = None):
    """A matplotlib figure: the masked input first, then one panel per tile.

    A tile without an image (the model refused the hole) is a grey panel with the model's
    reason written in it, so the reader sees *why* instead of an empty space.
    """
    import matplotlib.pyplot as plt

    n = len(tiles) + 1
    cols = min(columns, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size + 0.55) * rows), squeeze=False)
    panels = [("your hole (input)", masked, None)] + [(tile_caption(t), t.image, t) for t in tiles]
    for ax in axes.flat:
        ax.axis("off")
    for ax, (caption, image, tile) in zip(axes.flat, panels):
        if image is not None:
            ax.imshow(image)
        else:
            ax.imshow(np.full_like(masked, 235))
            wrapped = textwrap.fill(tile.message or "no result", width=28)
            ax.text(0.5, 0.5, wrapped, ha="center", va="center", fontsize=8, transform=ax.transAxes,
                    color="darkred" if tile.failed else "black")
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def png_bytes(array: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image or (H, W) bool mask (white = hole) as PNG file contents."""
    from PIL import Image

    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image or a bool mask, got dtype {array.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
