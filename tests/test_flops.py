"""FLOPs of a training step (Chapter 0): hand counts, the gradient penalty, a real recipe, crop scaling."""
import dataclasses

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from inpaintlib.training.flops import count_flops, step_flops, update_flops
from inpaintlib.losses.terms import gradient_penalty
from inpaintlib.models.deepfill_v1 import WGANCritic
from inpaintlib.registry import recipe_for
from inpaintlib.training.engine import set_trainable

AUTOGRAD_GRAD = torch.autograd.grad
H = W = 16
#: forward FLOPs of the tiny net's two convolutions (one sample): 2 * Cin * Cout * k * k * H * W
F1 = 2 * 3 * 8 * 3 * 3 * H * W
F2 = 2 * 8 * 3 * 3 * 3 * H * W


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))


def test_forward_and_backward_of_a_tiny_conv_net_match_a_hand_count():
    net, x = tiny_net(), torch.rand(1, 3, H, W)
    assert count_flops(lambda: net(x)) == pytest.approx(F1 + F2, rel=0.05)
    # backward: gradient of the weights of both layers, of the input of the second only (the
    # images need no gradient, and torch does not compute it)
    assert count_flops(lambda: net(x).sum().backward()) == pytest.approx(F1 + F2 + (F1 + 2 * F2), rel=0.05)
    xg = x.clone().requires_grad_(True)  # an input that needs a gradient: the first layer's grad-input too
    assert count_flops(lambda: net(xg).sum().backward()) == pytest.approx(2 * (F1 + F2) + (F1 + F2), rel=0.05)


def test_the_count_ignores_memory_layout_and_autocast():
    net, x = tiny_net(), torch.rand(2, 3, H, W)
    plain = count_flops(lambda: net(x).sum().backward())
    net_cl = tiny_net().to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net_cl(x_cl)
        out.float().sum().backward()

    assert count_flops(bf16) == plain == 2 * (F1 + F2 + F1 + 2 * F2)


def test_gradient_penalty_count_matches_a_hand_count_and_keeps_its_value():
    critic = tiny_net()
    real, fake, alpha = torch.rand(2, 3, H, W), torch.rand(2, 3, H, W), torch.tensor([0.3, 0.8])
    expected = gradient_penalty(critic, real, fake, alpha=alpha)
    expected.backward()
    expected_grads = [p.grad for p in critic.parameters()]  # None for the last bias: no part in a gradient
    critic.zero_grad(set_to_none=True)
    seen = {}

    def penalty():
        seen["gp"] = gradient_penalty(critic, real, fake, alpha=alpha)
        seen["gp"].backward()

    flops = count_flops(penalty)
    assert torch.autograd.grad is AUTOGRAD_GRAD  # the swap is undone
    # per sample: forward (F1 + F2); gradient of the input (F1 + F2); backward through the
    # gradient's graph: each layer's weights and incoming gradient (2 F1 + 2 F2); backward with
    # zero gradients through the forward graph below the ReLU, weights and input (2 F1)
    hand = 2 * ((F1 + F2) + (F1 + F2) + 2 * (F1 + F2) + 2 * F1)
    assert flops == pytest.approx(hand, rel=0.05)
    torch.testing.assert_close(seen["gp"], expected)  # autograd.backward(inputs=...) = autograd.grad
    for p, g in zip(critic.parameters(), expected_grads):
        assert (p.grad is None) == (g is None)
        if g is not None:
            torch.testing.assert_close(p.grad, g)
    assert flops > 1.8 * count_flops(lambda: critic(real).sum().backward())  # about 2x forward + backward


class DirectCount(TorchDispatchMode):
    """torch's FLOP formulas applied to every operation, without FlopCounterMode's module tracker:
    ``torch.autograd.grad`` runs unchanged under it (no per-module breakdown)."""

    total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func._overloadpacket in flop_registry:
            self.total += flop_registry[func._overloadpacket](*args, **(kwargs or {}), out_val=out)
        return out


@pytest.mark.parametrize("critic", ["tiny", "wgan"])
def test_gradient_penalty_count_equals_a_direct_count_with_autograd_grad(critic):
    torch.manual_seed(0)
    net = tiny_net() if critic == "tiny" else WGANCritic(32, c=8)
    size = H if critic == "tiny" else 32
    real, fake = torch.rand(2, 3, size, size), torch.rand(2, 3, size, size)

    def penalty():
        gradient_penalty(net, real, fake, mask=torch.ones(2, 1, size, size)).backward()

    with DirectCount() as direct:
        penalty()
    assert count_flops(penalty) == direct.total > 0
    if critic == "wgan":  # a 4-layer critic with LeakyReLU: the penalty costs ~2x its forward + backward
        ratio = direct.total / count_flops(lambda: net(real).sum().backward())
        assert 1.8 < ratio < 2.6


def test_count_flops_restores_autograd_grad_after_an_error():
    original = torch.autograd.grad

    def boom():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        count_flops(boom)
    assert torch.autograd.grad is original


def _recipe_and_batch(name: str, size: int, batch: int = 2, **attrs):
    recipe = recipe_for(name)
    for k, v in attrs.items():
        setattr(recipe, k, v)
    settings = dataclasses.replace(recipe.settings, image_size=size, batch_size=batch, resize_schedule=())
    nets = recipe.build_networks(settings)
    images = torch.rand(batch, 3, size, size)
    masks = recipe.sample_masks(batch, size, size, torch.Generator().manual_seed(0))
    return recipe, settings, nets, images, masks


def requires_grad_flags(nets) -> dict[str, bool]:
    return {f"{n}.{k}": p.requires_grad for n, net in nets.items() for k, p in net.named_parameters()}


def test_step_flops_of_deepfill_v1_counts_the_critic_repeats_and_changes_nothing():
    torch.manual_seed(0)
    recipe, settings, nets, images, masks = _recipe_and_batch("deepfill_v1", 32)
    state = {f"{n}.{k}": v.clone() for n, net in nets.items() for k, v in net.state_dict().items()}
    flags = requires_grad_flags(nets)
    rng = torch.get_rng_state()
    recipe.current_phase = "reconstruction"  # step_flops must put it back after counting
    adversarial = recipe.phases(settings, nets)[1]
    assert adversarial.name == "adversarial"
    out = step_flops(recipe, nets, adversarial, settings, images, masks)
    assert out["total"] > 0 and out["total"] == sum(out["per_update"].values())
    assert set(out["per_update"]) == {"discriminator", "generator"}
    after = {f"{n}.{k}": v for n, net in nets.items() for k, v in net.state_dict().items()}
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert all(p.grad is None for net in nets.values() for p in net.parameters())
    assert flags == requires_grad_flags(nets)
    assert torch.equal(rng, torch.get_rng_state()) and recipe.current_phase == "reconstruction"

    # the 5 critic updates: 5 times one
    critic_update = adversarial.plan(settings, nets)[0]
    assert critic_update.repeats == 5 and critic_update.fresh_batch
    set_trainable(nets, adversarial.trained_networks(settings, nets))
    recipe.current_phase = "adversarial"
    one = update_flops(recipe, nets, dataclasses.replace(critic_update, repeats=1), images, masks)
    assert out["per_update"]["discriminator"] == 5 * one
    # an adversarial generator update also runs the critics: it costs more than a reconstruction one
    reconstruction = step_flops(recipe, nets, recipe.phases(settings, nets)[0], settings, images, masks)
    assert set(reconstruction["per_update"]) == {"generator"}
    assert out["per_update"]["generator"] > reconstruction["total"]


def test_flops_scale_with_the_crop_area():
    counts = {}
    for size in (32, 64):
        recipe, settings, nets, images, masks = _recipe_and_batch("glcic", size)
        completion = recipe.phases(settings, nets)[0]
        assert completion.trained_networks(settings, nets) == ("generator",)
        counts[size] = step_flops(recipe, nets, completion, settings, images, masks)["total"]
    assert counts[64] / counts[32] == pytest.approx(4.0, rel=0.10)
