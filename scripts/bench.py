#!/usr/bin/env python
"""``make bench``: how fast the book's models run and train on this machine.

Defined in Chapter 0 (Foundations). Prints three Markdown tables (and writes them to
``_build/bench.md``):

1. ``inpaint`` latency per model (median of several calls, one image, a centre hole) at 128 and
   256 px, on the CPU; the Context Encoder's 128 px target is under 50 ms;
2. training steps/s per trainable recipe at 64 and 128 px, batch 16, in fp32 and in bf16
   (bf16 only where the CPU computes it natively: elsewhere autocast emulates it and runs many
   times slower, which the engine's ``precision="auto"`` avoids), with crops/s;
3. the duration of the last ``make test`` (recorded by the Makefile in ``_build/make-test-seconds``).

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
from inpaintlib.masks import center_square_mask  # noqa: E402
from inpaintlib.precision import cpu_name, cpu_supports_bf16  # noqa: E402
from inpaintlib.registry import RECIPES, available_models, load_pretrained, recipe_for  # noqa: E402
from inpaintlib.speed import training_speed  # noqa: E402

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


def train_rate(name: str, size: int, precision: str, steps: int) -> tuple[float, float]:
    recipe = recipe_for(name)
    if recipe.fixed_size and size != recipe.fixed_size:
        raise ValueError("fixed size")
    speed = training_speed(recipe, size, batch=16, precision=precision, steps=steps)
    return speed["steps_per_s"], speed["crops_per_s"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="inpaint calls per latency")
    parser.add_argument("--steps", type=int, default=5, help="training steps per rate")
    parser.add_argument("--models", nargs="*", default=None)
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
    lines += ["", f"## training speed (batch 16; native bf16 on this CPU: {'yes' if native else 'no'})", "",
              "| recipe | crop | " + " | ".join(f"{p} steps/s | {p} crops/s" for p in precisions) + " |",
              "|---|---|" + "---|---|" * len(precisions)]
    for name in RECIPES:
        for size in (64, 128):
            cells = []
            for precision in precisions:
                try:
                    steps_s, crops_s = train_rate(name, size, precision, args.steps)
                    cells += [f"{steps_s:.2f}", f"{crops_s:.1f}"]
                except ValueError:
                    cells += ["–", "–"]
            if set(cells) == {"–"}:
                continue
            lines.append(f"| {name} | {size} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    if not native:
        lines.append("\nbf16 not measured: this CPU has no native bfloat16 arithmetic (autocast would emulate it).")

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
