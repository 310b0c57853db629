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
