"""The command line, the model registry and the distributed launch (Chapter 0)."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlib.data import DATA_DIR

import inpaintlib
from inpaintlib.cli import main
from inpaintlib.registry import checkpoint_path

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


@pytest.mark.skipif(not checkpoint_path("context_encoder").is_file(), reason="checkpoint not shipped yet")
def test_shipped_context_encoder_checkpoint():
    model = inpaintlib.load_pretrained("context_encoder")
    assert not model.training and next(model.parameters()).device.type == "cpu"
    meta = model.checkpoint_meta
    assert meta["profile"] == "cpu" and meta["image_size"] == 128 and meta["device"]
    assert meta["finished"] and abs(meta["core_minutes"] - 90) < 1  # the equal budget, in minutes
    history = model.checkpoint_history["G/reconstruction"]
    assert np.mean(history[-10:]) < 0.8 * np.mean(history[:3])  # the shipped run did learn
    from inpaintlib.data import load_test_masks, load_test_set

    x, m = load_test_set(n=2), load_test_masks("center", n=2)
    out1, out2 = inpaintlib.inpaint(x, m, model), inpaintlib.inpaint(x, m, inpaintlib.load_pretrained("context_encoder"))
    assert torch.equal(out1, out2)  # reloads to the same outputs


def test_torchrun_two_processes_keep_identical_weights(tmp_path):
    """Two CPU processes (gloo) train in data parallel: gradients are averaged, so weights stay equal."""
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, torch
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_train import TinyRecipe
        from inpaintlib.train import train
        res = train(TinyRecipe(), profile="smoke", out={str(tmp_path / "ddp.pt")!r}, progress=False, steps=3)
        flat = torch.cat([p.detach().flatten() for p in res.generator.parameters()])
        torch.save(flat, {str(tmp_path)!r} + f"/rank{{os.environ['RANK']}}.pt")
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_port=29517", str(script)], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert torch.equal(w0, w1)
    assert (tmp_path / "ddp.pt").is_file()


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
