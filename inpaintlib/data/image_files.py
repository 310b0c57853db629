"""Reading a reader's own photo and mask files, with a clear word for every odd case.

Defined in the "Try it yourself" chapter; used by the demo and by ``python -m inpaintlib inpaint``.

An uploaded file is the least trusted input of the book. ``read_photo`` returns an RGB uint8
array plus a list of *notes*: one sentence for each conversion it made (greyscale, 16-bit,
palette, CMYK, an opaque alpha channel, a downscale), so that the demo can show what happened
to the file instead of silently changing it. What cannot be converted without guessing (an
image with transparent pixels, a float TIFF, an empty or broken file, one beyond the pixel
limit) raises ``ValueError`` saying what was expected.

``read_mask`` thresholds a mask file (white = hole) and says so when the file was not binary,
which is what JPEG compression does to a black-and-white drawing.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["ImageFile", "read_photo", "read_mask", "MAX_PIXELS", "MAX_SIDE"]

#: files with more pixels than this are refused (12,000 x 9,000 = 108 M is accepted)
MAX_PIXELS = 150_000_000
#: a mask file with more mid-grey pixels (between 1/8 and 7/8 of white) than this is refused
MAX_MID_GREY = 0.10
#: a larger photo is downscaled (aspect kept) so that its longer side is this many pixels
MAX_SIDE = 2048


@dataclass
class ImageFile:
    """What was read: ``array`` (H, W, 3) uint8 for photos or (H, W) bool for masks (True =
    hole), and one sentence per conversion made on the way in ``notes``."""

    array: np.ndarray
    notes: list[str] = field(default_factory=list)
    original_size: tuple[int, int] = (0, 0)  # (H, W) in the file


def _file_name(source, what: str) -> str:
    """How errors name the file: its path, or "the uploaded photo" for bytes."""
    return f"the uploaded {what}" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)


def _open(source, what: str) -> Image.Image:
    """Open a path or bytes; refuse empty, unreadable and over-limit files before decoding."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ValueError(f"the {what} file is empty (0 bytes); expected a PNG or JPEG image")
        handle, name = io.BytesIO(data), f"the uploaded {what}"
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"no {what} file at {path}")
        if path.stat().st_size == 0:
            raise ValueError(f"{path} is empty (0 bytes); expected a PNG or JPEG image")
        handle, name = path, str(path)
    try:
        with warnings.catch_warnings():  # we check the size ourselves, with our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(handle)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{name} is not an image this book can read (PNG or JPEG expected): {err}") from None
    w, h = img.size
    if w == 0 or h == 0:
        raise ValueError(f"{name} has zero size ({w}x{h}); expected an image with pixels")
    if w * h > MAX_PIXELS:
        raise ValueError(
            f"{name} is {w}x{h} = {w * h / 1e6:.0f} million pixels, over the limit of "
            f"{MAX_PIXELS / 1e6:.0f} million; downscale it first"
        )
    return img


def _load(img: Image.Image, name: str) -> Image.Image:
    """Decode the pixels now, so that a truncated or damaged file is refused here with its name,
    not deep inside numpy or Pillow (``OSError: image file is truncated``)."""
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{name} is truncated or damaged ({err}); expected a complete PNG or JPEG "
                         "file (was it cut short by a download or a copy?)") from None
    return img


def _raw_mode(img: Image.Image) -> str:
    """The file's own pixel layout (e.g. ``RGB;16B`` for a 16-bit RGB PNG that Pillow shows as RGB)."""
    if not img.tile:
        return ""
    args = img.tile[0][3]
    return args if isinstance(args, str) else str(args[0]) if isinstance(args, tuple) and args else ""


def _decode_rgb(img: Image.Image, name: str, notes: list[str], file_name: str) -> np.ndarray:
    mode, raw_mode = img.mode, _raw_mode(img)  # the raw layout is known only before decoding
    _load(img, file_name)
    if mode in ("RGB", "RGBA") and ";16" in raw_mode:
        notes.append(f"{name}: 16 bits per channel, reduced to 8")
    if mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit integer) greyscale
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        grey = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        notes.append(f"{name}: 16-bit greyscale, reduced to 8 bits and copied to R, G and B")
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "F":
        raise ValueError(f"{name} holds floating-point pixels (mode F); expected an 8- or 16-bit PNG or a JPEG")
    if mode == "P":
        has_alpha = "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        notes.append(f"{name}: palette image, converted to RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() < 255:
            share = float((alpha < 255).mean())
            raise ValueError(
                f"{name} has transparent pixels ({100 * share:.1f} % of the image); the book does not guess "
                "what lies behind them. Flatten it onto a background, or paint those pixels as the hole"
            )
        notes.append(f"{name}: alpha channel fully opaque, dropped")
    if mode in ("L", "LA", "1"):
        notes.append(f"{name}: greyscale, copied to R, G and B")
    elif mode == "CMYK":
        notes.append(f"{name}: CMYK, converted to RGB (colours approximate: no colour profile applied)")
    elif mode not in ("RGB", "RGBA", "P", "PA"):
        notes.append(f"{name}: colour mode {mode}, converted to RGB")
    return np.asarray(img.convert("RGB"))


def read_photo(source, max_side: int | None = MAX_SIDE) -> ImageFile:
    """Read a photo file (path or bytes) as RGB uint8 (H, W, 3), downscaled to ``max_side``
    (``None``: kept at its size, as the command line does).

    Defined in the "Try it yourself" chapter. Greyscale, 16-bit, palette, CMYK and fully
    opaque RGBA files are converted (each conversion noted); transparent, float, empty,
    unreadable and over-limit (``MAX_PIXELS``) files raise ``ValueError``.
    """
    img = _open(source, "photo")
    name = "the photo"
    notes: list[str] = []
    w, h = img.size
    if max_side is not None and max(w, h) > max_side and img.format == "JPEG":
        img.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8: a huge JPEG stays cheap
    rgb = _decode_rgb(img, name, notes, _file_name(source, "photo"))
    if max_side is not None and max(rgb.shape[:2]) > max_side:
        scale = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
        notes.append(f"{name}: {w}x{h} pixels, downscaled to {size[0]}x{size[1]} for work")
    return ImageFile(np.ascontiguousarray(rgb), notes, (h, w))


def read_mask(source, size: tuple[int, int] | None = None) -> ImageFile:
    """Read a mask file (white = hole, black = known) as an (H, W) bool array.

    Defined in the "Try it yourself" chapter. ``size`` (H, W) is the image's size: a mask of
    another size is refused (resizing would move the hole's border). A non-binary file, as
    JPEG compression makes of a black-and-white drawing, is thresholded at half grey, and the
    note says how many pixels were neither black nor white; one with more than
    ``MAX_MID_GREY`` of mid-grey pixels is not a mask and is refused. A mask with no hole, or
    with nothing known, is refused.
    """
    img = _load(_open(source, "mask"), _file_name(source, "mask"))
    notes: list[str] = []
    if img.mode in ("RGBA", "LA") and np.asarray(img.getchannel("A")).min() < 255:
        raise ValueError("the mask has transparent pixels; expected black (known) and white (hole) only")
    values = np.asarray(img.convert("L"))
    h, w = values.shape
    if size is not None and (h, w) != tuple(size):
        raise ValueError(
            f"the mask's size (H, W) = {(h, w)} differs from the image's {tuple(int(v) for v in size)}; "
            "they must match (resizing a mask would move the hole's border)"
        )
    top = 1 if values.max() <= 1 else 255
    grey = (values != 0) & (values != top)
    mid = (values > 0.125 * top) & (values < 0.875 * top)
    if mid.mean() > MAX_MID_GREY:  # not compression noise around a drawing: a grey picture
        raise ValueError(
            f"the mask is not black and white: {100 * mid.mean():.0f} % of its pixels are mid-grey "
            f"(at most {100 * MAX_MID_GREY:.0f} % is taken as compression noise); expected black = known, "
            "white = hole"
        )
    if grey.any():
        notes.append(
            f"the mask was not binary ({100 * grey.mean():.1f} % of its pixels grey, as JPEG compression "
            f"leaves them): thresholded at {top / 2:g}"
        )
    hole = values > top / 2
    if not hole.any():
        raise ValueError("the mask has no hole (no white pixel); white (255) marks the hole")
    if hole.all():
        raise ValueError("the mask is all hole (no black pixel): nothing is known to fill from; is it inverted?")
    return ImageFile(hole, notes, (h, w))
