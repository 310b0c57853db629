"""Checkpoints: weights plus everything needed to know where they came from.

Defined in Chapter 0 (Foundations).

A checkpoint is a plain dictionary saved with ``torch.save`` and read back with
``torch.load(weights_only=True)`` — tensors, numbers, strings, lists and dicts only, so loading
one can never run code. Its keys:

``format``            ``"inpaintlib-checkpoint-1"``
``model``             registry name, e.g. ``"context_encoder"``
``class``             the generator's class path, e.g. ``"inpaintlib.models.context_encoder.ContextEncoder"``
``config``            the generator's constructor arguments (``model.config()``)
``state_dicts``       ``{"generator": ..., "discriminator": ...}`` (shipped checkpoints keep the generator
                      only, in float16; ``generator`` is the moving average when training kept one,
                      ``generator_last`` the last iterate)
``optimizers``        optimiser states (resume checkpoints only)
``step``              optimisation steps done
``batches_drawn``     batches drawn so far (resume continues the data stream there)
``ema``               ``{"decay", "updates"}`` of the moving average (resume checkpoints)
``meta``              profile, budget, steps, training seconds, threads, device, CPU, precision,
                      crops seen, metrics, torch version, date, training FLOPs (``flops``: the
                      total; ``flops_per_step``: each ``"phase@crop"``'s step; ``flop_budget``),
                      data workers and the share of step time spent waiting for data ...
``history``           loss history: ``{"step": [...], "phase": [...], "<term>": [...]}``

Every shipped checkpoint ``<name>.pt`` has a **fingerprint** ``<name>.fingerprint.json`` beside it:
what the model paints on two fixed test crops (a 16x16 copy and a few statistics), written when it
ships. ``compare_fingerprint`` recomputes it, so a change of the code or of the file that changes
what a shipped model paints is caught, while the CPU's own rounding is not.
"""
from __future__ import annotations

import copy
import datetime
import hashlib
import importlib
import json
import math
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inpaintlib.api import inpaint
from inpaintlib.data.photos import load_test_masks, load_test_set

FORMAT = "inpaintlib-checkpoint-1"


#: recorded in every checkpoint's metadata: its phases use the book-wide names ("reconstruction",
#: "adversarial", ...); checkpoints without it are read through :func:`rename_legacy_phases`
PHASE_NAMES = "book"


def save_checkpoint(
    path: str | Path,
    model_name: str,
    nets: dict[str, nn.Module],
    meta: dict[str, Any],
    history: dict[str, list] | None = None,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    step: int = 0,
    keep: tuple[str, ...] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint (see the module docstring); ``keep`` limits which networks are saved.

    Defined in Chapter 0 (Foundations).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = nets["generator"]
    names = keep or tuple(nets)
    ckpt = {
        "format": FORMAT,
        "model": model_name,
        "class": f"{type(generator).__module__}.{type(generator).__qualname__}",
        "config": generator.config() if hasattr(generator, "config") else {},
        "state_dicts": {k: {n: t.detach().cpu() for n, t in nets[k].state_dict().items()} for k in names},
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items()},
        "step": int(step),
        "meta": {"saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 "torch_version": str(torch.__version__), "phase_names": PHASE_NAMES, **meta},
        "history": history or {},
        **(extra or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dictionary safely (``weights_only=True``) on the CPU. Defined in Chapter 0."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an inpaintlib checkpoint (expected format {FORMAT!r})")
    return rename_legacy_phases(ckpt)


def rename_legacy_phases(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Phase names of checkpoints written before every chapter used the same two: ``"joint"``
    becomes ``"adversarial"`` where a discriminator trained, else ``"reconstruction"``.

    Defined in Chapter 0 (Foundations). Applied to the loss history and to the per-step FLOP
    counts (``"phase@size"`` keys) when a checkpoint is read, so that old and new checkpoints
    read alike; the file itself is not changed. A checkpoint written since records
    ``meta["phase_names"]`` and is left as it is (a recipe may name a phase ``"joint"``).
    """
    meta = ckpt.get("meta")
    if isinstance(meta, dict) and meta.get("phase_names") == PHASE_NAMES:
        return ckpt
    history = ckpt.get("history") or {}
    # a discriminator trained if it logged a loss ("D/...") or kept an optimiser
    adversarial = (any(k.startswith("D/") for k in history)
                   or any(name != "generator" for name in ckpt.get("optimizers") or {}))
    new = "adversarial" if adversarial else "reconstruction"
    if "joint" in history.get("phase", []):
        history["phase"] = [new if p == "joint" else p for p in history["phase"]]
    if isinstance(meta, dict):
        if isinstance(meta.get("flops_per_step"), dict):
            meta["flops_per_step"] = {(new + k[len("joint"):] if k.startswith("joint@") else k): v
                                      for k, v in meta["flops_per_step"].items()}
        meta["phase_names"] = PHASE_NAMES  # renamed: a checkpoint shipped from it keeps the names
    return ckpt


def build_generator(ckpt: dict[str, Any], cls: type | None = None) -> nn.Module:
    """Rebuild the generator of a checkpoint from its class path and config, with its weights.

    Defined in Chapter 0 (Foundations). Only classes inside ``inpaintlib`` are imported by
    name; pass ``cls`` to rebuild a class of your own.
    """
    if cls is None:
        module_name, _, cls_name = ckpt["class"].rpartition(".")
        if not module_name.startswith("inpaintlib."):
            raise ValueError(f"refusing to import {ckpt['class']!r}: only inpaintlib classes are imported "
                             "by name; pass cls= for your own class")
        cls = getattr(importlib.import_module(module_name), cls_name)
    net = cls(**ckpt["config"])
    net.load_state_dict(ckpt["state_dicts"]["generator"])
    return net


#: the weights a run with a moving average keeps, by the names the shipped metadata uses
RUN_WEIGHTS = {"generator": "moving average", "generator_last": "last weights"}


def choose_shipped_weights(ckpt: dict[str, Any], n: int = 48, cls: type | None = None
                           ) -> tuple[str, dict[str, float]]:
    """Which weights of a run to ship: its moving average or its last weights, whichever fills
    better on the validation crops (the mean PSNR over the mask kinds of
    :func:`inpaintlib.evaluation.fixed_test_set.validation_preference`; ``n`` crops). Returns the
    state's key (``"generator"`` or ``"generator_last"``) and ``{name: mean PSNR}``; a run
    without a moving average, or of a class outside ``inpaintlib`` not given as ``cls``:
    ``("generator", {})``.

    Defined in Chapter 0 (Foundations). The average smooths the last steps' noise and usually
    fills better. But it remembers: with decay :math:`d` it still holds :math:`d^k` of the
    weights of :math:`k` steps ago, so an average kept through a switch of crop size (progressive
    resizing) can end with a share of the small crops' weights, and a network whose output is
    sensitive to its weights (partial convolutions rescale each window by up to its size) then
    fills worse with it than with its last weights. The validation crops decide, by the same rule
    for every model; the test set only reports.
    """
    states = ckpt["state_dicts"]
    if "generator_last" not in states:
        return "generator", {}
    if cls is None and not ckpt["class"].startswith("inpaintlib."):
        return "generator", {}  # a class of the reader's own, not given: the average, unchosen
    from inpaintlib.evaluation.validation import validation_preference

    models = {}
    for key in RUN_WEIGHTS:
        net = build_generator(ckpt, cls=cls)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in states[key].items()})
        models[key] = net.eval()
    best, rows = validation_preference(models, n=n)
    means = {}
    for key, r in rows.items():  # over the kinds it fills (a Context Encoder: the centre only)
        psnr = [v["psnr_db"] for v in r.values() if v is not None]
        means[RUN_WEIGHTS[key]] = round(sum(psnr) / len(psnr), 3)
    return best, means


def ship_checkpoint(src: str | Path, dst: str | Path, cls: type | None = None, weights: str = "choose",
                    validation_crops: int = 48) -> Path:
    """Copy a training checkpoint keeping only what inference needs: the generator in float16,
    its config, the metadata and the loss history (no discriminator, no optimiser state).
    ``weights``: ``"choose"`` ships the moving average or the last weights, whichever
    :func:`choose_shipped_weights` prefers on ``validation_crops`` validation crops (recorded in
    ``meta["shipped_weights"]`` and ``meta["weights_validation_psnr"]``); ``"generator"`` or
    ``"generator_last"`` ships that state. Loading casts the weights back to float32:
    float16 keeps 11 significant bits, far more than the weights' own noise, and halves the file
    (every shipped checkpoint stays under 4 MB).

    Defined in Chapter 0 (Foundations). This is how ``data/checkpoints/<name>.pt`` are made.
    The fingerprint (:func:`write_fingerprint`) is written beside it, computed from the float16
    file itself, so that every shipped model (``train_all``'s GPU ones too) has its outputs
    pinned from the start. A generator class of your own (outside ``inpaintlib``) is
    fingerprinted only when given as ``cls``: a class is never imported by the name a file gives.
    """
    ckpt = read_checkpoint(src)
    states, scores = ckpt["state_dicts"], {}
    if weights == "choose":
        weights, scores = choose_shipped_weights(ckpt, n=validation_crops, cls=cls)
    if weights not in RUN_WEIGHTS or weights not in states:
        raise ValueError(f"weights must be 'choose' or one of the run's {[k for k in RUN_WEIGHTS if k in states]}, "
                         f"got {weights!r}")
    ckpt["state_dicts"] = {"generator": {k: t.half() if t.is_floating_point() else t
                                         for k, t in states[weights].items()}}
    ckpt["optimizers"] = {}
    ckpt["ema"] = {}
    shipped = RUN_WEIGHTS[weights] if "generator_last" in states else "last weights (no moving average)"
    ckpt["meta"] = {**ckpt["meta"], "stored_as": "float16", "shipped_weights": shipped,
                    **({"weights_validation_psnr": scores} if scores else {})}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, dst)
    if cls is not None or ckpt["class"].startswith("inpaintlib."):
        write_fingerprint(dst, cls=cls)
    else:
        fingerprint_path(dst).unlink(missing_ok=True)  # never leave another file's fingerprint beside it
    return dst


# --------------------------------------------------------------------------------------------
# Fingerprints: what a shipped model paints, pinned beside its checkpoint
# --------------------------------------------------------------------------------------------
FINGERPRINT_FORMAT = "inpaintlib-fingerprint-1"

#: the two fixed inputs of every fingerprint: test crop ``crop`` with mask ``mask`` of the test
#: masks ``masks``. The free-form one is crop 16 of ``ff10-20``: its hole (61x63 px) fits the
#: 64x64 window of the fixed-size models (Context Encoder, MSNPS's content network), so every
#: model is fingerprinted on the same two inputs through the same ``inpaint`` call.
FINGERPRINT_INPUTS: tuple[dict[str, Any], ...] = (
    {"crop": 0, "masks": "center", "mask": 0},
    {"crop": 16, "masks": "ff10-20", "mask": 16},
)
#: side of the low-resolution copy (adaptive average pooling: 8x8 pixel cells at 128 px)
FINGERPRINT_SIZE = 16
#: decimals kept in the stored numbers (values lie in [0, 1]): a step of 1e-7, below the CPU's
#: own rounding, so that storing adds (almost) nothing to what a comparison sees
FINGERPRINT_DECIMALS = 7
#: the largest max-abs difference of the low-resolution copy still read as the same model.
#: Measured with ``scripts/write_fingerprints.py --measure`` on all 15 shipped files (2-core
#: AVX-512 CPU, torch 2.14, 2 threads by default). The CPU's own rounding moves it by at most
#: 1.2e-6: 1 thread 0 (bit-identical), 4 threads <= 1.2e-7, channels-last weights <= 7.2e-7,
#: PyTorch and oneDNN kernels limited to AVX2 <= 7.6e-7 or to SSE4.1 <= 1.2e-6 (another CPU's
#: kernels), so 1.3e-6 once both sides are rounded to 7 decimals. The smallest real change tried
#: moves it by at least 4.8e-5: every weight moved by one float16 step (4.8e-5 for the weakly
#: trained gpu/fill_refiner, 1.4e-4 to 8.6e-3 for the others); one convolution's weights x 1.01
#: (first or last layer) 1.2e-4 to 4.5e-2; a chapter's ablation in place of its model 3.4e-2
#: (gmcnn_no_mrf for gmcnn) to 0.55.
#: bfloat16 autocast is not rounding: the fingerprint is always computed in float32. The
#: tolerance is the geometric mean of 1.3e-6 and 4.8e-5 (their midpoint in log10): about 6x of
#: margin on each side.
FINGERPRINT_TOLERANCE = 8e-6


def output_fingerprint(generator: nn.Module, decimals: int = FINGERPRINT_DECIMALS) -> dict[str, Any]:
    """What ``generator`` paints on the fixed inputs :data:`FINGERPRINT_INPUTS`, in a few numbers.

    Defined in Chapter 0 (Foundations). The outputs are those of :func:`inpaintlib.inpaint`
    (composited, as a reader sees them), computed in float32 on the CPU with autocast off, so
    that the fingerprint of a model does not depend on where or in which precision it is later
    run. Kept: a ``FINGERPRINT_SIZE`` x ``FINGERPRINT_SIZE`` average-pooled copy of each output
    (``low_res``, (inputs, 3, 16, 16) as nested lists) and each output's per-channel ``mean`` and
    ``std``. Small enough to live in the repository beside the checkpoint, yet an 8x8 cell
    average of the hole moves with a change of the weights as small as one float16 step, while
    the CPU's own rounding (threads, memory layout, instruction set) moves it several times less
    than :data:`FINGERPRINT_TOLERANCE` (measured: see there). The caller's model is left as it
    was. Numbers are rounded to ``decimals`` (more only to measure the rounding itself).
    """
    crops = load_test_set(n=1 + max(i["crop"] for i in FINGERPRINT_INPUTS))
    masks = {}
    for kind in dict.fromkeys(i["masks"] for i in FINGERPRINT_INPUTS):
        last = max(i["mask"] for i in FINGERPRINT_INPUTS if i["masks"] == kind)
        masks[kind] = load_test_masks(kind, n=last + 1)
    x = torch.stack([crops[i["crop"]] for i in FINGERPRINT_INPUTS])
    m = torch.stack([masks[i["masks"]][i["mask"]] for i in FINGERPRINT_INPUTS])
    tensors = [*generator.parameters(), *generator.buffers()]
    if any(t.device.type != "cpu" or t.dtype in (torch.float16, torch.bfloat16, torch.float64)
           for t in tensors):
        generator = copy.deepcopy(generator).to("cpu", torch.float32)  # never move the caller's model
    with torch.autocast("cpu", enabled=False), torch.no_grad():
        out = inpaint(x, m, generator).float()
    low = torch.nn.functional.adaptive_avg_pool2d(out, FINGERPRINT_SIZE)

    def rounded(t: torch.Tensor | list | float):  # Python's round: the shortest decimal text in JSON
        if torch.is_tensor(t):
            t = t.double().tolist()
        return [rounded(v) for v in t] if isinstance(t, list) else round(t, decimals)

    return {
        "format": FINGERPRINT_FORMAT,
        "inputs": [dict(i) for i in FINGERPRINT_INPUTS],
        "computed_by": "inpaintlib.inpaint, float32, CPU, autocast off",
        "size": FINGERPRINT_SIZE,
        "low_res": rounded(low),
        "mean": rounded(out.mean(dim=(2, 3))),
        "std": rounded(out.std(dim=(2, 3))),
        "torch_version": str(torch.__version__),
    }


def fingerprint_path(checkpoint_path: str | Path) -> Path:
    """``<name>.fingerprint.json`` beside ``<name>.pt``. Defined in Chapter 0 (Foundations)."""
    path = Path(checkpoint_path)
    return path.with_name(path.stem + ".fingerprint.json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_fingerprint(checkpoint_path: str | Path, cls: type | None = None) -> Path:
    """Compute the fingerprint of the checkpoint's generator and write it beside the file.

    Defined in Chapter 0 (Foundations). Rebuilt from the file (``build_generator``), so what
    is pinned is what ``load_pretrained`` will load; also records the model name, the file's
    sha256 (so that a failed comparison can say whether the file or the code changed) and its
    save date. ``cls`` as for :func:`build_generator`.
    """
    path = Path(checkpoint_path)
    ckpt = read_checkpoint(path)
    fp = {"model": ckpt["model"], "class": ckpt["class"], "checkpoint": path.name,
          "checkpoint_sha256": _sha256(path), "checkpoint_saved_at": ckpt["meta"].get("saved_at"),
          **output_fingerprint(build_generator(ckpt, cls=cls).eval())}
    out = fingerprint_path(path)
    out.write_text(_rows_on_one_line(json.dumps(fp, indent=1)) + "\n")
    return out


def _rows_on_one_line(text: str) -> str:
    """Put each innermost list of numbers of indented JSON on one line (16 numbers a row):
    readable in a diff, instead of one number a line."""
    def join(hit: re.Match) -> str:
        return "[" + ", ".join(v.strip() for v in hit.group(0)[1:-1].split(",") if v.strip()) + "]"

    return re.sub(r"\[[-+0-9.eE,\s]*\]", join, text)


def compare_fingerprint(checkpoint_path: str | Path, tolerance: float | None = None,
                        cls: type | None = None) -> float:
    """Recompute the fingerprint of a checkpoint and compare it with the one stored beside it.

    Defined in Chapter 0 (Foundations). Returns the largest absolute difference of the
    low-resolution copies; raises ``AssertionError`` naming the model, the difference and the
    tolerance (default :data:`FINGERPRINT_TOLERANCE`) when it is larger, saying whether the file
    itself changed since it was fingerprinted (a retrained model: write its fingerprint again) or
    not (then the code changed what the shipped model paints). Raises ``FileNotFoundError`` when
    there is no fingerprint and ``ValueError`` when it was computed on other inputs.
    """
    path = Path(checkpoint_path)
    tolerance = FINGERPRINT_TOLERANCE if tolerance is None else float(tolerance)
    fp_file = fingerprint_path(path)
    if not fp_file.is_file():
        raise FileNotFoundError(f"no fingerprint for {path} (expected {fp_file}); write it with "
                                f"`python scripts/write_fingerprints.py {path.stem}`")
    stored = json.loads(fp_file.read_text())
    ckpt = read_checkpoint(path)
    name = ckpt["model"]
    expected = (FINGERPRINT_FORMAT, [dict(i) for i in FINGERPRINT_INPUTS], FINGERPRINT_SIZE)
    if (stored.get("format"), stored.get("inputs"), stored.get("size")) != expected:
        raise ValueError(f"the fingerprint {fp_file} of {name!r} was computed on other inputs or in another "
                         "format than this library's; write it again with "
                         f"`python scripts/write_fingerprints.py {path.stem}`")
    current = output_fingerprint(build_generator(ckpt, cls=cls).eval())
    diff = float((torch.tensor(current["low_res"]) - torch.tensor(stored["low_res"])).abs().max())
    if not diff <= tolerance:  # NaN fails too
        same_file = stored.get("checkpoint_sha256") == _sha256(path)
        why = ("the file is the one fingerprinted (same sha256): the code changed what this shipped model "
               "paints" if same_file else
               "the file changed since it was fingerprinted: if it was retrained on purpose, write the "
               f"fingerprint again with `python scripts/write_fingerprints.py {path.stem}`")
        raise AssertionError(
            f"{name!r} ({path}) no longer paints its fingerprint: the {FINGERPRINT_SIZE}x{FINGERPRINT_SIZE} "
            f"copy of its outputs moved by {diff:.3g} (max abs), above the tolerance {tolerance:.3g}; {why} "
            f"(fingerprinted with torch {stored.get('torch_version')}, now {torch.__version__})")
    return diff


def one_float16_step(ckpt: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """``ckpt`` with every float16 weight moved to a neighbouring float16 value (up or down at random):
    the smallest change a shipped file can hold, which its fingerprint must tell apart from the
    CPU's rounding (the measurement behind :data:`FINGERPRINT_TOLERANCE`). Defined in Chapter 0."""
    gen = torch.Generator().manual_seed(seed)
    moved = {}
    for k, t in ckpt["state_dicts"]["generator"].items():
        if t.dtype == torch.float16:
            up = torch.rand(t.shape, generator=gen) < 0.5
            t = torch.nextafter(t, torch.where(up, math.inf, -math.inf).to(t.dtype))
        moved[k] = t
    return {**ckpt, "state_dicts": {"generator": moved}}
