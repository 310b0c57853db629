"""Retrain every shipped model at the equal budget, one after the other: the book's one command for a GPU.

Defined in Chapter 0 (Foundations)::

    python -m inpaintlib train-all --device cuda --stop-after 9                 # the equal budget
    python -m inpaintlib train-all --device cuda --stop-after 9 --gpu-budget deepfill_v1
    make train-gpu GPU_STOP_AFTER=9

* **Which models**: every model, ablation and validation candidate the registry says ships
  (:func:`shipped_recipes`: ``registry.LEARNED_MODELS``, ``registry.ABLATIONS`` and
  ``registry.CANDIDATES``), whether or not its file is present, so a new chapter's model joins
  without editing this file.
* **Equal budget**: each trains at the ``equal`` profile: 1 PFLOP, the same step plan as on the
  CPU (the engine turns the FLOP budget into steps from counted, not timed, costs). A GPU does
  the same steps faster; its checkpoints replace ``data/checkpoints/<name>.pt``.
* **The GPU budget**: ``gpu_budget`` names models to train afterwards at the ``gpu`` profile
  (16 PFLOP, batch 64), shipped to ``data/checkpoints/gpu/`` (``load_pretrained(name,
  variant="gpu")``), for chapters that show what more compute buys.
* **Only what is missing** (``pending_only``, ``train-all --pending``): the names whose shipped
  checkpoint does not yet record the profile's budget (:func:`at_budget`), so that one command
  finishes a partly retrained set on any machine. ``train-all --pending --list`` prints them
  without training: on a GPU machine, where the shipped checkpoints do not travel, pass that list
  (``make train-gpu GPU_NAMES="..."``).
* **Where each run stands** (:func:`run_progress`, ``train-all --status``): shipped at the budget,
  finished but not shipped, partial (its steps and FLOPs so far, and the hours left at the rate
  it has averaged), or not started; for a run that takes more than one session on a CPU.
* **Resumable**: the resumable checkpoint of each run is ``<out>/<profile>/<name>.pt``. A finished
  run is skipped; an unfinished one continues where it stopped, bit-identically.
  ``stop_after`` ends the command after that many minutes (saving the run in progress), so that a
  session whose commands are cut at 10 minutes runs the same command again.
* **No evaluation here**: device minutes are for training; the book measures the shipped
  checkpoints on the fixed test set on its own machine (and caches the numbers).
* **Shipping**: each finished run is written, float16 and generator only, with its fingerprint.
* **How long**: the equal budget is 1 PFLOP per model; at the 50-150 TFLOP/s a data-centre GPU
  sustains on these small bf16 networks that is seconds to a few minutes per model, and the 17
  models of Chapters 0-7 fit in a 15-minute session (``make bench`` predicts it for a machine).
"""
from __future__ import annotations

import time
from pathlib import Path

from inpaintlib.training.checkpoint import read_checkpoint, ship_checkpoint
from inpaintlib.training.profiles import BUDGET_TOLERANCE, PROFILE_DEFAULTS, within_budget


def shipped_recipes() -> list[str]:
    """The recipes of every model, ablation and validation candidate that ships (the registry's
    lists), models and ablations in chapter order, then the candidates."""
    from inpaintlib.registry import ABLATIONS, CANDIDATES, LEARNED_MODELS, RECIPES, WRAPPED

    names = [WRAPPED[n][0] if n in WRAPPED else n for n in (*LEARNED_MODELS, *ABLATIONS, *CANDIDATES)]
    return [n for n in dict.fromkeys(names) if n in RECIPES]


def at_budget(meta: dict, profile: str = "equal") -> bool:
    """Whether a checkpoint's ``meta`` records a finished run at ``profile``'s budget.

    Defined in Chapter 0 (Foundations). For a FLOP budget (``equal``: 1 PFLOP, ``gpu``: 16) the
    recorded training FLOPs must lie within :data:`BUDGET_TOLERANCE` of it; a checkpoint of the
    earlier 90 core-minute budget (profile ``cpu``, no FLOPs recorded) is not at the equal budget.
    """
    if not meta.get("finished") or meta.get("profile") != profile:
        return False
    budget = PROFILE_DEFAULTS[profile].get("flops")
    return budget is None or within_budget(meta.get("flops"), budget)


def _folders(profile: str, out: str | Path, ship_to: str | Path | None, seed: int) -> tuple[Path, Path]:
    """Where the runs of ``profile`` and ``seed`` are resumed from and shipped to:
    ``<out>/<profile>/`` and ``ship_to`` (default ``data/checkpoints``), or for another seed
    ``<out>/<profile>-seed<N>/`` and ``ship_to/seed<N>/``."""
    from inpaintlib.registry import checkpoint_dir

    ship_to = Path(ship_to) if ship_to is not None else checkpoint_dir()
    if not seed:
        return Path(out) / profile, ship_to
    return Path(out) / f"{profile}-seed{seed}", ship_to / f"seed{seed}"


def pending(names=None, profile: str = "equal", ship_to: str | Path | None = None, seed: int = 0) -> list[str]:
    """The ``names`` (default: :func:`shipped_recipes`) whose checkpoint in ``ship_to`` (default
    ``data/checkpoints``; its ``seed<N>/`` folder for another seed) is missing or not
    :func:`at_budget`: what ``train-all --pending`` trains."""
    _, ship_to = _folders(profile, "runs", ship_to, seed)
    todo = []
    for name in names or shipped_recipes():
        path = ship_to / f"{name}.pt"
        if not (path.is_file() and at_budget(read_checkpoint(path)["meta"], profile)):
            todo.append(name)
    return todo


def run_progress(name: str, profile: str = "equal", out: str | Path = "runs", ship_to: str | Path | None = None,
                 seed: int = 0) -> str:
    """Where the run ``name`` of ``profile`` stands, in one line: what ``train-all --status`` prints.

    Defined in Chapter 0 (Foundations). ``out`` and ``ship_to`` as for :func:`train_all`. A
    partial run (the resumable checkpoint of a stopped ``--stop-after`` command) reports its steps
    of the plan, its FLOPs of the budget, its arithmetic and threads, and the hours left at the
    rate it has averaged so far (the FLOPs left over its FLOPs per second of training): a forecast
    for this machine only if the run so far trained on one like it.
    """
    run_dir, ship_to = _folders(profile, out, ship_to, seed)
    shipped, resumable = ship_to / f"{name}.pt", run_dir / f"{name}.pt"
    if shipped.is_file() and at_budget(read_checkpoint(shipped)["meta"], profile):
        return f"{name}: shipped at the budget"
    if not resumable.is_file():
        return f"{name}: not started"
    meta = read_checkpoint(resumable)["meta"]
    if meta.get("finished"):
        return f"{name}: finished, not shipped (run the same train-all command to ship it)"
    return f"{name}: {describe_partial_run(meta)}"


def describe_partial_run(meta: dict) -> str:
    """A partial run's progress from its checkpoint's ``meta`` (:func:`run_progress`), e.g.
    ``"partial, 2,437 of 6,070 steps, 0.16 of 1 PFLOP (16 %), fp32 on 1 thread(s), 126 core-min;
    about 11.3 h left at its average 19.5 GFLOP/s"``."""
    flops, budget = float(meta.get("flops") or 0.0), meta.get("flop_budget")
    steps, plan = int(meta.get("steps", 0)), meta.get("step_plan_steps")
    parts = [f"partial, {steps:,} of {plan:,} steps" if plan else f"partial, {steps:,} steps"]
    if budget:
        parts.append(f"{flops / 1e15:.2f} of {budget / 1e15:g} PFLOP ({100 * flops / budget:.0f} %)")
    parts.append(f"{meta.get('precision', '?')} on {meta.get('threads', '?')} thread(s)")
    text = ", ".join(parts) + f", {float(meta.get('core_minutes') or 0):.0f} core-min"
    rate = meta.get("flops_per_s")
    if budget and rate:
        hours = max(budget - flops, 0.0) / rate / 3600
        text += f"; about {hours:.1f} h left at its average {rate / 1e9:.1f} GFLOP/s"
    return text


def _run(name: str, profile: str, out: Path, ship_to: Path, deadline, device, progress, overrides) -> str:
    from inpaintlib.registry import recipe_for
    from inpaintlib.training.engine import train

    ckpt_path = out / f"{name}.pt"
    previous = read_checkpoint(ckpt_path) if ckpt_path.is_file() else None
    if previous is not None and previous["meta"].get("finished"):
        if not (ship_to / f"{name}.pt").is_file():
            ship_checkpoint(ckpt_path, ship_to / f"{name}.pt")
        return "skipped (finished before)"
    if deadline is not None and time.time() >= deadline:
        return "stopped (resume with the same command)"
    result = train(recipe_for(name), profile=profile, out=ckpt_path, device=device,
                   resume=ckpt_path if previous is not None else None, deadline=deadline,
                   progress=progress, evaluate=False, **overrides)
    if not result.meta["finished"]:
        return "stopped (resume with the same command)"
    ship_checkpoint(ckpt_path, ship_to / f"{name}.pt")
    return "finished"


def train_all(names=None, device: str | None = None, out: str | Path = "runs", ship_to: str | Path | None = None,
              stop_after: float | None = None, profile: str = "equal", gpu_budget=(), progress: bool = True,
              seed: int = 0, pending_only: bool = False, **overrides) -> dict[str, str]:
    """Train ``names`` (default: :func:`shipped_recipes`) at ``profile``, then ``gpu_budget`` at ``gpu``.

    Defined in Chapter 0 (Foundations). Returns ``{name: status}`` (GPU-budget runs as
    ``"name (gpu)"``); a status is ``"finished"``, ``"skipped (finished before)"`` or ``"stopped
    (resume with the same command)"``. ``ship_to``: where the ``profile`` runs ship (default
    ``data/checkpoints``; the GPU-budget runs go to its ``gpu/`` folder). ``overrides``: any
    training setting (e.g. ``threads=1``, or ``minutes=`` for a reader's own timed budget).
    ``seed``: another seed than the shipped runs' 0, for the run-to-run spread the comparison uses
    as its yardstick: the runs go to ``<out>/<profile>-seed<seed>/`` and ship to ``seed<seed>/``
    under ``ship_to`` (``load_pretrained(name, variant="seed1")``). ``pending_only``: skip the
    names whose shipped checkpoint is already at the budget (:func:`pending`), as ``"skipped
    (shipped at the budget)"``.
    """
    names = list(names or shipped_recipes())
    out = Path(out)
    deadline = time.time() + 60 * stop_after if stop_after else None
    status: dict[str, str] = {}
    run_dir, ship_to = _folders(profile, out, ship_to, seed)
    if seed:
        overrides = {**overrides, "seed": seed}
    todo = pending(names, profile, ship_to) if pending_only else names
    for name in names:
        if name not in todo:
            status[name] = "skipped (shipped at the budget)"
            continue
        status[name] = _run(name, profile, run_dir, ship_to, deadline, device, progress, overrides)
    for name in gpu_budget:
        status[f"{name} (gpu)"] = _run(name, "gpu", out / "gpu", ship_to / "gpu", deadline, device, progress,
                                       overrides)
    return status
