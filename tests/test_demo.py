"""The demo's logic without a browser: brush, erase, undo, presets, model tiles, result grid."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlib.evaluation.baselines import TeleaInpainter
from inpaintlib.demo import (MaskCanvas, ModelBench, overlay, png_bytes, preset_mask, result_grid,
                             scale_points, tile_caption, to_working_size)
from inpaintlib.models.base import InpaintingModel
from inpaintlib.models.context_encoder import ContextEncoder


# ------------------------------------------------------------------ painting
def test_a_horizontal_stroke_of_width_3_marks_exactly_a_3_by_8_block():
    """Row 5, columns 2..7, brush 3: rows 4-6 within 1.5 px; the round caps add columns 1 and 8
    (corner pixel (4, 1) is sqrt(2) = 1.41 <= 1.5 from the end point), column 0 is 2 px away."""
    canvas = MaskCanvas(10, 10)
    canvas.stroke([(2, 5), (7, 5)], brush=3)
    expected = np.zeros((10, 10), bool)
    expected[4:7, 1:9] = True
    assert np.array_equal(canvas.mask, expected)


def test_a_brush_of_width_1_marks_exactly_the_pixels_of_the_line():
    canvas = MaskCanvas(6, 6)
    canvas.stroke([(0, 0), (5, 5)], brush=1)  # the diagonal: only centres on the segment
    assert np.array_equal(canvas.mask, np.eye(6, dtype=bool))


def test_a_click_marks_a_disc():
    canvas = MaskCanvas(9, 9)
    canvas.stroke([(4, 4)], brush=5)  # radius 2.5: the 21 pixels with dx^2 + dy^2 <= 6.25
    ys, xs = np.mgrid[0:9, 0:9]
    assert np.array_equal(canvas.mask, (xs - 4) ** 2 + (ys - 4) ** 2 <= 6.25)
    assert canvas.mask.sum() == 21


def test_erase_and_undo_restore_the_pixels():
    canvas = MaskCanvas(32, 32)
    canvas.stroke([(4, 16), (28, 16)], brush=9)
    painted = canvas.mask.copy()
    canvas.stroke([(16, 0), (16, 31)], brush=5, erase=True)
    assert canvas.mask.sum() < painted.sum()
    assert not canvas.mask[:, 14:19].any()  # the eraser went through every painted row
    canvas.undo()
    assert np.array_equal(canvas.mask, painted)
    canvas.undo()
    assert not canvas.mask.any() and not canvas.undo()


def test_a_drag_of_many_mouse_events_is_one_undo_step_and_clear_is_undoable():
    canvas = MaskCanvas(40, 40)
    canvas.begin_stroke((5, 5))
    for x in range(6, 35):
        canvas.continue_stroke((x, 5 + x // 3))
    canvas.end_stroke()
    drawn = canvas.mask.copy()
    assert drawn.any()
    canvas.clear()
    assert canvas.hole_ratio == 0.0
    canvas.undo()
    assert np.array_equal(canvas.mask, drawn)
    canvas.undo()
    assert not canvas.mask.any()


def test_the_sketch_pen_draws_one_pixel_lines_on_its_own_layer_and_undo_restores_both():
    canvas = MaskCanvas(10, 10, brush=5)
    hole = np.zeros((10, 10), bool)
    hole[3:8, 4:] = True
    canvas.set_mask(hole)
    canvas.stroke([(1, 5), (8, 5)], layer="sketch")  # width 1: row 5 only, columns 1..8
    expected = np.zeros((10, 10), bool)
    expected[5, 1:9] = True
    assert np.array_equal(canvas.sketch, expected) and np.array_equal(canvas.mask, hole)
    assert canvas.layer == "sketch"
    assert np.array_equal(np.flatnonzero(canvas.sketch_in_hole[5]), [4, 5, 6, 7, 8])  # only inside the hole
    assert canvas.sketch_tensor().shape == (1, 1, 10, 10) and canvas.sketch_tensor().sum() == (expected & hole).sum()
    canvas.undo()
    assert not canvas.sketch.any() and np.array_equal(canvas.mask, hole)
    canvas.stroke([(1, 5), (8, 5)])  # the current layer: still the sketch
    canvas.clear()  # both layers, one undo step
    assert not canvas.sketch.any() and not canvas.mask.any()
    canvas.undo()
    assert np.array_equal(canvas.sketch, expected) and np.array_equal(canvas.mask, hole)
    with pytest.raises(ValueError, match="layer must be one of"):
        canvas.layer = "edges"


class _SketchEcho(InpaintingModel):
    """A sketch model for the tests: paints white where it is given a line, black elsewhere."""

    name = display_name = "sketch echo"
    use_sketch = True

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, masked_image, mask, sketch=None):
        self.seen.append(None if sketch is None else sketch.clone())
        lines = torch.zeros_like(mask) if sketch is None else sketch
        return lines.expand(-1, 3, -1, -1)


def test_the_sketch_inside_the_hole_goes_to_sketch_models_only():
    echo = _SketchEcho()
    bench = ModelBench(["echo", "telea"], loader={"echo": echo, "telea": TeleaInpainter()}.__getitem__)
    photo = np.full((32, 32, 3), 100, np.uint8)
    hole = np.zeros((32, 32), bool)
    hole[8:24, 8:24] = True
    sketch = np.zeros((32, 32), bool)
    sketch[16, 2:30] = True  # crosses the hole and runs on outside it
    guided, telea = bench.fill(photo, hole, sketch=sketch)
    assert guided.sketched and not telea.sketched and "with your lines" in tile_caption(guided)
    assert torch.equal(echo.seen[-1][0, 0].bool(), torch.from_numpy(sketch & hole))  # only the part inside
    assert (guided.image[16, 8:24] == 255).all() and (guided.image[15, 8:24] == 0).all()
    assert (guided.image[16, :8] == 100).all()  # the known pixels: the photo, line or not
    unguided = bench.fill_one("echo", photo, hole, sketch=np.zeros_like(sketch))  # no line in the hole
    assert echo.seen[-1] is None and not unguided.sketched
    with pytest.raises(ValueError, match="differ in size"):
        bench.fill_one("echo", photo, hole, sketch=sketch[:16])


def test_the_app_draws_sketch_lines_with_the_layer_buttons():
    from inpaintlib.demo.app import DemoApp

    echo = _SketchEcho()
    app = DemoApp(bench=ModelBench(["echo"], loader={"echo": echo}.__getitem__), photo="test crop 0")
    app.paint([[(30, 64), (98, 64)]], brush=40)  # a 40 px wide band of hole across the middle
    hole = app.canvas.mask.copy()
    assert echo.seen[-1] is None  # no lines yet
    app.layer_picker.value = "sketch"
    app.handle_mouse({"type": "mousedown", "dataX": 64, "dataY": 40, "buttons": 1})
    app.handle_mouse({"type": "mousemove", "dataX": 64, "dataY": 90, "buttons": 1})
    app.handle_mouse({"type": "mouseup", "dataX": 64, "dataY": 90, "buttons": 0})
    assert np.array_equal(app.canvas.mask, hole) and app.canvas.sketch[40:91, 64].all()
    assert app.canvas.sketch.sum() == 51  # one pixel wide
    assert echo.seen[-1] is not None and int(echo.seen[-1].sum()) == int((app.canvas.sketch & hole).sum())
    assert "sketch:" in app.status.value and "lines outside it are ignored" in app.status.value
    _, _, caption = app.tiles["echo"]
    assert "with your lines" in caption.value


def test_scale_points_maps_pixel_centres_to_pixel_centres():
    assert scale_points([(0, 0), (255, 255)], (256, 256), (128, 128)) == [(-0.25, -0.25), (127.25, 127.25)]
    assert scale_points([(10, 20)], (100, 200), (100, 200)) == [(10.0, 20.0)]


def test_a_stroke_outside_the_canvas_changes_nothing_and_bad_sizes_are_refused():
    canvas = MaskCanvas(16, 16)
    canvas.stroke([(-50, -50), (-40, -45)], brush=4)
    assert not canvas.mask.any()
    with pytest.raises(ValueError, match="positive size"):
        MaskCanvas(0, 16)
    with pytest.raises(ValueError, match="at least one"):
        canvas.stroke([])
    with pytest.raises(ValueError, match="does not fit"):
        canvas.set_mask(np.zeros((8, 8), bool))


# ------------------------------------------------------------------ presets
@pytest.mark.parametrize("name", ["centre square", "random rectangles", "free-form strokes"])
@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.4])
def test_presets_give_their_hole_ratio(name, ratio):
    hole = preset_mask(name, 128, 128, ratio=ratio, seed=3)
    assert hole.dtype == bool and hole.shape == (128, 128)
    tolerance = 0.01 if name == "centre square" else 0.05
    assert abs(hole.mean() - ratio) <= tolerance


def test_the_default_centre_square_is_the_context_encoder_hole():
    hole = preset_mask("centre square", 128, 128)
    assert hole.sum() == 64 * 64 and hole[32:96, 32:96].all()


def test_presets_are_reproducible_and_refuse_bad_arguments():
    a = preset_mask("free-form strokes", 96, 96, 0.3, seed=7)
    assert np.array_equal(a, preset_mask("free-form strokes", 96, 96, 0.3, seed=7))
    with pytest.raises(ValueError, match="unknown preset"):
        preset_mask("circle", 64, 64)
    with pytest.raises(ValueError, match="between 0.01 and 0.75"):
        preset_mask("centre square", 64, 64, ratio=1.0)


# ------------------------------------------------------------------ models, tiles, grid
def _photo(h=128, w=128):
    g = torch.Generator().manual_seed(0)
    base = torch.rand(3, 8, 8, generator=g)
    img = torch.nn.functional.interpolate(base[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    return (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _bench(names):
    models = {"telea": TeleaInpainter(), "context_encoder": ContextEncoder().eval()}
    calls = []

    def loader(name):
        calls.append(name)
        if name not in models:
            raise ValueError(f"unknown model {name!r}")
        return models[name]

    return ModelBench(names, loader=loader), calls


def test_every_model_gets_a_tile_and_a_refusal_is_one_sentence_not_a_failure():
    bench, calls = _bench(["telea", "context_encoder", "no_such_model"])
    photo = _photo()
    hole = preset_mask("free-form strokes", 128, 128, 0.3, seed=1)  # spans more than 64x64
    tiles = bench.fill(photo, hole, truth=photo)
    assert [t.name for t in tiles] == ["telea", "context_encoder", "no_such_model"]
    telea, ce, missing = tiles
    assert telea.ok and telea.image.shape == photo.shape and telea.seconds > 0
    assert np.array_equal(telea.image[~hole], photo[~hole])  # known pixels copied through
    assert set(telea.metrics) == {"psnr_db", "ssim", "l1_%"} and telea.metrics["psnr_db"] > 0
    assert not ce.ok and not ce.failed and "fills holes up to 64x64" in ce.message
    assert ce.message.count(".") <= 2 and ce.message.endswith(".")
    assert not missing.ok and missing.failed and "could not be loaded" in missing.message
    bench.fill(photo, hole)  # a second stroke: models are not loaded again
    assert calls == ["telea", "context_encoder", "no_such_model"]


def test_without_ground_truth_there_are_no_metrics():
    bench, _ = _bench(["telea"])
    photo = _photo(64, 80)
    (tile,) = bench.fill(photo, preset_mask("centre square", 64, 80, 0.2))
    assert tile.ok and tile.metrics is None
    assert tile_caption(tile).count("\n") == 1  # name, time


def test_the_result_grid_has_one_panel_per_tile_and_shows_the_refusal():
    import matplotlib

    matplotlib.use("Agg")
    bench, _ = _bench(["telea", "context_encoder"])
    photo = _photo()
    hole = preset_mask("random rectangles", 128, 128, 0.35, seed=2)
    tiles = bench.fill(photo, hole, truth=photo)
    fig = result_grid(tiles, overlay(photo, hole), columns=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 3  # the input, telea, and the grey refusal panel
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("64x64" in t.replace("\n", " ") for t in texts)
    assert "PSNR" in fig.axes[1].get_title() and "ms" in fig.axes[1].get_title()


def test_overlay_tints_only_the_hole_and_png_bytes_round_trip():
    photo = _photo(32, 32)
    hole = np.zeros((32, 32), bool)
    hole[8:16, 8:16] = True
    shown = overlay(photo, hole)
    assert np.array_equal(shown[~hole], photo[~hole]) and not np.array_equal(shown[hole], photo[hole])
    back = np.asarray(Image.open(io.BytesIO(png_bytes(hole))))
    assert np.array_equal(back > 0, hole)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(photo)))), photo)
    with pytest.raises(ValueError, match="differ in size"):
        overlay(photo, hole[:16])


def test_working_size_is_the_shorter_side_cropped_to_a_multiple_of_8():
    photo = np.zeros((300, 500, 3), np.uint8)
    assert to_working_size(photo, 128).shape == (128, 208, 3)  # 213 -> 208
    assert to_working_size(photo, 256).shape == (256, 424, 3)  # 427 -> 424
    with pytest.raises(ValueError, match="uint8"):
        to_working_size(photo.astype(np.float32), 128)


# ------------------------------------------------------------------ the widget app, without a browser
def test_the_app_paints_with_mouse_events_and_fills_every_tile():
    from inpaintlib.demo.app import DemoApp

    bench, _ = _bench(["telea", "context_encoder"])
    app = DemoApp(bench=bench, photo="test crop 0")
    assert app.photo.shape == (128, 128, 3) and not app.canvas.mask.any()
    before = app.canvas_image.value
    app.handle_mouse({"type": "mousedown", "dataX": 20, "dataY": 30, "buttons": 1})
    for x in range(22, 110, 4):
        app.handle_mouse({"type": "mousemove", "dataX": x, "dataY": 30 + x // 4, "buttons": 1})
    app.handle_mouse({"type": "mouseup", "dataX": 110, "dataY": 58, "buttons": 0})
    assert app.canvas.mask.any() and app.canvas_image.value != before  # the overlay changed
    _, telea_image, telea_caption = app.tiles["telea"]
    assert telea_image.layout.display == "" and len(telea_image.value) > 0
    assert "PSNR" in telea_caption.value  # a test crop has a ground truth
    _, ce_image, ce_caption = app.tiles["context_encoder"]
    assert ce_image.layout.display == "none" and "64x64" in ce_caption.value  # its refusal, in words
    assert "mask.png" in app.downloads.value and "telea.png" in app.downloads.value
    timing = app.timings[-1]
    assert timing["n"] == 2 and timing["first_s"] <= timing["all_s"]
    # a move without the button pressed paints nothing; undo restores the empty canvas
    painted = app.canvas.mask.copy()
    app.handle_mouse({"type": "mousemove", "dataX": 5, "dataY": 120, "buttons": 0})
    assert np.array_equal(app.canvas.mask, painted)
    app.undo_button.click()
    assert not app.canvas.mask.any()


def test_the_app_reports_a_bad_upload_in_words_and_keeps_working():
    from inpaintlib.demo.app import DemoApp

    bench, _ = _bench(["telea"])
    app = DemoApp(bench=bench)
    app._on_upload({"new": ({"name": "x.png", "content": memoryview(b"not an image")},)})
    assert "not an image" in app.status.value
    noise = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noise, "PNG")
    app._on_upload({"new": ({"name": "cut.png", "content": memoryview(noise.getvalue()[:500])},)})
    assert "truncated or damaged" in app.status.value
    grey = Image.fromarray(np.full((300, 200), 90, np.uint8))
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    app._on_upload({"new": ({"name": "grey.png", "content": memoryview(buffer.getvalue())},)})
    assert app.photo.shape == (192, 128, 3) and "greyscale" in app.status.value
    app.preset_picker.value = "centre square"
    app.apply_preset(seed=0)
    assert abs(app.canvas.hole_ratio - 0.25) < 0.01
    _, _, caption = app.tiles["telea"]
    assert "ms" in caption.value and "PSNR" not in caption.value  # an upload has no ground truth


def test_the_app_takes_a_mask_file_and_refuses_a_wrong_one_in_words():
    from inpaintlib.demo.app import DemoApp

    bench, _ = _bench(["telea"])
    app = DemoApp(bench=bench, photo="test crop 1")

    def upload(array, fmt="PNG"):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=fmt)
        app._on_mask_upload({"new": ({"name": "m", "content": memoryview(buffer.getvalue())},)})

    wrong = np.zeros((64, 128), np.uint8)
    wrong[10:30, 10:30] = 255
    upload(wrong)
    assert "differs from the image" in app.status.value and not app.canvas.mask.any()
    hole = np.zeros((128, 128), np.uint8)
    hole[37:83, 45:90] = 255
    upload(hole, "JPEG")
    assert "thresholded" in app.status.value  # the JPEG noise, said in words
    assert abs(app.canvas.mask.mean() - (hole > 0).mean()) < 0.01
    _, image, caption = app.tiles["telea"]
    assert image.layout.display == "" and "PSNR" in caption.value


def test_a_new_working_size_keeps_the_uploaded_photo_and_scales_the_brush():
    from inpaintlib.demo.app import DemoApp

    bench, _ = _bench(["telea"])
    app = DemoApp(bench=bench)
    buffer = io.BytesIO()
    Image.fromarray(np.full((300, 200, 3), 40, np.uint8)).save(buffer, format="PNG")
    app._on_upload({"new": ({"name": "p.png", "content": memoryview(buffer.getvalue())},)})
    app.size_picker.value = 256
    assert app.photo.shape == (384, 256, 3) and (app.photo == 40).all()  # still the upload
    app.brush_slider.value = 10
    assert app.canvas.brush == 20.0  # 10 px of a 128 px photo = 20 px at 256
