"""The command line and the model registry (Chapter 0)."""
import importlib.util
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
    shipped = registry.run_name("glcic") + ".pt"  # the run that ships as glcic (SHIPPED_RUN)
    shutil.copy(Path(DATA_DIR) / "checkpoints" / shipped, tmp_path / "gpu" / shipped)
    assert inpaintlib.available_variants("glcic") == ["gpu"]
    assert inpaintlib.load_pretrained("glcic", variant="gpu").checkpoint_meta["steps"] > 0
    with pytest.raises(FileNotFoundError):
        inpaintlib.load_pretrained("glcic")  # no cpu checkpoint in this folder
    with pytest.raises(ValueError, match="variant"):
        inpaintlib.load_pretrained("glcic", variant="tpu")


def test_a_preferred_candidate_ships_under_the_models_name_and_both_runs_stay_loadable(tmp_path, monkeypatch):
    """registry.SHIPPED_RUN (Chapter 3b): when the validation crops prefer a candidate's run,
    ``load_pretrained(model)`` loads it, and the model's own run stays loadable by recipe name."""
    import torch

    from inpaintlib import registry

    monkeypatch.setattr(registry, "checkpoint_dir", lambda: tmp_path)
    own = torch.load(Path(DATA_DIR) / "checkpoints" / "glcic.pt", map_location="cpu", weights_only=True)
    torch.save(own, tmp_path / "glcic.pt")
    other = {**own, "model": "glcic_balanced_alpha", "meta": {**own["meta"], "steps": 1}}
    weights = other["state_dicts"]["generator"] = dict(own["state_dicts"]["generator"])
    last_bias = [k for k in weights if k.endswith("bias")][-1]
    weights[last_bias] = weights[last_bias] + 0.25  # paints visibly differently
    torch.save(other, tmp_path / "glcic_balanced_alpha.pt")

    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    paint = lambda model: inpaintlib.inpaint(x, mask, model)  # noqa: E731

    # nothing preferred: the model's name loads its own run
    monkeypatch.delitem(registry.SHIPPED_RUN, "glcic", raising=False)
    assert registry.run_name("glcic") == "glcic" and registry.run_name("msnps") == "msnps_content"
    assert torch.equal(paint(inpaintlib.load_pretrained("glcic")), paint(registry.load_run("glcic")))
    own_fill, other_fill = paint(registry.load_run("glcic")), paint(registry.load_run("glcic_balanced_alpha"))
    assert (own_fill - other_fill).abs().max() > 0.05

    # the candidate preferred: it ships as glcic, and the own run is still there by its name
    monkeypatch.setitem(registry.SHIPPED_RUN, "glcic", "glcic_balanced_alpha")
    assert registry.checkpoint_path("glcic") == (tmp_path / "glcic_balanced_alpha.pt").resolve()
    assert torch.equal(paint(inpaintlib.load_pretrained("glcic")), other_fill)
    assert torch.equal(paint(registry.load_run("glcic")), own_fill)
    assert inpaintlib.load_pretrained("glcic").checkpoint_meta["steps"] == 1 < own["meta"]["steps"]
    # re-fingerprinting glcic covers both files
    spec = importlib.util.spec_from_file_location(
        "write_fingerprints", Path(__file__).resolve().parent.parent / "scripts" / "write_fingerprints.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert set(script.shipped_files(["glcic"], ["cpu"])) == {(tmp_path / f).resolve()
                                                             for f in ("glcic.pt", "glcic_balanced_alpha.pt")}

    with pytest.raises(ValueError, match="expected a recipe's name"):
        registry.load_run("msnps")  # a wrapped model, not a run
    with pytest.raises(FileNotFoundError, match="train-all|train pconv"):
        registry.load_run("pconv")
