"""Training profiles: how long a run lasts, chosen with ``INPAINT_PROFILE``.

Defined in Chapter 0 (Foundations).

* ``smoke`` — seconds, a few steps: CI executes every notebook with it.
* ``book`` — about a minute of live training on a laptop CPU: what the rendered book runs.
* ``equal`` — **the book's equal budget**: every shipped model and every ablation of every chapter
  trains for :data:`EQUAL_BUDGET_FLOPS` training FLOPs (1 PFLOP: every network's forward and
  backward passes, counted by :mod:`inpaintlib.training.flops`). The engine turns it into the same step
  plan on any CPU or GPU, so a shipped checkpoint is reproducible anywhere, and a comparison of
  architectures is one at equal compute. (53 minutes to 2 hours per recipe on the book's 2-core CPU with
  bfloat16, measured by ``make bench``; the step count, not only the FLOPs, sets the pace of
  small networks: the Context Encoder with its L2 loss alone makes 140,785 steps.)
* ``gpu`` — :data:`GPU_BUDGET_FLOPS`, 16 times the equal budget at batch 64: for chapters that show
  what more compute buys. The default when CUDA is present.

A budget in minutes (``train(..., minutes=45)``, ``--minutes``) stays a reader's option; nothing
shipped uses one, because equal minutes are not equal compute: a CPU without bfloat16 makes 3.3x
fewer steps in a minute than one with it.

:data:`PROFILE_DEFAULTS` gives what a profile means; a recipe's ``profiles`` override only what
differs for it (e.g. the Context Encoder's larger smoke batch).
"""
from __future__ import annotations

import os

PROFILES = ("smoke", "book", "equal", "gpu")

#: the equal budget of every shipped model and ablation: training FLOPs (1 PFLOP)
EQUAL_BUDGET_FLOPS = 1e15
#: the GPU budget: 16x the equal one
GPU_BUDGET_FLOPS = 16 * EQUAL_BUDGET_FLOPS

#: the budget of the checkpoints shipped before the FLOP budget (Chapters 1-7 until they are
#: retrained, issue "The comparison chapter"): 45 minutes of 2 threads, 90 core-minutes
CPU_BUDGET_MINUTES = 45.0
CPU_BUDGET_THREADS = 2
CPU_BUDGET_CORE_MINUTES = CPU_BUDGET_MINUTES * CPU_BUDGET_THREADS

#: how far a finished run's training FLOPs may lie from its FLOP budget: the engine stops at the
#: first whole step past the budget, a fraction of a per cent over it; 2 % is far more than that
#: and far less than the distance to any other budget
BUDGET_TOLERANCE = 0.02


def within_budget(flops: float | None, budget: float, tol: float = BUDGET_TOLERANCE) -> bool:
    """Whether ``flops`` training FLOPs are ``budget`` within ``tol`` (a fraction). ``None`` (a run
    that counted none: the earlier minutes budget) is not. Defined in Chapter 0 (Foundations)."""
    if not 0 <= tol < 1:
        raise ValueError(f"tol must lie in [0, 1), got {tol}")
    return flops is not None and abs(float(flops) - budget) <= tol * budget


#: settings a profile implies unless the recipe overrides them
PROFILE_DEFAULTS: dict[str, dict] = {
    "smoke": dict(steps=3, batch_size=2, log_every=1, checkpoint_minutes=0.0, eval_images=2, ema_decay=0.0),
    "book": dict(steps=60, batch_size=8, log_every=2, checkpoint_minutes=0.0, eval_images=10),
    "equal": dict(flops=EQUAL_BUDGET_FLOPS, checkpoint_minutes=5.0),
    "gpu": dict(flops=GPU_BUDGET_FLOPS, batch_size=64, checkpoint_minutes=5.0),
}


def current_profile(explicit: str | None = None) -> str:
    """The profile to use: ``explicit``, else ``$INPAINT_PROFILE``, else ``gpu`` on CUDA, else ``book``.

    Defined in Chapter 0 (Foundations).
    """
    name = explicit or os.environ.get("INPAINT_PROFILE", "").strip().lower()
    if not name:
        import torch

        name = "gpu" if torch.cuda.is_available() else "book"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: expected one of {PROFILES} (set INPAINT_PROFILE)")
    return name


def default_device(device: str | None = None):
    """``device`` if given, else CUDA when available, else the CPU. Defined in Chapter 0."""
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA): one call at the top of each notebook.

    Defined in Chapter 0 (Foundations). On the CPU the same seed then gives the same numbers.
    """
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
