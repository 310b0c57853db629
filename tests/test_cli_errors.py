"""The command line (Chapter 0): a mistake the user can fix ends in one ``error:`` line, not a traceback.

In-process through ``main([...])`` (an error is ``SystemExit("error: ...")``, which Python prints on
stderr with exit status 1), and through a real ``python -m inpaintlib`` for what the user sees.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inpaintlib.registry
import inpaintlib.training.train_all
from inpaintlib.cli import UNLOADABLE, main
from inpaintlib.evaluation.fixed_test_set import CACHE_ENV
from inpaintlib.losses.vgg import hed_weights_path
from inpaintlib.registry import recipe_for
from inpaintlib.training.checkpoint import read_checkpoint
from inpaintlib.training.engine import train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run in a temporary folder and cache evaluations there: the repository is left as it was."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "eval-cache"))


@pytest.fixture
def pair(tmp_path):
    """A 64x80 photo and its mask (a 20x20 hole) as PNG files."""
    rng = np.random.default_rng(0)
    mask = np.zeros((64, 80), np.uint8)
    mask[20:40, 30:50] = 255
    Image.fromarray((rng.random((64, 80, 3)) * 255).astype(np.uint8)).save(tmp_path / "in.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path / "in.png", tmp_path / "mask.png"


def _inpaint_args(pair, out, model="telea"):
    return ["inpaint", "--model", model, "--image", str(pair[0]), "--mask", str(pair[1]), "--out", str(out)]


def _error_line(argv) -> str:
    """The message ``main(argv)`` exits with, checked to be one ``error:`` line."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    message = exc.value.code
    assert isinstance(message, str), message  # a message, hence exit status 1, not 0
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def _without_checkpoints(monkeypatch, tmp_path):
    monkeypatch.setattr(inpaintlib.registry, "checkpoint_dir", lambda: tmp_path / "no-checkpoints")


# --- inpaint ---------------------------------------------------------------------------------------
def test_inpaint_with_an_unknown_model(pair, tmp_path):
    message = _error_line(_inpaint_args(pair, tmp_path / "out.png", model="nope"))
    assert "unknown model 'nope'" in message and "telea" in message  # says what exists
    assert not (tmp_path / "out.png").exists()


def test_inpaint_with_a_missing_checkpoint(pair, tmp_path, monkeypatch):
    _without_checkpoints(monkeypatch, tmp_path)
    message = _error_line(_inpaint_args(pair, tmp_path / "out.png", model="context_encoder"))
    assert "no shipped checkpoint for 'context_encoder'" in message


def test_inpaint_with_a_corrupt_checkpoint(pair, tmp_path, monkeypatch):
    monkeypatch.setattr(inpaintlib.registry, "checkpoint_dir", lambda: tmp_path)
    (tmp_path / "context_encoder.pt").write_bytes(b"not a checkpoint at all" * 10)
    message = _error_line(_inpaint_args(pair, tmp_path / "out.png", model="context_encoder"))
    assert message == f"error: context_encoder {UNLOADABLE}"  # not torch's advice to load unsafely


def test_inpaint_with_a_truncated_photo(pair, tmp_path):
    data = pair[0].read_bytes()
    half = tmp_path / "half.png"
    for cut in (len(data) // 2, 500):  # half a file, and its first 500 bytes
        half.write_bytes(data[:cut])
        message = _error_line(["inpaint", "--image", str(half), "--mask", str(pair[1]),
                               "--out", str(tmp_path / "out.png")])
        assert f"{half} is truncated or damaged" in message


def test_inpaint_with_a_missing_photo(pair, tmp_path):
    message = _error_line(["inpaint", "--image", str(tmp_path / "absent.png"), "--mask", str(pair[1]),
                           "--out", str(tmp_path / "out.png")])
    assert "absent.png" in message


@pytest.mark.parametrize("out, says", [
    ("no-such-folder/out.png", "does not exist"),
    (".", "is a folder"),
    ("out.notanimage", "unknown image extension"),
])
def test_inpaint_to_an_unwritable_output(pair, tmp_path, out, says):
    assert says in _error_line(_inpaint_args(pair, tmp_path / out))


# --- evaluate -----------------------------------------------------------------------------------
def test_evaluate_an_unknown_model():
    assert "unknown model 'nope'" in _error_line(["evaluate", "nope", "--n", "2", "--kinds", "center"])


def test_evaluate_with_a_missing_shipped_checkpoint(tmp_path, monkeypatch):
    _without_checkpoints(monkeypatch, tmp_path)
    message = _error_line(["evaluate", "glcic", "--n", "2", "--kinds", "center"])
    assert "no shipped checkpoint for" in message and "'glcic'" in message  # the name asked for


@pytest.mark.parametrize("content", [None, b"\x00garbage" * 50])
def test_evaluate_a_missing_or_corrupt_checkpoint_file(tmp_path, content):
    path = tmp_path / "run.pt"
    if content is not None:
        path.write_bytes(content)
    message = _error_line(["evaluate", "glcic", "--checkpoint", str(path), "--n", "2", "--kinds", "center"])
    assert str(path) in message
    assert (UNLOADABLE in message) == (content is not None)


def test_evaluate_an_unknown_mask_kind():
    assert "unknown mask kind 'middle'" in _error_line(["evaluate", "telea", "--n", "2", "--kinds", "middle"])


def test_evaluate_prints_a_table_beside_the_baselines(capsys):
    assert main(["evaluate", "biharmonic", "--n", "2", "--kinds", "center"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| method | center L1 (%) | center PSNR (dB) | center SSIM |")
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == [
        "Biharmonic", "Telea (fast marching)", "Navier-Stokes"]


# --- train, train-all ---------------------------------------------------------------------------
def test_train_an_unknown_model():
    assert "unknown model 'nope'" in _error_line(["train", "nope", "--profile", "smoke"])


def test_train_all_checks_every_name_before_training_any(monkeypatch):
    monkeypatch.setattr(inpaintlib.training.train_all, "train_all", lambda *a, **k: pytest.fail("trained"))
    message = _error_line(["train-all", "fill_refiner", "nope", "--minutes", "1"])
    assert "unknown model 'nope'" in message and "fill_refiner" in message  # the list of trainable ones


def test_train_all_passes_its_options_through(monkeypatch, capsys):
    seen = {}

    def fake_train_all(names, **kwargs):
        seen.update(names=names, **kwargs)
        return {"fill_refiner": "finished"}

    monkeypatch.setattr(inpaintlib.training.train_all, "train_all", fake_train_all)
    assert main(["train-all", "fill_refiner", "--minutes", "2.5", "--device", "cpu", "--profile", "smoke",
                 "--out", "o", "--ship-to", "s", "--stop-after", "7", "--threads", "3", "--workers", "2",
                 "--gpu-budget", "glcic", "--seed", "2", "--pending"]) == 0
    assert seen == dict(names=["fill_refiner"], device="cpu", minutes=2.5, out="o", ship_to="s",
                        stop_after=7.0, profile="smoke", threads=3, workers=2, gpu_budget=["glcic"], seed=2,
                        pending_only=True)
    assert capsys.readouterr().out == "fill_refiner: finished\n"
    main(["train-all", "--minutes", "1"])
    assert seen["names"] is None  # no names: every shipped model (train_all's default)


def test_train_all_trains_and_ships_a_smoke_run(tmp_path, capsys):
    assert main(["train-all", "fill_refiner", "--profile", "smoke", "--minutes", "0.01", "--device", "cpu",
                 "--out", str(tmp_path / "runs"), "--ship-to", str(tmp_path / "ship")]) == 0
    assert capsys.readouterr().out == "fill_refiner: finished\n"
    assert (tmp_path / "ship" / "fill_refiner.pt").is_file()


# --- export-vgg ---------------------------------------------------------------------------------
def test_export_vgg_to_an_unwritable_path(tmp_path):
    assert "is a folder" in _error_line(["export-vgg", str(tmp_path)])
    (tmp_path / "a-file").write_text("x")
    message = _error_line(["export-vgg", str(tmp_path / "a-file" / "vgg.pt")])
    assert "a-file" in message


def test_export_vgg_writes_a_file_the_losses_can_load(tmp_path, capsys):
    try:
        hed_weights_path()
    except FileNotFoundError as err:
        pytest.skip(f"the VGG-16 weights are not installed here: {err}")
    path = tmp_path / "vgg" / "vgg16.pt"
    assert main(["export-vgg", str(path)]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    blob = torch.load(path, map_location="cpu", weights_only=True)
    assert blob["upto"] == "relu4_3"
    assert all(t.dtype == torch.float16 for t in blob["arrays"].values())


# --- what the user sees ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["unknown model", "truncated photo"])
def test_a_real_command_ends_in_one_error_line(pair, tmp_path, case):
    if case == "unknown model":
        argv = _inpaint_args(pair, tmp_path / "out.png", model="nope")
    else:
        data = pair[0].read_bytes()
        (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
        argv = _inpaint_args((tmp_path / "half.png", pair[1]), tmp_path / "out.png")
    done = subprocess.run([sys.executable, "-m", "inpaintlib", *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert done.stdout == ""


# --- ship ----------------------------------------------------------------------------------------
def test_ship_refuses_an_unfinished_run_and_a_missing_one(tmp_path, capsys):
    assert "no checkpoint at" in _error_line(["ship", str(tmp_path / "none.pt"), str(tmp_path / "s.pt")])
    run = train(recipe_for("fill_refiner"), profile="smoke", out=tmp_path / "r.pt", progress=False, steps=2)
    unfinished = read_checkpoint(run.checkpoint)
    unfinished["meta"]["finished"] = False
    torch.save(unfinished, tmp_path / "cut.pt")
    assert "unfinished run" in _error_line(["ship", str(tmp_path / "cut.pt"), str(tmp_path / "s.pt")])
    assert "weights must be" in _error_line(["ship", str(run.checkpoint), str(tmp_path / "s.pt"),
                                             "--weights", "generator_last"])  # smoke keeps no average
    main(["ship", str(run.checkpoint), str(tmp_path / "s.pt")])
    assert "last weights (no moving average)" in capsys.readouterr().out
    assert read_checkpoint(tmp_path / "s.pt")["meta"]["stored_as"] == "float16"
