"""One training loop for every generator/discriminator model in the book.

Defined in Chapter 0 (Foundations); each chapter only writes a :class:`Recipe` — its networks,
its masks and its losses — and calls :func:`train`.

What the loop does for every recipe:

* picks the device (CUDA when available) and, on CUDA, runs the forward passes in bfloat16
  autocast (mixed precision with no loss scaling needed);
* seeds everything, so that the same seed gives the same run on the CPU;
* draws random multi-scale crops (:class:`inpaintlib.data.InpaintingImages`, or a folder of the
  reader's own images) and masks from the recipe;
* runs the recipe's **phases** in order — e.g. GLCIC's "completion network alone", then
  "discriminators alone", then "joint" — each training only the networks it names;
* shows progress with tqdm, records every loss term in a history, saves resumable checkpoints
  and, at the end, measures the generator on the fixed test set;
* works under ``torchrun --nproc_per_node=N`` (distributed data parallel): each process takes
  every N-th batch, the networks start from rank 0's weights, and before every optimiser step
  the gradients are averaged over all processes (an all-reduce, the same communication that
  ``DistributedDataParallel`` performs). We average explicitly rather than wrapping the networks
  in ``DistributedDataParallel`` because GAN recipes call a discriminator several times per
  backward pass and freeze networks phase by phase, which DDP's reducer rejects unless
  configured per recipe; rank 0 logs and saves.

Ablations are small :class:`Recipe` subclasses that override one attribute (labml.ai style).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inpaintlib.checkpoint import read_checkpoint, save_checkpoint
from inpaintlib.profiles import current_profile, default_device, seed_everything


@dataclass
class TrainSettings:
    """Settings of one run. A recipe gives defaults; a profile overrides some. Defined in Chapter 0."""

    steps: int = 1000
    batch_size: int = 16
    image_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1  # critic/discriminator updates per generator update
    log_every: int = 10
    checkpoint_every: int = 0  # 0: save only at the end
    eval_images: int = 100  # test crops measured at the end (0: skip)
    num_workers: int = 0
    amp: bool = True  # bfloat16 autocast, CUDA only


@dataclass
class Phase:
    """A stretch of training that updates only the networks in ``train``. Defined in Chapter 0."""

    name: str
    steps: int
    train: tuple[str, ...] = ("generator", "discriminator")


class Recipe:
    """What a chapter provides to :func:`train`. Defined in Chapter 0 (Foundations).

    Subclasses set ``model_name``, ``settings`` (a :class:`TrainSettings`), ``profiles``
    (profile name -> overrides of the settings) and implement :meth:`build_networks`,
    :meth:`sample_masks` and :meth:`generator_loss` (and :meth:`discriminator_loss` when there
    is a discriminator). Losses return ``(total, {"term": float, ...})``.
    """

    model_name: str = "model"
    settings: TrainSettings = TrainSettings()
    profiles: dict[str, dict[str, Any]] = {}
    #: name of the phase being trained; :func:`train` sets it before each step
    current_phase: str = "joint"

    def settings_for(self, profile: str, **overrides) -> TrainSettings:
        s = dataclasses.replace(self.settings, **self.profiles.get(profile, {}))
        return dataclasses.replace(s, **{k: v for k, v in overrides.items() if v is not None})

    def build_networks(self, settings: TrainSettings) -> dict[str, nn.Module]:
        raise NotImplementedError

    def build_optimizers(self, nets, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        """Adam for each network (learning rate ``lr_g`` for the generator, ``lr_d`` otherwise)."""
        return {
            name: torch.optim.Adam(net.parameters(), lr=settings.lr_g if name == "generator" else settings.lr_d,
                                   betas=settings.betas)
            for name, net in nets.items()
            if any(p.requires_grad for p in net.parameters())
        }

    def phases(self, settings: TrainSettings, nets) -> list[Phase]:
        """Default: one joint phase (or generator only when there is no discriminator)."""
        return [Phase("joint", settings.steps, tuple(n for n in ("generator", "discriminator") if n in nets))]

    def prepare(self, dataset, settings: TrainSettings) -> None:
        """Hook run once before building the networks (e.g. measure the data set's mean colour)."""

    def sample_masks(self, batch: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

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


@dataclass
class TrainResult:
    """What :func:`train` returns. Defined in Chapter 0 (Foundations)."""

    nets: dict[str, nn.Module]
    history: dict[str, list]
    meta: dict[str, Any]
    checkpoint: Path | None = None

    @property
    def generator(self) -> nn.Module:
        return self.nets["generator"]


class _Batches(torch.utils.data.Sampler):
    """Indices ``start*B .. total*B`` of an index-deterministic data set, strided by rank."""

    def __init__(self, start: int, total: int, batch: int, rank: int, world: int):
        self.start, self.total, self.batch, self.rank, self.world = start, total, batch, rank, world

    def __iter__(self):
        for step in range(self.start, self.total):
            base = (step * self.world + self.rank) * self.batch
            yield list(range(base, base + self.batch))

    def __len__(self):
        return self.total - self.start


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
    **overrides,
) -> TrainResult:
    """Train ``recipe`` with the settings of ``profile`` (see :mod:`inpaintlib.profiles`).

    Defined in Chapter 0 (Foundations).

    ``data``: a folder of the reader's own images instead of the book's photos. ``out``: where
    to write the checkpoint (default ``runs/<model>-<profile>.pt``; ``None`` with
    ``out=False`` writes nothing). ``resume``: a checkpoint written by this function to go on
    from. ``overrides``: any :class:`TrainSettings` field, e.g. ``steps=50``.
    """
    from tqdm.auto import tqdm

    from inpaintlib.data import InpaintingImages

    profile = current_profile(profile)
    settings = recipe.settings_for(profile, **overrides)
    rank, world, local_rank = _distributed()
    dev = default_device(device)
    if world > 1 and dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    seed_everything(seed + rank)
    t0 = time.time()

    dataset = InpaintingImages(split="train", size=settings.image_size, length=10**9, seed=seed, root=data)
    recipe.prepare(dataset, settings)
    nets = {k: v.to(dev) for k, v in recipe.build_networks(settings).items()}
    optimizers = recipe.build_optimizers(nets, settings)
    phases = recipe.phases(settings, nets)
    phases_len = sum(p.steps for p in phases)
    history: dict[str, list] = {"step": [], "phase": []}
    start = 0
    if resume:
        ckpt = read_checkpoint(resume)
        for k, sd in ckpt["state_dicts"].items():
            nets[k].load_state_dict(sd)
        for k, sd in ckpt["optimizers"].items():
            optimizers[k].load_state_dict(sd)
        start, history = ckpt["step"], ckpt["history"]

    if world > 1:
        _broadcast_from_rank0(nets)

    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=_Batches(start, phases_len, settings.batch_size, rank, world),
        num_workers=settings.num_workers, pin_memory=dev.type == "cuda",
    )
    mask_rng = torch.Generator().manual_seed(seed * 1000 + rank)
    for _ in range(start):  # keep the mask stream identical whether resumed or not
        torch.randint(0, 2**31 - 1, (1,), generator=mask_rng)
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
        if settings.amp and dev.type == "cuda" else contextlib.nullcontext
    )
    boundaries, acc = [], 0
    for ph in phases:
        boundaries.append((acc, acc + ph.steps, ph))
        acc += ph.steps

    step = start
    bar = tqdm(total=phases_len, initial=start, desc=f"{recipe.model_name} [{profile}]",
               disable=not progress or rank != 0)
    running: dict[str, float] = {}
    for net in nets.values():
        net.train()
    for images in loader:
        phase = next(ph for lo, hi, ph in boundaries if lo <= step < hi)
        set_trainable(nets, phase.train)
        recipe.current_phase = phase.name  # losses may depend on it (GLCIC: no GAN term before "joint")
        images = images.to(dev, non_blocking=True)
        b, _, h, w = images.shape
        step_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=mask_rng))
        masks = recipe.sample_masks(b, h, w, torch.Generator().manual_seed(step_seed)).to(dev)
        logs: dict[str, float] = {}

        def optimise(name: str, loss_fn) -> None:
            """One update of network ``name``: loss, backward, gradient averaging, step."""
            optimizers[name].zero_grad(set_to_none=True)
            with autocast():
                loss, parts = loss_fn(nets, images, masks)
            loss.backward()
            _average_gradients(nets[name], world)
            optimizers[name].step()
            logs.update({f"{name[0].upper()}/{k}": v for k, v in parts.items()})

        if "discriminator" in phase.train and "discriminator" in optimizers:
            for _ in range(settings.d_steps):
                optimise("discriminator", recipe.discriminator_loss)
        if "generator" in phase.train:
            optimise("generator", recipe.generator_loss)
        step += 1
        for k, v in logs.items():
            running[k] = running.get(k, 0.0) + float(v)
        running["_n"] = running.get("_n", 0) + 1
        if step % settings.log_every == 0 or step == phases_len:
            n = running.pop("_n")
            history["step"].append(step)
            history["phase"].append(phase.name)
            for k in set(history) - {"step", "phase"} | set(running):
                history.setdefault(k, [float("nan")] * (len(history["step"]) - 1))
                history[k].append(running[k] / n if k in running else float("nan"))
            bar.set_postfix({k.split("/")[-1]: f"{v / n:.3g}" for k, v in list(running.items())[:4]})
            running = {}
        bar.update(1)
        if rank == 0 and out is not False and settings.checkpoint_every and step % settings.checkpoint_every == 0:
            _save(recipe, nets, optimizers, history, step, settings, profile, dev, t0, out, seed, data, world, None)
    bar.close()

    meta_metrics = None
    for net in nets.values():
        net.eval()
    if world > 1:
        _broadcast_from_rank0(nets, buffers_only=True)  # e.g. BatchNorm statistics: keep rank 0's
    generator = nets["generator"]
    if evaluate and settings.eval_images and rank == 0:
        from inpaintlib.evaluation import evaluate_model

        meta_metrics = evaluate_model(generator, kinds=getattr(recipe, "eval_kinds", None), n=settings.eval_images,
                                      progress=False)
    path = None
    meta = _meta(recipe, settings, profile, dev, t0, seed, data, world, meta_metrics, step)
    if rank == 0 and out is not False:
        path = _save(recipe, nets, optimizers, history, step, settings, profile, dev, t0, out, seed, data, world,
                     meta_metrics)
    return TrainResult(nets=nets, history=history, meta=meta, checkpoint=path)


def _meta(recipe, settings, profile, dev, t0, seed, data, world, metrics, step) -> dict[str, Any]:
    s = dataclasses.asdict(settings)
    s["betas"] = list(s["betas"])
    return {
        "profile": profile,
        "settings": s,
        "steps": int(step),
        "image_size": settings.image_size,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "world_size": world,
        "wall_time_s": round(time.time() - t0, 1),
        "seed": seed,
        "data": str(data) if data else "book photos (train split)",
        "metrics": metrics or {},
        "recipe": type(recipe).__name__,
    }


def _save(recipe, nets, optimizers, history, step, settings, profile, dev, t0, out, seed, data, world, metrics):
    path = Path(out) if out else Path("runs") / f"{recipe.model_name}-{profile}.pt"
    return save_checkpoint(
        path, recipe.model_name, nets, _meta(recipe, settings, profile, dev, t0, seed, data, world, metrics, step),
        history=history, optimizers=optimizers, step=step,
    )
