"""The command line and the model registry (Chapter 0)."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaintlib.data.photos import DATA_DIR

import inpaintlib
from inpaintlib.cli import main

from training_helpers import assert_shipped_budget

ROOT = Path(__file__).resolve().parent.parent


def _write_pair(tmp_path, mask_values=(0, 255)):
    rng = np.random.default_rng(0)
    img = (rng.random((64, 80, 3)) * 255).astype(np.uint8)
    mask = np.full((64, 80), mask_values[0], np.uint8)
    mask[20:40, 30:50] = mask_values[1]
    Image.fromarray(img).save(tmp_path / "in.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return img, mask


def test_cli_inpaint_writes_a_composited_png(tmp_path):
    img, mask = _write_pair(tmp_path)
    assert main(["inpaint", "--model", "telea", "--image", str(tmp_path / "in.png"),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "out.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == img.shape
    assert np.array_equal(out[mask == 0], img[mask == 0])


def test_cli_rejects_a_non_binary_mask(tmp_path):
    _write_pair(tmp_path, mask_values=(0, 128))
    Image.fromarray(np.arange(64 * 80, dtype=np.uint8).reshape(64, 80)).save(tmp_path / "mask.png")
    with pytest.raises(SystemExit, match="not black and white"):
        main(["inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
              "--out", str(tmp_path / "out.png")])


def test_cli_rejects_rgba(tmp_path):
    Image.fromarray(np.zeros((32, 32, 4), np.uint8)).save(tmp_path / "in.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "mask.png")
    with pytest.raises(SystemExit, match="transparent pixels"):
        main(["inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
              "--out", str(tmp_path / "out.png")])


def test_cli_models_and_unknown_training_target(capsys):
    main(["models"])
    assert "telea" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown model"):
        main(["train", "no_such_model", "--profile", "smoke"])


def test_available_models_and_baselines_load():
    names = inpaintlib.available_models()
    assert names[:3] == ["telea", "navier_stokes", "biharmonic"]
    assert "context_encoder" in inpaintlib.available_models(include_untrained=True)
    model = inpaintlib.load_pretrained("biharmonic")
    assert not model.training
    with pytest.raises(ValueError, match="unknown model"):
        inpaintlib.load_pretrained("nope")


def test_shipped_context_encoder_checkpoint():
    """A missing checkpoint fails (load_pretrained says how to train it); its outputs are pinned by
    tests/test_fingerprints.py."""
    model = inpaintlib.load_pretrained("context_encoder")
    assert not model.training and next(model.parameters()).device.type == "cpu"
    meta = model.checkpoint_meta
    assert meta["image_size"] == 128 and meta["device"]
    assert_shipped_budget(meta)  # 1 PFLOP, or the 90 core-minutes shipped before it
    history = model.checkpoint_history["G/reconstruction"]
    assert np.mean(history[-10:]) < 0.8 * np.mean(history[:3])  # the shipped run did learn


def test_checkpoint_variants_cpu_and_gpu(tmp_path, monkeypatch):
    import inpaintlib
    from inpaintlib import registry

    assert "cpu" in inpaintlib.available_variants("glcic")
    monkeypatch.setattr(registry, "checkpoint_dir", lambda: tmp_path)
    assert inpaintlib.available_variants("glcic") == []
    (tmp_path / "gpu").mkdir()
    shutil.copy(Path(DATA_DIR) / "checkpoints" / "glcic.pt", tmp_path / "gpu" / "glcic.pt")
    assert inpaintlib.available_variants("glcic") == ["gpu"]
    assert inpaintlib.load_pretrained("glcic", variant="gpu").checkpoint_meta["steps"] > 0
    with pytest.raises(FileNotFoundError):
        inpaintlib.load_pretrained("glcic")  # no cpu checkpoint in this folder
    with pytest.raises(ValueError, match="variant"):
        inpaintlib.load_pretrained("glcic", variant="tpu")
