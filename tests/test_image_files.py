"""Reading a reader's own files: every odd case converted with a note, or refused with a reason."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from inpaintlib.data import image_files
from inpaintlib.data.image_files import read_mask, read_photo


def _png(array, mode=None, **save) -> bytes:
    buffer = io.BytesIO()
    img = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    img.save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


def _gradient(h=40, w=60):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs * 4, ys * 6, (xs + ys) * 2], axis=2).clip(0, 255).astype(np.uint8)


def test_an_rgb_png_is_read_unchanged_without_notes():
    rgb = _gradient()
    got = read_photo(_png(rgb))
    assert np.array_equal(got.array, rgb) and got.notes == [] and got.original_size == (40, 60)


@pytest.mark.parametrize(
    "make, note",
    [
        (lambda rgb: _png(rgb[..., 0]), "greyscale"),
        (lambda rgb: _png(rgb, "P"), "palette"),
        (lambda rgb: _png(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])), "fully opaque"),
        (lambda rgb: _png(rgb, "CMYK", format="JPEG"), "CMYK"),
    ],
)
def test_odd_colour_modes_are_converted_with_a_note(make, note):
    got = read_photo(make(_gradient()))
    assert got.array.dtype == np.uint8 and got.array.shape == (40, 60, 3)
    assert any(note in n for n in got.notes), got.notes


def test_16_bit_files_are_reduced_to_8_bits_with_a_note(tmp_path):
    grey16 = (np.linspace(0, 65535, 40 * 60).reshape(40, 60)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), grey16)
    got = read_photo(tmp_path / "g16.png")
    assert "16-bit greyscale" in got.notes[0]
    assert got.array[0, 0, 0] == 0 and got.array[-1, -1, 0] == 255  # full range kept
    rgb16 = np.dstack([grey16] * 3)
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16)
    got = read_photo(tmp_path / "rgb16.png")
    assert any("16 bits per channel" in n for n in got.notes)
    assert abs(int(got.array[-1, -1, 0]) - 255) <= 1


def test_a_transparent_image_is_refused_and_the_share_is_named():
    rgba = np.dstack([_gradient(), np.full((40, 60), 255, np.uint8)])
    rgba[:10, :, 3] = 0
    with pytest.raises(ValueError, match=r"transparent pixels \(25.0 %"):
        read_photo(_png(rgba))


@pytest.mark.parametrize(
    "data, message",
    [(b"", "empty"), (b"this is not an image", "not an image"), (_png(np.zeros((4, 4), np.float32), format="TIFF"), "floating")],
)
def test_empty_broken_and_float_files_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        read_photo(data)


def test_a_huge_photo_is_downscaled_for_work_and_a_too_huge_one_refused(monkeypatch):
    big = cv2.resize(_gradient(), (3000, 2000), interpolation=cv2.INTER_LINEAR)
    got = read_photo(_png(big, format="JPEG", quality=90))
    assert got.array.shape == (1365, 2048, 3) and got.original_size == (2000, 3000)
    assert any("downscaled to 2048x1365" in n for n in got.notes)
    assert read_photo(_png(big), max_side=None).array.shape == (2000, 3000, 3)
    monkeypatch.setattr(image_files, "MAX_PIXELS", 5_000_000)
    with pytest.raises(ValueError, match="6 million pixels, over the limit of 5 million"):
        read_photo(_png(big))


def test_a_12000_by_9000_jpeg_header_is_accepted_and_decoded_small(tmp_path):
    """108 million pixels: under the limit, decoded at a reduced JPEG scale, then downscaled."""
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (12000, 9000), (30, 120, 200)).save(path, quality=50)
    got = read_photo(path)
    assert got.array.shape == (1536, 2048, 3) and got.original_size == (9000, 12000)
    assert np.abs(got.array.astype(int) - (30, 120, 200)).max() <= 3


def test_a_jpeg_mask_is_thresholded_and_says_so():
    hole = np.zeros((64, 64), np.uint8)
    hole[16:48, 20:40] = 255
    got = read_mask(_png(hole, format="JPEG", quality=60), size=(64, 64))
    assert any("not binary" in n and "thresholded" in n for n in got.notes)
    assert (got.array != (hole > 0)).mean() < 0.01


@pytest.mark.parametrize(
    "mask, size, message",
    [
        (np.zeros((64, 64), np.uint8), (64, 64), "no hole"),
        (np.full((64, 64), 255, np.uint8), (64, 64), "all hole"),
        (np.zeros((32, 64), np.uint8), (64, 64), r"\(H, W\) = \(32, 64\) differs from the image\'s \(64, 64\)"),
        (np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1)), (64, 64), "not black and white"),
    ],
)
def test_bad_masks_are_refused(mask, size, message):
    with pytest.raises(ValueError, match=message):
        read_mask(_png(mask), size=size)


def test_a_binary_png_mask_is_read_exactly_in_either_convention():
    hole = np.zeros((20, 30), bool)
    hole[5:9, 3:20] = True
    for values in (hole.astype(np.uint8) * 255, hole.astype(np.uint8)):
        got = read_mask(_png(values))
        assert np.array_equal(got.array, hole) and got.notes == []


def test_a_truncated_png_is_refused_with_its_name(tmp_path):
    good = _png(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    cut = tmp_path / "truncated.png"
    cut.write_bytes(good[:500])
    assert len(good) > 2000  # noise does not compress: the cut loses most pixels
    with pytest.raises(ValueError, match=r"truncated\.png is truncated or damaged"):
        read_photo(cut)
    with pytest.raises(ValueError, match="uploaded photo is truncated or damaged"):
        read_photo(good[:500])
    mask = np.random.default_rng(1).integers(0, 2, (40, 60), dtype=np.uint8) * 255
    with pytest.raises(ValueError, match="uploaded mask is truncated or damaged"):
        read_mask(_png(mask)[:200], size=(40, 60))
