"""Retrain every shipped model, one after the other, each for the same number of minutes.

Defined in Chapter 0 (Foundations). This is the book's one command for a GPU session::

    python -m inpaintlib train-all --device cuda --minutes 5 --stop-after 9
    make train-gpu GPU_MINUTES=5

* **Which models**: every trainable recipe whose checkpoint ships in ``data/checkpoints/`` (the
  chapters' models and their ablations), so a new chapter's model joins without editing this file.
* **Equal budget**: each gets ``minutes`` of training (the ``gpu`` profile's settings with a
  minutes budget), so the GPU comparison, like the CPU one, is at equal compute.
* **Resumable**: the resumable checkpoint of each model is ``<out>/<name>.pt``. A finished model
  is skipped; an unfinished one continues where it stopped. ``stop_after`` ends the command
  itself after that many minutes (saving the model in training), so that a session whose
  commands are cut at 10 minutes simply runs the same command again.
* **No evaluation here**: device minutes are for training; the book measures the shipped
  checkpoints on the fixed test set on its own machine (and caches the numbers).
* **Shipping**: each finished model is also written, float16 and generator only, to
  ``<ship_to>/<name>.pt`` (default ``data/checkpoints/gpu``), where ``load_pretrained(name,
  variant="gpu")`` finds it.
"""
from __future__ import annotations

import time
from pathlib import Path

from inpaintlib.checkpoint import read_checkpoint, ship_checkpoint


def shipped_recipes() -> list[str]:
    """Names of the trainable recipes that have a shipped checkpoint (models and ablations)."""
    from inpaintlib.registry import RECIPES, checkpoint_dir

    return [name for name in RECIPES if (checkpoint_dir() / f"{name}.pt").is_file()]


def train_all(names=None, device: str | None = None, minutes: float = 5.0, out: str | Path = "runs/gpu",
              ship_to: str | Path | None = None, stop_after: float | None = None, profile: str = "gpu",
              progress: bool = True, **overrides) -> dict[str, str]:
    """Train ``names`` (default: :func:`shipped_recipes`) for ``minutes`` each; returns name -> status.

    Defined in Chapter 0 (Foundations). Status is ``"finished"``, ``"skipped (finished before)"``
    or ``"stopped (resume with the same command)"``.
    """
    from inpaintlib.registry import checkpoint_dir, recipe_for
    from inpaintlib.train import train

    names = list(names or shipped_recipes())
    out = Path(out)
    ship_to = Path(ship_to) if ship_to is not None else checkpoint_dir() / "gpu"
    deadline = time.time() + 60 * stop_after if stop_after else None
    status: dict[str, str] = {}
    for name in names:
        ckpt_path = out / f"{name}.pt"
        previous = read_checkpoint(ckpt_path) if ckpt_path.is_file() else None
        if previous is not None and previous["meta"].get("finished"):
            status[name] = "skipped (finished before)"
            if not (ship_to / f"{name}.pt").is_file():
                ship_checkpoint(ckpt_path, ship_to / f"{name}.pt")
            continue
        if deadline is not None and time.time() >= deadline:
            status[name] = "stopped (resume with the same command)"
            continue
        result = train(recipe_for(name), profile=profile, out=ckpt_path, device=device, minutes=minutes,
                       resume=ckpt_path if previous is not None else None, deadline=deadline,
                       progress=progress, evaluate=False, **overrides)
        if result.meta["finished"]:
            ship_checkpoint(ckpt_path, ship_to / f"{name}.pt")
            status[name] = "finished"
        else:
            status[name] = "stopped (resume with the same command)"
    return status
