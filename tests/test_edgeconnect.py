"""Chapter 9 (EdgeConnect): Canny from known pixels, feature matching, the two generators, the recipe."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import inpaintlib
from inpaintlib.data.edges import canny_edges, edge_precision_recall, to_greyscale
from inpaintlib.data.photos import load_test_masks, load_test_set
from inpaintlib.evaluation.architecture import trace_layers
from inpaintlib.losses.feature_matching import feature_matching_loss
from inpaintlib.models.edgeconnect import (EdgeConnect, EdgeConnectNoEdges, EdgeConnectRecipe,
                                           residual_block_units)
from inpaintlib.nn.discriminators import SpectralPatchDiscriminator
from inpaintlib.registry import ABLATIONS, LEARNED_MODELS, RECIPES, recipe_for
from inpaintlib.training.engine import train
from inpaintlib.training.schedules import value_at

from training_helpers import (assert_fills_every_bucket_keeping_known_pixels, generator_losses_on_a_fixed_batch,
                              shipped_generator)


@pytest.fixture(scope="module")
def crops():
    """Two real 128 px test crops and free-form holes of 20-30 %."""
    return load_test_set(n=2), load_test_masks("ff20-30")[:2]


def test_greyscale_and_canny_are_scikit_images(crops):
    from skimage.color import rgb2gray
    from skimage.feature import canny

    x, _ = crops
    rgb = x[0].permute(1, 2, 0).double().numpy()
    assert np.allclose(to_greyscale(x)[0, 0].double().numpy(), rgb2gray(rgb), atol=1e-6)
    ours = canny_edges(x)
    assert ours.shape == (2, 1, 128, 128) and ours.dtype == torch.float32
    assert set(ours.unique().tolist()) == {0.0, 1.0}
    assert np.array_equal(ours[0, 0].numpy(), canny(rgb2gray(rgb), sigma=2).astype(np.float32))


def test_known_pixel_edges_ignore_every_hole_pixel(crops):
    x, m = crops
    known = canny_edges(x, m)
    noisy = x * (1 - m) + torch.rand_like(x) * m  # other hole pixels, same known pixels
    assert torch.equal(canny_edges(noisy, m), known)
    assert torch.equal(canny_edges(x * (1 - m), m), known)  # the masked image (hole = 0) too
    rim = F.max_pool2d(m, 3, 1, 1)  # the hole and its one-pixel ring
    assert float((known * rim).sum()) == 0.0 and float(known.sum()) > 50
    full = canny_edges(x)
    # more than 12 px from the hole the smoothing (4 sigma = 8 px) is the same; only hysteresis, which
    # follows weak edges along their chain, can drop a weak edge whose link to a strong one ran near the hole
    far = F.max_pool2d(m, 25, 1, 12) == 0
    assert float((known[far] != full[far]).float().mean()) < 0.01  # measured: 0.24 %
    assert not torch.equal(known, full)


def test_edge_errors_and_precision_recall():
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="shape"):
        canny_edges(torch.rand(1, 2, 32, 32))
    with pytest.raises(ValueError, match="float"):
        canny_edges((x * 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        canny_edges(x * 255)
    with pytest.raises(ValueError, match="binary"):
        canny_edges(x, torch.full((1, 1, 32, 32), 0.5))
    with pytest.raises(ValueError, match="sigma"):
        canny_edges(x, sigma=0)
    m = torch.zeros(1, 1, 4, 4)
    m[..., :2, :] = 1
    pred, true = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    pred[0, 0, 0, :3] = 0.9  # 3 predicted edge pixels in the hole ...
    true[0, 0, 0, 1:] = 1.0  # ... 3 true ones, 2 shared
    pred[0, 0, 3, 3] = true[0, 0, 3, 2] = 1.0  # outside the hole: ignored
    precision, recall = edge_precision_recall(pred, true, m)
    assert precision.tolist() == pytest.approx([2 / 3]) and recall.tolist() == pytest.approx([2 / 3])
    empty = edge_precision_recall(torch.zeros_like(m), torch.zeros_like(m), m)
    assert [float(v) for v in empty] == [1.0, 1.0]


def test_feature_matching_against_a_hand_computation():
    fake = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2).requires_grad_(),
            torch.tensor([1.0, -1.0]).view(1, 2, 1, 1).requires_grad_()]
    real = [torch.tensor([[0.0, 2.0], [3.0, 8.0]]).view(1, 1, 2, 2).requires_grad_(),
            torch.tensor([0.5, 0.0]).view(1, 2, 1, 1).requires_grad_()]
    # layer 1: (|1-0| + 0 + 0 + |4-8|) / 4 = 1.25; layer 2: (0.5 + 1) / 2 = 0.75
    loss = feature_matching_loss(fake, real)
    assert float(loss) == pytest.approx(2.0)
    assert float(feature_matching_loss(fake, real, reduction="mean")) == pytest.approx(1.0)
    loss.backward()
    assert all(r.grad is None for r in real)  # the real activations are a fixed target
    assert fake[0].grad.flatten().tolist() == pytest.approx([0.25, 0.0, 0.0, -0.25])
    named = feature_matching_loss({"a": fake[0], "b": fake[1]}, {"a": real[0], "b": real[1]})
    assert float(named) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="match one to one"):
        feature_matching_loss(fake, real[:1])
    with pytest.raises(ValueError, match="shape"):
        feature_matching_loss(fake, [real[1], real[0]])
    with pytest.raises(ValueError, match="reduction"):
        feature_matching_loss(fake, real, reduction="max")


def test_spectral_patch_discriminator_layers_and_norms():
    torch.manual_seed(0)
    d = SpectralPatchDiscriminator(in_channels=2, width=0.5)
    x = torch.rand(3, 2, 128, 128)
    for _ in range(20):  # one power iteration per call in training mode: let the estimate converge
        logits, features = d(x)
    assert logits.shape == (3, 1, 14, 14) and d.patch_map_size(128) == 14
    assert [tuple(f.shape[1:]) for f in features] == [(32, 64, 64), (64, 32, 32), (128, 16, 16), (256, 15, 15),
                                                     (1, 14, 14)]
    assert features[-1] is logits
    for layer in d.layers:
        conv = layer[0]
        assert conv.bias is None
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, rel=0.05)  # divided by its largest singular value
    with pytest.raises(ValueError, match=r"\(B,2,H,W\)"):
        d(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="32x32"):
        d(torch.rand(1, 2, 16, 16))


def test_generators_shapes_ranges_and_checkpoint_size():
    torch.manual_seed(0)
    g = EdgeConnect()
    x = torch.rand(2, 3, 64, 64)
    m = torch.zeros(2, 1, 64, 64)
    m[..., 16:40, 20:44] = 1
    with torch.no_grad():
        out = g(x * (1 - m), m, output="all")
    assert out["image"].shape == (2, 3, 64, 64) and out["predicted_edges"].shape == (2, 1, 64, 64)
    assert 0 <= float(out["image"].min()) and float(out["image"].max()) <= 1
    assert 0 < float(out["predicted_edges"].min()) and float(out["predicted_edges"].max()) < 1  # a sigmoid
    assert torch.equal(out["edges"] * m, out["predicted_edges"] * m)  # C = C_pred M + C_known (1 - M)
    assert torch.equal(out["edges"] * (1 - m), out["known_edges"] * (1 - m))
    n = sum(p.numel() for p in g.parameters())
    assert 2 * n < 4e6  # float16 checkpoint under 4 MB
    plain = EdgeConnect(use_edges=False)
    assert not hasattr(plain, "edge_generator") and sum(p.numel() for p in plain.parameters()) < n / 1.9
    assert EdgeConnect(**g.config()).config() == g.config()


def test_inpaint_copies_the_known_pixels_and_ignores_the_hole(crops):
    x, m = crops
    g = EdgeConnect().eval()
    for model in (g, EdgeConnect(use_edges=False).eval()):
        out = inpaintlib.inpaint(x, m, model)
        assert torch.equal(out * (1 - m), x * (1 - m))
    noisy = x * (1 - m) + torch.rand_like(x) * m
    with torch.no_grad():  # nothing of the hole reaches either generator
        assert torch.equal(g(noisy, m), g(x * (1 - m), m))


def test_true_edges_option_replaces_the_predicted_hole_edges(crops):
    x, m = crops
    g = EdgeConnect().eval()
    true = canny_edges(x)

    def refuse(*_):
        raise AssertionError("the edge generator must not run when hole_edges are given")

    g.edge_generator.forward = refuse
    with torch.no_grad():
        out = g(x * (1 - m), m, hole_edges=true, output="all")
        other = g(x * (1 - m), m, hole_edges=torch.zeros_like(true))
    assert out["predicted_edges"] is None
    assert torch.equal(out["edges"], true * m + canny_edges(x, m) * (1 - m))
    assert not torch.allclose(out["image"], other)  # the inpainting generator reads the edges
    filled = inpaintlib.inpaint(x, m, g, hole_edges=true)
    assert torch.equal(filled * (1 - m), x * (1 - m))
    with pytest.raises(ValueError, match="hole_edges must have"):
        g(x * (1 - m), m, hole_edges=true[:, :, :64])
    with pytest.raises(ValueError, match="do not pass hole_edges"):
        g(x * (1 - m), m, hole_edges=true, output="edges")


def test_no_edges_ablation_sees_an_empty_edge_channel(crops):
    x, m = crops
    seen = {}

    def spy(name):
        def hook(_, inputs):
            seen[name] = inputs[0][:, 3:].clone()  # G2's edge channel
        return hook

    full, plain = EdgeConnect().eval(), EdgeConnect(use_edges=False).eval()
    full.inpaint_generator.register_forward_pre_hook(spy("full"))
    plain.inpaint_generator.register_forward_pre_hook(spy("plain"))
    with torch.no_grad():
        full(x * (1 - m), m)
        plain(x * (1 - m), m)
    assert float(seen["plain"].abs().max()) == 0.0 and seen["plain"].shape == (2, 1, 128, 128)
    assert float(seen["full"].sum()) > 50  # the known edges at least
    with pytest.raises(ValueError, match="no edge stage"):
        plain(x * (1 - m), m, hole_edges=canny_edges(x))
    recipe = EdgeConnectNoEdges()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    assert set(nets) == {"generator", "discriminator"} and not nets["generator"].use_edges
    assert [(p.name, p.fraction) for p in recipe.phases(recipe.settings, nets)] == [("inpaint", 1.0)]
    assert recipe.prepare_batch(x, m) == {}


def test_forward_refuses_bad_input():
    g = EdgeConnect()
    x, m = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        g(torch.rand(1, 4, 32, 32), m)
    with pytest.raises(ValueError, match="binary"):
        g(x, torch.full((1, 1, 32, 32), 0.5))
    with pytest.raises(ValueError, match=r"\(B,1,H,W\)"):
        g(x, torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="output"):
        g(x, m, output="colours")


def test_recipe_phases_updates_and_weights():
    recipe = EdgeConnectRecipe()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    assert set(nets) == {"generator", "discriminator", "edge_discriminator"}
    phases = recipe.phases(recipe.settings, nets)
    assert [p.name for p in phases] == ["edge", "inpaint", "joint"]
    assert math.isclose(sum(p.fraction for p in phases), 1.0)
    assert [u.net for u in phases[0].updates] == ["edge_discriminator", "generator"]
    assert all([u.net for u in p.updates] == ["discriminator", "generator"] for p in phases[1:])
    assert recipe.weights == {"edge_adversarial": 1.0, "feature_matching": 10.0, "l1": 1.0, "adversarial": 0.1,
                              "perceptual": 0.1, "style": 250.0}
    # the book's measured deviation: the other chapters' Adam, the reference's D/G ratio, and 64 px for
    # the first half of G2's FLOPs only (the edge phase, 0 to 0.15, at the test-time scale)
    assert recipe.settings.betas == (0.5, 0.999) and recipe.settings.lr_d == 0.1 * recipe.settings.lr_g
    sizes = {p: value_at(recipe.settings.resize_schedule, p, 128) for p in (0.0, 0.149, 0.15, 0.574, 0.575, 0.99)}
    assert sizes == {0.0: 128, 0.149: 128, 0.15: 64, 0.574: 64, 0.575: 128, 0.99: 128}
    assert EdgeConnectNoEdges.settings.resize_schedule == ((0.0, 64), (0.5, 128))
    recipe.current_phase = "adversarial"
    with pytest.raises(ValueError, match="no phase"):
        recipe.generator_loss(nets, torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32))


@pytest.mark.parametrize("phase", ["edge", "inpaint", "joint"])
def test_a_few_steps_of_each_phase_lower_its_loss(crops, phase):
    torch.manual_seed(0)
    recipe = EdgeConnectRecipe()
    recipe.current_phase = phase
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    x = crops[0][..., 32:96, 32:96]  # real 64 px crops
    m = torch.zeros(2, 1, 64, 64)
    m[..., 16:40, 20:44] = 1
    if phase == "joint":  # G1 frozen: its weights must not move
        before = [p.detach().clone() for p in nets["generator"].edge_generator.parameters()]
    losses = generator_losses_on_a_fixed_batch(recipe, nets, x, m, steps=8)
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0], losses
    if phase == "joint":
        assert all(torch.equal(a, b) for a, b in zip(before, nets["generator"].edge_generator.parameters()))


def test_smoke_training_visits_the_three_phases_and_counts_their_flops():
    result = train(EdgeConnectRecipe(), profile="smoke", out=False, evaluate=False, progress=False, image_size=64)
    h = result.history
    assert list(dict.fromkeys(h["phase"])) == ["edge", "inpaint", "joint"]
    for fm, style, bce, phase in zip(h["G/feature_matching"], h["G/style"], h["edge_discriminator/bce"], h["phase"]):
        assert math.isnan(fm) == (phase != "edge") and math.isnan(style) == (phase == "edge")
        assert math.isnan(bce) == (phase != "edge")
    flops = result.meta["flops_per_step"]
    # three steps at fractions 0, 1/3, 2/3 of the run: the inpaint step falls in the half-size stretch
    assert set(flops) == {"edge@64", "inpaint@32", "joint@64"}
    assert 0 < flops["edge@64"] < flops["joint@64"] and 3 * flops["inpaint@32"] < flops["joint@64"]


def test_residual_blocks_drawn_as_one_box_each():
    g = EdgeConnect(width=4, residual_blocks=3).eval()
    x, m = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    m[..., 8:20, 8:20] = 1
    raw = trace_layers(g, x * (1 - m), m)
    units = residual_block_units(raw)
    assert len(raw) - len(units) == 2 * 3  # one box instead of two, per block and generator
    assert sum(u.params for u in units) == sum(u.params for u in raw) == sum(p.numel() for p in g.parameters())
    blocks = [i for i, u in enumerate(units) if ".middle." in u.name]
    assert [units[i].name for i in blocks[:3]] == [f"edge_generator.middle.{k}" for k in range(3)]
    assert all(units[i].sources == [i - 1] and units[i].kind == "residual 3x3 d2" for i in blocks)
    assert all(units[b + 1].sources == [b] for b in (blocks[2], blocks[-1]))  # the decoders read the last block
    first_g2 = next(i for i, u in enumerate(units) if u.group == "inpaint_generator")
    assert units[first_g2].sources == [-1, first_g2 - 1]  # image and mask, and G1's edges


def test_both_recipes_are_registered_for_training():
    assert type(recipe_for("edgeconnect")) is EdgeConnectRecipe
    assert type(recipe_for("edgeconnect_no_edges")) is EdgeConnectNoEdges
    assert {"edgeconnect", "edgeconnect_no_edges"} <= set(RECIPES)


def test_registered_and_shipped():
    assert "edgeconnect" in LEARNED_MODELS and "edgeconnect_no_edges" in ABLATIONS
    assert {"edgeconnect", "edgeconnect_no_edges"} <= set(RECIPES)
    for name, use_edges in (("edgeconnect", True), ("edgeconnect_no_edges", False)):
        g = shipped_generator(name)  # fails (never skips) until shipped; under 4 MB, equal budget
        assert g.use_edges == use_edges and g.width == EdgeConnectRecipe.width


def test_shipped_edgeconnect_fills_every_bucket_with_known_pixels_unchanged():
    # its own edges, and the true ones
    assert_fills_every_bucket_keeping_known_pixels(
        "edgeconnect", lambda x, m: ({}, {"hole_edges": canny_edges(x)}))
