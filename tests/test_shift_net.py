"""Chapter 5 (Shift-Net): the shift-connection layer, its gradient, the guidance loss, the U-Net."""

import pytest
import torch

import inpaintlib
from inpaintlib.evaluation.compositing import mask_image
from inpaintlib.data.photos import load_test_masks, load_test_set
from inpaintlib.models.shift_net import ShiftNetGenerator, ShiftNetNoShift, ShiftNetRecipe
from inpaintlib.registry import ABLATIONS, LEARNED_MODELS, RECIPES, checkpoint_path
from inpaintlib.nn.shift import ShiftConnection, feature_mask, guidance_loss, shift_connection, shift_indices

from training_helpers import generator_losses_on_a_fixed_batch, missing_checkpoint_message, shipped_generator


def hand_made():
    """A 1x4 map with 2 channels: positions 0 and 1 known, 2 and 3 in the hole.

    Encoder features at the known positions point along (1, 0) and (0, 1); the decoder feature
    at hole position 2 points mostly along (0, 1), at hole position 3 along (1, 0.1): so 2
    copies from 1 and 3 copies from 0.
    """
    encoder = torch.tensor([[[[3.0, 0.0, 9.0, 9.0]], [[0.0, 2.0, 9.0, 9.0]]]])  # (1, 2, 1, 4)
    decoder = torch.tensor([[[[5.0, 5.0, 0.1, 1.0]], [[5.0, 5.0, 1.0, 0.1]]]])
    fmask = torch.tensor([[[[0.0, 0.0, 1.0, 1.0]]]])
    return decoder, encoder, fmask


def test_shift_on_a_hand_made_map_picks_the_known_answer():
    decoder, encoder, fmask = hand_made()
    idx = shift_indices(decoder, encoder, fmask)
    assert idx.tolist() == [[0, 1, 1, 0]]  # known positions keep their own index
    shifted, _ = shift_connection(decoder, encoder, fmask)
    # hole position 2 gets the encoder feature of position 1, position 3 that of position 0;
    # the hole's own encoder values (9) are never copied, known positions get zeros
    assert shifted[0, :, 0].tolist() == [[0.0, 0.0, 0.0, 3.0], [0.0, 0.0, 2.0, 0.0]]


def test_shift_connection_gradient_goes_to_the_copied_sources_only():
    decoder, encoder, fmask = hand_made()
    encoder = encoder.clone().requires_grad_(True)
    decoder = decoder.clone().requires_grad_(True)
    shifted, _ = shift_connection(decoder, encoder, fmask)
    weights = torch.arange(1.0, 9.0).view(1, 2, 1, 4)
    (shifted * weights).sum().backward()
    # d/d encoder[c, x] = sum over hole positions y copying x of weights[c, y]
    assert encoder.grad[0, :, 0].tolist() == [[4.0, 3.0, 0.0, 0.0], [8.0, 7.0, 0.0, 0.0]]
    assert decoder.grad is None or float(decoder.grad.abs().sum()) == 0.0  # the argmax has none


def test_shift_connection_passes_gradcheck():
    torch.manual_seed(0)
    dec = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    enc = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    fmask = torch.zeros(2, 1, 4, 5, dtype=torch.float64)
    fmask[0, :, 1:3, 1:4] = 1
    fmask[1, :, 2:, :2] = 1
    assert torch.autograd.gradcheck(lambda d, e: shift_connection(d, e, fmask)[0], (dec, enc))


def test_shift_layer_concatenates_decoder_encoder_shifted():
    decoder, encoder, _ = hand_made()
    mask = torch.zeros(1, 1, 8, 32)
    mask[..., 16:] = 1  # the right half: feature positions 2 and 3 of a 1x4 map
    layer = ShiftConnection()
    out = layer(decoder, encoder, mask)
    assert out.shape == (1, 6, 1, 4)
    assert torch.equal(out[:, :2], decoder) and torch.equal(out[:, 2:4], encoder)
    assert layer.last["indices"].tolist() == [[0, 1, 1, 0]]


def test_feature_mask_of_the_centre_hole():
    mask = torch.zeros(1, 1, 128, 128)
    mask[..., 32:96, 32:96] = 1
    f = feature_mask(mask, (16, 16))
    assert f.shape == (1, 1, 16, 16) and int(f.sum()) == 64 and int(f[0, 0, 4:12, 4:12].sum()) == 64
    with pytest.raises(ValueError, match=r"\(B,1,H,W\)"):
        feature_mask(mask[0], (16, 16))


def test_guidance_loss_is_zero_when_the_decoder_matches_the_ground_truth_in_the_hole():
    torch.manual_seed(0)
    target = torch.randn(2, 4, 8, 8)
    fmask = torch.zeros(2, 1, 8, 8)
    fmask[..., 2:6, 2:6] = 1
    decoder = target + 5 * (1 - fmask) * torch.randn(2, 4, 8, 8)  # differs outside the hole only
    assert float(guidance_loss(decoder, target, fmask)) == 0.0
    off = decoder + fmask  # +1 everywhere in the hole
    assert abs(float(guidance_loss(off, target, fmask)) - 1.0) < 1e-6
    with pytest.raises(ValueError, match="same shape"):
        guidance_loss(decoder[:, :2], target, fmask)


def test_generator_shapes_levels_and_known_pixels():
    g = ShiftNetGenerator().eval()
    x = torch.rand(2, 3, 128, 128)
    m = torch.zeros(2, 1, 128, 128)
    m[..., 40:90, 20:70] = 1
    with torch.no_grad():
        out, level = g(mask_image(x, m), m, return_features=True)
    assert out.shape == x.shape and level["decoder"].shape == (2, 96, 16, 16)
    assert g.level_target(x, m).shape == level["encoder"].shape
    assert sum(p.numel() for p in g.parameters()) * 2 < 4e6  # under 4 MB in float16
    res = inpaintlib.inpaint(x[:1, :, :100, :120], m[:1, :, :100, :120], g)  # padded to 128
    assert torch.equal(mask_image(res, m[:1, :, :100, :120]), mask_image(x[:1, :, :100, :120], m[:1, :, :100, :120]))
    plain = ShiftNetGenerator(shift=False)
    assert plain.shift is None and sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in g.parameters())
    with pytest.raises(ValueError, match="shift_level"):
        ShiftNetGenerator(shift_level=5)


def test_training_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    recipe = ShiftNetRecipe()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    x = torch.rand(4, 3, 128, 128)
    m = recipe.sample_masks(4, 128, 128, generator=None)
    losses = generator_losses_on_a_fixed_batch(recipe, nets, x, m, steps=20, term="l1")
    assert losses[-1] < 0.9 * losses[0] and sum(losses[-5:]) < sum(losses[:5])
    assert {"shift_net", "shift_net_no_shift"} <= set(RECIPES)
    assert ShiftNetNoShift().build_networks(recipe.settings_for("smoke"))["generator"].shift is None


def test_registered_and_shipped_with_and_without_the_shift():
    assert "shift_net" in LEARNED_MODELS and "shift_net_no_shift" in ABLATIONS
    assert {"shift_net", "shift_net_no_shift"} <= set(RECIPES)
    for name, has_shift in (("shift_net", True), ("shift_net_no_shift", False)):
        assert shipped_generator(name).use_shift is has_shift


def test_shipped_shift_net_copies_only_from_known_cells():
    if not checkpoint_path("shift_net").is_file():
        pytest.fail(missing_checkpoint_message("shift_net"))
    g = inpaintlib.load_pretrained("shift_net")
    x = load_test_set(n=3)
    m = load_test_masks("ff30-40", n=3)
    with torch.no_grad():
        g(mask_image(x, m), m)
    idx, fm = g.shift.last["indices"], g.shift.last["feature_mask"].flatten(1).bool()
    assert idx.shape == fm.shape == (3, 16 * 16)
    assert bool(fm.any()) and not bool(fm.gather(1, idx)[fm].any())  # sources are known cells
