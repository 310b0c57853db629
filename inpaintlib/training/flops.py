r"""How many floating-point operations one training step of a recipe costs.

Defined in Chapter 0 (Foundations).

Why: a budget in minutes depends on the machine (and on who else uses it), a budget in steps
on the model (at 128 px and batch 16 an adversarial DeepFill v1 step costs 1.1 TFLOP, 28
Context Encoder steps; ``scripts/flops_table.py`` lists every recipe). FLOPs depend on
neither: they are the ground for a budget that is the same on a laptop and on a GPU, and for comparing
recipes at equal compute. This module counts them; it changes nothing in the networks.

Convention: PyTorch's counter (:class:`torch.utils.flop_counter.FlopCounterMode`) counts a
multiply-add as **2 FLOPs**, and counts only matrix products and convolutions (their forward
and backward passes). Element-wise operations, normalisations, activations, losses, the
optimiser step, the moving average and classical code outside PyTorch (the fill refiner's
biharmonic fill) are not counted: a few per cent of a conv net's arithmetic. Counts depend on
tensor shapes only, not on the dtype or the memory layout: they are made in float32 with
autocast off, and a bfloat16, channels-last run performs the same operations.

Costs of a convolution with forward cost :math:`F = 2 C_{in} C_{out} k^2 H W` (per sample):
its backward computes the gradient of the input (:math:`F`, skipped where the input needs no
gradient, e.g. the first layer of a network fed with images) and of the weights (:math:`F`).
So forward + backward is about 3 forward passes.

**The gradient penalty** (WGAN-GP, :func:`inpaintlib.losses.terms.gradient_penalty`; DeepFill v1 and
GMCNN critics) differentiates a gradient: ``torch.autograd.grad(..., create_graph=True)``, then
a backward pass through that graph. Under ``FlopCounterMode`` this fails (torch 2.x) with
"A leaf node was passed to _will_engine_execute_node but we are currently running
autograd.grad()": the counter's module tracker puts gradient hooks on every module input, and
inside ``autograd.grad`` the engine cannot answer them about a leaf (the interpolated batch is
one). :func:`count_flops` therefore replaces ``torch.autograd.grad``, while it counts, by
``torch.autograd.backward(outputs, inputs=..., create_graph=True)``: the same graph, run by the
same engine with the same operations, the gradient read from ``.grad`` (whose previous value is
put back). The values, and the count, are those of ``autograd.grad``: a test checks the value,
and the count against a hand count on a two-layer critic, where it is exact. What the
penalty costs, for a critic of forward cost :math:`F` whose layers before its last activation
cost :math:`F_a`: the forward (:math:`F`), the gradient of the input (:math:`F`), the backward
through the gradient's graph (each layer's weight and incoming gradient: :math:`2F`), and a
backward through the forward graph with zero gradients (the derivative of ReLU / LeakyReLU's
mask; autograd computes it anyway: :math:`2F_a`). About :math:`4F + 2F_a \approx 6F`, twice
the :math:`3F` of a plain forward + backward of the same critic (measured on DeepFill v1's
64 px global critic: :math:`6.4F` against :math:`2.9F`).
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops", "update_flops", "step_flops"]

_AUTOGRAD_GRAD = torch.autograd.grad


def _grad_by_backward(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
                      only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """``torch.autograd.grad`` computed by ``torch.autograd.backward(..., inputs=...)``: what
    :func:`count_flops` uses while it counts (see the module's docstring)."""
    if is_grads_batched:
        return _AUTOGRAD_GRAD(outputs, inputs, grad_outputs, retain_graph, create_graph, only_inputs,
                              allow_unused, is_grads_batched, materialize_grads)
    single = torch.is_tensor(inputs)
    inputs = (inputs,) if single else tuple(inputs)
    saved = [t.grad if t.is_leaf or t.retains_grad else None for t in inputs]
    for t in inputs:
        t.grad = None
    with warnings.catch_warnings():  # create_graph=True: the cycle it warns about is broken below
        warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
        torch.autograd.backward(outputs, grad_outputs, retain_graph=retain_graph, create_graph=create_graph,
                                inputs=inputs)
    grads = []
    for t, old in zip(inputs, saved):
        g = t.grad
        t.grad = old
        if g is None:
            if materialize_grads:
                g = torch.zeros_like(t)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
        grads.append(g)
    return tuple(grads)


@contextlib.contextmanager
def _countable_gradients() -> Iterator[None]:
    torch.autograd.grad = _grad_by_backward
    try:
        yield
    finally:
        torch.autograd.grad = _AUTOGRAD_GRAD


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of running ``fn()``, e.g. a closure that runs a forward and a backward pass.

    Defined in Chapter 0 (Foundations). Counted by ``FlopCounterMode(display=False)``: a
    multiply-add is 2 FLOPs; matrix products and convolutions only. ``torch.autograd.grad``
    inside ``fn`` (the gradient penalty) is run as ``torch.autograd.backward(inputs=...)`` while
    counting, which the counter supports (module docstring). Not thread-safe: it swaps
    ``torch.autograd.grad`` for the duration of the call.
    """
    with _countable_gradients(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


@contextlib.contextmanager
def _untouched(recipe, nets: dict[str, nn.Module]) -> Iterator[None]:
    """Put back, on exit, everything counting a step may change: weights, buffers (BatchNorm
    statistics), gradients, ``requires_grad`` flags, train/eval modes, the recipe's phase and the
    random number generators (the loss draws the penalty's mixing weights, for example)."""
    params = {id(p): p for net in nets.values() for p in net.parameters()}.values()
    buffers = {id(b): b for net in nets.values() for b in net.buffers()}.values()
    saved_params = [(p, p.detach().clone(), p.grad, p.requires_grad) for p in params]
    saved_buffers = [(b, b.detach().clone()) for b in buffers]
    modes = [(m, m.training) for net in nets.values() for m in net.modules()]
    had_phase = "current_phase" in vars(recipe)
    phase = recipe.current_phase
    cuda = sorted({p.device.index or 0 for p, *_ in saved_params if p.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        with torch.no_grad():
            for p, value, grad, flag in saved_params:
                p.copy_(value)
                p.grad = grad
                p.requires_grad_(flag)
            for b, value in saved_buffers:
                b.copy_(value)
        for m, training in modes:
            m.training = training
        if had_phase:
            recipe.current_phase = phase
        else:
            vars(recipe).pop("current_phase", None)


def _loss_fn(recipe, loss) -> Callable:
    return getattr(recipe, loss) if isinstance(loss, str) else loss


def _count_update(recipe, nets, update, images, masks) -> tuple[int, tuple[torch.Tensor, torch.Tensor]]:
    """FLOPs of ``update.repeats`` updates, and the batch the engine holds afterwards."""
    loss_fn = _loss_fn(recipe, update.loss)
    params = list(nets[update.net].parameters())
    batch = (images, masks)

    def run():
        nonlocal batch
        for _ in range(update.repeats):
            if update.fresh_batch:  # a new batch (new tensors: recipes may cache per batch)
                batch = (images.clone(), masks.clone())
            for p in params:  # the engine's zero_grad(set_to_none=True); no optimiser step
                p.grad = None
            loss, _ = loss_fn(nets, *batch)
            loss.backward()

    with torch.autocast(images.device.type, enabled=False):
        flops = count_flops(run)
    return flops, batch


def update_flops(recipe, nets: dict[str, nn.Module], update, images: torch.Tensor,
                 masks: torch.Tensor) -> int:
    """FLOPs of one :class:`~inpaintlib.training.engine.Update` of a step: ``update.repeats`` times the
    loss's forward passes (every network it runs, frozen VGG-16 and no-grad passes included)
    and its backward pass. Defined in Chapter 0 (Foundations).

    ``images`` (B, 3, H, W) and ``masks`` (B, 1, H, W) give the shapes (FLOPs do not depend on
    the values). With ``update.fresh_batch`` each repeat sees new tensors (copies), as the
    engine's fresh batches. The networks' ``requires_grad`` flags and ``recipe.current_phase``
    are used as they stand (:func:`step_flops` sets them as the engine does); nothing is
    stepped, and weights, buffers, gradients and modes are put back afterwards.
    """
    with _untouched(recipe, nets):
        # new tensors, as the engine's freshly drawn batch: no recipe cache keyed on the batch applies
        return _count_update(recipe, nets, update, images.float().clone(), masks.float().clone())[0]


def step_flops(recipe, nets: dict[str, nn.Module], phase, settings, images: torch.Tensor,
               masks: torch.Tensor) -> dict[str, Any]:
    """FLOPs of one optimisation step of ``phase``: ``{"total": int, "per_update": {name: int}}``.

    Defined in Chapter 0 (Foundations). As :func:`inpaintlib.training.engine.train` runs a step: every
    network in train mode, the phase's networks trainable (``set_trainable``),
    ``recipe.current_phase`` set to the phase's name, then each update of
    ``phase.plan(settings, nets)`` ``repeats`` times, starting on one batch of the shapes of
    ``images`` and ``masks``. ``per_update`` is keyed by the network updated (``net/loss`` for
    a second update of the same network). The phase's ``on_start`` hook is not run (it changes
    learning rates or freezes statistics, not the counted arithmetic). Nothing is stepped, and
    every weight, buffer, gradient, flag and mode is put back afterwards.
    """
    from inpaintlib.training.engine import set_trainable

    per_update: dict[str, int] = {}
    with _untouched(recipe, nets):
        for net in nets.values():
            net.train()
        set_trainable(nets, phase.trained_networks(settings, nets))
        recipe.current_phase = phase.name
        batch = (images.float().clone(), masks.float().clone())  # new tensors: no recipe cache applies
        for upd in phase.plan(settings, nets):
            flops, batch = _count_update(recipe, nets, upd, *batch)
            name = upd.net
            if name in per_update:
                name = f"{upd.net}/{getattr(upd.loss, '__name__', upd.loss)}"
            per_update[name] = flops
    return {"total": sum(per_update.values()), "per_update": per_update}
