"""Chapter 6 (DeepFill v1): discounted weights, the two-stage generator, the WGAN-GP critics, the recipe."""
import math

import pytest
import torch

import inpaintlib
import inpaintlib.losses.terms
from inpaintlib.evaluation.compositing import mask_image
from inpaintlib.data.photos import load_test_masks, load_test_set
from inpaintlib.nn.discriminators import check_no_batchnorm
from inpaintlib.losses.pixel_weights import distance_to_known, spatial_discount
from inpaintlib.data.masks import center_square_mask
from inpaintlib.models.deepfill_v1 import (DeepFillV1Generator, DeepFillV1NoAttention, DeepFillV1Recipe,
                                           GlobalLocalCritics)
from inpaintlib.evaluation.plotting import offsets_to_rgb
from inpaintlib.registry import ABLATIONS, LEARNED_MODELS, RECIPES, checkpoint_path
from inpaintlib.training.engine import train

from training_helpers import generator_losses_on_a_fixed_batch, missing_checkpoint_message, shipped_generator


def test_distance_and_discount_at_known_distances():
    m = torch.zeros(1, 1, 9, 9)
    m[..., 2:7, 2:7] = 1  # a 5x5 hole: rings at distance 1, 2 and the centre at 3
    d = distance_to_known(m)[0, 0]
    assert d[4, 4] == 3 and d[3, 4] == 2 and d[2, 2] == 1 and d[2, 6] == 1 and d[0, 0] == 0
    w = spatial_discount(m, gamma=0.9)[0, 0]
    assert math.isclose(float(w[4, 4]), 0.9 ** 3, rel_tol=1e-6)
    assert math.isclose(float(w[3, 4]), 0.9 ** 2, rel_tol=1e-6) and float(w[0, 0]) == 0.0
    # the paper's gamma keeps the centre of a 64 px hole at 0.99^32, the code's at 0.9^32
    big = torch.zeros(1, 1, 128, 128)
    big[..., 32:96, 32:96] = 1
    assert math.isclose(float(spatial_discount(big, 0.99).max()), 0.99, rel_tol=1e-6)
    assert math.isclose(float(spatial_discount(big, 0.99)[0, 0, 63, 63]), 0.99 ** 32, rel_tol=1e-5)
    assert torch.isinf(distance_to_known(torch.ones(1, 1, 4, 4))).all()


def test_weights_reject_bad_masks():
    with pytest.raises(ValueError, match="binary"):
        spatial_discount(torch.full((1, 1, 4, 4), 0.5))
    with pytest.raises(ValueError, match="shape"):
        spatial_discount(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="gamma"):
        spatial_discount(torch.zeros(1, 1, 4, 4), gamma=1.5)


def test_generator_stages_shapes_range_and_size():
    g = DeepFillV1Generator()
    x = torch.rand(2, 3, 64, 64)
    m = center_square_mask(2, 64, 64)  # the 32x32 hole at 16:48
    with torch.no_grad():
        coarse, fine = g.stages(x * (1 - m), m)
    assert coarse.shape == fine.shape == (2, 3, 64, 64)
    assert float(fine.min()) >= 0 and float(fine.max()) <= 1
    assert g.attention.last.shape == (2, 8, 8, 8, 8)  # 1/4 resolution, matched at half of it
    n = sum(p.numel() for p in g.parameters())
    assert 2 * n < 4e6  # float16 checkpoint under 4 MB
    plain = DeepFillV1Generator(attention=False)
    assert not hasattr(plain, "attention") and sum(p.numel() for p in plain.parameters()) < n


def test_generator_answers_with_either_stage():
    g = DeepFillV1Generator().eval()
    x, m = torch.rand(1, 3, 64, 64), center_square_mask(1, 64, 64)
    with torch.no_grad():
        coarse, fine = g.stages(x * (1 - m), m)
        assert torch.equal(g(x * (1 - m), m, stage="coarse"), coarse)
        assert torch.equal(g(x * (1 - m), m), fine) and not torch.allclose(coarse, fine)
    with pytest.raises(ValueError, match="'coarse' or 'fine'"):
        g(x * (1 - m), m, stage="refine")


def test_critics_have_no_batchnorm_and_score_each_image():
    critics = check_no_batchnorm(GlobalLocalCritics(128, 64, c=8))
    x = torch.rand(3, 3, 128, 128)
    m = torch.zeros(3, 1, 128, 128)
    m[0, :, 0:40, 0:50] = 1
    m[1, :, 90:128, 70:128] = 1
    m[2, :, 40:80, 40:80] = 1
    s = critics(x, m)
    assert s["global"].shape == s["local"].shape == (3, 1)


def test_gradient_penalty_runs_in_fp32_under_bf16_autocast(monkeypatch):
    seen = []
    original = inpaintlib.losses.terms.gradient_penalty

    def spy(critic, real, fake, mask=None, alpha=None):
        seen.append((real.dtype, fake.dtype, torch.is_autocast_enabled("cpu")))
        return original(critic, real, fake, mask=mask, alpha=alpha)

    monkeypatch.setattr(inpaintlib.losses.terms, "gradient_penalty", spy)
    recipe = DeepFillV1Recipe()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    x = torch.rand(2, 3, 128, 128)
    m = recipe.sample_masks(2, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, parts = recipe.discriminator_loss(nets, x, m)
    assert seen and all(r == f == torch.float32 and not on for r, f, on in seen)
    assert math.isfinite(float(total.detach()))


def test_reconstruction_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    recipe = DeepFillV1Recipe()
    recipe.current_phase = "reconstruction"
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    x = load_test_set(n=2)[..., 32:96, 32:96]  # real crops: the known pixels can be learned
    m = torch.zeros(2, 1, 64, 64)
    m[..., 16:40, 20:44] = 1
    losses = generator_losses_on_a_fixed_batch(recipe, nets, x, m, steps=12)
    assert sum(losses[-4:]) / 4 < 0.8 * losses[0]  # measured: 1.43 -> 0.70


def test_recipes_registered_and_smoke_training_reaches_the_adversarial_phase():
    assert {"deepfill_v1", "deepfill_v1_no_attention"} <= set(RECIPES)
    assert DeepFillV1NoAttention().attention is False
    result = train(DeepFillV1Recipe(), profile="smoke", out=False, evaluate=False, progress=False)
    assert list(dict.fromkeys(result.history["phase"])) == ["reconstruction", "adversarial"]
    h = result.history  # the penalty is logged as NaN (not computed) exactly in the reconstruction steps
    assert all(math.isnan(v) == (ph == "reconstruction") and not math.isinf(v) for v, ph in zip(h["D/gp"], h["phase"]))


def test_offset_colours_white_at_zero_hue_by_direction_and_errors():
    off = torch.zeros(2, 1, 4)
    off[1, 0, 1] = 5  # right
    off[0, 0, 2] = -5  # up (y points down in images)
    off[1, 0, 3] = -5  # left
    rgb = offsets_to_rgb(off, max_length=5)
    assert rgb.shape == (1, 4, 3)
    assert rgb[0, 0].tolist() == [1.0, 1.0, 1.0]  # no offset: white
    assert rgb[0, 1].tolist() == pytest.approx([1.0, 0.0, 0.0])  # right: hue 0, red
    assert rgb[0, 3].tolist() == pytest.approx([0.0, 1.0, 1.0])  # left: hue 1/2, cyan
    assert not (rgb[0, 2] == rgb[0, 1]).all()
    with pytest.raises(ValueError, match="dy, dx"):
        offsets_to_rgb(torch.zeros(3, 4, 4))


def test_registered_and_shipped_with_and_without_attention():
    assert "deepfill_v1" in LEARNED_MODELS and "deepfill_v1_no_attention" in ABLATIONS
    for name, has_attention in (("deepfill_v1", True), ("deepfill_v1_no_attention", False)):
        assert shipped_generator(name).use_attention is has_attention


def test_shipped_deepfill_attends_only_to_known_cells():
    if not checkpoint_path("deepfill_v1").is_file():
        pytest.fail(missing_checkpoint_message("deepfill_v1"))
    g = inpaintlib.load_pretrained("deepfill_v1")
    x = load_test_set(n=3)
    m = load_test_masks("ff30-40", n=3)
    with torch.no_grad():
        g(mask_image(x, m), m)
    att = g.attention.last  # (3, 16, 16, 16, 16) at 128 px
    assert att.shape == (3, 16, 16, 16, 16)
    hole_cells = torch.nn.functional.max_pool2d(m, 8)[:, 0].bool()  # (3, 16, 16)
    on_hole = att.flatten(3)[hole_cells[:, None, None].expand(-1, 16, 16, -1, -1).flatten(3)]
    assert bool(hole_cells.any()) and float(on_hole.abs().max()) == 0.0  # hole cells get none
    sums = att.flatten(3).sum(3)
    assert torch.allclose(sums[sums > 0], torch.ones(()), atol=1e-3)
