"""The "Try it yourself" demo: paint a hole, watch every model fill it.

Defined in the "Try it yourself" chapter. Everything here is plain Python/NumPy, tested without
a browser; the notebook only wires it to widgets and mouse events.

* :mod:`inpaintlib.demo.painting`: the brush (``MaskCanvas``: strokes, erase, undo, clear), and
  the thin pen of the sketch that DeepFill v2 reads (``layer = "sketch"``);
* :mod:`inpaintlib.demo.presets`: centre square, random rectangles, free-form strokes at a
  chosen hole ratio;
* :mod:`inpaintlib.demo.runner`: models loaded once, each fill timed and measured, a model that
  cannot fill the hole answering with one sentence (``ModelBench``, ``Tile``);
* :mod:`inpaintlib.demo.grid`: the mask overlay, the result grid, PNG downloads.

Reading the reader's own files lives in :mod:`inpaintlib.data.image_files` (the command line uses it
too).
"""
from inpaintlib.demo.grid import overlay, png_bytes, result_grid, tile_caption
from inpaintlib.demo.painting import LAYERS, MaskCanvas, scale_points, segment_distance
from inpaintlib.demo.presets import PRESETS, preset_mask
from inpaintlib.demo.runner import ModelBench, Tile, is_interactive, measure, to_working_size, uses_sketch

__all__ = [
    "LAYERS",
    "MaskCanvas",
    "ModelBench",
    "PRESETS",
    "Tile",
    "is_interactive",
    "measure",
    "overlay",
    "png_bytes",
    "preset_mask",
    "result_grid",
    "scale_points",
    "segment_distance",
    "tile_caption",
    "to_working_size",
    "uses_sketch",
]
