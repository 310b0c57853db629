r"""Training budgets and everything scheduled over them. Defined in Chapter 0 (Foundations).

A run has a **budget**. The book's is counted in **training FLOPs** (``equal`` profile: 1 PFLOP
per model, ``gpu``: 16 PFLOP): every network's forward and backward passes, counted by
:mod:`inpaintlib.training.flops`. A fair comparison of architectures is one at equal compute, and FLOPs
are the same on a laptop and on a GPU, where minutes are not (a CPU without bfloat16 makes 3.3x
fewer steps in a minute) and steps are not either (a DeepFill v1 step costs 40 Context Encoder
steps). The engine measures the cost of a step of each phase at each crop size once, then turns
the budget into an exact **step plan** (:func:`flop_step_plan`): the same steps, phases and crop
sizes on any machine. A budget may also be a number of steps (``smoke`` and ``book`` profiles:
seconds to a minute of live training), or a number of wall-clock minutes (a reader's option).
Everything else is a fraction :math:`p \in [0, 1)` of the budget (of its FLOPs, steps or
minutes), so that it means the same whatever the budget:

* the recipe's **phases** (e.g. GLCIC: completion network alone for 60 %, discriminators alone
  for 10 %, adversarial for 30 %);
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

    Defined in Chapter 0 (Foundations). Exactly one kind of budget counts, the first given of
    ``flops`` (total training FLOPs: progress is the FLOPs of the steps done over the budget, read
    from the step plan), ``minutes`` (progress is training seconds over ``60 * minutes``; the
    training seconds exclude checkpoint writing and the final evaluation) and ``steps``.
    """

    def __init__(self, steps: int | None = None, minutes: float | None = None, flops: float | None = None):
        if flops is not None:
            if not flops > 0:
                raise ValueError(f"a FLOP budget must be positive, got flops={flops}")
            minutes = None
        elif minutes is None and (steps is None or steps < 1):
            raise ValueError(f"a budget needs steps >= 1, minutes > 0 or flops > 0, got steps={steps}, "
                             f"minutes={minutes}, flops={flops}")
        if minutes is not None and minutes <= 0:
            raise ValueError(f"minutes must be positive, got {minutes}")
        self.steps, self.minutes, self.flops = steps, minutes, flops

    @property
    def timed(self) -> bool:
        return self.minutes is not None

    @property
    def counted(self) -> bool:
        """A budget in FLOPs (its steps come from a :class:`StepPlan`)."""
        return self.flops is not None

    def progress(self, step: int, seconds: float) -> float:
        if self.counted:
            raise ValueError("a FLOP budget's progress is read from its step plan (StepPlan.progress)")
        if self.timed:
            return min(1.0, seconds / (60.0 * self.minutes))
        return min(1.0, step / self.steps)

    def done(self, step: int, seconds: float) -> bool:
        return self.progress(step, seconds) >= 1.0

    def __repr__(self) -> str:
        if self.counted:
            return f"Budget(flops={self.flops:.3g})"
        return f"Budget(minutes={self.minutes})" if self.timed else f"Budget(steps={self.steps})"


class StepPlan:
    """The steps of a FLOP budget: for step ``k``, its phase (an index), its crop size, its FLOPs and
    the fraction of the budget spent before it. Made by :func:`flop_step_plan`. Chapter 0."""

    def __init__(self, phases: list[int], sizes: list[int], flops: list[int], budget: float):
        self.phases, self.sizes, self.flops, self.budget = phases, sizes, flops, float(budget)
        self.starts, spent = [], 0
        for f in flops:
            self.starts.append(spent / self.budget)
            spent += f
        self.total_flops = spent

    def __len__(self) -> int:
        return len(self.phases)

    def progress(self, step: int) -> float:
        return self.starts[step] if step < len(self) else 1.0

    def parts(self) -> dict[tuple[int, int], tuple[int, int]]:
        """``{(phase_index, size): (steps, flops_per_step)}`` in the order the run meets them."""
        out: dict[tuple[int, int], tuple[int, int]] = {}
        for key, f in zip(zip(self.phases, self.sizes), self.flops):
            out[key] = (out.get(key, (0, f))[0] + 1, f)
        return out


def flop_step_plan(budget_flops: float, phase_fractions: list[float], step_cost, resize_schedule=(),
                   image_size: int = 128) -> StepPlan:
    r"""Turn a FLOP budget into steps. Defined in Chapter 0 (Foundations).

    ``step_cost(phase_index, size)`` is the FLOPs of one step of that phase on crops of ``size``
    (measured once per pair by the engine). Walking through the budget, a step belongs to the
    phase and crop size of the fraction :math:`p` spent when it starts, and costs
    ``step_cost``; the plan ends with the step that brings the spent FLOPs closest to the budget,
    so the total is within half of one step's cost of it (a 1.1 TFLOP DeepFill step is 0.1 % of
    1 PFLOP). Every phase gets at least one step.
    """
    ends = phase_boundaries(list(phase_fractions))
    phases, sizes, flops, spent = [], [], [], 0.0
    costs: dict[tuple[int, int], int] = {}
    while True:
        p = spent / budget_flops
        index = next((i for i, end in enumerate(ends) if p < end), len(ends) - 1)
        # a phase the walk would skip (shorter than one step) still gets its step
        if phases and index > phases[-1] + 1:
            index = phases[-1] + 1
        size = int(value_at(resize_schedule, p, image_size))
        if (index, size) not in costs:
            costs[index, size] = int(step_cost(index, size))
            if costs[index, size] <= 0:
                raise ValueError(f"a step of phase {index} at {size} px costs {costs[index, size]} FLOPs: "
                                 "a FLOP budget needs steps that compute something")
        cost = costs[index, size]
        last_phase_done = index == len(ends) - 1
        if phases and last_phase_done and spent + cost / 2 > budget_flops:
            break
        phases.append(index)
        sizes.append(size)
        flops.append(cost)
        spent += cost
    return StepPlan(phases, sizes, flops, budget_flops)


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


def planned_phases(meta: dict, phase_split: dict[str, float]) -> dict[str, tuple[int, float | None]] | None:
    """How a run's budget was split among its phases, read from its checkpoint metadata:
    ``{phase: (steps, flops)}`` in the recipe's order.

    Defined in Chapter 7 (GMCNN), for the chapters whose recipes train in phases. A FLOP budget
    (``meta["flop_budget"]``): the plan :func:`flop_step_plan` makes again from the step costs
    the run measured (``meta["flops_per_step"]``, keyed ``"phase@px"``), with the FLOPs planned
    for each phase, so the phases' FLOPs stand in the ratio of ``phase_split``. A step budget:
    :func:`phase_boundaries`, FLOPs ``None``. A minutes budget (the checkpoints shipped before the
    FLOP budget): ``None``, because there time decided when a phase ended, not a plan of steps.
    """
    names, split = list(phase_split), list(phase_split.values())
    if meta.get("flop_budget"):
        costs = meta.get("flops_per_step") or {}
        missing = [f"{n}@..." for n in names if not any(k.startswith(f"{n}@") for k in costs)]
        if missing:
            raise ValueError(f"the checkpoint's flops_per_step {sorted(costs)} lacks the phases "
                             f"{missing}: not a run of a recipe with phases {names}")
        plan = flop_step_plan(meta["flop_budget"], split, lambda i, px: costs[f"{names[i]}@{px}"],
                              resize_schedule=meta["settings"].get("resize_schedule", ()),
                              image_size=meta["image_size"])
        out = {n: (0, 0.0) for n in names}
        for (i, _), (steps, flops) in plan.parts().items():
            n, f = out[names[i]]
            out[names[i]] = (n + steps, f + steps * flops)
        return out
    if "minutes=" in str(meta.get("budget", "")):
        return None
    ends = phase_boundaries(split, meta["steps"])
    return {n: (int(end - start), None) for n, start, end in zip(names, [0, *ends], ends)}
