"""Helpers shared by the chapters' training tests."""
import pytest
import torch

from inpaintlib.training.checkpoint import build_generator, read_checkpoint
from inpaintlib.evaluation.compositing import mask_image
from inpaintlib.data.photos import load_test_masks, load_test_set
from inpaintlib.evaluation.comparison import equal_budget
from inpaintlib.registry import RECIPES, VARIANT_PROFILES, WRAPPED, checkpoint_path
from inpaintlib.training.profiles import CPU_BUDGET_CORE_MINUTES


def generator_losses_on_a_fixed_batch(recipe, nets, images, masks, steps: int, lr: float = 1e-3,
                                      term: str | None = None) -> list[float]:
    """Adam on the generator alone, the same batch at every step: the loss after each step.

    ``term``: follow one named term of the recipe's ``generator_loss`` instead of the total.
    """
    opt = torch.optim.Adam(nets["generator"].parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        total, parts = recipe.generator_loss(nets, images, masks)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(parts[term]) if term else float(total.detach()))
    return losses


def assert_shipped_budget(meta: dict) -> None:
    """A shipped (``cpu`` variant) checkpoint finished one of the two budgets the book has shipped:
    the equal FLOP budget (profile ``equal``, 1 PFLOP within 2 %) or, until it is retrained, the
    earlier 90 core-minutes (profile ``cpu``)."""
    assert meta["finished"] and meta["profile"] in VARIANT_PROFILES["cpu"], meta.get("profile")
    if meta["profile"] == "equal":
        assert equal_budget(meta), f"profile 'equal' but {meta.get('flops')} training FLOPs, not 1e15 +- 2 %"
    else:
        assert abs(meta["core_minutes"] - CPU_BUDGET_CORE_MINUTES) < 3, meta["core_minutes"]


def missing_checkpoint_message(name: str, variant: str = "cpu") -> str:
    """What to do when the shipped checkpoint of ``name`` is missing: how to train and ship it."""
    path = checkpoint_path(name, variant)
    recipe = WRAPPED[name][0] if name in WRAPPED else name
    if recipe not in RECIPES:
        how = f"no recipe named {recipe!r} is registered: register and train one"
    elif variant == "cpu":
        how = (f"train and ship it with `python -m inpaintlib train-all {recipe}` (the equal budget, "
               f"1 PFLOP; it ships to {path.parent})")
    else:
        how = (f"train it with `python -m inpaintlib train-all {recipe} --device cuda` "
               f"(it ships to {path.parent})")
    return (f"the shipped checkpoint of {name!r} ({variant}) is missing: no file {path}; {how} "
            "(shipping writes its fingerprint too)")


def shipped_generator(name: str):
    """The shipped ``name`` rebuilt once from its file, in eval mode.

    Checks what every shipped checkpoint promises: an equal-budget profile, a file under 4 MB,
    and a fill that is not a constant image. Fails (never skips) when the checkpoint is missing:
    a chapter's model must ship. Whether it still paints what it painted when it shipped is
    checked by tests/test_fingerprints.py.
    """
    path = checkpoint_path(name)
    if not path.is_file():
        pytest.fail(missing_checkpoint_message(name))
    ckpt = read_checkpoint(path)
    generator = build_generator(ckpt).eval()
    x, m = load_test_set(n=2), load_test_masks("center", n=2)
    with torch.no_grad():
        out = generator(mask_image(x, m), m)
    assert float(out.std()) > 0.01  # not a constant image
    assert ckpt["meta"]["profile"] in VARIANT_PROFILES["cpu"] and path.stat().st_size < 4 * 2**20
    return generator


def assert_fills_every_bucket_keeping_known_pixels(name: str, extra_inputs) -> None:
    """The shipped ``name`` fills two test crops of every bucket, once per keyword set that
    ``extra_inputs(x, m)`` gives (e.g. with and without a sketch), with finite values and the
    known pixels unchanged. A missing checkpoint fails, never skips."""
    import inpaintlib
    from inpaintlib.data.photos import TEST_MASK_KINDS

    if not checkpoint_path(name).is_file():
        pytest.fail(missing_checkpoint_message(name))
    model = inpaintlib.load_pretrained(name)
    x = load_test_set(n=2)
    for kind in TEST_MASK_KINDS:
        m = load_test_masks(kind, n=2)
        for kwargs in extra_inputs(x, m):
            out = inpaintlib.inpaint(x, m, model, **kwargs)
            assert torch.isfinite(out).all() and torch.equal(out * (1 - m), x * (1 - m)), (kind, list(kwargs))
