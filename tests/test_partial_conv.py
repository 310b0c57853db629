"""Chapter 8 (Partial Convolutions): the layer, its polarity adapter, the mask update, the U-Net, the recipe."""
import math

import pytest
import torch
import torch.nn.functional as F

import inpaintlib
from inpaintlib.data.masks import center_square_mask, hole_to_valid, valid_to_hole
from inpaintlib.data.photos import load_test_masks, load_test_set
from inpaintlib.losses.feature_scale import TORCHVISION_INPUT_SCALE
from inpaintlib.models.partial_conv import PConvPlainConv, PConvRecipe, PConvSoftUpdate, PConvUNet
from inpaintlib.registry import ABLATIONS, LEARNED_MODELS, RECIPES, recipe_for
from inpaintlib.nn.partial_conv import PartialConv2d, PartialConvBlock, PlainConvBlock, mask_window_sum
from inpaintlib.training.engine import train

from training_helpers import (assert_fills_every_bucket_keeping_known_pixels, generator_losses_on_a_fixed_batch,
                              shipped_generator)


def _square_hole(size: int, top: int, side: int) -> torch.Tensor:
    hole = torch.zeros(1, 1, size, size)
    hole[..., top:top + side, top:top + side] = 1
    return hole


def reference_partial_conv(x, valid, weight, bias, padding):
    """The paper's formula in its own polarity (valid = 1), written out window by window."""
    k = weight.shape[-1]
    cols = F.unfold(x, k, padding=padding)  # (B, C*k*k, L)
    m = F.unfold(valid.expand_as(x), k, padding=padding)
    m1 = F.unfold(valid, k, padding=padding).sum(1, keepdim=True)  # sum(M) of the 1-channel mask
    raw = weight.flatten(1) @ (cols * m)  # W^T (X . M): (B, C_out, L)
    out = torch.where(m1 > 0, raw * (k * k) / m1.clamp_min(1) + bias.view(1, -1, 1), torch.zeros(()))
    side = x.shape[-1] + 2 * padding - k + 1
    return out.reshape(x.shape[0], -1, side, side), (m1 > 0).float().reshape(x.shape[0], 1, side, side)


@pytest.mark.parametrize("known", range(0, 10))
def test_a_3x3_window_with_k_known_pixels_is_scaled_by_9_over_k(known):
    layer = PartialConv2d(1, 1, 3, padding=0)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.fill_(0.5)
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    hole = torch.ones(1, 1, 3, 3)
    hole.view(-1)[:known] = 0  # the first k pixels known
    with torch.no_grad():
        out, new_hole = layer(x, hole)
    assert float(mask_window_sum(hole_to_valid(hole), 3)) == known
    if known == 0:  # no known pixel: output 0 (the bias too) and the position stays a hole
        assert float(out) == 0.0 and float(new_hole) == 1.0
    else:
        seen = float(x.view(-1)[:known].sum())  # W^T (X . M) with W = 1: the known values only
        assert math.isclose(float(out) - 0.5, seen * 9 / known, rel_tol=1e-6)
        assert float(new_hole) == 0.0


def test_polarity_adapter_hole_in_valid_inside_matches_the_papers_formula():
    torch.manual_seed(0)
    layer = PartialConv2d(2, 3, 3)
    x = torch.randn(2, 2, 8, 8)
    valid = (torch.rand(2, 1, 8, 8) > 0.6).float()  # the paper's polarity
    valid[0, :, :4, :4] = 0  # a window with no known pixel at all
    out, new_hole = layer(x, valid_to_hole(valid))  # the book's interface: 1 = hole
    ref_out, ref_valid = reference_partial_conv(x, valid, layer.weight.detach(), layer.bias.detach(), 1)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    assert torch.equal(new_hole, valid_to_hole(ref_valid))
    assert float(new_hole[0, 0, 1, 1]) == 1.0 and float(out[0, :, 1, 1].abs().sum()) == 0.0
    # the reversed polarity reads the hole and ignores the known pixels: a different result
    wrong, _ = layer(x, valid)
    assert not torch.allclose(wrong, out)
    # whatever the hole holds is never read
    noisy = x + 100 * valid_to_hole(valid) * torch.randn_like(x)
    torch.testing.assert_close(layer(noisy, valid_to_hole(valid))[0], out)


@pytest.mark.parametrize("kernel, sides", [(3, [7, 5, 3, 1, 0]), (5, [5, 1, 0])])
def test_hole_shrinks_by_one_kernel_radius_per_layer_and_closes(kernel, sides):
    layer = PartialConv2d(1, 1, kernel)  # stride 1, "same" padding
    x, hole = torch.rand(1, 1, 21, 21), _square_hole(21, 6, 9)  # a 9x9 hole
    seen = []
    for _ in sides:
        x, hole = layer(x, hole)
        rows = hole[0, 0].amax(dim=1).nonzero()
        seen.append(int(rows.numel()))
        if rows.numel():  # still a centred square
            assert int(hole.sum()) == seen[-1] ** 2 and int(rows[0]) == 6 + (9 - seen[-1]) // 2
    assert seen == sides  # 9 - 2 * radius per layer; closed at layer len(sides)


def test_unet_encoder_closes_a_centred_64px_hole_at_level_5():
    g = PConvUNet()
    x = torch.rand(1, 3, 128, 128)
    m = center_square_mask(1, 128, 128)  # 64x64 at 32:96
    holes = g.encoder_holes(x * (1 - m), m)
    assert [h.shape[-1] for h in holes] == [64, 32, 16, 8, 4, 2]
    # by hand: level i keeps output j iff its whole window lies in the hole:
    # k7 s2: 18..46 (29), k5 s2: 10..22 (13), k5 s2: 6..10 (5), k3 s2: 4..4 (1), then closed
    sides = [int(h[0, 0].amax(dim=1).sum()) for h in holes]
    assert sides == [29, 13, 5, 1, 0, 0]
    assert float(holes[0][0, 0, 18, 18]) == 1.0 and float(holes[0][0, 0, 17, 18]) == 0.0
    # the decoder's masks are all known: the hole closed in the encoder
    assert all(float(h.max()) == 0.0 for h in g.run(x * (1 - m), m)["decoder_holes"])


def test_encoder_masks_are_the_max_pooled_valid_mask_on_free_form_holes():
    """Chapter 8 predicts every encoder level's hole without running a layer: a position stays a
    hole iff no known pixel lies in its window, i.e. max pooling of the valid mask (zero padding
    and max pooling's -inf padding both count the outside as not known)."""
    g = PConvUNet()
    x, m = load_test_set(n=4), load_test_masks("ff40-50", n=4)
    holes = g.encoder_holes(x * (1 - m), m)
    valid = hole_to_valid(m)
    for k, hole in zip(g.kernels, holes):
        valid = F.max_pool2d(valid, k, stride=2, padding=(k - 1) // 2)
        assert torch.equal(hole, valid_to_hole(valid))
    assert float(holes[0].sum()) > 0 and float(holes[-1].max()) == 0.0  # open at first, closed at last


def test_soft_update_normaliser_keeps_a_hole_free_image_at_confidence_one():
    """The soft update divides by the window's in-image positions: without a hole the mask stays 1
    at every level. Dividing by the window size instead would count the padding as missing."""
    g = PConvUNet(mask_update="soft")
    holes = g.encoder_holes(torch.rand(1, 3, 128, 128), torch.zeros(1, 1, 128, 128))
    assert all(float(h.abs().max()) == 0.0 for h in holes)
    valid = torch.ones(1, 1, 128, 128)
    for k in g.kernels:  # the window-size normaliser, for comparison
        valid = F.conv2d(valid, torch.ones(1, 1, k, k), stride=2, padding=(k - 1) // 2) / k**2
    assert float(valid.max()) < 1.0


def test_unet_output_shape_and_inpaint_copies_known_pixels():
    torch.manual_seed(0)
    g = PConvUNet().eval()
    assert 2 * sum(p.numel() for p in g.parameters()) < 4e6  # float16 file under 4 MB
    x = load_test_set(n=2)
    m = torch.zeros(2, 1, 128, 128)
    m[0, :, 20:60, 30:90] = 1
    m[1, :, 70:110, 10:50] = 1
    with torch.no_grad():
        out = g(x * (1 - m), m)
    assert out.shape == (2, 3, 128, 128) and float(out.min()) >= 0 and float(out.max()) <= 1
    filled = inpaintlib.inpaint(x[:, :, :100, :120], m[:, :, :100, :120], model=g)  # padded to 128
    assert filled.shape == (2, 3, 100, 120)
    known = m[:, :, :100, :120] == 0
    assert torch.equal(filled.masked_select(known), x[:, :, :100, :120].masked_select(known))


def test_errors_on_bad_masks_and_sizes():
    layer = PartialConv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="binary"):
        layer(x, torch.full((1, 1, 8, 8), 0.5))
    with pytest.raises(ValueError, match="floating-point"):
        layer(x, torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="does not fit"):
        layer(x, torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="does not fit"):
        layer(x, torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="update"):
        PartialConv2d(3, 4, 3, update="fuzzy")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PartialConv2d(3, 4, 3, update="soft")(x, torch.full((1, 1, 8, 8), 1.5))
    g = PConvUNet()
    with pytest.raises(ValueError, match="binary"):
        g(torch.rand(1, 3, 64, 64), torch.full((1, 1, 64, 64), 0.5))
    with pytest.raises(ValueError, match="divisible by 64"):
        g(torch.rand(1, 3, 96, 96), torch.zeros(1, 1, 96, 96))
    with pytest.raises(ValueError, match="nn.Conv2d"):
        PlainConvBlock(PartialConv2d(3, 4, 3))
    with pytest.raises(ValueError, match="partial"):
        PConvUNet(partial=False, mask_update="soft")


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    recipe = PConvRecipe()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    x = load_test_set(n=2)[..., 32:96, 32:96]  # real crops, 64 px (the U-Net's smallest size)
    m = torch.zeros(2, 1, 64, 64)
    m[0, :, 10:40, 12:30] = 1
    m[1, :, 30:50, 20:56] = 1
    losses = generator_losses_on_a_fixed_batch(recipe, nets, x, m, steps=10)
    assert sum(losses[-3:]) / 3 < 0.7 * losses[0]


def test_loss_terms_use_the_papers_weights_and_normalisers():
    recipe = PConvRecipe()
    recipe.build_networks(recipe.settings_for("smoke"))
    assert recipe.loss.weights == {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style_out": 120.0,
                                   "style_comp": 120.0, "tv": 0.1}
    torch.manual_seed(0)
    x, out = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    m = _square_hole(64, 16, 16)
    terms = recipe.loss_terms(x, m, out)
    # size-averaged: divided by all B*C*H*W elements, not by the hole's
    assert math.isclose(float(terms["hole"]), float(((out - x).abs() * m).sum() / x.numel()), rel_tol=1e-5)
    # the output outside the hole does not enter the composite's terms
    out2 = out * m + torch.rand_like(out) * (1 - m)
    terms2 = recipe.loss_terms(x, m, out2)
    for name in ("style_comp", "tv"):
        assert math.isclose(float(terms[name]), float(terms2[name]), rel_tol=1e-4)
    assert not math.isclose(float(terms["style_out"]), float(terms2["style_out"]), rel_tol=1e-3)


def test_fine_tuning_freezes_the_encoder_batchnorm_and_lowers_the_lr():
    torch.manual_seed(0)
    recipe = PConvRecipe()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    g = nets["generator"].train()
    opt = {"generator": torch.optim.Adam(g.parameters(), lr=2e-4)}
    phases = recipe.phases(recipe.settings_for("smoke"), nets)
    assert [p.name for p in phases] == ["reconstruction", "fine_tune"]
    assert [p.fraction for p in phases] == [0.8, 0.2]
    phases[1].on_start(recipe, nets, opt)
    phases[1].on_start(recipe, nets, opt)  # again, as after a resume: the same state
    assert all(group["lr"] == 5e-5 for group in opt["generator"].param_groups)
    enc_bn = [mod for mod in g.encoder.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    dec_bn = [mod for mod in g.decoder.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    before = [(b.running_mean.clone(), b.running_var.clone(), b.weight.detach().clone()) for b in enc_bn]
    dec_before = dec_bn[0].running_mean.clone()
    g.train()  # train() must not unfreeze them
    x = load_test_set(n=2)[..., :64, :64]
    m = _square_hole(64, 20, 20).expand(2, -1, -1, -1).contiguous()
    for _ in range(2):
        total, _ = recipe.generator_loss(nets, x, m)
        opt["generator"].zero_grad()
        total.backward()
        opt["generator"].step()
    assert all(not b.training and not b.weight.requires_grad for b in enc_bn)
    for b, (mean, var, weight) in zip(enc_bn, before):
        assert torch.equal(b.running_mean, mean) and torch.equal(b.running_var, var) and torch.equal(b.weight, weight)
    assert dec_bn[0].training and not torch.equal(dec_bn[0].running_mean, dec_before)  # the decoder learns on


def test_smoke_training_runs_both_phases_and_counts_flops():
    # 64 px throughout (the recipe's 64 px first half would scale to 32 px, below the U-Net's 64)
    result = train(PConvRecipe(), profile="smoke", out=False, evaluate=False, progress=False, image_size=64,
                   resize_schedule=())
    assert list(dict.fromkeys(result.history["phase"])) == ["reconstruction", "fine_tune"]
    assert result.generator.encoder_batchnorm_frozen
    counted = result.meta["flops_per_step"]
    assert set(counted) == {"reconstruction@64", "fine_tune@64"} and all(v > 1e9 for v in counted.values())


def test_plain_conv_variant_reads_the_mask_as_a_channel():
    plain, partial = PConvUNet(partial=False), PConvUNet()
    assert not any(isinstance(mod, PartialConv2d) for mod in plain.modules())
    assert all(isinstance(b, PlainConvBlock) for b in plain.encoder) and plain.encoder[0][0].in_channels == 4
    assert all(isinstance(b, PartialConvBlock) for b in partial.encoder) and partial.encoder[0][0].in_channels == 3
    assert PConvPlainConv().partial is False and PConvPlainConv.model_name == "pconv_plain_conv"
    assert PConvPlainConv.weights == PConvRecipe.weights
    torch.manual_seed(0)
    plain.eval()
    x = torch.rand(1, 3, 64, 64)
    m1, m2 = _square_hole(64, 10, 20), _square_hole(64, 10, 20)
    m2[..., 40:44, 40:44] = 1  # a little more hole, the image (already blank there) unchanged
    x1 = x * (1 - m2)
    with torch.no_grad():
        assert not torch.allclose(plain(x1, m1), plain(x1, m2))


def test_soft_update_passes_on_the_share_of_known_pixels():
    soft, binary = PartialConv2d(1, 1, 3, update="soft"), PartialConv2d(1, 1, 3)
    binary.load_state_dict(soft.state_dict())
    x, hole = torch.rand(1, 1, 7, 7), _square_hole(7, 2, 3)  # a 3x3 hole (rows and columns 2-4)
    out_s, hole_s = soft(x, hole)
    out_b, hole_b = binary(x, hole)
    torch.testing.assert_close(out_s, out_b)  # the same output: only the mask passed on differs
    known = hole_to_valid(hole_s)[0, 0]
    assert float(known[3, 3]) == 0.0  # saw no known pixel
    assert math.isclose(float(known[2, 3]), 3 / 9, rel_tol=1e-6)  # the hole's top edge: 3 known of 9
    assert math.isclose(float(known[1, 1]), 8 / 9, rel_tol=1e-6)  # one hole pixel in the window
    assert float(known[0, 0]) == 1.0  # the corner: 4 in-image positions, all known (not 4/9)
    assert torch.equal(known > 0, hole_to_valid(hole_b)[0, 0] > 0)  # support = the binary update's
    g = PConvUNet(mask_update="soft").eval()
    assert PConvSoftUpdate().mask_update == "soft" and PConvSoftUpdate.model_name == "pconv_soft_update"
    empty = torch.zeros(1, 1, 64, 64)
    assert all(float(h.abs().max()) == 0.0 for h in g.encoder_holes(torch.rand(1, 3, 64, 64), empty))
    m = _square_hole(64, 16, 32)
    holes = g.encoder_holes(torch.rand(1, 3, 64, 64) * (1 - m), m)
    assert any(((h > 0) & (h < 1)).any() for h in holes)


def _recipe_and_an_untrained_fill():
    """A fresh PConv recipe, two test crops with 20-30 % holes and its untrained network's output."""
    recipe = PConvRecipe()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    x, m = load_test_set(n=2), load_test_masks("ff20-30", n=2)
    with torch.no_grad():
        out = nets["generator"](x * (1 - m), m)
    return recipe, x, m, out


def test_vgg_features_are_divided_by_the_input_scale_before_both_vgg_terms():
    recipe, x, m, out = _recipe_and_an_untrained_fill()
    with torch.no_grad():
        scaled = recipe.loss_terms(x, m, out)
        recipe.vgg_input_scale = 1.0  # the raw features
        raw = recipe.loss_terms(x, m, out)
    s = TORCHVISION_INPUT_SCALE
    assert 57 < s < 58
    assert math.isclose(float(raw["perceptual"]) / s, float(scaled["perceptual"]), rel_tol=1e-4)
    for term in ("style_out", "style_comp"):  # a Gram matrix scales with the square
        assert math.isclose(float(raw[term]) / s**2, float(scaled[term]), rel_tol=1e-3)
    assert all(float(raw[k]) == float(scaled[k]) for k in ("valid", "hole", "tv"))


def test_the_vgg_terms_follow_the_trainings_bf16_and_stay_float32():
    # loss_network_forward: the frozen VGG in bfloat16 when training is (half of a step's time),
    # its features and the terms float32, within 2 % of the float32 terms on a real batch
    recipe, x, m, out = _recipe_and_an_untrained_fill()
    with torch.no_grad():
        assert recipe.precision == "fp32"  # the default, until train() sets it
        ref = recipe.loss_terms(x, m, out)
        recipe.precision = "bf16"
        low = recipe.loss_terms(x, m, out)
        features = recipe.features(x)
    assert all(f.dtype == torch.float32 for f in features.values())
    for term in ("perceptual", "style_out", "style_comp"):
        assert low[term].dtype == torch.float32
        assert float(low[term]) != float(ref[term])  # the VGG really ran in bfloat16
        assert math.isclose(float(low[term]), float(ref[term]), rel_tol=2e-2), term
    trained = PConvRecipe()
    result = train(trained, profile="smoke", out=False, progress=False, evaluate=False, steps=1,
                   batch_size=2, image_size=64, resize_schedule=(), precision="bf16")
    assert result.meta["precision"] == trained.precision == "bf16"  # train() told the recipe


def test_the_three_recipes_are_registered_for_training():
    assert [type(recipe_for(n)) for n in ("pconv", "pconv_plain_conv", "pconv_soft_update")] == [
        PConvRecipe, PConvPlainConv, PConvSoftUpdate]


def test_pconv_registered_and_shipped():
    assert "pconv" in LEARNED_MODELS and {"pconv_plain_conv", "pconv_soft_update"} <= set(ABLATIONS)
    for name, partial, update in (("pconv", True, "binary"), ("pconv_plain_conv", False, "binary"),
                                  ("pconv_soft_update", True, "soft")):
        g = shipped_generator(name)  # fails (never skips) until shipped; under 4 MB, equal budget
        assert g.partial == partial and g.mask_update == update and g.width == PConvRecipe.width


def test_shipped_pconv_fills_every_bucket_with_known_pixels_unchanged():
    for name in ("pconv", "pconv_plain_conv", "pconv_soft_update"):
        assert_fills_every_bucket_keeping_known_pixels(name, lambda x, m: ({},))
