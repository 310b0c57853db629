"""Photos, training crops and the fixed test set.

Defined in Chapter 0 (Foundations).

The big inpainting data sets (CelebA, Places2, Paris StreetView) cannot be downloaded where this
book is built, so it ships its own small one in ``data/`` (made by ``scripts/make_data.py``):
about eighty real photographs from packages, split *by photo* into train / val / test so that no
test crop ever comes from a photo the networks saw in training, and a fixed test set of 128x128
crops with fixed masks in every hole-ratio bucket. Every file's sha256 is recorded in a manifest
and checked on load: a silently altered test image would make every number in the book wrong.

A reader who has CelebA or Places2 on disk passes ``root=`` to ``InpaintingImages`` and gets the
same crops from their own folder.

Images come out as float tensors in [0, 1], (3, H, W) per item or (N, 3, H, W) per batch; masks
as float tensors (N, 1, H, W) in {0, 1} with 1 = hole (see ``inpaintlib.data.masks``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Union

import cv2
import numpy as np
import torch
from PIL import Image

__all__ = [
    "DATA_DIR",
    "SPLITS",
    "TEST_MASK_KINDS",
    "IMAGE_EXTENSIONS",
    "DataIntegrityError",
    "data_dir",
    "load_manifest",
    "photo_paths",
    "load_photo",
    "InpaintingImages",
    "load_test_manifest",
    "load_test_set",
    "load_test_masks",
]

#: The repository's ``data/`` folder, resolved from this package's location; the environment
#: variable ``INPAINT_DATA_DIR`` overrides it (read again on every call, see ``data_dir``).
DATA_DIR = Path(os.environ.get("INPAINT_DATA_DIR") or Path(__file__).resolve().parents[2] / "data")
SPLITS = ("train", "val", "test")
TEST_MASK_KINDS = ("center", "ff10-20", "ff20-30", "ff30-40", "ff40-50")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")

PathLike = Union[str, os.PathLike]


class DataIntegrityError(ValueError):
    """A data file is missing or its content differs from the sha256 in the manifest.

    Defined in Chapter 0 (Foundations). A subclass of ValueError, so callers that already catch
    bad-input errors also catch it.
    """


def data_dir() -> Path:
    """The data folder in use: ``$INPAINT_DATA_DIR`` if set, else the repository's ``data/``.

    Defined in Chapter 0 (Foundations). Read at every call (not only at import) so a test or a
    notebook can point the library at another copy of the data by setting the variable.
    """
    env = os.environ.get("INPAINT_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data"


# ---------------------------------------------------------------------------------------------
# integrity
# ---------------------------------------------------------------------------------------------
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verify(path: Path, expected: str) -> Path:
    """Check ``path`` against its manifest sha256; raise DataIntegrityError naming the file.

    A successful check is remembered per (path, size, mtime) so that a training loop that
    re-reads the manifest does not re-hash the photos every time.
    """
    if not path.is_file():
        raise DataIntegrityError(
            f"data file {path} listed in the manifest is missing; regenerate data/ with "
            "`python scripts/make_data.py` or restore it from git"
        )
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(key) == expected:
        return path
    actual = _sha256(path)
    if actual != expected:
        raise DataIntegrityError(
            f"data file {path} has been altered: sha256 {actual} does not match the manifest's "
            f"{expected}; restore it from git or regenerate data/ with `python scripts/make_data.py`"
        )
    _VERIFIED[key] = expected
    return path


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DataIntegrityError(f"manifest {path} is missing; regenerate data/ with `python scripts/make_data.py`")
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# photos
# ---------------------------------------------------------------------------------------------
def load_manifest() -> dict:
    """The photo manifest ``data/manifest.json`` as a dict (key ``photos``: one record per photo).

    Defined in Chapter 0 (Foundations). Each record holds name, file (relative to the data
    folder), split, source package and version, original path, licence, credit, sha256, width
    and height.
    """
    return _read_json(data_dir() / "manifest.json")


def _check_split(split: str) -> None:
    if split not in (*SPLITS, "all"):
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS + ('all',)}")


def photo_paths(split: str = "train") -> list[Path]:
    """Paths of the photos of one split ("train", "val", "test" or "all"), each sha256-checked.

    Defined in Chapter 0 (Foundations). Raises ``DataIntegrityError`` naming the file if a photo
    is missing or altered, ``ValueError`` for an unknown split.
    """
    _check_split(split)
    root = data_dir()
    return [
        _verify(root / rec["file"], rec["sha256"])
        for rec in load_manifest()["photos"]
        if split == "all" or rec["split"] == split
    ]


_PHOTO_CACHE: dict[str, np.ndarray] = {}


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load_photo(name_or_path: PathLike) -> np.ndarray:
    """One photo as a uint8 array (H, W, 3), RGB.

    Defined in Chapter 0 (Foundations). ``name_or_path`` is a manifest name (``"chelsea"``), a
    manifest file name (``"chelsea.jpg"``), or a path to any image file. Manifest photos are
    sha256-checked; any image is converted to 3-channel RGB.
    """
    text = str(name_or_path)
    manifest_path = data_dir() / "manifest.json"
    if manifest_path.is_file() and os.sep not in text and "/" not in text:
        for rec in load_manifest()["photos"]:
            if text in (rec["name"], Path(rec["file"]).name):
                return _read_rgb(_verify(data_dir() / rec["file"], rec["sha256"]))
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no photo named {text!r} in the manifest and no such file")
    return _read_rgb(path)


def _cached(path: Path) -> np.ndarray:
    key = str(path.resolve())
    if key not in _PHOTO_CACHE:
        _PHOTO_CACHE[key] = _read_rgb(path)
    return _PHOTO_CACHE[key]


def _list_images(root: Path) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)}, searched recursively)")
    return files


class InpaintingImages(torch.utils.data.Dataset):
    """Random multi-scale square crops of photos, for training and validation.

    Defined in Chapter 0 (Foundations). Item ``i`` is a float tensor (3, size, size) in [0, 1]:
    a photo picked at random, shrunk by a random factor (log-uniform in ``scale_range``, relative
    to the photo's size, but never so small that the crop would not fit), a random ``size`` x
    ``size`` crop, and a random horizontal flip if ``flip``. Why multi-scale: one 128 px crop of
    a 1024 px photo is a patch of texture, a crop of the photo shrunk to 256 px holds whole
    objects; a network must learn both.

    Determinism: item ``i`` is drawn with a numpy RNG seeded by ``(seed, epoch, i)``, so the same
    seed gives the same crops whatever the number of DataLoader workers or the order of access;
    call ``set_epoch(e)`` to get new crops in a new epoch.

    Sources: by default the photos of ``split`` ("train", "val", "test" or "all") from the
    sha256-checked manifest. With ``root=`` a folder of the reader's own images (CelebA,
    Places2 ...; .jpg/.jpeg/.png/.webp, searched recursively) is used instead; images smaller
    than ``size`` are upscaled. Decoded images are kept in memory when there are at most
    ``cache_limit`` of them (the shipped photos are few), otherwise decoded at every access.
    ``length`` (default 10000) is the number of items of one epoch; ``None`` means one per image.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 128,
        length: int | None = 10000,
        seed: int = 0,
        scale_range: tuple[float, float] = (0.25, 1.0),
        flip: bool = True,
        root: PathLike | None = None,
        cache_limit: int = 500,
    ) -> None:
        if int(size) < 1:
            raise ValueError(f"size must be positive, got {size}")
        lo, hi = float(scale_range[0]), float(scale_range[1])
        if not (0 < lo <= hi):
            raise ValueError(f"scale_range must be (lo, hi) with 0 < lo <= hi, got {scale_range!r}")
        if root is None:
            self.files = photo_paths(split)
            if not self.files:
                raise ValueError(f"split {split!r} has no photos in the manifest")
        else:
            self.files = _list_images(Path(root))
        self.split, self.root = split, root
        self.size, self.seed, self.epoch = int(size), int(seed), 0
        self.scale_range, self.flip = (lo, hi), bool(flip)
        self.length = len(self.files) if length is None else int(length)
        self.cache = len(self.files) <= cache_limit

    def set_epoch(self, epoch: int) -> None:
        """Use the crops of epoch ``epoch`` (each epoch has its own, all reproducible)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def _image(self, k: int) -> np.ndarray:
        path = self.files[k]
        return _cached(path) if self.cache else _read_rgb(path)

    def __getitem__(self, index: int) -> torch.Tensor:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a data set of length {self.length}")
        index %= self.length
        rng = np.random.default_rng([self.seed, self.epoch, index])
        photo = self._image(int(rng.integers(len(self.files))))
        h, w = photo.shape[:2]
        lo, hi = self.scale_range
        factor = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        factor = max(factor, self.size / min(h, w))  # the crop must fit (upscales small images)
        # Crop first, in original pixels, then resize only that window: the same result as
        # resizing the whole photo and cropping, at a fraction of the cost.
        side = self.size / factor
        y0 = rng.uniform(0, max(0.0, h - side))
        x0 = rng.uniform(0, max(0.0, w - side))
        top, left = int(math.floor(y0)), int(math.floor(x0))
        bottom = min(h, max(top + 1, int(round(y0 + side))))
        right = min(w, max(left + 1, int(round(x0 + side))))
        window = photo[top:bottom, left:right]
        interp = cv2.INTER_AREA if window.shape[0] > self.size else cv2.INTER_CUBIC
        crop = cv2.resize(window, (self.size, self.size), interpolation=interp)
        if self.flip and rng.random() < 0.5:
            crop = crop[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div_(255.0)

    def __repr__(self) -> str:
        source = f"root={str(self.root)!r}" if self.root is not None else f"split={self.split!r}"
        return (f"InpaintingImages({source}, images={len(self.files)}, size={self.size}, "
                f"length={self.length}, seed={self.seed}, scale_range={self.scale_range}, flip={self.flip})")


# ---------------------------------------------------------------------------------------------
# the fixed test set
# ---------------------------------------------------------------------------------------------
def load_test_manifest() -> dict:
    """The test set manifest ``data/testset/manifest.json`` as a dict.

    Defined in Chapter 0 (Foundations). ``images`` lists every crop (file, sha256, source photo,
    scale and position); ``masks[kind]`` every mask (file, sha256, hole ratio).
    """
    return _read_json(data_dir() / "testset" / "manifest.json")


def _take(rows: list[dict], n: int | None) -> list[dict]:
    if n is None:
        return rows
    if not 0 < int(n) <= len(rows):
        raise ValueError(f"n must be between 1 and {len(rows)}, got {n}")
    return rows[: int(n)]


def load_test_set(n: int | None = None) -> torch.Tensor:
    """The fixed test images, float tensor (N, 3, 128, 128) in [0, 1] (the first ``n`` if given).

    Defined in Chapter 0 (Foundations). 128x128 crops cut only from the test photos, each
    sha256-checked (``DataIntegrityError`` names a missing or altered file). Every model in the
    book is measured on exactly these images.
    """
    root = data_dir() / "testset"
    rows = _take(load_test_manifest()["images"], n)
    arrays = [_read_rgb(_verify(root / r["file"], r["sha256"])) for r in rows]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)


def load_test_masks(kind: str, n: int | None = None) -> torch.Tensor:
    """The fixed test masks of one kind, float tensor (N, 1, 128, 128), 1 = hole.

    Defined in Chapter 0 (Foundations). ``kind`` is one of ``TEST_MASK_KINDS``: ``"center"``
    (the 64x64 centre square) or a free-form hole-ratio bucket ``"ff10-20"`` ... ``"ff40-50"``;
    mask ``i`` belongs to test image ``i``. Stored as PNG with 255 = hole, sha256-checked.
    """
    if kind not in TEST_MASK_KINDS:
        raise ValueError(f"unknown test mask kind {kind!r}; expected one of {TEST_MASK_KINDS}")
    root = data_dir() / "testset"
    rows = _take(load_test_manifest()["masks"][kind], n)
    arrays = []
    for r in rows:
        with Image.open(_verify(root / r["file"], r["sha256"])) as im:
            arrays.append(np.asarray(im.convert("L")) > 127)
    return torch.from_numpy(np.stack(arrays)).unsqueeze(1).float()
