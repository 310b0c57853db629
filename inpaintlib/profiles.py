"""Training profiles: how long a run lasts, chosen with ``INPAINT_PROFILE``.

Defined in Chapter 0 (Foundations).

* ``smoke`` — seconds, tiny runs: CI executes every notebook with it.
* ``book`` — about a minute of live training on a laptop CPU: what the rendered book runs.
* ``full`` — the real recipe (the paper's settings, scaled to our data): what produced the
  shipped checkpoints. The default when a CUDA GPU is present.
"""
from __future__ import annotations

import os

PROFILES = ("smoke", "book", "full")


def current_profile(explicit: str | None = None) -> str:
    """The profile to use: ``explicit``, else ``$INPAINT_PROFILE``, else ``full`` on CUDA, else ``book``.

    Defined in Chapter 0 (Foundations).
    """
    name = explicit or os.environ.get("INPAINT_PROFILE", "").strip().lower()
    if not name:
        import torch

        name = "full" if torch.cuda.is_available() else "book"
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
