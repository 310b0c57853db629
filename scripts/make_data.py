#!/usr/bin/env python
"""Regenerate the book's offline data set, ``data/``, from photos shipped inside packages.

Defined in Chapter 0 (Foundations).

Why this script exists: CelebA, Places2 and Paris StreetView cannot be downloaded where the book
is built, so the book trains and tests on about forty real photographs that ship inside packages
we can install (scikit-image, scikit-learn, matplotlib on PyPI; two wallpaper packages on
Debian). Everything in ``data/`` (except ``data/checkpoints/``) is produced here, deterministically,
so that anybody can check where each pixel came from and under which licence.

What it writes:

* ``data/photos/<name>.jpg``: every photo, resized to at most 1024 px on the long side
  (Lanczos), JPEG quality 92; greyscale photos are stored as 3 identical channels.
* ``data/manifest.json``: per photo its source package and version, original path, licence,
  credit, sha256, size and split (train / val / test, split *by photo*).
* ``data/README.md``: sources, licences, the split and how to regenerate (from the manifest).
* ``data/testset/``: the fixed test set: 128x128 PNG crops cut from the *test* photos only,
  plus fixed hole masks (PNG, 255 = hole): ``center`` and one free-form mask per crop in each
  hole-ratio bucket ``ff10-20`` ... ``ff40-50``; ``data/testset/manifest.json`` holds the sha256
  of every file and the photo, scale and position of every crop.

Usage (needs ``apt-get`` for the two Debian packages; run ``apt-get update`` once first)::

    .venv/bin/python scripts/make_data.py            # writes ./data
    .venv/bin/python scripts/make_data.py --debs DIR # reuse already downloaded .deb files
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from inpaintlib import masks as M  # noqa: E402

MAX_SIDE = 1024
JPEG_QUALITY = 92
SPLIT_SEED = 20240607
TEST_SEED = 1234
CROP = 128
N_TEST = 100
BUCKETS = {"ff10-20": (0.1, 0.2), "ff20-30": (0.2, 0.3), "ff30-40": (0.3, 0.4), "ff40-50": (0.4, 0.5)}

# ---------------------------------------------------------------------------------------------
# The sources. Licences of the PyPI photos are those stated by each package (the docstring of
# the skimage.data function, sklearn's images/README.txt, matplotlib's licence); the Debian ones
# are read from the package's machine-readable copyright file at run time.
# ---------------------------------------------------------------------------------------------
SKIMAGE = [
    # (name, file in skimage/data, licence, credit, grey)
    ("astronaut", "astronaut.png", "public domain", "NASA, Eileen Collins", False),
    ("coffee", "coffee.png", "CC0-1.0", "Rachel Michetti", False),
    ("chelsea", "chelsea.png", "CC0-1.0", "Stefan van der Walt", False),
    ("rocket", "rocket.jpg", "public domain", "SpaceX (DSCOVR launch)", False),
    ("hubble_deep_field", "hubble_deep_field.jpg", "public domain", "NASA", False),
    ("retina", "retina.jpg", "CC0-1.0", "Mikael Häggström, Wikimedia Commons", False),
    ("immunohistochemistry", "ihc.png", "no known copyright restrictions",
     "Center for Microscopy And Molecular Imaging (CMMI)", False),
    ("motorcycle_left", "motorcycle_left.png",
     "no licence stated (Middlebury 2014 stereo benchmark, distributed with scikit-image, BSD-3-Clause)",
     "Scharstein et al., Middlebury College", False),
    ("motorcycle_right", "motorcycle_right.png",
     "no licence stated (Middlebury 2014 stereo benchmark, distributed with scikit-image, BSD-3-Clause)",
     "Scharstein et al., Middlebury College", False),
    ("camera", "camera.png", "CC0-1.0", "Lav Varshney", True),
    ("brick", "brick.png", "CC0-1.0", "CC0Textures (Bricks25)", True),
    ("grass", "grass.png", "CC0-1.0", "CC0Textures", True),
    ("gravel", "gravel.png", "CC0-1.0", "CC0Textures (Gravel04)", True),
]
SKLEARN = [
    ("china", "china.jpg", "CC-BY-2.0", "danielbuechele (Flickr)"),
    ("flower", "flower.jpg", "CC-BY-2.0", "vultilion (Flickr)"),
]
# Lomiri wallpapers that are not photographs (an abstract render, a noise-like pattern) are left out.
LOMIRI_EXCLUDE = {"umang_by_Abhishek_Mudgal.jpg", "analogpattern_by_Peter_Nerlich.jpg"}
# Photos that always stay in training: greyscale ones (so val/test are all colour), the two views
# of one stereo pair (nearly the same picture: splitting them would leak test content) and the
# scientific images (fundus, microscopy, deep field), so val/test are everyday photographs.
FORCE_TRAIN = {"camera", "brick", "grass", "gravel", "motorcycle_left", "motorcycle_right",
               "retina", "immunohistochemistry", "hubble_deep_field"}


def sha256(path: Path) -> str:
    """Hex sha256 of a file: what the manifests record and the loader checks."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def version_of(dist: str) -> str:
    return importlib.metadata.version(dist)


def site_file(module: str, *parts: str) -> tuple[Path, str]:
    """Absolute path of a data file inside an installed module, and a readable relative path."""
    spec = importlib.util.find_spec(module)
    root = Path(list(spec.submodule_search_locations)[0])
    rel = "/".join([module.replace(".", "/"), *parts])
    return root.joinpath(*parts), rel


# ---------------------------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------------------------
def fetch_deb(package: str, workdir: Path, debs: Path | None) -> tuple[Path, str]:
    """Download ``package`` with apt-get (or reuse a .deb in ``debs``), unpack it, return (root, version)."""
    found = sorted((debs or workdir).glob(f"{package}_*.deb"))
    if not found:
        res = subprocess.run(["apt-get", "download", package], cwd=workdir, capture_output=True, text=True)
        found = sorted(workdir.glob(f"{package}_*.deb"))
        if not found:
            raise SystemExit(
                f"could not download the Debian package {package!r} (run `apt-get update` first?):\n{res.stderr}"
            )
    deb = found[-1]
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    root = workdir / f"x-{package}"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root, version


def parse_dep5(text: str) -> list[tuple[list[str], str, str]]:
    """Parse a machine-readable Debian copyright file into (patterns, licence, copyright) rows.

    Only the ``Files:`` paragraphs matter here. Continuation lines (starting with a space) extend
    the previous field; the licence is the first line of ``License:``.
    """
    rows = []
    for para in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
        if "Files" in fields and "License" in fields:
            patterns = fields["Files"].split()
            licence = fields["License"].splitlines()[0].strip()
            # Collapse the multi-line Copyright field; drop a stray accent found in mate's file.
            holder = " ".join(fields.get("Copyright", "").replace("\u00b4", "").split())
            rows.append((patterns, licence, holder))
    return rows


def licence_for(rows, relative: str) -> tuple[str, str]:
    """Licence and copyright of a file: the last matching ``Files:`` paragraph wins (DEP-5 rule).

    A pattern may name a path relative to the upstream tree, which need not equal the installed
    one (``16.04/x.jpg`` is installed as ``/usr/share/backgrounds/x.jpg``), so patterns are also
    matched against the trailing components of the installed path.
    """
    best = None
    parts = relative.split("/")
    for patterns, lic, copy in rows:
        for pat in patterns:
            n = pat.count("/") + 1
            tail = "/".join(parts[-n:])
            same_depth = fnmatch.fnmatch(tail, pat)
            same_name = "/" in pat and "*" not in pat and parts[-1] == pat.rsplit("/", 1)[1]
            if same_depth or same_name:
                best = (lic, copy)
    if best is None or best[0] in {"Expat", ""}:
        raise SystemExit(f"no photo licence found for {relative} in the copyright file")
    return best


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def load_rgb(path: Path) -> Image.Image:
    """Open any of the source images as an 8-bit RGB PIL image (grey -> 3 equal channels)."""
    im = Image.open(path)
    im.load()
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB") if "A" not in im.mode else im.convert("RGBA").convert("RGB")
    return im.convert("RGB")


def save_photo(im: Image.Image, dest: Path) -> None:
    """Resize to at most MAX_SIDE on the long side with Lanczos and save as JPEG quality 92."""
    w, h = im.size
    if max(w, h) > MAX_SIDE:
        s = MAX_SIDE / max(w, h)
        im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    im.save(dest, "JPEG", quality=JPEG_QUALITY, optimize=True)


def collect_sources(workdir: Path, debs: Path | None) -> list[dict]:
    """Every source photo as a dict: name, path on disk, manifest fields, grouping for the split."""
    out = []
    sk_version = version_of("scikit-image")
    for name, fname, lic, credit, grey in SKIMAGE:
        path, rel = site_file("skimage", "data", fname)
        out.append(dict(name=name, path=path, source="scikit-image (PyPI)", source_version=sk_version,
                        original_path=rel, license=lic, credit=credit, grey=grey, group="skimage"))
    skl_version = version_of("scikit-learn")
    for name, fname, lic, credit in SKLEARN:
        path, rel = site_file("sklearn", "datasets", "images", fname)
        out.append(dict(name=name, path=path, source="scikit-learn (PyPI)", source_version=skl_version,
                        original_path=rel, license=lic, credit=credit, grey=False, group="misc"))
    path, rel = site_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg")
    out.append(dict(name="grace_hopper", path=path, source="matplotlib (PyPI)", source_version=version_of("matplotlib"),
                    original_path=rel, license="Matplotlib License (PSF-based); US Navy photo",
                    credit="US Navy (Grace Hopper portrait)", grey=False, group="misc"))

    for package, pattern, prefix, group in [
        ("lomiri-wallpapers-16.04", "usr/share/backgrounds/*.jpg", "lomiri_", "lomiri"),
        ("mate-backgrounds", "usr/share/backgrounds/mate/nature/*.jpg", "mate_", "mate"),
    ]:
        root, version = fetch_deb(package, workdir, debs)
        rows = parse_dep5((root / "usr/share/doc" / package / "copyright").read_text(encoding="utf-8"))
        for path in sorted(root.glob(pattern)):
            if path.name in LOMIRI_EXCLUDE:
                continue
            rel = "/" + str(path.relative_to(root))
            lic, copy = licence_for(rows, rel)
            stem = path.stem.lower()
            name = prefix + (stem.split("_by_")[0] if "_by_" in stem else stem)
            out.append(dict(name=name, path=path, source=f"{package} (Debian)", source_version=version,
                            original_path=rel, license=lic, credit=copy, grey=False, group=group))
    names = [s["name"] for s in out]
    assert len(names) == len(set(names)), "photo names must be unique"
    return out


def assign_splits(sources: list[dict], seed: int) -> None:
    """Split *by photo*: about 70 / 15 / 15 %, stratified by source so val and test are diverse.

    Why stratified: a plain random split of ~40 photos can put, say, all skimage photos in train.
    Per source group, a seeded shuffle gives round(15 %) (at least 1) photos to val and as many
    to test; photos in FORCE_TRAIN always stay in train.
    """
    rng = np.random.default_rng(seed)
    for s in sources:
        s["split"] = "train"
    for group in sorted({s["group"] for s in sources}):
        members = sorted((s for s in sources if s["group"] == group and s["name"] not in FORCE_TRAIN),
                         key=lambda s: s["name"])
        k = max(1, round(0.15 * len(members)))
        order = rng.permutation(len(members))
        for i in order[:k]:
            members[i]["split"] = "val"
        for i in order[k : 2 * k]:
            members[i]["split"] = "test"


def build_testset(data: Path, test_photos: list[dict], n: int, seed: int) -> dict:
    """Cut ``n`` 128x128 crops from the test photos at random scales, plus their fixed masks.

    Why random scales: a 128 px crop of a 1024 px photo is a patch of texture; shrinking the
    photo first (short side between 160 and 512 px, log-uniform) gives crops that also hold
    objects and structure, which is what inpainting has to reproduce. Nearly flat crops (pixel
    standard deviation below 0.04, e.g. clear sky) are redrawn: filling them proves nothing.
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    root = data / "testset"
    if root.exists():
        shutil.rmtree(root)
    (root / "images").mkdir(parents=True)
    kinds = ["center", *BUCKETS]
    for kind in kinds:
        (root / "masks" / kind).mkdir(parents=True)
    photos = {p["name"]: np.asarray(Image.open(data / p["file"]).convert("RGB")) for p in test_photos}
    names = sorted(photos)
    images, mask_rows = [], {k: [] for k in kinds}
    center = M.center_square_mask(1, CROP, CROP)
    for i in range(n):
        name = names[i % len(names)]  # round-robin so every test photo contributes equally
        photo = photos[name]
        h, w = photo.shape[:2]
        for _ in range(1000):
            target = float(np.exp(rng.uniform(np.log(160), np.log(min(512, min(h, w))))))
            scale = max(target / min(h, w), CROP / min(h, w))
            sh, sw = max(CROP, round(h * scale)), max(CROP, round(w * scale))
            small = cv2.resize(photo, (sw, sh), interpolation=cv2.INTER_AREA)
            top, left = int(rng.integers(0, sh - CROP + 1)), int(rng.integers(0, sw - CROP + 1))
            crop = small[top : top + CROP, left : left + CROP]
            if crop.astype(np.float32).std() / 255.0 >= 0.04:
                break
        fname = f"images/{i:04d}.png"
        Image.fromarray(crop).save(root / fname, optimize=True)
        images.append(dict(file=fname, sha256=sha256(root / fname), photo=name, scale=round(scale, 5),
                           top=top, left=left))
        for kind in kinds:
            if kind == "center":
                m = center
            else:
                lo, hi = BUCKETS[kind]
                m = M.free_form_mask_in_bucket(CROP, CROP, lo, hi, generator=gen)
            mfile = f"masks/{kind}/{i:04d}.png"
            Image.fromarray(m[0, 0].numpy() > 0.5).save(root / mfile, optimize=True)  # 1-bit PNG
            mask_rows[kind].append(dict(file=mfile, sha256=sha256(root / mfile),
                                        hole_ratio=round(float(M.hole_ratio(m)[0]), 5)))
    manifest = dict(
        description="Fixed test set: 128x128 crops of the test photos only, with fixed masks (PNG, 255 = hole).",
        size=CROP, seed=seed, count=n, photos=names, images=images, masks=mask_rows,
        mask_kinds=kinds, buckets={k: list(v) for k, v in BUCKETS.items()},
    )
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


README_HEAD = """# data/: the book's offline photos and fixed test set

*Generated by `scripts/make_data.py`; do not edit by hand (edit the script and regenerate).*

The large inpainting data sets (CelebA, Places2, Paris StreetView, ImageNet) cannot be downloaded
where this book is built, so the book uses **{n} real photographs that ship inside packages**
installable here: scikit-image, scikit-learn and matplotlib (PyPI) and the Debian packages
`lomiri-wallpapers-16.04` and `mate-backgrounds`. This is far less data than the papers used; the
book says so wherever it matters. A reader with CelebA or Places2 on disk can train on it with
`inpaintlib.data.InpaintingImages(root="/path/to/images")`.

## Contents

* `photos/<name>.jpg`: every photo, resized to at most {max_side} px on the long side (Lanczos),
  JPEG quality {quality}. Greyscale photos are stored with three equal channels.
* `manifest.json`: per photo its source package and version, original path inside the package,
  licence, credit, sha256 of the file here, width, height and split.
* `testset/images/0000.png ...`: the fixed test set, {n_test} crops of 128x128 taken only from the
  **test** photos, each after shrinking the photo to a random short side of 160-512 px
  (log-uniform; nearly flat crops are redrawn).
* `testset/masks/<kind>/0000.png ...`: one fixed mask per crop and kind, 1-bit PNG,
  **255 (white) = hole**. `center`: the 64x64 centre square (Context Encoder setting);
  `ff10-20`, `ff20-30`, `ff30-40`, `ff40-50`: DeepFill v2 free-form masks whose hole ratio lies
  in that bucket (`inpaintlib.masks.free_form_mask_in_bucket`).
* `testset/manifest.json`: sha256 of every test file, the source photo, scale and position of
  each crop, and the hole ratio of each mask.
* `checkpoints/`: trained networks (written by the training scripts, not by this script).

`inpaintlib.data` checks every file against its sha256 when it loads it and raises
`DataIntegrityError` naming the file if it is missing or altered.

## Split (by photo)

The split is made **by photo**, so no test crop comes from a photo seen in training. Per source
(scikit-image, scikit-learn + matplotlib, lomiri, mate) a seeded shuffle (seed {seed}) gives about
15 % of the photos to validation and 15 % to test. Greyscale photos, the two views of the
Middlebury motorcycle stereo pair (nearly the same picture) and the scientific images (retina,
microscopy, deep field) always stay in training, so validation and test are everyday colour
photographs.

| split | photos | names |
|---|---|---|
{split_rows}

## How to regenerate

```bash
apt-get update                      # once, so that apt-get download finds the packages
.venv/bin/python scripts/make_data.py
```

The script downloads the two Debian packages with `apt-get download` and unpacks them with
`dpkg-deb -x` into a temporary folder (nothing is installed), reads the licence of each
wallpaper from the package's `copyright` file, and rewrites `photos/`, `manifest.json`,
`testset/` and this README. With the same package versions the output is byte-identical.

## Sources and licences

Licences as stated by each package: the docstring of the `skimage.data` function,
`sklearn/datasets/images/README.txt`, matplotlib's licence, and the Debian `copyright` files.
The photos under CC-BY / CC-BY-SA / GPL-2+ are redistributed here, resized, under those same
terms; credit is given below and in `manifest.json`. The licence texts: https://creativecommons.org/licenses/
for the CC licences, and `/usr/share/common-licenses/GPL-2` on any Debian system for GPL-2+.

| file | split | source (version) | original path | licence | credit |
|---|---|---|---|---|---|
{photo_rows}
"""


def write_readme(data: Path, records: list[dict], n_test: int) -> None:
    """Write data/README.md from the manifest records, so the two never disagree."""
    split_rows = "\n".join(
        f"| {s} | {sum(r['split'] == s for r in records)} | "
        + ", ".join(r["name"] for r in records if r["split"] == s) + " |"
        for s in ("train", "val", "test")
    )
    photo_rows = "\n".join(
        f"| `{r['file']}` | {r['split']} | {r['source']} {r['source_version']} | `{r['original_path']}` | "
        f"{r['license']} | {r['credit'].replace('|', '/')} |"
        for r in records
    )
    text = README_HEAD.format(n=len(records), max_side=MAX_SIDE, quality=JPEG_QUALITY, n_test=n_test,
                              seed=SPLIT_SEED, split_rows=split_rows, photo_rows=photo_rows)
    (data / "README.md").write_text(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "data", help="data directory (default: repo's data/)")
    parser.add_argument("--debs", type=Path, default=None, help="folder with already downloaded .deb files")
    parser.add_argument("--n-test", type=int, default=N_TEST, help="number of test crops")
    args = parser.parse_args(argv)

    data: Path = args.out
    photos_dir = data / "photos"
    if photos_dir.exists():
        shutil.rmtree(photos_dir)
    photos_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="inpaint-data-") as tmp:
        sources = collect_sources(Path(tmp), args.debs)
        assign_splits(sources, SPLIT_SEED)
        records = []
        for s in sources:
            dest = photos_dir / f"{s['name']}.jpg"
            save_photo(load_rgb(s["path"]), dest)
            with Image.open(dest) as im:
                width, height = im.size
            records.append(dict(
                name=s["name"], file=f"photos/{dest.name}", split=s["split"], source=s["source"],
                source_version=s["source_version"], original_path=s["original_path"], license=s["license"],
                credit=s["credit"], greyscale=s["grey"], sha256=sha256(dest), width=width, height=height,
            ))
            print(f"{s['split']:5s} {dest.name:40s} {width}x{height}  {s['license']}")
    manifest = dict(
        description="Photos for the book, from packages; see data/README.md. Regenerate with scripts/make_data.py.",
        max_side=MAX_SIDE, jpeg_quality=JPEG_QUALITY, split_seed=SPLIT_SEED, photos=records,
    )
    (data / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    test = [r for r in records if r["split"] == "test"]
    build_testset(data, test, args.n_test, TEST_SEED)
    write_readme(data, records, args.n_test)
    counts = {k: sum(r["split"] == k for r in records) for k in ("train", "val", "test")}
    total = sum(f.stat().st_size for f in data.rglob("*") if f.is_file() and "checkpoints" not in f.parts)
    print(f"{len(records)} photos {counts}; data/ (without checkpoints) = {total / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
