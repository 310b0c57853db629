"""Compositing, metrics and the classical baselines (Chapter 0)."""
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintlib.evaluation.baselines import BASELINES
from inpaintlib.evaluation.compositing import composite, mask_image
from inpaintlib.evaluation.metrics import hole_l1, hole_l2, hole_psnr, inpainting_metrics, psnr, ssim


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


def test_ssim_matches_scikit_image_with_the_same_window_and_border():
    # The book's SSIM (torchmetrics): Gaussian window sigma 1.5 truncated at 3.5 sigma (11 taps),
    # K1 0.01, K2 0.03, data range 1, population (not sample) covariances, the mean over the RGB
    # channels and every pixel. skimage with gaussian_weights=True, sigma=1.5,
    # use_sample_covariance=False, data_range=1, channel_axis=0 computes the same map, but averages
    # only the interior (5 px from each border), while torchmetrics pads by 5 px by whole-sample
    # reflection (numpy's and torch's "reflect") and averages every pixel: on unpadded images the
    # two differ by ~1e-3. Given the image padded the torchmetrics way, skimage's interior is
    # exactly torchmetrics' full map.
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 20, 24, generator=g)
    output = (target + 0.2 * torch.rand(target.shape, generator=g)).clamp(0, 1)
    ours = ssim(output, target)
    for i in range(2):
        pad = ((0, 0), (5, 5), (5, 5))
        ref = structural_similarity(
            np.pad(output[i].double().numpy(), pad, mode="reflect"),
            np.pad(target[i].double().numpy(), pad, mode="reflect"),
            gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
            channel_axis=0, K1=0.01, K2=0.03)
        assert ours[i].item() == pytest.approx(ref, abs=1e-4)


def _two_pixel_hole():
    """A 1x3x4x4 grey target, a hole of 2 pixels and a composited output with known errors there."""
    target = torch.full((1, 3, 4, 4), 0.5)
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 0, 1] = mask[0, 0, 2, 3] = 1
    prediction = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))  # junk outside
    prediction[0, :, 0, 1] = torch.tensor([0.7, 0.5, 0.2])  # errors +0.2, 0, -0.3
    prediction[0, :, 2, 3] = torch.tensor([0.5, 0.9, 0.5])  # errors 0, +0.4, 0
    return composite(prediction, target, mask), target, mask


def test_hole_l1_l2_and_psnr_of_a_two_pixel_hole_by_hand():
    output, target, mask = _two_pixel_hole()
    # 2 hole pixels x 3 channels = 6 values; the 14 known pixels are copied (error 0)
    assert hole_l1(output, target, mask).item() == pytest.approx((0.2 + 0 + 0.3 + 0 + 0.4 + 0) / 6, rel=1e-5)
    assert hole_l2(output, target, mask).item() == pytest.approx((0.04 + 0 + 0.09 + 0 + 0.16 + 0) / 6,
                                                                 rel=1e-5)
    # PSNR over the whole image: the same squared errors over 16 pixels x 3 channels = 48 values
    assert psnr(output, target).item() == pytest.approx(10 * math.log10(48 / 0.29), rel=1e-5)
    # the paper's hole PSNR, and psnr = hole_psnr - 10 log10(hole fraction 2/16)
    assert hole_psnr(output, target, mask).item() == pytest.approx(10 * math.log10(6 / 0.29), rel=1e-5)
    assert psnr(output, target).item() == pytest.approx(
        hole_psnr(output, target, mask).item() - 10 * math.log10(2 / 16), rel=1e-5)


def test_psnr_matches_scikit_image_on_composited_images():
    g = torch.Generator().manual_seed(2)
    target = torch.rand(3, 3, 16, 16, generator=g)
    mask = torch.zeros(3, 1, 16, 16)
    mask[..., 4:12, 3:9] = 1
    output = composite(torch.rand(target.shape, generator=g), target, mask)
    ours = psnr(output, target)
    for i in range(3):
        ref = peak_signal_noise_ratio(target[i].double().numpy(), output[i].double().numpy(), data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-4)
