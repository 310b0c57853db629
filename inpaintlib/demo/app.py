"""The interactive demo: ipywidgets for the controls, ipyevents for the mouse.

Defined in the "Try it yourself" chapter. This module only wires widgets to the plain logic of
:mod:`inpaintlib.demo` (painting, presets, models, grid), so that everything it does can also be
driven without a browser: ``DemoApp.handle_mouse`` takes the same event dictionaries ipyevents
sends, and the tests call it directly.

Layout: photo picker and upload, working size, hole / sketch lines, brush / erase / undo /
clear, preset + hole ratio, the painted photo (the hole tinted, the lines drawn over it), the
models to run, then one tile per model (name, result, time and metrics, or the model's
one-sentence reason) and PNG download links.
"""
from __future__ import annotations

import base64
import html
import time

import numpy as np

from inpaintlib.demo.grid import overlay, png_bytes, tile_caption
from inpaintlib.demo.painting import MaskCanvas
from inpaintlib.demo.presets import PRESETS, preset_mask
from inpaintlib.demo.runner import ModelBench, Tile, is_interactive, to_working_size
from inpaintlib.data.image_files import read_mask, read_photo

__all__ = ["DemoApp", "photo_choices", "default_strokes"]

#: what the display shows of the photo (CSS pixels); the mask lives at the working size
DISPLAY_PX = 384
WORKING_SIZES = (128, 256)
LAYER_TIP = "draw lines inside the hole: DeepFill v2 (Chapter 10) follows them, the other models ignore them"


def photo_choices(n_crops: int = 12) -> dict[str, tuple[str, object]]:
    """Label -> (kind, key): the first test crops (``("crop", i)``) and every book photo
    (``("photo", name)``), each labelled with its split."""
    from inpaintlib.data import photos

    choices: dict[str, tuple[str, object]] = {f"test crop {i}": ("crop", i) for i in range(n_crops)}
    for rec in photos.load_manifest()["photos"]:
        choices[f"{rec['name']} ({rec['split']} photo)"] = ("photo", rec["name"])
    return choices


def default_strokes(size: int) -> list[list[tuple[float, float]]]:
    """Two strokes that the book draws when no one holds the mouse (scaled to ``size``)."""
    s = size / 128.0
    first = [(30, 40), (50, 52), (70, 58), (92, 70)]
    second = [(60, 96), (64, 80), (72, 66)]
    return [[(x * s, y * s) for x, y in stroke] for stroke in (first, second)]


def _load(kind: str, key) -> np.ndarray:
    from inpaintlib.data import photos

    if kind == "crop":
        crop = photos.load_test_set(int(key) + 1)[int(key)]
        return (crop.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    return photos.load_photo(key)


def _data_link(name: str, payload: bytes) -> str:
    encoded = base64.b64encode(payload).decode()
    return f'<a download="{html.escape(name)}" href="data:image/png;base64,{encoded}">{html.escape(name)}</a>'


class DemoApp:
    """The widgets and their state. ``bench`` holds the models (loaded once, here)."""

    def __init__(self, bench: ModelBench | None = None, photo: str | None = None, working_size: int = 128,
                 brush: float = 12.0):
        import ipywidgets as w

        self.bench = bench or ModelBench()
        for name in self.bench.names:  # load every model now, not at the first stroke
            self.bench.model(name)
        self.choices = photo_choices()
        self.timings: list[dict] = []
        self.notes: list[str] = []

        self.photo_picker = w.Dropdown(options=list(self.choices), value=photo or next(iter(self.choices)),
                                       description="photo")
        self.upload = w.FileUpload(accept=".png,.jpg,.jpeg", multiple=False, description="your photo")
        self.mask_upload = w.FileUpload(accept=".png,.jpg,.jpeg", multiple=False, description="your mask")
        self.size_picker = w.Dropdown(options=list(WORKING_SIZES), value=working_size, description="work at (px)")
        self.brush_slider = w.IntSlider(value=int(brush), min=2, max=48, description="brush (px)")
        self.erase_toggle = w.ToggleButton(value=False, description="erase")
        # what the mouse draws: the hole, or thin lines inside it that a sketch model follows
        self.layer_picker = w.ToggleButtons(options=[("hole", "hole"), ("sketch lines", "sketch")],
                                            value="hole", tooltips=["paint the hole", LAYER_TIP])
        self.undo_button = w.Button(description="undo")
        self.clear_button = w.Button(description="clear")
        self.preset_picker = w.Dropdown(options=list(PRESETS), description="preset")
        self.ratio_slider = w.FloatSlider(value=0.25, min=0.05, max=0.6, step=0.05, description="hole ratio",
                                          readout_format=".0%")
        self.preset_button = w.Button(description="apply preset")
        self.measure_upload = w.Checkbox(value=False, description="my photo is intact: measure against it")
        self.model_picker = w.SelectMultiple(options=self.bench.names, value=tuple(self.bench.names),
                                             rows=min(10, len(self.bench.names)), description="models")
        self.fill_button = w.Button(description="Fill (all selected, slow ones too)", button_style="primary",
                                    layout=w.Layout(width="260px"))
        self.canvas_image = w.Image(format="png", layout=w.Layout(width=f"{DISPLAY_PX}px", height="auto"))
        self.canvas_image.add_class("demo-canvas")
        self.status = w.HTML()
        self.status.add_class("demo-status")
        self.downloads = w.HTML()
        self.tiles: dict[str, tuple] = {}
        tile_boxes = []
        for name in self.bench.names:
            title = w.HTML(f"<b>{html.escape(self.bench.display_name(name))}</b>")
            image = w.Image(format="png", layout=w.Layout(width="192px", height="auto", display="none"))
            image.add_class("demo-result")
            caption = w.HTML("not run yet")
            box = w.VBox([title, image, caption], layout=w.Layout(width="200px", border="1px solid #ddd",
                                                                   padding="4px"))
            box.add_class("demo-tile")
            box.add_class(f"demo-tile-{name}")
            self.tiles[name] = (box, image, caption)
            tile_boxes.append(box)
        self.grid = w.GridBox(tile_boxes, layout=w.Layout(grid_template_columns="repeat(4, 204px)"))

        self.photo_picker.observe(lambda _: self.load_choice(), names="value")
        self.size_picker.observe(lambda _: self.set_photo(*self._source), names="value")
        self.upload.observe(self._on_upload, names="value")
        self.mask_upload.observe(self._on_mask_upload, names="value")
        self.brush_slider.observe(lambda _: setattr(self.canvas, "brush", self._brush_px()), names="value")
        self.erase_toggle.observe(lambda c: setattr(self.canvas, "erase", bool(c["new"])), names="value")
        self.layer_picker.observe(lambda c: setattr(self.canvas, "layer", c["new"]), names="value")
        self.undo_button.on_click(lambda _: self._after_edit(self.canvas.undo()))
        self.clear_button.on_click(lambda _: (self.canvas.clear(), self._after_edit(False)))
        self.preset_button.on_click(lambda _: self.apply_preset())
        self.fill_button.on_click(lambda _: self.fill(interactive_only=False))
        self._connect_mouse()

        self.widget = w.VBox([
            w.HBox([self.photo_picker, self.upload, self.mask_upload, self.size_picker]),
            w.HBox([self.layer_picker, self.brush_slider, self.erase_toggle, self.undo_button, self.clear_button]),
            w.HBox([self.preset_picker, self.ratio_slider, self.preset_button]),
            w.HBox([self.canvas_image, w.VBox([self.model_picker, self.fill_button, self.measure_upload,
                                                self.status, self.downloads])]),
            self.grid,
        ])
        self.widget.add_class("demo-app")
        self.load_choice()

    # -- mouse ---------------------------------------------------------------------------
    def _connect_mouse(self) -> None:
        try:
            from ipyevents import Event
        except ImportError:  # the demo still works with presets and the Fill button
            self.mouse = None
            return
        # presses and releases are never throttled (a dropped mouseup would leave a stroke open);
        # moves are throttled to one every 25 ms
        self.mouse = Event(source=self.canvas_image, watched_events=["mousedown", "mouseup", "mouseleave"],
                           prevent_default_action=True)
        self.mouse_moves = Event(source=self.canvas_image, watched_events=["mousemove"], wait=25,
                                 throttle_or_debounce="throttle", prevent_default_action=True)
        self.mouse.on_dom_event(self.handle_mouse)
        self.mouse_moves.on_dom_event(self.handle_mouse)

    def handle_mouse(self, event: dict) -> None:
        """One ipyevents event: ``dataX``/``dataY`` are in the image's own pixels (working size)."""
        kind = event.get("type")
        point = (float(event.get("dataX", 0)), float(event.get("dataY", 0)))
        if kind == "mousedown":
            self.canvas.begin_stroke(point)
            self._show_canvas()
        elif kind == "mousemove" and self.canvas.drawing and event.get("buttons", 1):
            self.canvas.continue_stroke(point)
            self._show_canvas()
        elif kind in ("mouseup", "mouseleave") and self.canvas.drawing:
            self.canvas.end_stroke()
            self._after_edit(True)

    # -- state changes -------------------------------------------------------------------
    def load_choice(self) -> None:
        kind, key = self.choices[self.photo_picker.value]
        self.set_photo(_load(kind, key), has_truth=True)

    def _read_upload(self, change, reader, **kwargs):
        """The uploaded file read by ``reader``, or None (nothing uploaded, or refused: then the
        reason is shown in the status line, never a traceback)."""
        files = change["new"]
        if not files:
            return None
        item = files[0] if isinstance(files, (tuple, list)) else next(iter(files.values()))
        try:
            read = reader(bytes(item["content"]), **kwargs)
        except ValueError as err:
            self.status.value = f"<span style='color:darkred'>{html.escape(str(err))}</span>"
            return None
        self.notes = read.notes
        return read

    def _on_upload(self, change) -> None:
        read = self._read_upload(change, read_photo)
        if read is not None:
            self.set_photo(read.array, has_truth=False)

    def _on_mask_upload(self, change) -> None:
        """A mask file (white = hole) of the working photo's size, as one undo step."""
        read = self._read_upload(change, read_mask, size=self.photo.shape[:2])
        if read is not None:
            self.canvas.set_mask(read.array)
            self._after_edit(True)

    def _brush_px(self) -> float:
        """The slider is in pixels of a 128 px photo: the brush keeps its look at 256 px."""
        return float(self.brush_slider.value) * int(self.size_picker.value) / 128

    def set_photo(self, photo: np.ndarray, has_truth: bool) -> None:
        """A new photo (picked or uploaded, kept to re-fit at another working size), empty hole."""
        self._source = (photo, has_truth)
        self.photo = to_working_size(photo, int(self.size_picker.value))
        self.has_truth = has_truth
        h, w = self.photo.shape[:2]
        self.canvas = MaskCanvas(h, w, brush=self._brush_px())
        self.canvas.erase = bool(self.erase_toggle.value)
        self.canvas.layer = self.layer_picker.value
        self.last_tiles: list[Tile] = []
        for _, image, caption in self.tiles.values():
            image.layout.display, caption.value = "none", "paint a hole"
        self._after_edit(False)

    def apply_preset(self, seed: int | None = None) -> None:
        h, w = self.canvas.mask.shape
        seed = int(time.time() * 1000) % 2**31 if seed is None else seed
        self.canvas.set_mask(preset_mask(self.preset_picker.value, h, w, float(self.ratio_slider.value), seed))
        self._after_edit(True)

    def paint(self, strokes, brush: float | None = None, layer: str = "hole") -> None:
        """Draw strokes as if with the mouse (the book's static pages use this), then fill.
        ``layer="sketch"`` draws lines for the sketch models instead of the hole."""
        previous = self.canvas.layer
        for points in strokes:
            self.canvas.stroke(points, brush=brush, layer=layer)
        self.canvas.layer = previous
        self._after_edit(True)

    def _after_edit(self, changed: bool) -> None:
        self._show_canvas()
        if changed and self.canvas.mask.any() and not self.canvas.mask.all():
            self.fill(interactive_only=True)
        else:
            self._report()

    # -- display -------------------------------------------------------------------------
    def _show_canvas(self) -> None:
        self.canvas_image.value = png_bytes(overlay(self.photo, self.canvas.mask, sketch=self.canvas.sketch))

    def _report(self, extra: str = "") -> None:
        text = f"hole: {100 * self.canvas.hole_ratio:.1f} % of {self.photo.shape[1]}x{self.photo.shape[0]} px"
        if self.canvas.sketch.any():
            inside = int(self.canvas.sketch_in_hole.sum())
            text += f"; sketch: {inside} line pixels in the hole (lines outside it are ignored)"
        notes = "".join(f"<br><i>{html.escape(n)}</i>" for n in self.notes)
        self.status.value = text + extra + notes

    def _truth(self) -> np.ndarray | None:
        return self.photo if (self.has_truth or self.measure_upload.value) else None

    def fill(self, interactive_only: bool = True) -> list[Tile]:
        """Fill the current hole with the selected models, updating each tile as soon as it is ready."""
        hole = self.canvas.mask.copy()
        if not hole.any() or hole.all():
            self._report(" — paint a hole (not the whole image) first")
            return []
        selected = [n for n in self.bench.names if n in self.model_picker.value]
        start, first, tiles = time.perf_counter(), None, []
        for name in selected:
            model = self.bench.model(name)
            box, image, caption = self.tiles[name]
            if interactive_only and model is not None and not is_interactive(model):
                caption.value = "slow: press Fill"
                continue
            tile = self.bench.fill_one(name, self.photo, hole, self._truth(), sketch=self.canvas.sketch)
            tiles.append(tile)
            if tile.ok:
                image.value = png_bytes(tile.image)
                image.layout.display = ""
                caption.value = html.escape(tile_caption(tile).split("\n", 1)[-1]).replace("\n", "<br>")
                first = first or time.perf_counter() - start
            else:
                image.layout.display = "none"
                colour = "darkred" if tile.failed else "#555"
                caption.value = f"<span style='color:{colour}'>{html.escape(tile.message or '')}</span>"
        total = time.perf_counter() - start
        self.timings.append({"first_s": first, "all_s": total, "n": len(tiles), "size": self.photo.shape[:2]})
        self.last_tiles = tiles
        links = [_data_link("mask.png", png_bytes(hole))]
        links += [_data_link(f"{t.name}.png", png_bytes(t.image)) for t in tiles if t.ok]
        self.downloads.value = "download: " + " · ".join(links)
        first_text = f"{first:.2f} s" if first is not None else "none"
        self._report(f"; first result in {first_text}, all {len(tiles)} in {total:.2f} s")
        return tiles
