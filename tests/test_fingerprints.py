"""Every shipped model still paints what it painted when it shipped (Chapter 0: checkpoint fingerprints).

Loading a file twice and comparing can never fail; comparing with the fingerprint written when the
model shipped fails when the code or the file changes what a shipped model paints.
"""
import json
import shutil

import pytest
import torch
from torch import nn

from inpaintlib.training.checkpoint import (
    FINGERPRINT_TOLERANCE,
    build_generator,
    compare_fingerprint,
    one_float16_step,
    fingerprint_path,
    output_fingerprint,
    read_checkpoint,
    save_checkpoint,
    ship_checkpoint,
)
from inpaintlib.models.base import InpaintingModel
from inpaintlib.models.fill_refiner import ResidualFillNet
from inpaintlib.registry import (ABLATIONS, CANDIDATES, LEARNED_MODELS, SHIPPED_RUN, VARIANT_PROFILES, VARIANTS,
                                 checkpoint_path, run_name, run_path)

from training_helpers import missing_checkpoint_message

#: every model and ablation (the budget every chapter ships), the validation candidates present, plus
#: the other variants present (GPU-trained checkpoints in data/checkpoints/gpu, seed reruns)
NAMES = [*LEARNED_MODELS, *ABLATIONS, *(n for n in CANDIDATES if checkpoint_path(n).is_file())]
#: each shipped file once, by the run it holds: a model that ships a preferred candidate's run
#: (registry.SHIPPED_RUN) keeps its own run beside it, loadable with load_run
RUNS = list(dict.fromkeys([*map(run_name, NAMES), *SHIPPED_RUN]))
CASES = [(r, "cpu") for r in RUNS] + [(r, v) for v in VARIANTS if v != "cpu" for r in RUNS
                                      if run_path(r, v).is_file()]


@pytest.mark.parametrize("run, variant", CASES, ids=[f"{r}-{v}" for r, v in CASES])
def test_shipped_checkpoint_paints_its_fingerprint(run, variant):
    path = run_path(run, variant)
    if not path.is_file():
        pytest.fail(missing_checkpoint_message(run, variant))
    assert fingerprint_path(path).is_file(), (
        f"no fingerprint beside {path}: write it with "
        f"`.venv/bin/python scripts/write_fingerprints.py {run}` (for a checkpoint shipped on purpose)")
    ckpt = read_checkpoint(path)
    # what every shipped checkpoint promises: its budget's profile, float16, under 4 MB
    assert ckpt["meta"]["profile"] in VARIANT_PROFILES[variant] and ckpt["meta"]["stored_as"] == "float16"
    assert path.stat().st_size < 4 * 2**20
    stored = json.loads(fingerprint_path(path).read_text())
    assert stored["model"] == ckpt["model"] == run
    # the fill of the centre hole (cells 4..11 of 16) is not a constant colour
    hole = torch.tensor(stored["low_res"][0])[:, 4:12, 4:12]
    assert float(hole.std()) > 0.02
    assert compare_fingerprint(path) <= FINGERPRINT_TOLERANCE


def _copy_with_fingerprint(tmp_path, name="fill_refiner"):
    src = checkpoint_path(name)
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(fingerprint_path(src), fingerprint_path(dst))
    return dst


def test_a_changed_file_fails_the_comparison(tmp_path):
    path = _copy_with_fingerprint(tmp_path)
    assert compare_fingerprint(path) <= FINGERPRINT_TOLERANCE  # the copy itself passes
    torch.save(one_float16_step(read_checkpoint(path)), path)
    changed = r"'fill_refiner' .* moved by .* above the tolerance .* the file changed since it was"
    with pytest.raises(AssertionError, match=changed):
        compare_fingerprint(path)


def test_a_changed_code_fails_the_comparison(tmp_path, monkeypatch):
    path = _copy_with_fingerprint(tmp_path)
    forward = ResidualFillNet.forward
    monkeypatch.setattr(ResidualFillNet, "forward", lambda self, x: 1.01 * forward(self, x))
    with pytest.raises(AssertionError, match=r"moved by .*same sha256\): the code changed"):
        compare_fingerprint(path)


def test_a_missing_or_foreign_fingerprint_is_an_error_not_a_pass(tmp_path):
    path = _copy_with_fingerprint(tmp_path)
    stored = json.loads(fingerprint_path(path).read_text())
    other_inputs = [{"crop": 1, "masks": "center", "mask": 1}]
    fingerprint_path(path).write_text(json.dumps({**stored, "inputs": other_inputs}))
    with pytest.raises(ValueError, match="other inputs"):
        compare_fingerprint(path)
    fingerprint_path(path).unlink()
    with pytest.raises(FileNotFoundError, match="write_fingerprints.py fill_refiner"):
        compare_fingerprint(path)


def test_the_fingerprint_is_float32_even_under_bf16_autocast():
    g = build_generator(read_checkpoint(checkpoint_path("fill_refiner"))).eval()
    plain = output_fingerprint(g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert output_fingerprint(g) == plain


class _OwnGenerator(InpaintingModel):
    """A generator class outside inpaintlib: never imported by the name a file gives."""

    def __init__(self):
        super().__init__()
        self.net = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, masked, mask):
        return torch.sigmoid(self.net(torch.cat([masked, mask], 1)))


def test_ship_checkpoint_writes_the_fingerprint(tmp_path):
    generator = build_generator(read_checkpoint(checkpoint_path("fill_refiner")))
    run = save_checkpoint(tmp_path / "run.pt", "fill_refiner", {"generator": generator},
                          meta={"profile": "cpu"})
    shipped = ship_checkpoint(run, tmp_path / "ship" / "fill_refiner.pt")
    assert fingerprint_path(shipped) == tmp_path / "ship" / "fill_refiner.fingerprint.json"
    stored = json.loads(fingerprint_path(shipped).read_text())
    assert stored["model"] == "fill_refiner" and stored["torch_version"] == str(torch.__version__)
    assert compare_fingerprint(shipped) == 0.0  # same machine, same file: the same numbers
    # a class of one's own: fingerprinted only when given, and no stale fingerprint left behind
    torch.manual_seed(0)
    own = save_checkpoint(tmp_path / "own.pt", "own", {"generator": _OwnGenerator()}, meta={"profile": "cpu"})
    ship_checkpoint(own, tmp_path / "ship" / "fill_refiner.pt")
    assert not fingerprint_path(shipped).exists()
    ship_checkpoint(own, shipped, cls=_OwnGenerator)
    assert compare_fingerprint(shipped, cls=_OwnGenerator) == 0.0
