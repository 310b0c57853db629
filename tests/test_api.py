"""`inpaintlib.inpaint`: input handling, clear errors, size adaptation, compositing (Chapter 0)."""
import numpy as np
import pytest
import torch

from inpaintlib.api import inpaint
from inpaintlib.evaluation.baselines import TeleaInpainter
from inpaintlib.models.base import InpaintingModel
from inpaintlib.models.context_encoder import ContextEncoder


def _image_and_mask(h=40, w=48):
    torch.manual_seed(0)
    image = torch.rand(3, h, w)
    mask = torch.zeros(h, w)
    mask[10:20, 12:30] = 1
    return image, mask


def test_tensor_in_tensor_out_and_known_pixels_copied():
    image, mask = _image_and_mask()
    out = inpaint(image, mask, "telea")
    assert out.shape == image.shape and out.dtype == image.dtype
    assert torch.equal(out[:, mask == 0], image[:, mask == 0])
    assert not torch.equal(out[:, mask == 1], image[:, mask == 1])


def test_batched_tensor_with_batched_mask():
    image, mask = _image_and_mask()
    out = inpaint(image.expand(2, -1, -1, -1).clone(), mask[None, None].expand(2, 1, -1, -1), TeleaInpainter())
    assert out.shape == (2, 3, 40, 48)


def test_numpy_uint8_in_numpy_uint8_out():
    image, mask = _image_and_mask()
    arr = (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    for m in (mask.numpy() > 0, (mask.numpy() * 255).astype(np.uint8), mask.numpy().astype(np.uint8)):
        out = inpaint(arr, m, "navier_stokes")
        assert out.dtype == np.uint8 and out.shape == arr.shape
        assert np.array_equal(out[mask.numpy() == 0], arr[mask.numpy() == 0])


@pytest.mark.parametrize(
    "image, mask, message",
    [
        (np.zeros((40, 48, 4), np.uint8), np.zeros((40, 48), bool), "RGBA"),
        (np.zeros((40, 48), np.uint8), np.zeros((40, 48), bool), r"\(H,W,3\)"),
        (np.zeros((40, 48, 3), np.float32), np.zeros((40, 48), bool), "uint8"),
        (torch.zeros(3, 40, 48, dtype=torch.uint8), torch.zeros(40, 48), "float in"),
        (torch.full((3, 40, 48), 255.0), torch.zeros(40, 48), "divided by 255"),
        (torch.zeros(4, 40, 48), torch.zeros(40, 48), "RGBA"),
        (torch.zeros(3, 40, 48), torch.full((40, 48), 0.5), "binary"),
        (np.zeros((40, 48, 3), np.uint8), np.full((40, 48), 7, np.uint8), "binary"),
        (torch.zeros(3, 40, 48), torch.zeros(20, 48), "does not match"),
        (torch.zeros(3, 40, 48), torch.ones(40, 48), "polarity|valid"),
        (torch.zeros(3, 40, 48), torch.zeros(2, 2, 40, 48), "shape"),
        (torch.zeros(3, 0, 0), torch.zeros(0, 0), "empty"),
        (torch.zeros(0, 3, 40, 48), torch.zeros(40, 48), "empty"),
        (np.zeros((0, 48, 3), np.uint8), np.zeros((0, 48), bool), "empty"),
        (torch.full((3, 40, 48), float("nan")), torch.ones(40, 48), "NaN or infinite"),
        (torch.zeros(3, 40, 48).index_fill_(1, torch.tensor([3]), float("inf")),
         torch.ones(40, 48), "NaN or infinite"),
        (torch.zeros(3, 40, 48), torch.zeros(40, 48), "no pixel as a hole"),
        (np.zeros((40, 48, 3), np.uint8), np.zeros((40, 48), np.uint8), "no pixel as a hole"),
    ],
)
def test_bad_input_gives_a_clear_error(image, mask, message):
    with pytest.raises(ValueError, match=message):
        inpaint(image, mask, "telea")


def test_unknown_model_name():
    image, mask = _image_and_mask()
    with pytest.raises(ValueError, match="unknown model"):
        inpaint(image, mask, "no_such_model")


class _RecordingModel(InpaintingModel):
    """Fills the hole with 0.5 and remembers the input size it was given."""

    name = display_name = "recorder"
    size_multiple = 8

    def forward(self, masked, mask):
        self.seen = tuple(masked.shape[-2:])
        return torch.full_like(masked, 0.5)


def test_padding_to_the_model_stride_and_cropping_back():
    image, mask = _image_and_mask(30, 45)
    model = _RecordingModel()
    out = inpaint(image, mask, model)
    assert model.seen == (32, 48)
    assert out.shape == (3, 30, 45)
    assert torch.all(out[:, mask == 1] == 0.5)


def test_image_too_small_for_the_model():
    with pytest.raises(ValueError, match="at least 128x128"):
        inpaint(torch.rand(3, 64, 64), torch.zeros(64, 64), ContextEncoder())


def test_fixed_size_model_gets_a_window_around_an_off_centre_hole():
    torch.manual_seed(0)
    model = ContextEncoder().eval()
    image = torch.rand(3, 200, 180)
    mask = torch.zeros(200, 180)
    mask[150:190, 5:45] = 1  # near the corner: the window must be padded
    out = inpaint(image, mask, model)
    assert out.shape == image.shape
    assert torch.equal(out[:, mask == 0], image[:, mask == 0])
    assert not torch.allclose(out[:, mask == 1], image[:, mask == 1])
    big = torch.zeros(200, 180)
    big[10:90, 10:90] = 1
    with pytest.raises(ValueError, match="fills holes up to 64x64"):
        inpaint(image, big, model)


class _CoordinateSpy(InpaintingModel):
    """Returns the coordinates of each pixel of its input, (row, column, 0) / 1000, and records the
    inputs it saw: a window cut in the wrong place or pasted back in the wrong place shows."""

    name = display_name = "coordinate spy"

    def __init__(self, fixed_size=None, size_multiple=1):
        super().__init__()
        self.fixed_size, self.max_hole, self.size_multiple = fixed_size, (64, 64) if fixed_size else None, size_multiple
        self.seen = []

    def forward(self, masked, mask):
        self.seen.append((masked.clone(), mask.clone()))
        b, _, h, w = masked.shape
        rows = torch.arange(h, dtype=masked.dtype)[:, None].expand(h, w)
        cols = torch.arange(w, dtype=masked.dtype)[None, :].expand(h, w)
        return torch.stack([rows, cols, torch.zeros(h, w)])[None].expand(b, 3, h, w) / 1000


@pytest.mark.parametrize("hole, origin", [
    ((slice(80, 120), slice(60, 100)), (36, 16)),  # inside: the window is centred on the hole
    ((slice(150, 190), slice(5, 45)), (106, -39)),  # near a corner: the window runs off the image
])
def test_a_fixed_size_model_gets_its_window_around_the_hole_and_is_pasted_back_there(hole, origin):
    """The window is cut at ``origin`` (its 64x64 centre on the hole's box, the library's rule), the
    model sees that crop of the masked photo, and hole pixel (y, x) receives the window's (y - top,
    x - left): in its place, not shifted, flipped or scaled."""
    torch.manual_seed(0)
    image, mask = torch.rand(3, 200, 180), torch.zeros(200, 180)
    mask[hole] = 1
    spy = _CoordinateSpy(fixed_size=(128, 128))
    out = inpaint(image, mask, spy)
    (seen, seen_mask), = spy.seen
    assert seen.shape == (1, 3, 128, 128)
    top, left = origin
    ys, xs = torch.nonzero(mask, as_tuple=True)
    assert torch.equal(out[0, ys, xs] * 1000, (ys - top).float())  # pasted where it was cut
    assert torch.equal(out[1, ys, xs] * 1000, (xs - left).float())
    assert torch.equal(out[:, mask == 0], image[:, mask == 0])  # known pixels: the photo's own
    # what the model saw: the masked photo where the window lies inside it, the hole in its place
    r0, c0 = max(top, 0), max(left, 0)
    inside = (slice(r0 - top, min(top + 128, 200) - top), slice(c0 - left, min(left + 128, 180) - left))
    window = (slice(r0, min(top + 128, 200)), slice(c0, min(left + 128, 180)))
    assert torch.equal(seen[0][:, inside[0], inside[1]], (image * (1 - mask))[:, window[0], window[1]])
    assert torch.equal(seen_mask[0, 0][inside], mask[window])


def test_a_stride_model_sees_the_photo_at_its_place_and_the_padding_is_cropped_away():
    image, mask = _image_and_mask(30, 45)
    spy = _CoordinateSpy(size_multiple=8)
    out = inpaint(image, mask, spy)
    (seen, _), = spy.seen
    assert seen.shape[-2:] == (32, 48)
    assert torch.equal(seen[0, :, :30, :45], image * (1 - mask))  # padded after, not before
    ys, xs = torch.nonzero(mask, as_tuple=True)
    assert torch.equal(out[0, ys, xs] * 1000, ys.float()) and torch.equal(out[1, ys, xs] * 1000, xs.float())


def test_the_model_never_sees_the_true_hole_pixels():
    image, mask = _image_and_mask(32, 32)

    class Spy(InpaintingModel):
        name = display_name = "spy"

        def forward(self, masked, m):
            assert torch.all(masked[m.expand_as(masked) > 0] == 0)
            return masked

    inpaint(image + 0.0, mask, Spy())


def test_a_batch_names_the_image_whose_mask_has_no_hole():
    image, mask = _image_and_mask()
    masks = torch.stack([mask, torch.zeros_like(mask)])[:, None]
    with pytest.raises(ValueError, match=r"image\(s\) \[1\]"):
        inpaint(image.expand(2, -1, -1, -1).clone(), masks, "telea")


def test_a_nan_image_is_refused_not_filled_with_nan():
    """Before this check the fill of a NaN image came back NaN without a word."""
    image, mask = _image_and_mask()
    image[0, 15, 20] = float("nan")  # inside the hole: still refused, the caller must decide
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        inpaint(image, mask, "telea")
