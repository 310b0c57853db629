"""The shipped checkpoints: small, float16, and saying how they were trained.

Every file under ``data/checkpoints/`` (the ``cpu`` budget ones, and ``gpu/`` from the one-command
GPU training) is under 4 MB, stores its generator in float16, and records its budget: steps,
training seconds, threads, device and precision (the equal-budget comparison of the book rests on
these numbers).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inpaintlib.training.checkpoint import read_checkpoint
from inpaintlib.registry import VARIANT_PROFILES, checkpoint_dir

MAX_BYTES = 4 * 2**20
RECORDED = ("steps", "train_seconds", "threads", "device", "precision", "profile", "finished")
SHIPPED = sorted(checkpoint_dir().rglob("*.pt"))


def _id(path: Path) -> str:
    return str(path.relative_to(checkpoint_dir()))


def test_there_are_shipped_checkpoints():
    assert len(SHIPPED) >= 4 and (checkpoint_dir() / "fill_refiner.pt") in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=_id)
def test_checkpoint_is_small_float16_and_records_its_budget(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB"
    ckpt = read_checkpoint(path)
    weights = [t for t in ckpt["state_dicts"]["generator"].values() if t.is_floating_point()]
    assert weights and all(t.dtype == torch.float16 for t in weights)
    assert set(ckpt["state_dicts"]) == {"generator"}  # no discriminator or optimiser shipped
    meta = ckpt["meta"]
    missing = [k for k in RECORDED if k not in meta]
    assert not missing, f"{path.name} does not record {missing}"
    assert meta["finished"] and meta["profile"] in VARIANT_PROFILES["gpu" if path.parent.name == "gpu" else "cpu"]


def test_legacy_phase_names_read_as_the_two_book_wide_names():
    from inpaintlib.training.checkpoint import rename_legacy_phases

    gan = {"history": {"phase": ["reconstruction", "joint"], "D/bce": [1.0, 0.5]},
           "meta": {"flops_per_step": {"joint@128": 7, "reconstruction@64": 3}}, "optimizers": {}}
    rename_legacy_phases(gan)
    assert gan["history"]["phase"] == ["reconstruction", "adversarial"]
    assert gan["meta"]["flops_per_step"] == {"adversarial@128": 7, "reconstruction@64": 3}
    alone = {"history": {"phase": ["joint", "joint"], "G/l1": [0.1, 0.05]}, "meta": {},
             "optimizers": {"generator": {}}}
    assert rename_legacy_phases(alone)["history"]["phase"] == ["reconstruction"] * 2
    for path in SHIPPED:  # read through the renaming, no shipped legacy checkpoint keeps "joint"
        ckpt = read_checkpoint(path)
        if ckpt["meta"].get("recipe") == "EdgeConnectRecipe":  # a recipe's own "joint" phase
            assert ckpt["meta"]["phase_names"] == "book"  # (its third stage, G1 and G2 together)
            continue
        assert "joint" not in ckpt["history"].get("phase", []), path.name
    # a checkpoint written today keeps a recipe's own phase names, "joint" included
    recent = {"history": {"phase": ["joint"], "D/bce": [1.0]}, "meta": {"phase_names": "book"}}
    assert rename_legacy_phases(recent)["history"]["phase"] == ["joint"]
