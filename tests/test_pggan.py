"""Chapter 4 (PGGAN): residual blocks, interpolated convolutions, the two-headed discriminator, training."""

import pytest
import torch
from torch import nn

import inpaintlib
from inpaintlib.evaluation.compositing import mask_image
from inpaintlib.nn.discriminators import GlobalPatchDiscriminator, PatchDiscriminator
from inpaintlib.nn.layers import InterpolatedConv2d, ResidualBlock
from inpaintlib.models.pggan import BOOK_DILATIONS, PGGANGenerator, PGGANGlobalOnly, PGGANRecipe
from inpaintlib.evaluation.receptive_field import measured_receptive_field, receptive_field
from inpaintlib.registry import ABLATIONS, LEARNED_MODELS, RECIPES
from inpaintlib.training.engine import train
from inpaintlib.nn.upsampling import checkerboard_amplitude

from training_helpers import generator_losses_on_a_fixed_batch, shipped_generator


def test_generator_trunk_receptive_field_formula_matches_the_measurement():
    # 7x7, two 4x4 stride-2 (r = 16, j = 4), then every residual block adds 2 * 2d * 4 = 16 d
    net = PGGANGenerator(width=0.125)
    expected = 16 + 16 * sum(BOOK_DILATIONS)
    assert receptive_field(net.trunk) == (expected, 4.0) == (272, 4.0)
    for unit in (50, 51):  # an even and an odd unit of the 1/4-resolution map
        _, extent = measured_receptive_field(net.trunk, 400, in_channels=4, at=(unit, unit))
        assert extent == (expected, expected)
    plain = PGGANGenerator(width=0.125, dilations=(1,) * len(BOOK_DILATIONS))
    assert receptive_field(plain.trunk)[0] == 16 + 16 * len(BOOK_DILATIONS) == 96


def test_patch_head_judges_70_pixel_patches_and_its_map_shape():
    d = GlobalPatchDiscriminator(128, width=0.125).eval()
    patch_path = nn.Sequential(d.shared, d.patch_head)
    assert receptive_field(patch_path) == (70, 8.0)
    _, extent = measured_receptive_field(patch_path, 192, in_channels=3, at=(10, 10))
    assert extent == (70, 70)
    out = d(torch.rand(2, 3, 128, 128))
    assert out["global"].shape == (2, 1) and out["patch"].shape == (2, 1, 14, 14)
    assert d.patch_map_size() == 14 and d.patch_map_size(256) == 30
    # the PatchGAN alone is fully convolutional: any multiple of 32
    assert PatchDiscriminator(width=0.125)(torch.rand(1, 3, 96, 160)).shape == (1, 1, 10, 18)


def test_discriminator_rejects_bad_heads_and_sizes():
    with pytest.raises(ValueError, match="heads"):
        GlobalPatchDiscriminator(128, heads=("local",))
    with pytest.raises(ValueError, match="multiple of 32"):
        GlobalPatchDiscriminator(100)
    d = GlobalPatchDiscriminator(128, width=0.125)
    with pytest.raises(ValueError, match="global head expects 128x128"):
        d(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        d(torch.rand(1, 4, 128, 128))
    assert set(GlobalPatchDiscriminator(128, width=0.125, heads=("global",))(torch.rand(1, 3, 128, 128))) == {"global"}


def test_resize_convolution_keeps_a_flat_input_flat_and_a_transposed_one_need_not():
    torch.manual_seed(0)
    flat = torch.full((1, 4, 16, 16), 0.7)
    resize = InterpolatedConv2d(4, 3, 3, scale=2)
    with torch.no_grad():
        out = resize(flat)
    assert out.shape == (1, 3, 32, 32)
    inner = out[..., 2:-2, 2:-2]  # away from the zero padding
    assert float((inner - inner[..., :1, :1]).abs().max()) < 1e-6
    transposed = nn.ConvTranspose2d(4, 3, 4, 2, 1)
    with torch.no_grad():
        checker = transposed(flat)[..., 2:-2, 2:-2]
    assert float(checkerboard_amplitude(checker).max()) > 1e-3 > float(checkerboard_amplitude(inner).max())


def test_interpolated_convolution_back_keeps_size_and_covers_the_dilated_span():
    layer = InterpolatedConv2d(2, 2, 3, scale=1 / 4, back=True)
    x = torch.rand(1, 2, 32, 48)
    assert layer(x).shape == x.shape
    # one output unit depends on a contiguous block (no gridding) at least as wide as the
    # dilated kernel's 2 * 4 + 1 taps
    grad, (h, w) = measured_receptive_field(layer, 64, in_channels=2, at=(32, 32))
    assert h >= 9 and w >= 9
    rows = torch.nonzero(grad.sum(1) > 0).flatten()
    assert int(rows[-1] - rows[0] + 1) == rows.numel()  # no gaps
    dilated = nn.Conv2d(2, 2, 3, 1, 4, dilation=4)
    grad_d, (hd, _) = measured_receptive_field(dilated, 64, in_channels=2, at=(32, 32))
    assert hd == 9 and int((grad_d.sum(1) > 0).sum()) == 3  # 3 rows read, 4 px apart
    with pytest.raises(ValueError, match="scale"):
        InterpolatedConv2d(2, 2, scale=0)


def test_residual_block_is_the_identity_when_its_branch_is_zero():
    block = ResidualBlock(8, dilation=4).eval()
    nn.init.zeros_(block.residual[4].weight)  # the last normalisation's scale: F(x) = 0
    x = torch.randn(2, 8, 20, 20)
    assert torch.equal(block(x), x)
    assert ResidualBlock(8, dilation=2, kind="interpolated")(x).shape == x.shape
    with pytest.raises(ValueError, match="kind"):
        ResidualBlock(8, kind="atrous")


def test_generator_shapes_and_known_pixels_through_inpaint():
    g = PGGANGenerator(width=0.125).eval()
    x = torch.rand(2, 3, 96, 160)
    m = torch.zeros(2, 1, 96, 160)
    m[..., 30:60, 40:100] = 1
    with torch.no_grad():
        assert g(mask_image(x, m), m).shape == x.shape
    out = inpaintlib.inpaint(x, m, g)
    assert torch.equal(mask_image(out, m), mask_image(x, m))
    assert PGGANGenerator(width=0.125, upsample="transposed", block="interpolated")(x, m).shape == x.shape
    with pytest.raises(ValueError, match="upsample"):
        PGGANGenerator(upsample="pixelshuffle")


def test_the_loss_is_the_weighted_sum_of_three_named_terms():
    recipe = PGGANRecipe()
    settings = recipe.settings_for("smoke")
    nets = recipe.build_networks(settings)
    assert recipe.weights == {"reconstruction": 0.995, "global_adversarial": 0.0025, "patch_adversarial": 0.0025}
    x = torch.rand(2, 3, 128, 128)
    m = recipe.sample_masks(2, 128, 128, generator=0)
    recipe.current_phase = "adversarial"
    total, parts = recipe.generator_loss(nets, x, m)
    # each term computed here from the networks, not from the recipe's weights or parts
    pred = nets["generator"](x * (1 - m), m)
    out = nets["discriminator"](pred)
    rec = (pred - x).abs().mean()
    adv = {h: torch.nn.functional.softplus(-out[h]).mean() for h in ("global", "patch")}  # -log sigmoid
    expected = 0.995 * rec + 0.0025 * adv["global"] + 0.0025 * adv["patch"]
    assert abs(total.item() - expected.item()) < 1e-6
    assert parts["patch_adversarial"] == pytest.approx(adv["patch"].item(), abs=1e-6)
    recipe.current_phase = "reconstruction"
    total, parts = recipe.generator_loss(nets, x, m)
    assert parts["global_adversarial"] != parts["global_adversarial"]  # NaN: not computed
    assert abs(total.item() - 0.995 * parts["reconstruction"]) < 1e-7
    ablation = PGGANGlobalOnly()
    d = ablation.build_networks(settings)["discriminator"]
    assert d.heads == ("global",) and not hasattr(d, "patch_head")


def test_training_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    recipe = PGGANRecipe()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    nets["generator"].train()
    x = torch.rand(4, 3, 64, 64)
    m = recipe.sample_masks(4, 64, 64, generator=1)
    recipe.current_phase = "reconstruction"
    losses = generator_losses_on_a_fixed_batch(recipe, nets, x, m, steps=20)
    # a sigmoid output from DCGAN-initialised weights starts near grey and moves slowly: 20
    # Adam steps take more than 10 % off the whole-image L1
    assert losses[-1] < 0.9 * losses[0] and sum(losses[-5:]) < sum(losses[:5])


def test_recipe_trains_both_phases_in_order():
    result = train(PGGANRecipe(), profile="smoke", out=False, evaluate=False, progress=False)
    assert list(dict.fromkeys(result.history["phase"])) == ["reconstruction", "adversarial"]


def test_registered_and_shipped():
    assert "pggan" in LEARNED_MODELS and "pggan_global_only" in ABLATIONS
    assert {"pggan", "pggan_global_only"} <= set(RECIPES)
    for name in ("pggan", "pggan_global_only"):  # fails if missing; outputs pinned by test_fingerprints.py
        assert isinstance(shipped_generator(name), PGGANGenerator)  # cpu profile, < 4 MB, not constant


def test_evaluation_cache_tells_a_model_from_its_ablation():
    # the two runs finish side by side: same name, config and save time, different weights
    from inpaintlib.evaluation.fixed_test_set import _cache_file

    a, b = PGGANGenerator(width=0.125), PGGANGenerator(width=0.125)
    meta = {"saved_at": "2026-11-26T07:58:31+00:00"}
    a.checkpoint_meta = b.checkpoint_meta = meta
    assert _cache_file(a, "center", 4) != _cache_file(b, "center", 4)
    b.load_state_dict(a.state_dict())
    assert _cache_file(a, "center", 4) == _cache_file(b, "center", 4)


def test_a_log_window_across_the_phase_boundary_averages_the_steps_that_computed_a_term():
    # 6 steps, logs every 2: the reconstruction -> adversarial boundary (45 %) falls inside a window
    result = train(PGGANRecipe(), profile="smoke", out=False, evaluate=False, progress=False,
                   steps=6, log_every=2)
    phase = result.history["phase"]
    adv = result.history["G/patch_adversarial"]
    assert phase == ["reconstruction", "adversarial", "adversarial"]
    assert adv[0] != adv[0]  # NaN: not computed in the reconstruction phase
    assert all(v == v for v in adv[1:])  # the mixed window is the mean of its adversarial step
