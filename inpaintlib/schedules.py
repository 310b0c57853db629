r"""Training budgets and everything scheduled over them. Defined in Chapter 0 (Foundations).

A run has a **budget**: a number of steps (``smoke`` and ``book`` profiles: reproducible to the
bit), or a number of wall-clock minutes (``cpu`` and ``gpu`` profiles: a fair comparison of
architectures is one at equal compute, not at equal steps, because a step of a big network costs
more than a step of a small one). Everything else is a fraction :math:`p \in [0, 1)` of that
budget, so that it means the same whatever the machine:

* the recipe's **phases** (e.g. GLCIC: completion network alone for 60 %, discriminators alone
  for 10 %, joint for 30 %);
* **progressive resizing**: ``((0.0, 64), (0.8, 128))`` trains on 64 px crops until
  :math:`p = 0.8`, then on 128 px. A fully convolutional network learns the same local
  operations at both sizes, and a 64 px step costs a quarter of a 128 px one, so four times more
  crops are seen; the end at the working size adapts it to the test-time scale of holes and
  context (Howard's progressive resizing, fast.ai DAWNBench 2018; StyleGAN-T and LaMa train at
  low resolution first too);
* the **learning rate**: constant, or a cosine from the base rate down to ``lr_final`` times it,

  .. math:: \eta(p) = \eta_0 \big(f + (1 - f)\, \tfrac12 (1 + \cos \pi p)\big).
"""
from __future__ import annotations

import math


class Budget:
    """Where a run stands in its budget: :meth:`progress` is the fraction done, in [0, 1].

    Defined in Chapter 0 (Foundations). ``steps`` budget: progress is ``step / steps``.
    ``minutes`` budget (wins when both are given): progress is training seconds over
    ``60 * minutes``; the training seconds exclude checkpoint writing and the final evaluation.
    """

    def __init__(self, steps: int | None = None, minutes: float | None = None):
        if minutes is None and (steps is None or steps < 1):
            raise ValueError(f"a budget needs steps >= 1 or minutes > 0, got steps={steps}, minutes={minutes}")
        if minutes is not None and minutes <= 0:
            raise ValueError(f"minutes must be positive, got {minutes}")
        self.steps, self.minutes = steps, minutes

    @property
    def timed(self) -> bool:
        return self.minutes is not None

    def progress(self, step: int, seconds: float) -> float:
        if self.timed:
            return min(1.0, seconds / (60.0 * self.minutes))
        return min(1.0, step / self.steps)

    def done(self, step: int, seconds: float) -> bool:
        return self.progress(step, seconds) >= 1.0

    def __repr__(self) -> str:
        return f"Budget(minutes={self.minutes})" if self.timed else f"Budget(steps={self.steps})"


def phase_boundaries(weights: list[float], total_steps: int | None = None) -> list[float]:
    """Cumulative end of each phase, as fractions of the budget (or as steps with ``total_steps``).

    Defined in Chapter 0 (Foundations). ``weights`` are the phases' fractions (normalised to sum
    to 1). With ``total_steps``, each phase gets ``round(fraction * total_steps)`` steps but at
    least one, so a 3-step smoke run still visits every phase (and may run a step or two longer).
    """
    if not weights or any(w <= 0 for w in weights):
        raise ValueError(f"phase lengths must be positive, got {weights}")
    total = float(sum(weights))
    fractions = [w / total for w in weights]
    if total_steps is None:
        ends, acc = [], 0.0
        for f in fractions:
            acc += f
            ends.append(acc)
        ends[-1] = 1.0
        return ends
    ends, acc, done = [], 0.0, 0
    for f in fractions:
        acc += f
        done = max(done + 1, int(round(acc * total_steps)))
        ends.append(done)
    return ends


def value_at(schedule, p: float, default):
    """The value of a piecewise-constant ``schedule`` ``((start_fraction, value), ...)`` at ``p``.

    Defined in Chapter 0 (Foundations); used for progressive resizing.
    """
    value = default
    for start, v in sorted(schedule or (), key=lambda sv: sv[0]):
        if p >= start:
            value = v
    return value


def lr_factor(kind: str, p: float, final: float = 0.1) -> float:
    """Multiplier of the base learning rate at budget fraction ``p``: ``constant`` or ``cosine``.

    Defined in Chapter 0 (Foundations).
    """
    if kind == "constant":
        return 1.0
    if kind == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(max(p, 0.0), 1.0)))
    raise ValueError(f"unknown learning-rate schedule {kind!r}: expected 'constant' or 'cosine'")
