#!/usr/bin/env python
"""FLOPs of one training step of every recipe, phase by phase: a Markdown table.

Defined in Chapter 0 (Foundations); counted by :func:`inpaintlib.training.flops.step_flops` (a
multiply-add is 2 FLOPs; convolutions and matrix products, forward and backward, including the
critics' gradient penalty, the frozen VGG-16 passes and the no-grad generator passes of the
critic updates). For each recipe of ``inpaintlib.registry.RECIPES`` and each of its phases, at
64 and 128 px crops (a fixed-size network, e.g. the Context Encoder, only at its size) with the
recipe's default batch size. Random images: FLOPs depend on the shapes only. One thread; a few
minutes on a CPU.

    python scripts/flops_table.py [--sizes 64 128] [--recipes glcic deepfill_v1] [--out table.md]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaintlib.training.flops import step_flops  # noqa: E402
from inpaintlib.registry import RECIPES, recipe_for  # noqa: E402


def rows_for(name: str, sizes: tuple[int, ...], batch: int | None = None) -> list[dict]:
    """One row per (phase, crop) of recipe ``name``."""
    rows = []
    recipe = recipe_for(name)
    batch = batch or recipe.settings.batch_size
    for size in (recipe.fixed_size,) if recipe.fixed_size else sizes:
        settings = dataclasses.replace(recipe.settings, image_size=size, batch_size=batch, resize_schedule=())
        torch.manual_seed(0)
        nets = recipe.build_networks(settings)
        images = torch.rand(batch, 3, size, size)
        masks = recipe.sample_masks(batch, size, size, torch.Generator().manual_seed(0))
        seen = set()
        for phase in recipe.phases(settings, nets):
            if phase.name in seen:
                continue
            seen.add(phase.name)
            tick = time.perf_counter()
            out = step_flops(recipe, nets, phase, settings, images, masks)
            plan = {u.net: u.repeats for u in phase.plan(settings, nets)}
            updates = ", ".join(f"{k} {plan[k]}x {v / 1e9 / plan[k]:.1f}" if plan.get(k, 1) > 1
                                else f"{k} {v / 1e9:.1f}" for k, v in out["per_update"].items())
            rows.append({"recipe": name, "phase": phase.name, "crop": size, "batch": batch,
                         "gflop_step": out["total"] / 1e9, "gflop_crop": out["total"] / 1e9 / batch,
                         "updates": updates, "seconds": time.perf_counter() - tick})
            print(f"{name} {phase.name} {size}px: {out['total'] / 1e9:.1f} GFLOP "
                  f"({rows[-1]['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| recipe | phase | crop | batch | GFLOP/step | GFLOP per crop "
             "| GFLOP per update (repeats x mean) |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['phase']} | {r['crop']} | {r['batch']} | {r['gflop_step']:.1f} "
                     f"| {r['gflop_crop']:.2f} | {r['updates']} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--batch", type=int, default=None, help="default: each recipe's batch size")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [row for name in args.recipes for row in rows_for(name, tuple(args.sizes), args.batch)]
    table = markdown(rows)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
