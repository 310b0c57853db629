"""One training loop for every model in the book: the training engine.

Defined in Chapter 0 (Foundations); each chapter only writes a :class:`Recipe` (its networks,
its masks, its losses and its phases) and calls :func:`train`.

What the engine does for every recipe:

* **a budget** in steps (``smoke``, ``book``: reproducible to the bit) or in wall-clock minutes
  (``cpu``: the book's equal budget; ``gpu``), see :mod:`inpaintlib.training.schedules`. Phases,
  learning-rate schedule and progressive resizing are fractions of the budget;
* **speed**: bfloat16 autocast around the networks' forward passes where the hardware has
  bfloat16 arithmetic (losses, gradient penalty and optimiser step stay float32; see
  :mod:`inpaintlib.training.precision`), channels-last memory, a fixed number of threads, loss values
  kept as tensors until they are logged;
* **phases made of updates**: a :class:`Phase` lists :class:`Update` s, each naming a network,
  the recipe's loss for it and how many times to repeat it, optionally on a fresh batch each
  time (WGAN-GP: 5 critic updates per generator update). A phase may run a hook when it starts
  (e.g. Partial Convolutions' fine-tuning: lower learning rate, encoder BatchNorm frozen);
* **an exponential moving average** of the generator (:mod:`inpaintlib.training.ema`), evaluated and
  shipped instead of the last iterate;
* seeds everything: the same seed and step budget give the same run on the CPU, and a resumed
  run continues bit-identically where the uninterrupted one would be: the data and the masks of
  batch ``k`` depend only on ``(seed, rank, k)``, and every other random draw of a step (the
  gradient penalty's mixing factors, dropout) comes from the global generators, reseeded at the
  start of step ``s`` from ``(seed, rank, s)`` (:func:`step_seed`), so no random state has to be
  carried in a checkpoint;
* shows progress (tqdm where installed), records every loss term in a history, saves resumable checkpoints
  (every ``checkpoint_every`` steps or ``checkpoint_minutes`` minutes) and measures the
  generator on the fixed test set at the end;
* works under ``torchrun --nproc_per_node=N``: each process takes every N-th batch, the networks
  start from rank 0's weights, and before every optimiser step the gradients are averaged over
  all processes (an explicit all-reduce rather than ``DistributedDataParallel``, whose reducer
  rejects GAN recipes that call a discriminator several times per backward and freeze networks
  phase by phase); rank 0 logs and saves.

Ablations are small :class:`Recipe` subclasses that override one attribute (labml.ai style).
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from inpaintlib.training.batches import BatchStream, default_workers
from inpaintlib.training.checkpoint import read_checkpoint, save_checkpoint
from inpaintlib.training.ema import ExponentialMovingAverage
from inpaintlib.training.precision import autocast_networks, cpu_name, resolve_precision
from inpaintlib.training.progress import progress_bar
from inpaintlib.training.profiles import PROFILE_DEFAULTS, current_profile, default_device, seed_everything
from inpaintlib.training.schedules import Budget, StepPlan, flop_step_plan, lr_factor, phase_boundaries, value_at


@dataclass
class TrainSettings:
    """Settings of one run. A recipe gives defaults; a profile overrides some. Defined in Chapter 0.

    The budget is ``flops`` (training FLOPs, the book's equal budget) when set, else ``minutes``
    (wall clock, training time only) when set, else ``steps``. ``workers``: processes that make
    the batches ahead of the steps (None: :func:`inpaintlib.training.batches.default_workers`).
    ``resize_schedule`` is progressive resizing, ``((start_fraction, crop_px), ...)``; empty
    means ``image_size`` throughout. ``lrs`` overrides the learning rate of any network by name
    (``lr_g`` / ``lr_d`` are the generator's / every other network's default).
    """

    steps: int = 1000
    minutes: float | None = None
    flops: float | None = None
    batch_size: int = 16
    image_size: int = 128
    resize_schedule: tuple = ()
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    lrs: dict = field(default_factory=dict)
    lr_schedule: str = "constant"  # or "cosine" (down to lr_final x the base rate)
    lr_final: float = 0.1
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1  # discriminator updates per generator update (phases without explicit updates)
    ema_decay: float = 0.0  # 0: no moving average
    precision: str = "auto"  # "auto" (bf16 where the hardware has it), "bf16" or "fp32"
    channels_last: bool = True
    threads: int | None = None  # torch.set_num_threads (None: leave as it is)
    log_every: int = 10
    checkpoint_every: int = 0  # steps between resumable checkpoints (0: none)
    checkpoint_minutes: float = 0.0  # minutes between resumable checkpoints (0: none)
    eval_images: int = 100  # test crops measured at the end (0: skip)
    workers: int | None = None  # data worker processes (None: all cores but one on CUDA; on the CPU, one
    #                               when the threads leave a core free)


@dataclass
class Update:
    """One kind of optimiser update inside a step. Defined in Chapter 0 (Foundations).

    ``net``: the network stepped; ``loss``: the name of a recipe method (or a callable)
    ``(nets, images, masks) -> (loss, {"term": value})``; ``repeats``: updates per step;
    ``fresh_batch``: draw a new batch (images and masks) for each repeat, as WGAN-GP's critic
    loop does; otherwise the step's current batch is reused.
    """

    net: str
    loss: str | Callable = "generator_loss"
    repeats: int = 1
    fresh_batch: bool = False


@dataclass
class Phase:
    """A stretch of training with its own updates. Defined in Chapter 0 (Foundations).

    Its length is ``fraction`` of the budget, or ``steps`` optimisation steps (the older form,
    kept for step budgets; with a minutes budget steps are read as relative lengths).
    ``updates``: the :class:`Update` s of one step, in order; by default they follow ``train``:
    the discriminator ``d_steps`` times (when named and present), then the generator.
    ``on_start(recipe, nets, optimizers)`` runs when the phase starts (also after a resume).
    """

    name: str
    steps: int | None = None
    train: tuple[str, ...] = ("generator", "discriminator")
    fraction: float | None = None
    updates: tuple[Update, ...] | None = None
    on_start: Callable | None = None

    @property
    def length(self) -> float:
        if self.fraction is None and self.steps is None:
            raise ValueError(f"phase {self.name!r} needs a fraction or a number of steps")
        return float(self.fraction if self.fraction is not None else self.steps)

    def plan(self, settings: TrainSettings, nets: dict[str, nn.Module]) -> tuple[Update, ...]:
        if self.updates is not None:
            return tuple(self.updates)
        plan = []
        if "discriminator" in self.train and "discriminator" in nets:
            plan.append(Update("discriminator", "discriminator_loss", settings.d_steps))
        if "generator" in self.train:
            plan.append(Update("generator", "generator_loss"))
        return tuple(plan)

    def trained_networks(self, settings, nets) -> tuple[str, ...]:
        return tuple(dict.fromkeys(u.net for u in self.plan(settings, nets)))


class Recipe:
    """What a chapter provides to :func:`train`. Defined in Chapter 0 (Foundations).

    Subclasses set ``model_name``, ``settings`` (a :class:`TrainSettings`), ``profiles``
    (profile name -> overrides of the settings) and implement :meth:`build_networks`,
    :meth:`sample_masks` and :meth:`generator_loss` (and :meth:`discriminator_loss` when there
    is a discriminator, or any loss an :class:`Update` names). Losses return
    ``(total, {"term": value})``; values may be floats or 0-d tensors (cheaper: no sync).
    """

    model_name: str = "model"
    settings: TrainSettings = TrainSettings()
    profiles: dict[str, dict[str, Any]] = {}
    #: name of the phase being trained; :func:`train` sets it before each step
    current_phase: str = "adversarial"
    #: the training's arithmetic ("bf16" or "fp32"); :func:`train` sets it, and a recipe's frozen
    #: loss networks may follow it (:func:`inpaintlib.training.precision.loss_network_forward`)
    precision: str = "fp32"
    #: test mask kinds measured at the end of training (None: all)
    eval_kinds: tuple[str, ...] | None = None
    #: crop size a fixed-size network needs (e.g. the Context Encoder's 128); such recipes train
    #: at that size throughout: progressive resizing is for fully convolutional networks only
    fixed_size: int | None = None

    def settings_for(self, profile: str, **overrides) -> TrainSettings:
        """The recipe's settings, then the profile's defaults, the recipe's profile, ``overrides``
        (``None`` values ignored; ``steps`` without ``minutes`` makes the budget a step budget)."""
        s = dataclasses.replace(self.settings, **PROFILE_DEFAULTS.get(profile, {}))
        s = dataclasses.replace(s, **self.profiles.get(profile, {}))
        given = {k: v for k, v in overrides.items() if v is not None}
        # one kind of budget: an explicit one replaces the profile's (flops > minutes > steps)
        if "steps" in given and "minutes" not in given:
            given["minutes"] = None
        if ("steps" in given or "minutes" in given) and "flops" not in given:
            given["flops"] = None
        if "image_size" in given and "resize_schedule" not in given and s.resize_schedule:
            # another final crop size scales the progressive-resizing sizes with it (64/128 -> 16/32)
            scale = given["image_size"] / s.image_size
            given["resize_schedule"] = tuple((f, max(8, int(round(size * scale)))) for f, size in s.resize_schedule)
        return dataclasses.replace(s, **given)

    def build_networks(self, settings: TrainSettings) -> dict[str, nn.Module]:
        raise NotImplementedError

    def learning_rate(self, name: str, settings: TrainSettings) -> float:
        """``settings.lrs[name]``, else ``lr_g`` for the generator and ``lr_d`` for the others."""
        return settings.lrs.get(name, settings.lr_g if name == "generator" else settings.lr_d)

    def build_optimizers(self, nets, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        """Adam for each trainable network, at :meth:`learning_rate`."""
        return {
            name: torch.optim.Adam(net.parameters(), lr=self.learning_rate(name, settings), betas=settings.betas)
            for name, net in nets.items()
            if any(p.requires_grad for p in net.parameters())
        }

    def phases(self, settings: TrainSettings, nets) -> list[Phase]:
        """Default: one phase, ``adversarial`` (generator and discriminator together) or, without a
        discriminator, ``reconstruction``. Every chapter uses these two names for these two kinds
        of phase."""
        if "discriminator" in nets:
            return [Phase("adversarial", fraction=1.0, train=("generator", "discriminator"))]
        return [Phase("reconstruction", fraction=1.0, train=("generator",))]

    def prepare(self, dataset, settings: TrainSettings) -> None:
        """Hook run once before building the networks (e.g. measure the data set's mean colour)."""

    def sample_masks(self, batch: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def prepare_batch(self, images: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        """CPU work on a fresh batch, done where the batch is made (in a data worker when the run has
        them): tensors passed to every loss of the step as keyword arguments. Default: none.
        E.g. the fill refiner's classical fills, which scikit-image computes on the CPU."""
        return {}

    def discriminator_loss(self, nets, images, masks):
        raise NotImplementedError

    def generator_loss(self, nets, images, masks):
        raise NotImplementedError


def mean_colour(dataset, n: int = 64) -> tuple[float, float, float]:
    """Mean RGB colour of the first ``n`` crops of ``dataset``: the fill of the hole before a network sees it.

    Defined in Chapter 1 (Context Encoder); GLCIC (Chapter 3) fills its holes the same way.
    Used by recipes in :meth:`Recipe.prepare`, so the value is stored in the checkpoint's config.
    """
    sample = torch.stack([dataset[i] for i in range(n)])
    return tuple(float(v) for v in sample.mean(dim=(0, 2, 3)))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the base learning rate of every parameter group (the schedule multiplies it).

    Defined in Chapter 0 (Foundations); for phase hooks, e.g. Partial Convolutions' fine-tune.
    """
    for group in optimizer.param_groups:
        group["base_lr"] = group["lr"] = float(lr)


@dataclass
class TrainResult:
    """What :func:`train` returns. Defined in Chapter 0 (Foundations).

    ``nets["generator"]`` is the network to use: the moving average when the recipe keeps one
    (the last iterate is then ``nets["generator_last"]``).
    """

    nets: dict[str, nn.Module]
    history: dict[str, list]
    meta: dict[str, Any]
    checkpoint: Path | None = None

    @property
    def generator(self) -> nn.Module:
        return self.nets["generator"]


def step_seed(seed: int, rank: int, step: int) -> int:
    """The seed of the global random generators during optimisation step ``step`` of process ``rank``.

    Defined in Chapter 0 (Foundations). Reseeding at every step makes each step's random draws a
    pure function of ``(seed, rank, step)``, like its batches: a run resumed at step ``s`` draws
    exactly what the uninterrupted run drew there, on any number of processes. (Carrying the
    generators' states in the checkpoint would also work for one process, but each process of a
    ``torchrun`` job has its own.) The constants only spread the seeds apart.
    """
    return ((seed * 7919 + rank) * 1_000_003 + step) * 2_654_435_761 % 2**63


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def _broadcast_from_rank0(nets: dict[str, nn.Module], buffers_only: bool = False) -> None:
    import torch.distributed as dist

    for net in nets.values():
        tensors = list(net.buffers()) if buffers_only else [*net.parameters(), *net.buffers()]
        for t in tensors:
            dist.broadcast(t.data, src=0)


def _average_gradients(net: nn.Module, world: int) -> None:
    """All-reduce (sum) every gradient over the processes and divide by their number."""
    if world <= 1:
        return
    import torch.distributed as dist

    for p in net.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def set_trainable(nets: dict[str, nn.Module], names: tuple[str, ...]) -> None:
    """Turn gradients on for the networks in ``names`` and off for the others. Defined in Chapter 0."""
    for name, net in nets.items():
        for p in net.parameters():
            p.requires_grad_(name in names)


class _Schedule:
    """Phases and sizes of one run, looked up by step: from the step plan (FLOP budget), from the
    step fraction (step budget), or from the fraction of the minutes (timed budget)."""

    def __init__(self, budget: Budget, phases: list[Phase], settings: TrainSettings, plan: StepPlan | None = None):
        self.budget, self.phases, self.settings, self.plan = budget, phases, settings, plan
        lengths = [p.length for p in phases]
        if budget.timed or plan is not None:
            self.ends = phase_boundaries(lengths)
        elif all(p.fraction is None for p in phases):
            self.ends = list(torch.tensor(lengths).cumsum(0).long().tolist())  # explicit steps
        else:
            self.ends = phase_boundaries(lengths, budget.steps)
        self.total_steps = len(plan) if plan is not None else None if budget.timed else int(self.ends[-1])

    def progress(self, step: int, seconds: float) -> float:
        if self.plan is not None:
            return self.plan.progress(step)
        if self.budget.timed:
            return self.budget.progress(step, seconds)
        return min(1.0, step / self.total_steps)

    def done(self, step: int, seconds: float) -> bool:
        if self.plan is not None:
            return step >= len(self.plan)
        return self.progress(step, seconds) >= 1.0

    def phase(self, step: int, p: float) -> Phase:
        if self.plan is not None:
            return self.phases[self.plan.phases[min(step, len(self.plan) - 1)]]
        position = p if self.budget.timed else step
        for ph, end in zip(self.phases, self.ends):
            if position < end:
                return ph
        return self.phases[-1]

    def size(self, step: int, p: float) -> int:
        if self.plan is not None:
            return self.plan.sizes[min(step, len(self.plan) - 1)]
        return int(value_at(self.settings.resize_schedule, p, self.settings.image_size))

    def draw_sizes(self, nets) -> list[int] | None:
        """The crop size of every batch the run will draw, in order (None for a timed budget, whose
        steps are not known in advance): what the data workers make ahead."""
        if self.total_steps is None:
            return None
        sizes = []
        for step in range(self.total_steps):
            p = self.progress(step, 0.0)
            size = self.size(step, p)
            sizes += [size] * draws_per_step(self.phase(step, p).plan(self.settings, nets))
        return sizes


def draws_per_step(updates) -> int:
    """Batches one step draws: one for its first update, and one for every repeat of an update that
    asks for a fresh batch (WGAN-GP's critic loop). Defined in Chapter 0 (Foundations)."""
    draws, have = 0, False
    for u in updates:
        for _ in range(u.repeats):
            if not have or u.fresh_batch:
                draws += 1
                have = True
    return draws


def measure_step_costs(recipe: Recipe, nets, phases: list[Phase], settings: TrainSettings, stream,
                       known: dict[str, int] | None = None):
    """``cost(phase_index, size)``: the training FLOPs of one step (:func:`inpaintlib.training.flops.step_flops`),
    counted once per (phase, crop size) on batch 0 at that size, with copies of the recipe and the
    networks (the run's own are never touched). ``known``: counts from a checkpoint (``"phase@size"``).

    Defined in Chapter 0 (Foundations). Counts depend on shapes only, so they are the same on any
    device and precision: the same step plan everywhere.
    """
    import copy

    from inpaintlib.training.flops import step_flops

    counted: dict[str, int] = dict(known or {})
    probe: dict[str, Any] = {}

    def cost(index: int, size: int) -> int:
        phase = phases[index]
        key = f"{phase.name}@{size}"
        if key not in counted:
            if not probe:
                probe["recipe"], probe["nets"] = copy.deepcopy(recipe), copy.deepcopy(nets)
            images, masks, _ = stream.make(0, size)  # extras are optional: a loss makes them when absent
            p_recipe, p_nets = probe["recipe"], probe["nets"]
            set_trainable(p_nets, phase.trained_networks(settings, p_nets))
            p_recipe.current_phase = phase.name
            p_recipe.precision = "fp32"  # a count of multiply-adds: the same in either arithmetic
            dev = next(iter(nets["generator"].parameters())).device
            counted[key] = int(step_flops(p_recipe, p_nets, phase, settings, images.to(dev), masks.to(dev))["total"])
        return counted[key]

    cost.counted = counted
    return cost


def _loss_fn(recipe: Recipe, loss) -> Callable:
    return getattr(recipe, loss) if isinstance(loss, str) else loss


def plan_budget(recipe: Recipe, profile: str = "equal", device: str | None = None, **overrides):
    """The step plan :func:`train` would follow for ``recipe`` at a FLOP budget, without training:
    ``(plan, phases)``. Defined in Chapter 0 (Foundations); ``make bench`` predicts wall times with it.
    """
    settings = recipe.settings_for(profile, **overrides)
    if settings.flops is None:
        raise ValueError(f"profile {profile!r} has no FLOP budget (flops=None): nothing to plan")
    dev = default_device(device)
    stream = BatchStream(recipe, None, 0, settings.batch_size, 0, 1, dev, False)
    recipe.prepare(stream.dataset(settings.image_size), settings)
    nets = {k: v.to(dev) for k, v in recipe.build_networks(settings).items()}
    phases = recipe.phases(settings, nets)
    cost = measure_step_costs(recipe, nets, phases, settings, stream)
    plan = flop_step_plan(settings.flops, [ph.length for ph in phases], cost, settings.resize_schedule,
                          settings.image_size)
    return plan, phases


def train(
    recipe: Recipe,
    profile: str | None = None,
    data: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    device: str | None = None,
    seed: int = 0,
    progress: bool = True,
    evaluate: bool = True,
    deadline: float | None = None,
    **overrides,
) -> TrainResult:
    """Train ``recipe`` with the settings of ``profile`` (see :mod:`inpaintlib.training.profiles`).

    Defined in Chapter 0 (Foundations).

    ``data``: a folder of the reader's own images instead of the book's photos. ``out``: where
    to write the checkpoint (default ``runs/<model>-<profile>.pt``; ``out=False`` writes
    nothing). ``resume``: a checkpoint written by this function to go on from (same budget).
    ``deadline``: a ``time.time()`` at which to stop early, save a resumable checkpoint and
    return with ``meta["finished"] = False`` (for GPU sessions cut into 10-minute commands).
    ``overrides``: any :class:`TrainSettings` field, e.g. ``steps=50`` or ``minutes=45``.
    """
    profile = current_profile(profile)
    settings = recipe.settings_for(profile, **overrides)
    rank, world, local_rank = _distributed()
    dev = default_device(device)
    if world > 1 and dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    precision = resolve_precision(settings.precision, dev)
    if recipe.fixed_size is not None:
        sizes = {settings.image_size, *(size for _, size in settings.resize_schedule)}
        if sizes != {recipe.fixed_size}:
            raise ValueError(f"{recipe.model_name} only trains on {recipe.fixed_size} px crops (a fixed-size "
                             f"network), got sizes {sorted(sizes)}; progressive resizing needs a fully "
                             "convolutional network")
    seed_everything(seed + rank)
    t0 = time.time()

    stream = BatchStream(recipe, data, seed, settings.batch_size, rank, world, dev, settings.channels_last)
    recipe.prepare(stream.dataset(settings.image_size), settings)
    nets = {k: v.to(dev) for k, v in recipe.build_networks(settings).items()}
    if settings.channels_last:
        for net in nets.values():
            net.to(memory_format=torch.channels_last)
    optimizers = recipe.build_optimizers(nets, settings)
    for opt in optimizers.values():
        for group in opt.param_groups:
            group.setdefault("base_lr", group["lr"])
    ema = ExponentialMovingAverage(nets["generator"], settings.ema_decay) if settings.ema_decay else None
    budget = Budget(settings.steps, settings.minutes, settings.flops)
    phases = recipe.phases(settings, nets)
    history: dict[str, list] = {"step": [], "phase": [], "minutes": [], "size": []}
    step, seconds = 0, 0.0
    ckpt = read_checkpoint(resume) if resume else None
    # every budget records its FLOPs; a FLOP budget is also turned into its step plan here
    cost = measure_step_costs(recipe, nets, phases, settings, stream,
                              known=(ckpt or {}).get("meta", {}).get("flops_per_step"))
    plan = None
    if budget.counted:
        plan = flop_step_plan(budget.flops, [ph.length for ph in phases], cost, settings.resize_schedule,
                              settings.image_size)
    schedule = _Schedule(budget, phases, settings, plan)
    if ckpt is not None:
        states = ckpt["state_dicts"]
        for k, net in nets.items():
            net.load_state_dict(states["generator_last" if k == "generator" and "generator_last" in states else k])
        for k, sd in ckpt["optimizers"].items():
            optimizers[k].load_state_dict(sd)
        if ema is not None and ckpt.get("ema"):
            ema.module.load_state_dict(states["generator"])
            ema.updates = int(ckpt["ema"]["updates"])
        step, history = ckpt["step"], ckpt["history"]
        stream.drawn = int(ckpt.get("batches_drawn", step))
        seconds = float(ckpt["meta"].get("train_seconds", 0.0))
        stream.wait_seconds = float(ckpt["meta"].get("data_wait_s", 0.0))

    if world > 1:
        _broadcast_from_rank0(nets)

    workers = default_workers(dev) if settings.workers is None else int(settings.workers)
    sizes_ahead = schedule.draw_sizes(nets)
    if sizes_ahead is not None:
        stream.prefetch(sizes_ahead, workers)
    run = _Run(recipe, settings, profile, dev, precision, t0, seed, data, world, budget)
    run.cost, run.workers, run.stream, run.plan = cost, workers if sizes_ahead is not None else 0, stream, plan
    run.flops_done = float((ckpt or {}).get("meta", {}).get("flops", 0.0))
    if ckpt is not None:  # a resumed run records every part: arithmetics, CPUs, devices, threads
        run.resumed_from(ckpt["meta"])
    total = schedule.total_steps
    bar = progress_bar(total=total if total else round(60 * budget.minutes), initial=step if total else int(seconds),
               desc=f"{recipe.model_name} [{profile}]", unit="step" if total else "s",
               disable=not progress or rank != 0)
    running: dict[str, Any] = {}
    counts: dict[str, int] = {}  # steps that computed each term, in the current log window
    current: Phase | None = None
    last_save = seconds
    finished = True
    for net in nets.values():
        net.train()
    recipe.precision = precision  # the recipe's loss networks may follow it (loss_network_forward)
    with autocast_networks(nets, precision, dev):
        while not schedule.done(step, seconds):
            if deadline is not None and time.time() >= deadline:
                finished = False
                break
            tick = time.perf_counter()
            seed_everything(step_seed(seed, rank, step))  # this step's draws depend on (seed, rank, step) only
            p = schedule.progress(step, seconds)
            phase = schedule.phase(step, p)
            updates = phase.plan(settings, nets)
            if phase is not current:
                set_trainable(nets, phase.trained_networks(settings, nets))
                recipe.current_phase = phase.name  # losses may depend on it (GLCIC: no GAN term before "adversarial")
                if phase.on_start is not None:
                    phase.on_start(recipe, nets, optimizers)
                current = phase
            factor = lr_factor(settings.lr_schedule, p, settings.lr_final)
            for opt in optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = group["base_lr"] * factor
            size = schedule.size(step, p)
            batch = None
            logs: dict[str, Any] = {}
            for upd in updates:
                for _ in range(upd.repeats):
                    if batch is None or upd.fresh_batch:
                        images, masks, extras = stream.draw(size)
                        batch = (images, masks)
                    opt = optimizers[upd.net]
                    opt.zero_grad(set_to_none=True)
                    loss, parts = _loss_fn(recipe, upd.loss)(nets, *batch, **extras)
                    loss.backward()
                    _average_gradients(nets[upd.net], world)
                    opt.step()
                    if ema is not None and upd.net == "generator":
                        ema.update(nets["generator"])
                    prefix = f"{upd.net[0].upper()}/" if upd.net in ("generator", "discriminator") else f"{upd.net}/"
                    logs.update({prefix + k: v for k, v in parts.items()})
            counting = time.perf_counter()
            run.flops_done += cost(phases.index(phase), size)  # counted once per (phase, size)
            step += 1
            took = time.perf_counter() - tick - (time.perf_counter() - counting)
            seconds += took
            run.recent_steps = (run.recent_steps + [took])[-20:]
            for k, v in logs.items():
                if isinstance(v, float) and math.isnan(v):
                    # a term not computed in this step ("NaN, not 0"): logged, but not in the mean
                    running.setdefault(k, 0.0)
                    counts.setdefault(k, 0)
                    continue
                v = v.detach() if torch.is_tensor(v) else v
                running[k] = running.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
            if step % settings.log_every == 0 or schedule.done(step, seconds):
                history["step"].append(step)
                history["phase"].append(phase.name)
                history.setdefault("minutes", [float("nan")] * (len(history["step"]) - 1)).append(round(seconds / 60, 3))
                history.setdefault("size", [float("nan")] * (len(history["step"]) - 1)).append(size)
                # per-term means over the steps that computed the term: a window that spans a phase
                # boundary (GLCIC's completion -> adversarial) averages the adversarial steps' adversarial values
                means = {k: float(v) / counts[k] if counts[k] else float("nan") for k, v in running.items()}
                for k in set(history) - {"step", "phase", "minutes", "size"} | set(means):
                    history.setdefault(k, [float("nan")] * (len(history["step"]) - 1))
                    history[k].append(means.get(k, float("nan")))
                bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in list(means.items())[:4]})
                running, counts = {}, {}
            bar.update(1 if total else int(seconds) - bar.n)
            save_due = (settings.checkpoint_every and step % settings.checkpoint_every == 0) or (
                settings.checkpoint_minutes and seconds - last_save >= 60 * settings.checkpoint_minutes)
            if rank == 0 and out is not False and save_due:
                run.save(out, nets, ema, optimizers, history, step, stream.drawn, seconds, None, finished=False)
                last_save = seconds
    bar.close()
    stream.close()

    for net in [*nets.values(), *([ema.module] if ema is not None else [])]:
        net.eval()
        if settings.channels_last:  # hand back ordinary (NCHW) networks: same numbers as a reloaded one
            net.to(memory_format=torch.contiguous_format)
    if world > 1:
        _broadcast_from_rank0(nets, buffers_only=True)  # e.g. BatchNorm statistics: keep rank 0's
    result_nets = dict(nets)
    if ema is not None:
        result_nets["generator_last"] = nets["generator"]
        result_nets["generator"] = ema.module
    metrics = None
    if finished and evaluate and settings.eval_images and rank == 0:
        from inpaintlib.evaluation.fixed_test_set import evaluate_model

        metrics = evaluate_model(result_nets["generator"], kinds=recipe.eval_kinds, n=settings.eval_images,
                                 progress=False)
    meta = run.meta(step, stream.drawn, seconds, metrics, finished)
    path = None
    if rank == 0 and out is not False:
        path = run.save(out, nets, ema, optimizers, history, step, stream.drawn, seconds, metrics, finished)
    return TrainResult(nets=result_nets, history=history, meta=meta, checkpoint=path)


def _joined(earlier: str | None, now: str) -> str:
    """``"fp32 + bf16"``: what a resumed run records for a property that changed between its parts
    (a partial run started on a CPU without bfloat16, finished on one with it), in order."""
    parts = [] if earlier is None else earlier.split(" + ")
    return " + ".join(parts if now in parts else parts + [now])


class _Run:
    """What a run records about itself in its checkpoints."""

    def __init__(self, recipe, settings, profile, dev, precision, t0, seed, data, world, budget):
        self.recipe, self.settings, self.profile, self.dev = recipe, settings, profile, dev
        self.precision, self.t0, self.seed, self.data, self.world, self.budget = (
            precision, t0, seed, data, world, budget)
        self.recent_steps: list[float] = []
        self.cost, self.workers, self.stream, self.flops_done, self.plan = None, 0, None, 0.0, None
        self.cpu = cpu_name()
        self.device = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
        self.threads: int | str = torch.get_num_threads()
        self.earlier_seconds = self.earlier_core_seconds = 0.0  # the parts before a resume

    def resumed_from(self, earlier: dict) -> None:
        """Continue the record of the run whose checkpoint ``earlier`` is (its meta): the arithmetics,
        CPUs, devices and thread counts of all parts (``"fp32 + bf16"``, ``"1 + 2"``), and core-minutes
        summed part by part, each at its own thread count (1 per second on a GPU)."""
        self.precision = _joined(earlier.get("precision"), self.precision)
        self.cpu = _joined(earlier.get("cpu"), self.cpu)
        self.device = _joined(earlier.get("device"), self.device)
        threads = _joined(None if earlier.get("threads") is None else str(earlier["threads"]), str(self.threads))
        self.threads = self.threads if threads == str(self.threads) else threads
        self.earlier_seconds = float(earlier.get("train_seconds", 0.0))
        minutes = earlier.get("core_minutes")
        self.earlier_core_seconds = self.earlier_seconds if minutes is None else 60.0 * float(minutes)

    def core_minutes(self, seconds: float) -> float:
        """Core-minutes of the whole run after ``seconds`` of training in all: this part's seconds
        times its threads (1 on a GPU), plus what the earlier parts recorded."""
        per_second = torch.get_num_threads() if self.dev.type == "cpu" else 1
        return (self.earlier_core_seconds + (seconds - self.earlier_seconds) * per_second) / 60.0

    def meta(self, step: int, drawn: int, seconds: float, metrics, finished: bool) -> dict[str, Any]:
        s = dataclasses.asdict(self.settings)
        s["betas"] = list(s["betas"])
        s["resize_schedule"] = [list(x) for x in s["resize_schedule"]]
        crops = drawn * self.settings.batch_size * self.world
        return {
            "profile": self.profile,
            "settings": s,
            "steps": int(step),
            "finished": bool(finished),
            "image_size": self.settings.image_size,
            "device": self.device,
            "cpu": self.cpu,
            "threads": self.threads,
            "precision": self.precision,
            "channels_last": bool(self.settings.channels_last),
            "world_size": self.world,
            "budget": repr(self.budget),
            "train_seconds": round(seconds, 2),
            "core_minutes": round(self.core_minutes(seconds), 2),
            "steps_per_s": round(step / seconds, 3) if seconds > 0 else None,
            "step_seconds": [round(t, 4) for t in self.recent_steps],  # the last (up to) 20 steps
            "batches_drawn": int(drawn),
            # training FLOPs (inpaintlib.training.flops): the total so far, each (phase, crop size)'s step
            "flops": float(self.flops_done),
            "flop_budget": self.budget.flops,
            "flops_per_step": dict(self.cost.counted),
            "step_plan_steps": len(self.plan) if self.plan is not None else None,
            "flops_per_s": round(self.flops_done / seconds) if seconds > 0 else None,
            "workers": self.workers,
            "data_wait_s": round(self.stream.wait_seconds, 2),
            "data_wait_share": round(self.stream.wait_seconds / seconds, 4) if seconds > 0 else None,
            "crops_seen": int(crops),
            "wall_time_s": round(time.time() - self.t0, 1),
            "seed": self.seed,
            "data": str(self.data) if self.data else "book photos (train split)",
            "metrics": metrics or {},
            "recipe": type(self.recipe).__name__,
        }

    def save(self, out, nets, ema, optimizers, history, step, drawn, seconds, metrics, finished):
        path = Path(out) if out else Path("runs") / f"{self.recipe.model_name}-{self.profile}.pt"
        to_save = dict(nets)
        if ema is not None:  # "generator" is what is used and shipped: the moving average
            to_save["generator_last"] = nets["generator"]
            to_save["generator"] = ema.module
        return save_checkpoint(
            path, self.recipe.model_name, to_save, self.meta(step, drawn, seconds, metrics, finished),
            history=history, optimizers=optimizers, step=step,
            extra={"batches_drawn": int(drawn),
                   "ema": {"decay": ema.decay, "updates": ema.updates} if ema is not None else {}},
        )

