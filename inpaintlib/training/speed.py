"""How fast a recipe trains on this machine, in steps and in FLOPs. Defined in Chapter 0 (Foundations).

Used by Chapter 0 and by ``make bench``: a few real steps of the engine (data, masks, forward,
backward, optimiser), so the number includes everything a training step costs; the FLOPs of a
step are counted by :mod:`inpaintlib.training.flops`, so FLOP/s say how well this machine runs each
recipe, and the equal budget's step plan turns them into a predicted wall time.
"""
from __future__ import annotations

import dataclasses


def only_phase(recipe, name: str):
    """``recipe`` trained in its phase ``name`` only (for timing one phase). Chapter 0."""
    base = type(recipe)

    class OnePhase(base):
        def phases(self, settings, nets):
            found = [p for p in base.phases(self, settings, nets) if p.name == name]
            if not found:
                raise ValueError(f"{base.__name__} has no phase {name!r}")
            return [dataclasses.replace(found[0], fraction=1.0, steps=None)]

    one = OnePhase.__new__(OnePhase)
    one.__dict__.update(recipe.__dict__)
    return one


def training_speed(recipe, size: int, batch: int = 16, precision: str = "fp32", steps: int = 3,
                   channels_last: bool = True, phase: str | None = None, workers: int = 0) -> dict[str, float]:
    """``{"steps_per_s", "crops_per_s", "pixels_per_s", "flops_per_step", "flops_per_s"}`` of ``recipe``
    at ``size`` px crops (in its first phase, or in ``phase``).

    Runs ``steps + 1`` steps through :func:`inpaintlib.training.engine.train` (no checkpoint, no
    evaluation) and divides by the training time of the last ``steps`` (the first step pays for
    one-off allocations). Run with nothing else on the machine: two jobs on two cores halve each
    other.
    """
    from inpaintlib.training.engine import train

    if phase is not None:
        recipe = only_phase(recipe, phase)
    result = train(recipe, profile="smoke", out=False, progress=False, evaluate=False, steps=steps + 1,
                   batch_size=batch, image_size=size, resize_schedule=(), precision=precision,
                   channels_last=channels_last, log_every=1, ema_decay=0.0, workers=workers)
    per_step = result.meta["step_seconds"][-steps:]
    s = sum(per_step) / len(per_step)
    flops = result.meta["flops"] / result.meta["steps"]
    return {"steps_per_s": 1.0 / s, "crops_per_s": batch / s, "pixels_per_s": batch * size * size / s,
            "flops_per_step": flops, "flops_per_s": flops / s}


def equal_budget_forecast(recipe, precision: str, steps: int = 2, profile: str = "equal") -> dict:
    """The equal budget's step plan for ``recipe``, timed here: ``{"steps", "flops", "seconds",
    "parts": {(phase, size): {"steps", "flops_per_step", "seconds_per_step"}}}``. Chapter 0.

    Each (phase, crop size) of the plan is timed for ``steps`` steps (:func:`training_speed`);
    the prediction is the sum over the plan, so it includes the data and everything the counter
    does not count, as this machine runs it.
    """
    from collections import Counter

    from inpaintlib.training.engine import plan_budget

    plan, phases = plan_budget(type(recipe)(), profile)
    settings = recipe.settings_for(profile)
    parts, seconds = {}, 0.0
    for (index, size), n in Counter(zip(plan.phases, plan.sizes)).items():
        name = phases[index].name
        speed = training_speed(type(recipe)(), size, batch=settings.batch_size, precision=precision, steps=steps,
                               phase=name)
        parts[name, size] = {"steps": n, "flops_per_step": speed["flops_per_step"],
                             "seconds_per_step": 1.0 / speed["steps_per_s"]}
        seconds += n / speed["steps_per_s"]
    return {"steps": len(plan), "flops": plan.total_flops, "seconds": seconds, "parts": parts}
