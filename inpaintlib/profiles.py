"""Training profiles: how long a run lasts, chosen with ``INPAINT_PROFILE``.

Defined in Chapter 0 (Foundations).

* ``smoke`` — seconds, a few steps: CI executes every notebook with it.
* ``book`` — about a minute of live training on a laptop CPU: what the rendered book runs.
* ``cpu`` — **the book's equal budget**: every shipped model and every ablation of every chapter
  trains for :data:`CPU_BUDGET_MINUTES` minutes of :data:`CPU_BUDGET_THREADS` threads on the
  book's 2-core CPU (90 core-minutes; one thread for 90 minutes is the same budget). A
  comparison of architectures is only fair at equal compute.
* ``gpu`` — the real recipe for a reader with a GPU (the paper's number of steps, scaled to our
  data): hours, not minutes. The default when CUDA is present.

Each recipe may override settings per profile; :data:`PROFILE_DEFAULTS` gives what a profile
means when the recipe says nothing.
"""
from __future__ import annotations

import os

PROFILES = ("smoke", "book", "cpu", "gpu")

#: the equal budget of every shipped model: minutes of wall-clock training ...
CPU_BUDGET_MINUTES = 45.0
#: ... with this many threads (the budget is minutes x threads = 90 core-minutes)
CPU_BUDGET_THREADS = 2
CPU_BUDGET_CORE_MINUTES = CPU_BUDGET_MINUTES * CPU_BUDGET_THREADS

#: settings a profile implies unless the recipe overrides them
PROFILE_DEFAULTS: dict[str, dict] = {
    "smoke": {},
    "book": {},
    "cpu": {"minutes": CPU_BUDGET_MINUTES, "threads": CPU_BUDGET_THREADS},
    "gpu": {},
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


def cpu_budget_minutes(threads: int) -> float:
    """Wall-clock minutes of the ``cpu`` budget for a run with ``threads`` threads (90 core-minutes).

    Defined in Chapter 0 (Foundations). Two runs of one thread each, side by side, each get 90
    minutes: the budget counts core-minutes, so that background runs compare with foreground ones.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return CPU_BUDGET_CORE_MINUTES / threads


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
