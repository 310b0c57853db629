"""The training batches: batch ``k`` of a run is a pure function of ``(seed, rank, k)`` and its crop size.

Defined in Chapter 0 (Foundations).

Why a pure function: a resumed run (which sets :attr:`BatchStream.drawn`) sees the batches the
uninterrupted run would have seen, a WGAN-GP critic loop can draw fresh batches, and the batches
can be made anywhere, in any order: in **worker processes**, ahead of the step that needs them.

Why workers: on a GPU the networks are fast and the batch is not. Measured on one H200 with the
batches drawn on the main thread, a PGGAN step took 88 ms, 86 of them drawing the batch (photo
crops resized with OpenCV, free-form masks drawn stroke by stroke). When the sizes of all the
batches to come are known (a step or FLOP budget: the engine's plan says which phase and crop
size each step has), :meth:`BatchStream.prefetch` hands their making to a
:class:`torch.utils.data.DataLoader` with ``workers`` processes, which keeps a few batches ready
(pinned in page-locked memory on CUDA, so the copy to the GPU overlaps computation; crops and
masks travel as uint8, a quarter of the bytes of float32, and become float on the device). A recipe's
own CPU work on a batch (:meth:`Recipe.prepare_batch`, e.g. the fill refiner's classical fills)
runs there too. Each worker makes whole batches, so batch ``k`` is the same bits whoever makes it
(tested against the serial stream).
"""
from __future__ import annotations

import os
import time
from typing import Any, Iterator

import torch

from inpaintlib.training.precision import to_channels_last


def default_workers(device: torch.device) -> int:
    """Data workers when a run does not say. Defined in Chapter 0 (Foundations).

    On CUDA, every CPU core but the one that drives the GPU. On the CPU, one worker when a core is
    left over by the training threads, else none: the cores that would make batches are the ones
    that train. Measured on the book's 2-core CPU (fill refiner, 64 px, batch 16, bf16, 1 thread):
    0.53 s per step with the batches made between steps (23 % of it waiting for data), 0.44 s with
    one worker on the free core (7.5 %).
    """
    if device.type == "cuda":
        return max(1, (os.cpu_count() or 2) - 1)
    return 1 if torch.get_num_threads() < (os.cpu_count() or 1) else 0


def _mask_seed(seed: int, rank: int, k: int) -> int:
    return (seed * 7919 + rank) * 1_000_003 + k


class BatchStream:
    """Batch ``k`` of a run: crops and masks (and the recipe's extras) that depend only on
    ``(seed, rank, k)`` and the crop size. Defined in Chapter 0 (Foundations).

    :meth:`make` is that pure function; :meth:`draw` gives the next batch, made on the spot or
    taken from the workers started by :meth:`prefetch`. A batch is ``(images, masks, extras)``:
    ``extras`` is the dict :meth:`Recipe.prepare_batch` returns (empty for most recipes).
    :attr:`wait_seconds` adds up the time the training loop waited for batches.
    """

    def __init__(self, recipe, data, seed: int, batch: int, rank: int, world: int, device, channels_last: bool):
        self.data, self.datasets = data, {}
        self.recipe, self.seed, self.batch, self.rank, self.world = recipe, seed, batch, rank, world
        self.device, self.channels_last = torch.device(device), channels_last
        self.drawn = 0
        self.wait_seconds = 0.0
        self._ahead: Iterator | None = None
        self._ahead_sizes: list[int] = []
        self._loader = None

    def dataset(self, size: int):
        from inpaintlib.data.photos import InpaintingImages

        if size not in self.datasets:
            self.datasets[size] = InpaintingImages(split="train", size=size, length=10**12, seed=self.seed,
                                                   root=self.data)
        return self.datasets[size]

    def make(self, k: int, size: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Batch ``k`` at ``size`` px, on the CPU: the crops ``(k * world + rank) * batch ...`` of the
        training photos, masks from a generator seeded with ``(seed, rank, k)``, the recipe's extras."""
        ds = self.dataset(size)
        base = (k * self.world + self.rank) * self.batch
        images = torch.stack([ds[i] for i in range(base, base + self.batch)])
        gen = torch.Generator().manual_seed(_mask_seed(self.seed, self.rank, k))
        masks = self.recipe.sample_masks(self.batch, size, size, gen)
        return images, masks, self.recipe.prepare_batch(images, masks)

    def _to_device(self, batch):
        images, masks, extras = batch
        moved = [t.to(self.device, non_blocking=True) for t in (images, masks, *extras.values())]
        if moved[0].dtype == torch.uint8:  # from a worker: the same bits as make()'s float crops
            moved[0] = moved[0].float().div_(255.0)
        moved[1] = moved[1].float()
        if self.channels_last:
            moved = [to_channels_last(t) if t.ndim == 4 else t for t in moved]
        return moved[0], moved[1], dict(zip(extras, moved[2:]))

    def prefetch(self, sizes: list[int], workers: int, ahead: int = 4) -> None:
        """Make batches ``drawn, drawn + 1, ...`` (of crop sizes ``sizes[drawn:]``) in ``workers``
        processes, ``ahead`` batches per worker in advance. ``workers=0``: on the spot, as before."""
        self.close()
        todo = list(range(self.drawn, len(sizes)))
        if workers <= 0 or not todo:
            return
        stream = self

        class _Planned(torch.utils.data.Dataset):
            def __len__(self):
                return len(todo)

            def __getitem__(self, i):
                k = todo[i]
                images, masks, extras = stream.make(k, sizes[k])
                binary = bool(((masks == 0) | (masks == 1)).all())  # a soft mask travels as it is
                return _as_bytes(images), masks.to(torch.uint8) if binary else masks, extras

        loader = torch.utils.data.DataLoader(
            _Planned(), batch_size=None, shuffle=False, num_workers=workers, prefetch_factor=ahead,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
            worker_init_fn=_one_thread_per_worker)
        self._loader, self._ahead, self._ahead_sizes = loader, iter(loader), sizes

    def draw(self, size: int):
        """The next batch, on the run's device (channels-last when the run is)."""
        k = self.drawn
        self.drawn += 1
        start = time.perf_counter()
        if self._ahead is not None and k < len(self._ahead_sizes):
            if self._ahead_sizes[k] != size:
                raise RuntimeError(f"batch {k} was planned at {self._ahead_sizes[k]} px but is drawn at {size} px: "
                                   "the engine's step plan and its loop disagree")
            batch = next(self._ahead)  # uint8 crops (and masks), pinned on CUDA: made float on the device
        else:
            batch = self.make(k, size)
        out = self._to_device(batch)
        self.wait_seconds += time.perf_counter() - start
        return out

    def close(self) -> None:
        """Stop the workers (a run that ends early must not leave processes behind)."""
        self._ahead, self._loader, self._ahead_sizes = None, None, []


def _as_bytes(images: torch.Tensor) -> torch.Tensor:
    """Crops as uint8 for the trip from a worker: a quarter of the bytes of float32 (a batch of 16 at
    128 px is 3 MB as float32). Exact: a crop is ``uint8 / 255`` (:class:`InpaintingImages`), and
    the main process divides by 255 again, the same operation on the same bytes."""
    return images.mul(255.0).round_().to(torch.uint8)


def _one_thread_per_worker(_: Any) -> None:
    # a worker making crops needs no intra-op threads: N workers x N threads would oversubscribe
    torch.set_num_threads(1)
