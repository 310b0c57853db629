"""Compositing, metrics and the classical baselines (Chapter 0)."""
import math

import numpy as np
import pytest
import torch

from inpaintlib.baselines import BASELINES
from inpaintlib.compositing import composite, mask_image
from inpaintlib.metrics import hole_l1, hole_l2, inpainting_metrics, psnr, ssim


def test_composite_copies_known_pixels_and_keeps_hole_prediction():
    image = torch.rand(2, 3, 8, 8)
    pred = torch.rand(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:5, 3:6] = 1
    out = composite(pred, image, mask)
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    assert torch.equal(out[:, :, 2:5, 3:6], pred[:, :, 2:5, 3:6])


def test_mask_image_fills_hole_with_colour():
    image = torch.ones(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1
    out = mask_image(image, mask, torch.tensor([0.1, 0.2, 0.3]))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.1, 0.2, 0.3]))
    assert torch.equal(out[..., 1:, :], image[..., 1:, :])


def test_psnr_of_a_known_error_is_exact():
    target = torch.full((1, 3, 16, 16), 0.5)
    output = target + 0.1  # MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB
    assert psnr(output, target).item() == pytest.approx(20.0, abs=1e-4)


def test_hole_losses_ignore_known_pixels():
    target = torch.zeros(1, 3, 4, 4)
    output = torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1  # 4 hole pixels
    output[..., :2, :2] = 0.5  # error 0.5 in the hole
    output[..., 3, 3] = 1.0  # a large error outside the hole must not count
    assert hole_l1(output, target, mask).item() == pytest.approx(0.5)
    assert hole_l2(output, target, mask).item() == pytest.approx(0.25)


def test_ssim_is_one_for_identical_images_and_lower_otherwise():
    a = torch.rand(2, 3, 32, 32)
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-5)
    assert (ssim(a, (a + 0.2 * torch.rand_like(a)).clamp(0, 1)) < 0.99).all()


def test_inpainting_metrics_keys_and_units():
    a = torch.rand(3, 3, 32, 32)
    m = torch.zeros(3, 1, 32, 32)
    m[..., 8:24, 8:24] = 1
    res = inpainting_metrics(composite(torch.zeros_like(a), a, m), a, m)
    assert set(res) == {"l1_%", "l2_%", "psnr_db", "ssim"}
    assert all(v.shape == (3,) for v in res.values())
    assert (res["l1_%"] > 10).all()  # percent, not fraction
    assert math.isfinite(res["psnr_db"].mean().item())


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_fill_a_smooth_image_well(name):
    # A linear ramp is the easiest possible hole: every diffusion method should get close to it.
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 48), indexing="ij")
    image = torch.stack([xx, yy, 0.5 * (xx + yy)])[None]
    mask = torch.zeros(1, 1, 48, 48)
    mask[..., 20:28, 20:28] = 1
    model = BASELINES[name]()
    pred = model(image * (1 - mask), mask)
    assert pred.shape == image.shape
    assert hole_l1(composite(pred, image, mask), image, mask).item() < 0.03
    # and much better than leaving the hole black
    assert hole_l1(composite(pred, image, mask), image, mask) < 0.2 * hole_l1(image * (1 - mask), image, mask)
