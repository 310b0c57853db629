#!/usr/bin/env python
"""Write the fingerprint beside every shipped checkpoint (``data/checkpoints/**/<name>.fingerprint.json``).

Defined in Chapter 0 (Foundations). ``ship_checkpoint`` writes a model's fingerprint when it
ships; this script writes them again for checkpoints shipped before fingerprints existed, or after
a change of the code that is meant to change what a model paints (say why in the commit)::

    .venv/bin/python scripts/write_fingerprints.py                 # every shipped checkpoint
    .venv/bin/python scripts/write_fingerprints.py glcic gmcnn     # these names, every variant
    .venv/bin/python scripts/write_fingerprints.py --check         # compare instead of writing
    .venv/bin/python scripts/write_fingerprints.py --measure       # how FINGERPRINT_TOLERANCE was chosen

Names are those of ``registry.LEARNED_MODELS``, ``registry.ABLATIONS`` and
``registry.CANDIDATES`` (``msnps`` and ``msnps_content`` are one file: the content network).
``--variant`` limits the variants (``cpu`` at the top of ``data/checkpoints``, ``gpu`` in
``data/checkpoints/gpu``); by default every variant of a name that has a file.

``--measure`` prints, per file, the largest change of the fingerprint (max abs difference of the
16x16 copy) under (a) the CPU's own rounding: 1 instead of the default thread count, and
channels-last instead of contiguous weights; and (b) real changes of the model: every weight
moved by one float16 step (the smallest change a shipped file can hold), the first and the last
convolution's weights times 1.01; then the tolerance half-way between them in log10.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaintlib.training.checkpoint import (  # noqa: E402
    FINGERPRINT_DECIMALS,
    FINGERPRINT_TOLERANCE,
    build_generator,
    compare_fingerprint,
    one_float16_step,
    output_fingerprint,
    read_checkpoint,
    write_fingerprint,
)
from inpaintlib.registry import (ABLATIONS, CANDIDATES, LEARNED_MODELS, SHIPPED_RUN, VARIANTS,  # noqa: E402
                                 run_name, run_path)


def shipped_files(names=None, variants=None) -> list[Path]:
    """The shipped checkpoint files of ``names`` (default: every model, ablation and validation
    candidate), each once; a model that ships a candidate's run (``registry.SHIPPED_RUN``) gives
    both files, the candidate's and its own run's."""
    known = [*LEARNED_MODELS, *ABLATIONS, *CANDIDATES]
    names = names or known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown name(s) {unknown}; expected some of {known}")
    runs = [r for n in names for r in (run_name(n), *([n] if n in SHIPPED_RUN else []))]
    files = [run_path(r, v) for r in runs for v in (variants or VARIANTS)]
    return [p for p in dict.fromkeys(files) if p.is_file()]


#: decimals of the unrounded fingerprints used to measure (float64 of float32 averages: all of them)
RAW = 12
#: other instruction sets of the same CPU (PyTorch's own kernels and oneDNN's convolutions), to see
#: the rounding of another machine: environment variables read when torch is imported
OTHER_CPUS = {
    "AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "SSE4.1": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def _difference(a: dict, b: dict) -> float:
    return float((torch.tensor(a["low_res"]) - torch.tensor(b["low_res"])).abs().max())


def _scaled(generator: torch.nn.Module, which: int, factor: float) -> torch.nn.Module:
    """A copy of ``generator`` whose ``which``-th convolution (0 first, -1 last) has its weight x factor."""
    g = copy.deepcopy(generator)
    convs = [m for m in g.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.no_grad():
        convs[which].weight.mul_(factor)
    return g


def raw_fingerprints(files: list[Path]) -> dict[str, dict]:
    """Unrounded fingerprints of ``files`` in this process (path -> fingerprint)."""
    return {str(p): output_fingerprint(build_generator(read_checkpoint(p)).eval(), decimals=RAW)
            for p in files}


def measure(files: list[Path]) -> None:
    """Print the rounding and change differences of each file and the tolerance between them."""
    threads = torch.get_num_threads()
    others = {}
    for label, env in OTHER_CPUS.items():  # a fresh process each: the variables are read at import
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "raw.json"
            subprocess.run([sys.executable, __file__, "--raw", str(out), *map(str, files)],
                           env={**os.environ, **env}, check=True)
            others[label] = json.loads(out.read_text())
    rounding_cols = ("1 thread", "4 threads", "ch-last", *OTHER_CPUS)
    change_cols = ("f16 step", "conv0x1.01", "convNx1.01")
    print(f"{'file':44s}" + "".join(f"{c:>11s}" for c in (*rounding_cols, *change_cols)))
    worst_rounding, smallest_change = 0.0, math.inf
    for path in files:
        ckpt = read_checkpoint(path)
        g = build_generator(ckpt).eval()
        ref = output_fingerprint(g, decimals=RAW)
        row = {}
        for label, n in (("1 thread", 1), ("4 threads", 4)):
            torch.set_num_threads(n)
            try:
                row[label] = _difference(output_fingerprint(g, decimals=RAW), ref)
            finally:
                torch.set_num_threads(threads)
        channels_last = copy.deepcopy(g).to(memory_format=torch.channels_last)
        row["ch-last"] = _difference(output_fingerprint(channels_last, decimals=RAW), ref)
        for label in OTHER_CPUS:
            row[label] = _difference(others[label][str(path)], ref)
        row["f16 step"] = _difference(output_fingerprint(build_generator(one_float16_step(ckpt)).eval()), ref)
        row["conv0x1.01"] = _difference(output_fingerprint(_scaled(g, 0, 1.01)), ref)
        row["convNx1.01"] = _difference(output_fingerprint(_scaled(g, -1, 1.01)), ref)
        worst_rounding = max(worst_rounding, *(row[c] for c in rounding_cols))
        smallest_change = min(smallest_change, *(row[c] for c in change_cols))
        name = f"{path.parent.name}/{path.name}"
        print(f"{name:44s}" + "".join(f"{row[c]:11.2e}" for c in (*rounding_cols, *change_cols)), flush=True)
    # stored and recomputed numbers are both rounded to FINGERPRINT_DECIMALS: up to one step more
    compared = worst_rounding + 10.0 ** -FINGERPRINT_DECIMALS
    middle = 10 ** ((math.log10(compared) + math.log10(smallest_change)) / 2)
    print(f"rounding: largest {worst_rounding:.3g} ({compared:.3g} with the stored rounding to "
          f"{FINGERPRINT_DECIMALS} decimals); real change: smallest {smallest_change:.3g}; log10 midpoint "
          f"{middle:.3g}; FINGERPRINT_TOLERANCE is {FINGERPRINT_TOLERANCE:.3g} "
          f"(default threads here: {threads})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="models or ablations (default: every shipped one)")
    parser.add_argument("--variant", choices=tuple(VARIANTS), action="append",
                        help="only this variant (repeatable; default: every variant with a file)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare with the stored fingerprints instead")
    mode.add_argument("--measure", action="store_true", help="measure rounding and real-change differences")
    mode.add_argument("--raw", metavar="JSON", help=argparse.SUPPRESS)  # --measure's helper processes
    args = parser.parse_args(argv)
    if args.raw:  # names are checkpoint files here
        Path(args.raw).write_text(json.dumps(raw_fingerprints([Path(n) for n in args.names])))
        return 0
    files = shipped_files(args.names, args.variant)
    if not files:
        raise SystemExit("no shipped checkpoint found for these names")
    if args.measure:
        measure(files)
        return 0
    failed = 0
    for path in files:
        if args.check:
            try:
                diff = compare_fingerprint(path)
                print(f"{path}: difference {diff:.3g} (tolerance {FINGERPRINT_TOLERANCE:.3g})")
            except (AssertionError, FileNotFoundError, ValueError) as err:
                failed += 1
                print(f"{path}: FAILED: {err}")
        else:
            print(f"wrote {write_fingerprint(path)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
