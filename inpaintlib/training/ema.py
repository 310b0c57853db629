r"""An exponential moving average of a network's weights. Defined in Chapter 0 (Foundations).

After every update of the generator, each averaged weight moves a little towards the trained one:

.. math:: \bar\theta_t = \beta_t\, \bar\theta_{t-1} + (1 - \beta_t)\, \theta_t,
          \qquad \beta_t = \min\Big(\beta, \frac{1 + t}{10 + t}\Big).

The average of the last :math:`\approx 1/(1-\beta)` iterates sits nearer the bottom of the
loss valley than any single iterate, which SGD noise keeps bouncing around (Polyak averaging;
Karras et al. 2018 and Yazici et al. 2019 for GAN generators). The warm-up :math:`\beta_t`
keeps the first, random weights from weighing on the average of a short run. Buffers (e.g.
BatchNorm's running statistics) are copied, not averaged. The averaged network is what the
book evaluates and ships; the trained one is what the optimiser keeps updating.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class ExponentialMovingAverage:
    """Keeps ``self.module``, an averaged copy of a network. Defined in Chapter 0 (Foundations)."""

    def __init__(self, net: nn.Module, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(net).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """One averaging step towards the current weights of ``net``."""
        self.updates += 1
        beta = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_params = [p for p in self.module.parameters()]
        params = [p.detach() for p in net.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)
        for b_ema, b in zip(self.module.buffers(), net.buffers()):
            b_ema.copy_(b)
