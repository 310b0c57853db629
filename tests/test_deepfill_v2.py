"""Chapter 10 (DeepFill v2): the gated convolution, gating vs partial convolution, SN-PatchGAN, the sketch."""
import math

import pytest
import torch
import torch.nn.functional as F

import inpaintlib
from inpaintlib.data.edges import canny_edges
from inpaintlib.data.photos import TEST_MASK_KINDS, load_test_masks, load_test_set
from inpaintlib.losses.terms import hinge_discriminator_loss, hinge_generator_loss
from inpaintlib.models.deepfill_v2 import (CONV_KINDS, DeepFillV2Generator, DeepFillV2Partial, DeepFillV2Recipe,
                                           DeepFillV2ResidualGate, SNPatchGANDiscriminator, sketch_keep_draw)
from inpaintlib.nn.gated_conv import GatedConv2d, pconv_mask_update
from inpaintlib.nn.partial_conv import PartialConv2d
from inpaintlib.registry import ABLATIONS, LEARNED_MODELS, RECIPES
from inpaintlib.training.engine import train

from training_helpers import (
    assert_fills_every_bucket_keeping_known_pixels, generator_losses_on_a_fixed_batch, shipped_generator,
)


@pytest.fixture(scope="module")
def small():
    """Two real test crops cut to 64 px, with free-form holes: the networks' smallest useful size."""
    x = load_test_set(n=2)[..., 32:96, 32:96].contiguous()
    m = load_test_masks("ff20-30")[:2, :, 32:96, 32:96].contiguous()
    return x, m


def test_gated_layer_splits_one_convolution_into_features_and_gates():
    torch.manual_seed(0)
    layer = GatedConv2d(5, 6, kernel_size=3, stride=2)
    assert layer.conv.out_channels == 12  # the reference's half-split: 2 x what the layer outputs
    x = torch.randn(2, 5, 16, 16)
    y, hole = layer(x)
    assert y.shape == (2, 6, 8, 8) and hole is None
    h = layer.conv(x)
    assert torch.allclose(y, F.elu(h[:, :6]) * torch.sigmoid(h[:, 6:]), atol=1e-6)  # features first, gates second
    layer.keep_gates = True
    layer(x)
    assert layer.last_gates.shape == (2, 6, 8, 8) and float(layer.last_gates.min()) > 0 < 1 > float(layer.last_gates.max())


def test_the_output_layer_is_not_gated_and_widths_follow_the_half_split():
    g = DeepFillV2Generator(32)
    last = list(g.coarse)[-1]
    assert not isinstance(last, GatedConv2d) and last.conv.out_channels == 3
    first = list(g.coarse)[0]
    assert first.in_channels == 6 and first.out_channels == 16  # image, sketch, ones, mask -> cnum / 2
    assert first.conv.out_channels == 32  # the reference's "cnum" is the convolution's width


def test_a_fixed_gate_computes_the_partial_convolution_mask_update():
    # input as DeepFill's: [X * (1 - H), ones, H]; the gate reads ones - hole, i.e. the known count S
    torch.manual_seed(1)
    x = torch.rand(1, 1, 13, 13)
    hole = torch.zeros(1, 1, 13, 13)
    hole[..., 4:9, 4:9] = 1  # a 5x5 hole: windows with S = 0 (its centre), 3 to 8 (rims, borders) and 9
    pconv = PartialConv2d(1, 1, 3)
    gated = GatedConv2d(3, 1, 3, activation=None)
    alpha = 40.0
    with torch.no_grad():
        gated.conv.weight.zero_()
        gated.conv.weight[0, 0] = pconv.weight[0, 0]  # features: W^T (X * M) + b
        gated.conv.bias[0] = pconv.bias[0]
        gated.conv.weight[1, 1] = alpha  # gate: sigmoid(alpha (S - 1/2)) = [S > 0]
        gated.conv.weight[1, 2] = -alpha
        gated.conv.bias[1] = -alpha / 2
        p_out, p_hole = pconv(x * (1 - hole), hole)
        g_out, g_hole = gated(torch.cat([x * (1 - hole), torch.ones_like(hole), hole], 1), hole)
    gate = torch.sigmoid(gated.conv(torch.cat([x * (1 - hole), torch.ones_like(hole), hole], 1))[:, 1:])
    assert torch.allclose(gate, 1 - p_hole, atol=1e-8)  # the learned-able gate equals the rule's update
    assert torch.equal(g_hole, p_hole)
    counts = F.conv2d(1 - hole, torch.ones(1, 1, 3, 3), padding=1)  # S, in-image known pixels per window
    full, empty = counts == 9, counts == 0
    assert full.any() and empty.any()
    assert torch.allclose(g_out[full], p_out[full], atol=1e-6)  # identical where the window is all known
    assert torch.equal(p_out[empty], torch.zeros_like(p_out[empty])) and float(g_out[empty].abs().max()) < 1e-6
    part = ~(full | empty)  # what a gate in (0, 1) cannot do: partial convolution's gain 9 / S > 1
    b = pconv.bias[0]
    assert torch.allclose(p_out[part] - b, (g_out[part] - b) * 9 / counts[part], atol=1e-5)


def test_gates_start_open_so_an_untrained_network_reads_its_input(small):
    # PyTorch's default initialisation: flipping the input changed the untrained coarse output by 6e-8
    assert torch.all(GatedConv2d(4, 8).conv.bias[8:] == 2.0) and torch.all(GatedConv2d(4, 8).conv.bias[:8] == 0)
    torch.manual_seed(0)
    g = DeepFillV2Generator(16).eval()
    x, m = small
    with torch.no_grad():
        c0, f0 = g.stages(x * (1 - m), m)
        c1, f1 = g.stages(x.flip(-1) * (1 - m), m)
    assert float((c1 - c0).abs().max()) > 0.01 and float((f1 - f0).abs().max()) > 0.01


def test_pconv_mask_update_shrinks_the_hole_by_one_radius():
    hole = torch.zeros(1, 1, 12, 12)
    hole[..., 3:9, 3:9] = 1
    after = pconv_mask_update(hole, 3)
    assert int(after.sum()) == 16 and torch.equal(after[..., 4:8, 4:8], torch.ones(1, 1, 4, 4))
    assert pconv_mask_update(hole, 3, stride=2).shape == (1, 1, 6, 6)


def test_residual_gate_starts_at_the_softened_partial_update():
    layer = GatedConv2d(2, 3, residual_gate=True)
    with torch.no_grad():
        layer.conv.weight.zero_()
        layer.conv.bias.zero_()
    layer.keep_gates = True
    hole = torch.zeros(1, 1, 10, 10)
    hole[..., 2:8, 2:8] = 1
    _, new_hole = layer(torch.randn(1, 2, 10, 10), hole)
    expected = torch.where(new_hole.bool(), torch.sigmoid(torch.tensor(-3.0)), torch.sigmoid(torch.tensor(3.0)))
    assert torch.allclose(layer.last_gates, expected.expand(1, 3, 10, 10))
    with pytest.raises(ValueError, match="needs the hole mask"):
        layer(torch.randn(1, 2, 10, 10))


def test_hinge_losses_on_a_worked_example():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    # real: relu(1 - r) = 0, 0.5, 2; fake: relu(1 + f) = 0, 1, 2.5
    assert math.isclose(float(hinge_discriminator_loss(real, fake)), (2.5 + 3.5) / 3, rel_tol=1e-6)
    assert math.isclose(float(hinge_generator_loss(fake)), 0.5 / 3, rel_tol=1e-6)  # -mean(-2, 0, 1.5)


def test_sn_patchgan_layers_and_unit_spectral_norm():
    torch.manual_seed(0)
    d = SNPatchGANDiscriminator(5)
    x, m = torch.rand(2, 3, 128, 128), torch.zeros(2, 1, 128, 128)
    for _ in range(30):  # power iterations run in training mode, one per call
        scores = d(x, m, m)
    assert scores.shape == (2, 256 * 2 * 2)
    convs = [layer[0] for layer in d.layers]
    assert [c.kernel_size for c in convs] == [(5, 5)] * 6 and [c.stride for c in convs] == [(2, 2)] * 6
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert abs(float(sigma) - 1.0) < 0.05
    with pytest.raises(ValueError, match="reads 5 channels"):
        d(x, m)
    with pytest.raises(ValueError, match="at least 64x64"):
        d(x[..., :32, :32], m[..., :32, :32], m[..., :32, :32])


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_every_variant_fills_with_known_pixels_unchanged(small, kind):
    torch.manual_seed(0)
    g = DeepFillV2Generator(16, conv=kind).eval()
    x, m = small
    with torch.no_grad():
        coarse, fine = g.stages(x * (1 - m), m)
        out = inpaintlib.inpaint(x, m, g)
    assert coarse.shape == fine.shape == (2, 3, 64, 64)
    assert float(fine.min()) >= 0 and float(fine.max()) <= 1
    assert torch.equal(out * (1 - m), x * (1 - m))
    if kind == "partial":
        assert not g.gated_layers() and any(isinstance(mod, PartialConv2d) for mod in g.modules())
    else:
        assert len(g.gated_layers()) == 40 and all(lyr.residual_gate == (kind == "residual_gate")
                                                            for _, lyr in g.gated_layers())


def test_the_sketch_changes_the_fill_inside_the_hole_only(small):
    torch.manual_seed(0)
    g = DeepFillV2Generator(16).eval()
    x, m = small
    lines = torch.zeros_like(m)
    lines[..., ::4, :] = 1  # horizontal lines every 4 rows, across hole and known pixels
    with torch.no_grad():
        none = g(x * (1 - m), m)
        drawn = g(x * (1 - m), m, lines)
        outside = g(x * (1 - m), m, lines * (1 - m))  # the same lines, but only where the pixels are known
    assert float((drawn - none).abs().max()) > 1e-5  # an untrained network: small, but there
    assert torch.equal(outside, none)  # only the sketch inside the hole is read
    with pytest.raises(ValueError, match="sketch"):
        g(x * (1 - m), m, lines[:, :, :32])
    with pytest.raises(ValueError, match="no sketch channel"):
        DeepFillV2Generator(16, sketch=False)(x * (1 - m), m, lines)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        g(x * (1 - m), m, 2 * lines)


def test_the_sketch_is_canny_in_the_hole_and_dropped_for_about_half(small):
    recipe = DeepFillV2Recipe()
    x, m = small
    sketch = recipe.prepare_batch(x, m)["sketch"]
    assert torch.equal(sketch * (1 - m), torch.zeros_like(sketch))
    masks = load_test_masks("ff10-20")  # (100, 1, 128, 128)
    keep = sketch_keep_draw(masks, 0.5)
    assert torch.equal(keep, sketch_keep_draw(masks.clone(), 0.5))  # the same masks, the same draw
    assert 30 <= int(keep.sum()) <= 70


def test_recipe_masks_are_free_form_with_a_box_and_the_loss_weights_are_the_references():
    recipe = DeepFillV2Recipe()
    masks = recipe.sample_masks(8, 128, 128, torch.Generator().manual_seed(0))
    ratios = masks.mean(dim=(1, 2, 3))
    assert float(ratios.min()) >= (3 / 8) ** 2 * 0.99  # at least the box
    assert recipe.weights == {"coarse_l1": 1.0, "fine_l1": 1.0, "adversarial": 1.0}
    assert recipe.settings.betas == (0.5, 0.999) and recipe.settings.lr_g == recipe.settings.lr_d == 1e-4


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(small):
    torch.manual_seed(0)
    recipe = DeepFillV2Recipe()
    recipe.cnum = 16
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    recipe.current_phase = "reconstruction"
    x, m = small
    losses = generator_losses_on_a_fixed_batch(recipe, nets, x, m, steps=6)
    assert losses[-1] < 0.8 * losses[0]


def test_smoke_training_of_the_three_recipes_runs_both_phases():
    for cls in (DeepFillV2Recipe, DeepFillV2Partial, DeepFillV2ResidualGate):
        recipe = cls()
        recipe.cnum = 8
        result = train(recipe, profile="smoke", out=False, progress=False, evaluate=False, steps=3, batch_size=2,
                       image_size=64, resize_schedule=())
        assert list(dict.fromkeys(result.history["phase"])) == ["reconstruction", "adversarial"]
        assert set(result.meta["flops_per_step"]) == {"reconstruction@64", "adversarial@64"}
    assert {"deepfill_v2", "deepfill_v2_partial", "deepfill_v2_residual_gate"} <= set(RECIPES)


def test_deepfill_v2_registered_and_shipped():
    assert "deepfill_v2" in LEARNED_MODELS
    assert {"deepfill_v2_partial", "deepfill_v2_residual_gate"} <= set(ABLATIONS)
    for name, kind in (("deepfill_v2", "gated"), ("deepfill_v2_partial", "partial"),
                       ("deepfill_v2_residual_gate", "residual_gate")):
        g = shipped_generator(name)  # fails (never skips) until shipped; under 4 MB, equal budget
        assert g.conv_kind == kind and g.use_sketch and g.use_attention


def test_shipped_deepfill_v2_fills_every_bucket_with_known_pixels_unchanged():
    # no sketch, and the true edges in the hole
    assert_fills_every_bucket_keeping_known_pixels(
        "deepfill_v2", lambda x, m: ({}, {"sketch": canny_edges(x) * m}))
    model, x = inpaintlib.load_pretrained("deepfill_v2"), load_test_set(n=2)
    for kind in TEST_MASK_KINDS:  # the sketch reaches the fill
        m = load_test_masks(kind, n=2)
        assert not torch.equal(inpaintlib.inpaint(x, m, model),
                               inpaintlib.inpaint(x, m, model, sketch=canny_edges(x) * m)), kind
