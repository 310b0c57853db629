"""Tests of inpaintlib.losses.terms on small hand-computed examples."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from inpaintlib.losses import terms as L


@pytest.fixture
def tiny():
    """A 1x1x2x2 'image' pair and a mask with one hole pixel (top left)."""
    pred = torch.tensor([[[[0.5, 0.0], [1.0, 0.25]]]])
    target = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    return pred, target, mask


def test_masked_l1_l2_hand_values(tiny):
    pred, target, mask = tiny
    assert L.masked_l1(pred, target, mask).item() == pytest.approx(0.5)
    assert L.masked_l2(pred, target, mask).item() == pytest.approx(0.25)
    assert L.masked_l1(pred, target, mask, normalize="all").item() == pytest.approx(0.5 / 4)
    assert L.masked_l2(pred, target, mask, normalize="all").item() == pytest.approx(0.25 / 4)
    # Known region: errors 0, 1, 0.25 over 3 pixels.
    assert L.masked_l1(pred, target, mask, region="valid").item() == pytest.approx(1.25 / 3)
    assert L.valid_l1(pred, target, mask).item() == pytest.approx(1.25 / 3)
    assert L.masked_l2(pred, target, mask, region="valid").item() == pytest.approx((1 + 0.0625) / 3)


def test_masked_l1_counts_channels_and_ignores_known_pixels():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 2:5, 3:6] = 1.0
    pred = target.clone()
    pred = pred + 0.1 * mask  # every hole value off by exactly 0.1
    assert L.masked_l1(pred, target, mask).item() == pytest.approx(0.1, rel=1e-5)
    noisy = pred + (1 - mask) * torch.randn_like(pred)  # garbage on known pixels
    assert L.masked_l1(noisy, target, mask).item() == pytest.approx(0.1, rel=1e-5)
    assert L.masked_l2(noisy, target, mask).item() == pytest.approx(0.01, rel=1e-4)
    # Empty hole: 0, not NaN.
    assert L.masked_l1(noisy, target, torch.zeros_like(mask)).item() == 0.0


def test_masked_loss_errors(tiny):
    pred, target, mask = tiny
    with pytest.raises(ValueError, match="normalize"):
        L.masked_l1(pred, target, mask, normalize="pixels")
    with pytest.raises(ValueError, match="region"):
        L.masked_l1(pred, target, mask, region="inside")
    with pytest.raises(ValueError, match="shape"):
        L.masked_l1(pred, target[..., :1], mask)
    with pytest.raises(ValueError, match="mask"):
        L.masked_l1(pred, target, mask[..., :1])


def test_bce_losses_on_hand_logits():
    real, fake = torch.tensor([0.0, 0.0]), torch.tensor([0.0, 0.0])
    assert L.bce_discriminator_loss(real, fake).item() == pytest.approx(2 * math.log(2))
    assert L.bce_generator_loss(fake).item() == pytest.approx(math.log(2))
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    expected = math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0))
    assert L.bce_discriminator_loss(real, fake).item() == pytest.approx(expected)
    assert L.bce_generator_loss(fake).item() == pytest.approx(math.log(1 + math.e))
    # Stable for huge logits.
    assert torch.isfinite(L.bce_discriminator_loss(torch.tensor([-200.0]), torch.tensor([200.0])))


def test_wgan_and_hinge_on_hand_scores():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    assert L.wgan_critic_loss(real, fake).item() == pytest.approx(-1.0 - 2.0)
    assert L.wgan_generator_loss(fake).item() == pytest.approx(1.0)
    # hinge: relu(1 - [1, 3]) = [0, 0]; relu(1 + [-2, 0]) = [0, 1] -> 0 + 0.5
    assert L.hinge_discriminator_loss(real, fake).item() == pytest.approx(0.5)
    assert L.hinge_discriminator_loss(torch.tensor([0.5]), torch.tensor([0.5])).item() == pytest.approx(2.0)
    assert L.hinge_generator_loss(fake).item() == pytest.approx(1.0)


def test_gradient_penalty_on_linear_critic():
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4)
    critic = lambda x: (x * w).sum(dim=(1, 2, 3))  # noqa: E731  gradient = w everywhere
    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    expected = (w.norm() - 1) ** 2
    assert L.gradient_penalty(critic, real, fake).item() == pytest.approx(expected.item(), rel=1e-5)
    mask = torch.zeros(5, 1, 4, 4)
    mask[..., :2, :] = 1.0
    expected_masked = ((w * mask[:1]).norm() - 1) ** 2
    got = L.gradient_penalty(critic, real, fake, mask=mask)
    assert got.item() == pytest.approx(expected_masked.item(), rel=1e-5)
    # A critic with extra arguments is wrapped; the penalty trains the critic's parameters.
    lin = nn.Linear(48, 1)
    class TwoArgCritic(nn.Module):
        def forward(self, x, m):
            return lin((x * (1 + m)).flatten(1))
    d = TwoArgCritic()
    gp = L.gradient_penalty(lambda x: d(x, mask), real, fake, alpha=torch.full((5,), 0.3))
    gp.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_gradient_penalty_interpolates_per_sample():
    seen = {}
    def critic(x):
        seen["x"] = x.detach()
        return x.sum(dim=(1, 2, 3))
    real, fake = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    L.gradient_penalty(critic, real, fake, alpha=torch.tensor([0.0, 0.5, 1.0]))
    assert seen["x"][:, 0, 0, 0].tolist() == [0.0, 0.5, 1.0]
    torch.manual_seed(0)
    L.gradient_penalty(critic, real, fake)
    x = seen["x"]
    assert torch.all(x == x[:, :1, :1, :1])  # one alpha per sample, constant inside it
    assert len(set(x[:, 0, 0, 0].tolist())) == 3


def test_gram_matrix_known_values():
    # C=2, H=1, W=2: rows (1, 2) and (3, 4).
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    g = L.gram_matrix(f)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / (2 * 1 * 2)
    torch.testing.assert_close(g, expected)
    # Independent of the image size for a stationary texture.
    tile = torch.rand(1, 4, 3, 3)
    torch.testing.assert_close(L.gram_matrix(tile.repeat(1, 1, 4, 4)), L.gram_matrix(tile))
    assert L.gram_matrix(f.half()).dtype == torch.float32


def test_perceptual_and_style_losses():
    a = {"x": torch.zeros(1, 2, 2, 2), "y": torch.ones(1, 1, 1, 2)}
    b = {"x": torch.ones(1, 2, 2, 2), "y": torch.ones(1, 1, 1, 2)}
    assert L.perceptual_loss(a, b).item() == pytest.approx(0.5)  # layers x: 1, y: 0
    assert L.perceptual_loss(a, b, reduction="sum").item() == pytest.approx(1.0)
    assert L.perceptual_loss(a, b, layers=["y"]).item() == 0.0
    # Gram of ones(1,2,2,2) is all 4/8 = 0.5; of zeros all 0 -> style L1 0.5 on layer x, 0 on y.
    assert L.style_loss(a, b).item() == pytest.approx(0.25)
    assert L.style_loss(a, b, layers=["x"], distance="l2").item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="missing"):
        L.perceptual_loss(a, {"x": b["x"]})
    with pytest.raises(ValueError, match="differ"):
        L.style_loss({"x": torch.zeros(1, 2, 2, 2)}, {"x": torch.zeros(1, 2, 4, 4)})


def test_total_variation_known_image():
    img = torch.tensor([[[[0.0, 1.0, 1.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]]])
    # horizontal |diffs|: 1, 0, 0, 3, 0, 0 = 4; vertical: 0, 1, 2, 0, 0, 3 = 6; N = 9.
    assert L.total_variation_loss(img).item() == pytest.approx(10 / 9)
    flat = torch.full((2, 3, 5, 5), 0.7)
    assert L.total_variation_loss(flat).item() == pytest.approx(0.0)


def test_total_variation_only_near_the_hole():
    img = torch.zeros(1, 1, 6, 6)
    img[..., :, 0] = 5.0  # a strong edge far from the hole: ignored
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., 3, 3] = 1.0  # dilated region: rows 2-4, cols 2-4
    img[..., 3, 4] = 1.0  # on the region's right column: pairs left, up, down count (right is outside)
    assert L.total_variation_loss(img, mask).item() == pytest.approx(3 / 36)
    img[..., 3, 5] = 7.0  # pair (3,4)-(3,5) leaves the region: not counted
    assert L.total_variation_loss(img, mask).item() == pytest.approx(3 / 36)
    img[..., 3, 2] = 2.0  # inside: pairs (3,2)-(3,3) +2, up 2, down 2; (3,1)-(3,2) is outside
    assert L.total_variation_loss(img, mask).item() == pytest.approx((3 + 6) / 36)


def test_weighted_loss_total_and_parts():
    loss = L.WeightedLoss(reconstruction=0.999, adversarial=0.001)
    rec = torch.tensor(2.0, requires_grad=True)
    adv = torch.tensor(10.0, requires_grad=True)
    total, parts = loss(reconstruction=rec, adversarial=adv)
    assert total.item() == pytest.approx(0.999 * 2 + 0.001 * 10)
    assert parts == pytest.approx({"reconstruction": 2.0, "adversarial": 10.0, "total": 2.008})
    assert all(type(v) is float for v in parts.values())
    total.backward()
    assert rec.grad.item() == pytest.approx(0.999) and adv.grad.item() == pytest.approx(0.001)
    assert loss.weights == {"reconstruction": 0.999, "adversarial": 0.001}
    assert loss.names == ("reconstruction", "adversarial")


def test_weighted_loss_ablation_and_zero_weight():
    loss = L.WeightedLoss(reconstruction=1.0, adversarial=0.5)
    ablated = loss.with_weights(adversarial=0.0)
    assert loss.weights["adversarial"] == 0.5  # original unchanged
    w = loss.weights
    w["adversarial"] = 3.0
    assert loss.weights["adversarial"] == 0.5  # copy, not a view
    total, parts = ablated(reconstruction=torch.tensor(1.0), adversarial=torch.tensor(float("nan")))
    assert total.item() == 1.0  # weight 0: not added, so a NaN cannot spread
    assert math.isnan(parts["adversarial"])  # but still logged
    total, parts = ablated(reconstruction=torch.tensor(1.0), adversarial=0.25)  # floats allowed
    assert parts["adversarial"] == 0.25 and parts["total"] == 1.0


def test_weighted_loss_errors():
    loss = L.WeightedLoss(l1=1.0, adv=0.1)
    with pytest.raises(ValueError, match="missing \\['adv'\\]"):
        loss(l1=torch.tensor(1.0))
    with pytest.raises(ValueError, match="unknown \\['advv'\\]"):
        loss(l1=torch.tensor(1.0), adv=torch.tensor(1.0), advv=torch.tensor(1.0))
    with pytest.raises(ValueError, match="unknown"):
        loss.with_weights(style=1.0)
    with pytest.raises(ValueError, match="scalar"):
        loss(l1=torch.ones(2), adv=torch.tensor(1.0))
    with pytest.raises(ValueError, match="reserved"):
        L.WeightedLoss(total=1.0)
    with pytest.raises(ValueError, match="finite"):
        L.WeightedLoss(l1=float("inf"))
    with pytest.raises(ValueError, match="at least one"):
        L.WeightedLoss()
