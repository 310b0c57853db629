#!/usr/bin/env python
"""``make bench``: how fast the book's models run and train on this machine.

Defined in Chapter 0 (Foundations). Prints Markdown tables (and writes them to
``_build/bench.md``):

1. ``inpaint`` latency per model (median of several calls, one image, a centre hole) at 128 and
   256 px, on the CPU; the Context Encoder's 128 px target is under 50 ms;
2. training speed per trainable recipe, phase and crop size (64 and 128 px), batch 16: GFLOP per
   step (counted, :mod:`inpaintlib.training.flops`), steps/s and TFLOP/s in fp32 and in bf16 (bf16 only
   where the CPU computes it natively: elsewhere autocast emulates it and runs many times slower,
   which the engine's ``precision="auto"`` avoids);
3. the equal budget (1 PFLOP) per recipe: its step plan and the wall time it would take here
   (each part of the plan at the speed measured in 2., in the precision ``auto`` picks);
4. the data pipeline: batches/s of each recipe's batches (crops, masks, extras) at 128 px made
   on the spot (0 workers) and by 1 and 2 worker processes;
5. the duration of the last ``make test`` (recorded by the Makefile in ``_build/make-test-seconds``).

Run it with nothing else on the machine: two jobs on two cores halve each other.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaintlib.api import inpaint  # noqa: E402
from inpaintlib.data.masks import center_square_mask  # noqa: E402
from inpaintlib.training.precision import cpu_name, cpu_supports_bf16  # noqa: E402
from inpaintlib.registry import RECIPES, available_models, load_pretrained, recipe_for  # noqa: E402
from inpaintlib.training.batches import BatchStream  # noqa: E402
from inpaintlib.training.precision import resolve_precision  # noqa: E402
from inpaintlib.training.speed import training_speed  # noqa: E402
from inpaintlib.training.engine import plan_budget  # noqa: E402

CE_TARGET_MS = 50.0


def latency_ms(model, size: int, repeats: int) -> float:
    image = torch.rand(1, 3, size, size)
    mask = center_square_mask(1, size, size, hole_size=min(64, size // 2))
    inpaint(image, mask, model)  # warm-up (allocations, oneDNN kernels)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        inpaint(image, mask, model)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def phase_names(name: str) -> list[str]:
    recipe = recipe_for(name)
    settings = recipe.settings_for("equal")
    return [p.name for p in recipe.phases(settings, recipe.build_networks(settings))]


def batches_per_s(name: str, workers: int, n: int = 96, size: int = 128) -> float:
    """Steady-state batches/s: the clock starts once the first batch is out (the photos decoded, the
    workers started), so the rate is what a long run gets."""
    recipe = recipe_for(name)
    size = recipe.fixed_size or size
    stream = BatchStream(recipe, None, 0, 16, 0, 1, "cpu", False)
    stream.make(0, size)  # decode the photos once (forked workers inherit them)
    stream.prefetch([size] * (n + 1), workers)
    stream.draw(size)
    start = time.perf_counter()
    for _ in range(n):
        stream.draw(size)
    stream.close()
    return n / (time.perf_counter() - start)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="inpaint calls per latency")
    parser.add_argument("--steps", type=int, default=5, help="training steps per rate")
    parser.add_argument("--models", nargs="*", default=None, help="inpaint latency of these models only")
    parser.add_argument("--recipes", nargs="*", default=None, help="training tables of these recipes only")
    parser.add_argument("--force-bf16", action="store_true", help="measure bf16 even where it is emulated")
    args = parser.parse_args(argv)
    lines = [f"# make bench: {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}", ""]

    lines += ["## inpaint latency (ms, one image, centre hole, CPU)", "", "| model | 128 px | 256 px |", "|---|---|---|"]
    target = None
    for name in args.models or available_models():
        model = load_pretrained(name)
        reps = 1 if name == "msnps" else args.repeats
        cells = [f"{latency_ms(model, s, reps):.1f}" for s in (128, 256)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
        if name == "context_encoder":
            target = (f"Context Encoder at 128 px: {cells[0]} ms, target < {CE_TARGET_MS:.0f} ms: "
                      f"{'met' if float(cells[0]) < CE_TARGET_MS else 'MISSED'}")
        print(lines[-1], flush=True)
    if target:
        lines += ["", target]

    native = cpu_supports_bf16()
    precisions = ["fp32"] + (["bf16"] if native or args.force_bf16 else [])
    auto = resolve_precision("auto", torch.device("cpu"))
    lines += ["", f"## training speed (batch 16; native bf16 on this CPU: {'yes' if native else 'no'})", "",
              "| recipe | phase | crop | GFLOP/step | "
              + " | ".join(f"{p} steps/s | {p} TFLOP/s" for p in precisions) + " |",
              "|---|---|---|---|" + "---|---|" * len(precisions)]
    seconds: dict = {}
    names = [n for n in RECIPES if not args.recipes or n in args.recipes]
    for name in names:
        for phase in phase_names(name):
            for size in (64, 128):
                if recipe_for(name).fixed_size not in (None, size):
                    continue
                cells, gflop = [], None
                for precision in precisions:
                    speed = training_speed(recipe_for(name), size, batch=16, precision=precision,
                                           steps=args.steps, phase=phase)
                    gflop = speed["flops_per_step"] / 1e9
                    seconds[name, phase, size, precision] = 1.0 / speed["steps_per_s"]
                    cells += [f"{speed['steps_per_s']:.2f}", f"{speed['flops_per_s'] / 1e12:.3f}"]
                lines.append(f"| {name} | {phase} | {size} | {gflop:.1f} | " + " | ".join(cells) + " |")
                print(lines[-1], flush=True)
    if not native:
        lines.append("\nbf16 not measured: this CPU has no native bfloat16 arithmetic (autocast would emulate it).")

    lines += ["", f"## the equal budget (1 PFLOP) on this machine ({auto}, {torch.get_num_threads()} threads)", "",
              "| recipe | steps | total PFLOP | plan (steps of phase @ crop) | predicted wall time |",
              "|---|---|---|---|---|"]
    for name in names:
        plan, phases = plan_budget(recipe_for(name), "equal")
        parts: dict = {}
        for index, size in zip(plan.phases, plan.sizes):
            parts[phases[index].name, size] = parts.get((phases[index].name, size), 0) + 1
        wall = sum(n * seconds[name, ph, size, auto] for (ph, size), n in parts.items())
        lines.append(f"| {name} | {len(plan):,} | {plan.total_flops / 1e15:.4f} | "
                     + ", ".join(f"{n:,} {ph} @ {size}" for (ph, size), n in parts.items())
                     + f" | {_hours(wall)} |")
        print(lines[-1], flush=True)

    lines += ["", "## data pipeline (batches of 16 at 128 px: crops, masks, a recipe's extras)", "",
              "| recipe | 0 workers (batches/s) | 1 worker | 2 workers | 2 workers / 1 |", "|---|---|---|---|---|"]
    for name in names:
        rates = [batches_per_s(name, w) for w in (0, 1, 2)]
        lines.append(f"| {name} | {rates[0]:.1f} | {rates[1]:.1f} | {rates[2]:.1f} | {rates[2] / rates[1]:.2f}x |")
        print(lines[-1], flush=True)

    record = REPO / "_build" / "make-test-seconds"
    lines += ["", "## make test", "",
              f"last `make test`: {record.read_text().strip()} s" if record.is_file() else
              "no `make test` recorded yet (run `make test`, then `make bench`)"]
    text = "\n".join(lines) + "\n"
    out = REPO / "_build" / "bench.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
