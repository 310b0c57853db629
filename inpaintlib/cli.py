"""Command line: ``python -m inpaintlib {inpaint,train,train-all,evaluate,models}``.

Defined in Chapter 0 (Foundations).

    python -m inpaintlib inpaint --model context_encoder --image in.png --mask mask.png --out out.png
    python -m inpaintlib inpaint --model glcic --postprocess --image in.png --mask mask.png --out out.png
    python -m inpaintlib train context_encoder [--profile equal] [--data DIR] [--size 128]
    python -m inpaintlib train fill_refiner --profile equal --threads 1   # the equal budget, 1 PFLOP
    python -m inpaintlib train-all --device cuda --stop-after 9            # a GPU session (resumable)
    python -m inpaintlib evaluate context_encoder [--n 100]

Mask files: white (255) = hole, black (0) = known, the size of the image; PNG is best (a JPEG mask
is thresholded at half grey, with a note). Odd photo files (greyscale, 16-bit, palette, CMYK) are
converted with a note; transparent ones are refused (inpaintlib.data.image_files).

A mistake the user can fix (an unknown model, a missing or corrupt checkpoint, an unreadable photo,
an unwritable output) ends in one line ``error: ...`` on stderr and exit status 1, not a traceback.
"""
from __future__ import annotations

import argparse
import pickle
import sys
from contextlib import contextmanager
from pathlib import Path

from inpaintlib.training.profiles import PROFILES

#: what loading, reading or writing raises when an argument is wrong: a misspelt name (ValueError),
#: a missing, truncated or unwritable file (OSError; PIL reads a truncated PNG lazily and says only
#: "image file is truncated"), a corrupt checkpoint (torch.load: RuntimeError or UnpicklingError)
USER_ERRORS = (ValueError, OSError, RuntimeError, pickle.UnpicklingError)

#: what a checkpoint that torch cannot load is called instead of torch's message, which for a
#: corrupt file advises ``weights_only=False`` (running whatever code the file holds)
UNLOADABLE = "is not a checkpoint this inpaintlib can load (truncated, corrupt, or from another version)"


@contextmanager
def one_line_errors(subject: str, checkpoint: bool = False):
    """Turn :data:`USER_ERRORS` raised inside into ``SystemExit("error: ...")``: one line, status 1.

    Defined in Chapter 0 (Foundations). Only around steps whose failure is the user's to fix
    (loading a model, reading a file, writing the result): a failure inside a computation keeps its
    traceback, which is what fixing it needs. ``subject`` (a path or a model name) is put in front
    of a message that does not name it already, since the OS's and PIL's messages often do not.
    ``checkpoint=True``: torch's own errors are reported as :data:`UNLOADABLE`.
    """
    try:
        yield
    except USER_ERRORS as err:
        message = " ".join(str(err).split()) or type(err).__name__
        if checkpoint and isinstance(err, (RuntimeError, pickle.UnpicklingError)):
            message = f"{subject} {UNLOADABLE}"
        if subject not in message:
            message = f"{subject}: {message}"
        raise SystemExit(f"error: {message}") from None


def _check_output_file(path: str, option: str) -> None:
    """Refuse an output path that cannot be written *before* the work that would fill it."""
    from PIL import Image

    target = Path(path)
    if target.is_dir():
        raise SystemExit(f"error: {option} {path} is a folder; expected a file path such as out.png")
    if not target.parent.is_dir():
        raise SystemExit(f"error: {option} {path}: the folder {target.parent} does not exist")
    if option == "--out" and target.suffix.lower() not in Image.registered_extensions():
        raise SystemExit(f"error: {option} {path}: unknown image extension {target.suffix!r}; "
                         "expected e.g. .png or .jpg")


def _check_trainable(names) -> None:
    """Every name must be a registered recipe: checked before any training starts (``train-all``
    would otherwise train the names before a misspelt one, then fail)."""
    from inpaintlib.registry import RECIPES

    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise SystemExit(f"error: unknown model {', '.join(map(repr, unknown))}; "
                         f"trainable models: {', '.join(RECIPES)}")


def _read(reader, path: str, *args):
    """A photo or mask file through :mod:`inpaintlib.data.image_files`; conversions are reported."""
    result = reader(path, *args)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return result.array


def accepts_option(model, name: str) -> bool:
    """Whether ``model``'s ``forward`` takes the keyword ``name`` (e.g. ``postprocess``).

    Defined in Chapter 3 (GLCIC), for ``inpaint --postprocess``.
    """
    import inspect

    params = inspect.signature(model.forward).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaintlib", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inpaint", help="fill the hole of one image")
    p.add_argument("--model", default="telea")
    p.add_argument("--image", required=True)
    p.add_argument("--mask", required=True, help="PNG, white = hole")
    p.add_argument("--out", required=True)
    p.add_argument("--device", default=None)
    p.add_argument("--postprocess", action="store_true",
                   help="blend the fill with fast marching + Poisson blending (GLCIC, Chapter 3)")
    p = sub.add_parser("train", help="train a model (writes runs/<name>-<profile>.pt)")
    p.add_argument("name")
    p.add_argument("--profile", default=None, choices=list(PROFILES),
                   help="smoke, book, equal (the book's equal budget, 1 PFLOP) or gpu (16 PFLOP; "
                        "default: gpu on CUDA, else book)")
    p.add_argument("--data", default=None, help="a folder of your own images (default: the book's photos)")
    p.add_argument("--size", type=int, default=None, help="training crop size")
    p.add_argument("--steps", type=int, default=None, help="a step budget (instead of the profile's)")
    p.add_argument("--minutes", type=float, default=None, help="a wall-clock training budget in minutes")
    p.add_argument("--threads", type=int, default=None, help="CPU threads")
    p.add_argument("--workers", type=int, default=None, help="data worker processes")
    p.add_argument("--precision", default=None, choices=["auto", "bf16", "fp32"])
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr-g", type=float, default=None, help="generator learning rate")
    p.add_argument("--lr-d", type=float, default=None, help="discriminator learning rate")
    p.add_argument("--out", default=None)
    p.add_argument("--resume", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p = sub.add_parser("train-all", help="retrain every shipped model at the equal budget (1 PFLOP; resumable)")
    p.add_argument("names", nargs="*", help="default: every model and ablation the registry ships")
    p.add_argument("--gpu-budget", nargs="*", default=[], metavar="NAME",
                   help="then train these at the gpu profile (16 PFLOP), shipped to data/checkpoints/gpu")
    p.add_argument("--device", default=None)
    p.add_argument("--profile", default="equal", choices=list(PROFILES))
    p.add_argument("--minutes", type=float, default=None, help="a timed budget instead (a reader's option)")
    p.add_argument("--out", default="runs", help="folder of the resumable checkpoints (<out>/<profile>/)")
    p.add_argument("--ship-to", default=None, help="folder of the float16 checkpoints (default data/checkpoints)")
    p.add_argument("--stop-after", type=float, default=None,
                   help="stop this command after so many minutes (run it again to resume)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=int, default=None, help="data worker processes (default: cores - 1 on CUDA)")
    p.add_argument("--pending", action="store_true",
                   help="only the names whose shipped checkpoint does not yet record the budget")
    p.add_argument("--list", action="store_true",
                   help="print the names that would train (one line) and train nothing")
    p.add_argument("--status", action="store_true",
                   help="print where each run stands (shipped, finished, partial with hours left) and train nothing")
    p.add_argument("--seed", type=int, default=0,
                   help="another seed (1, 2): runs to <out>/<profile>-seed<N>, ships to seed<N>/ (the seed spread)")
    p = sub.add_parser("evaluate", help="metrics on the fixed test set beside the classical baselines")
    p.add_argument("name")
    p.add_argument("--n", type=int, default=None, help="number of test crops (default all)")
    p.add_argument("--checkpoint", default=None, help="evaluate this checkpoint instead of the shipped one")
    p.add_argument("--kinds", nargs="+", default=None, help="mask kinds (default all: center ff10-20 ... ff40-50)")
    sub.add_parser("models", help="list the available models")
    sub.add_parser("measure-registered",
                   help="every baseline, model and ablation on every bucket of the whole test set")
    p = sub.add_parser("collect-results", help="replace the shipped test-set numbers with a recorded set")
    p.add_argument("folder", help="the folder of $INPAINT_RECORD_RESULTS")
    p.add_argument("--to", default=None, help="default: data/test_results.json")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="replace only these methods' entries and keep every other one")
    p.add_argument("--merge", action="store_true",
                   help="keep the file's entries (but those of --only) and add every recorded one")
    p = sub.add_parser("ship", help="ship a finished run: its moving average or its last weights, chosen on "
                                    "validation crops, in float16, with its fingerprint")
    p.add_argument("run", help="a run checkpoint, e.g. runs/equal/pconv.pt")
    p.add_argument("dest", help="e.g. data/checkpoints/pconv.pt")
    p.add_argument("--weights", default="choose", choices=["choose", "generator", "generator_last"])
    p = sub.add_parser("export-vgg", help="write the VGG-16 conv layers the losses use as one float16 file")
    p.add_argument("path", help="e.g. .cache/vgg16_conv_fp16.pt; then set INPAINT_VGG16_WEIGHTS to it")
    p.add_argument("--upto", default="relu4_3")
    args = parser.parse_args(argv)

    if args.command == "models":
        from inpaintlib.registry import available_models

        print("\n".join(available_models()))
    elif args.command == "inpaint":
        from PIL import Image

        from inpaintlib.api import inpaint
        from inpaintlib.data.image_files import read_mask, read_photo
        from inpaintlib.registry import load_pretrained

        _check_output_file(args.out, "--out")
        with one_line_errors(args.model, checkpoint=True):
            model = load_pretrained(args.model, device=args.device or "cpu")
        options = {}
        if args.postprocess:
            if not accepts_option(model, "postprocess"):
                raise SystemExit(f"error: --postprocess (fast marching + Poisson blending, Chapter 3) "
                                 f"is not offered by {model.display_name} ({args.model}); "
                                 "models that offer it: glcic")
            options["postprocess"] = True
        with one_line_errors(args.image):
            image = _read(read_photo, args.image, None)
        with one_line_errors(args.mask):
            mask = _read(read_mask, args.mask, image.shape[:2])
        try:
            out = inpaint(image, mask, model, **options)
        except ValueError as err:  # a hole the model cannot fill, a size it does not take
            raise SystemExit(f"error: {err}")
        with one_line_errors(args.out):
            Image.fromarray(out).save(args.out)
        print(args.out)
    elif args.command == "train":
        from inpaintlib.registry import recipe_for
        from inpaintlib.training.engine import train

        _check_trainable([args.name])
        result = train(recipe_for(args.name), profile=args.profile, data=args.data, out=args.out,
                       resume=args.resume, device=args.device, seed=args.seed,
                       image_size=args.size, steps=args.steps, batch_size=args.batch_size,
                       lr_g=args.lr_g, lr_d=args.lr_d, minutes=args.minutes, threads=args.threads,
                       precision=args.precision, workers=args.workers)
        if result.checkpoint:
            print(result.checkpoint)
    elif args.command == "measure-registered":
        from inpaintlib.evaluation.result_store import measure_registered

        print(f"{len(measure_registered())} methods measured")
    elif args.command == "collect-results":
        from inpaintlib.data.photos import DATA_DIR
        from inpaintlib.evaluation.result_store import collect_recorded

        dest = args.to or str(Path(DATA_DIR) / "test_results.json")
        print(f"{collect_recorded(args.folder, dest, only=args.only, merge=args.merge)} entries written to {dest}")
    elif args.command == "ship":
        from inpaintlib.training.checkpoint import read_checkpoint, ship_checkpoint

        with one_line_errors(args.run, checkpoint=True):
            run = read_checkpoint(args.run)
        if not run["meta"].get("finished"):
            raise SystemExit(f"error: {args.run} is an unfinished run: resume it with train-all first")
        with one_line_errors(args.dest):
            meta = read_checkpoint(ship_checkpoint(args.run, args.dest, weights=args.weights))["meta"]
        print(f"{args.dest}: {meta['shipped_weights']} {meta.get('weights_validation_psnr', '')}")
    elif args.command == "export-vgg":
        from inpaintlib.losses.vgg import export_vgg16_weights

        if Path(args.path).is_dir():
            raise SystemExit(f"error: {args.path} is a folder; expected a file path such as vgg16.pt")
        with one_line_errors(args.path):
            print(export_vgg16_weights(args.path, upto=args.upto))
    elif args.command == "train-all":
        from inpaintlib.training.train_all import pending, run_progress, shipped_recipes, train_all

        _check_trainable([*args.names, *args.gpu_budget])
        if args.status:
            names = args.names or shipped_recipes()
            if args.pending:
                names = pending(names, args.profile, args.ship_to, seed=args.seed)
            for name in names:
                print(run_progress(name, args.profile, args.out, args.ship_to, seed=args.seed))
            return 0
        if args.list:
            names = args.names or shipped_recipes()
            if args.pending:
                names = pending(names, args.profile, args.ship_to, seed=args.seed)
            print(" ".join(names))
            return 0
        status = train_all(args.names or None, device=args.device, minutes=args.minutes, out=args.out,
                           ship_to=args.ship_to, stop_after=args.stop_after, profile=args.profile,
                           gpu_budget=args.gpu_budget, threads=args.threads, workers=args.workers,
                           seed=args.seed, pending_only=args.pending)
        for name, state in status.items():
            print(f"{name}: {state}")
    elif args.command == "evaluate":
        from inpaintlib.evaluation.baselines import BASELINES
        from inpaintlib.training.checkpoint import build_generator, read_checkpoint
        from inpaintlib.data.photos import TEST_MASK_KINDS
        from inpaintlib.evaluation.fixed_test_set import evaluate_model, results_table
        from inpaintlib.registry import load_pretrained

        unknown = [k for k in args.kinds or () if k not in TEST_MASK_KINDS]
        if unknown:
            raise SystemExit(f"error: unknown mask kind {', '.join(map(repr, unknown))}; "
                             f"expected some of {' '.join(TEST_MASK_KINDS)}")
        if args.n is not None and args.n < 1:
            raise SystemExit(f"error: --n must be at least 1, got {args.n}")
        with one_line_errors(args.checkpoint or args.name, checkpoint=True):
            if args.checkpoint:
                model = build_generator(read_checkpoint(args.checkpoint)).eval()
            else:
                model = load_pretrained(args.name)
        rows = {model.display_name: evaluate_model(model, kinds=args.kinds, n=args.n)}
        for name in BASELINES:
            if name == args.name and not args.checkpoint:
                continue
            base = load_pretrained(name)
            rows[base.display_name] = evaluate_model(base, kinds=args.kinds, n=args.n)
        print(results_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
