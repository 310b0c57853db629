"""Helpers shared by the chapters' training tests."""
import torch


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


def shipped_generator_reloads_identically(name: str):
    """The shipped ``name`` rebuilt twice from its file gives identical outputs; returns one copy.

    Also checks what every shipped checkpoint promises: the ``cpu`` budget profile and a file
    under 4 MB. Skips the calling test when the checkpoint is not shipped yet.
    """
    import copy

    import pytest

    from inpaintlib.checkpoint import build_generator, read_checkpoint
    from inpaintlib.compositing import mask_image
    from inpaintlib.data import load_test_masks, load_test_set
    from inpaintlib.registry import checkpoint_path

    path = checkpoint_path(name)
    if not path.is_file():
        pytest.skip(f"{name} not shipped yet")
    ckpt = read_checkpoint(path)
    g1, g2 = build_generator(ckpt).eval(), build_generator(copy.deepcopy(ckpt)).eval()
    x, m = load_test_set(n=2), load_test_masks("center", n=2)
    with torch.no_grad():
        out = g1(mask_image(x, m), m)
        assert torch.equal(out, g2(mask_image(x, m), m))
    assert float(out.std()) > 0.01  # not a constant image
    assert ckpt["meta"]["profile"] == "cpu" and path.stat().st_size < 4 * 2**20
    return g1
