"""Checkpoints: weights plus everything needed to know where they came from.

Defined in Chapter 0 (Foundations).

A checkpoint is a plain dictionary saved with ``torch.save`` and read back with
``torch.load(weights_only=True)`` — tensors, numbers, strings, lists and dicts only, so loading
one can never run code. Its keys:

``format``            ``"inpaintlib-checkpoint-1"``
``model``             registry name, e.g. ``"context_encoder"``
``class``             the generator's class path, e.g. ``"inpaintlib.models.context_encoder.ContextEncoder"``
``config``            the generator's constructor arguments (``model.config()``)
``state_dicts``       ``{"generator": ..., "discriminator": ...}`` (shipped checkpoints keep the generator
                      only, in float16; ``generator`` is the moving average when training kept one,
                      ``generator_last`` the last iterate)
``optimizers``        optimiser states (resume checkpoints only)
``step``              optimisation steps done
``batches_drawn``     batches drawn so far (resume continues the data stream there)
``ema``               ``{"decay", "updates"}`` of the moving average (resume checkpoints)
``meta``              profile, budget, steps, training seconds, threads, device, CPU, precision,
                      crops seen, metrics, torch version, date ...
``history``           loss history: ``{"step": [...], "phase": [...], "<term>": [...]}``
"""
from __future__ import annotations

import datetime
import importlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "inpaintlib-checkpoint-1"


def save_checkpoint(
    path: str | Path,
    model_name: str,
    nets: dict[str, nn.Module],
    meta: dict[str, Any],
    history: dict[str, list] | None = None,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    step: int = 0,
    keep: tuple[str, ...] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint (see the module docstring); ``keep`` limits which networks are saved.

    Defined in Chapter 0 (Foundations).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = nets["generator"]
    names = keep or tuple(nets)
    ckpt = {
        "format": FORMAT,
        "model": model_name,
        "class": f"{type(generator).__module__}.{type(generator).__qualname__}",
        "config": generator.config() if hasattr(generator, "config") else {},
        "state_dicts": {k: {n: t.detach().cpu() for n, t in nets[k].state_dict().items()} for k in names},
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items()},
        "step": int(step),
        "meta": {"saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 "torch_version": str(torch.__version__), **meta},
        "history": history or {},
        **(extra or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dictionary safely (``weights_only=True``) on the CPU. Defined in Chapter 0."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an inpaintlib checkpoint (expected format {FORMAT!r})")
    return ckpt


def build_generator(ckpt: dict[str, Any], cls: type | None = None) -> nn.Module:
    """Rebuild the generator of a checkpoint from its class path and config, with its weights.

    Defined in Chapter 0 (Foundations). Only classes inside ``inpaintlib`` are imported by
    name; pass ``cls`` to rebuild a class of your own.
    """
    if cls is None:
        module_name, _, cls_name = ckpt["class"].rpartition(".")
        if not module_name.startswith("inpaintlib."):
            raise ValueError(f"refusing to import {ckpt['class']!r}: only inpaintlib classes are imported "
                             "by name; pass cls= for your own class")
        cls = getattr(importlib.import_module(module_name), cls_name)
    net = cls(**ckpt["config"])
    net.load_state_dict(ckpt["state_dicts"]["generator"])
    return net


def ship_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Copy a training checkpoint keeping only what inference needs: the generator (the moving
    average when training kept one) in float16, its config, the metadata and the loss history
    (no discriminator, no optimiser state). Loading casts the weights back to float32:
    float16 keeps 11 significant bits, far more than the weights' own noise, and halves the file
    (every shipped checkpoint stays under 4 MB).

    Defined in Chapter 0 (Foundations). This is how ``data/checkpoints/<name>.pt`` are made.
    """
    ckpt = read_checkpoint(src)
    ckpt["state_dicts"] = {"generator": {k: t.half() if t.is_floating_point() else t
                                         for k, t in ckpt["state_dicts"]["generator"].items()}}
    ckpt["optimizers"] = {}
    ckpt["ema"] = {}
    ckpt["meta"] = {**ckpt["meta"], "stored_as": "float16"}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, dst)
    return dst
