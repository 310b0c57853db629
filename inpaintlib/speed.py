"""How fast a recipe trains on this machine. Defined in Chapter 0 (Foundations).

Used by Chapter 0 and by ``make bench``: a few real steps of the engine (data, masks, forward,
backward, optimiser), so the number includes everything a training step costs.
"""
from __future__ import annotations


def training_speed(recipe, size: int, batch: int = 16, precision: str = "fp32", steps: int = 3,
                   channels_last: bool = True) -> dict[str, float]:
    """``{"steps_per_s", "crops_per_s", "pixels_per_s"}`` of ``recipe`` at ``size`` px crops.

    Runs ``steps + 1`` steps through :func:`inpaintlib.train.train` (no checkpoint, no
    evaluation) and divides by the training time of the last ``steps`` (the first step pays for
    one-off allocations). Run with nothing else on the machine: two jobs on two cores halve each
    other.
    """
    from inpaintlib.train import train

    result = train(recipe, profile="smoke", out=False, progress=False, evaluate=False, steps=steps + 1,
                   batch_size=batch, image_size=size, resize_schedule=(), precision=precision,
                   channels_last=channels_last, log_every=1, ema_decay=0.0)
    per_step = result.meta["step_seconds"][-steps:]
    s = sum(per_step) / len(per_step)
    return {"steps_per_s": 1.0 / s, "crops_per_s": batch / s, "pixels_per_s": batch * size * size / s}
