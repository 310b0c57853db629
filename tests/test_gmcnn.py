"""Chapter 7 (GMCNN): ID-MRF, confidence-driven weights, the multi-column generator, the recipe."""
import math

import pytest
import torch
import torch.nn.functional as F

import inpaintlib
from inpaintlib.evaluation.compositing import mask_image
from inpaintlib.data.photos import load_test_masks, load_test_set
from inpaintlib.losses.id_mrf import id_mrf_loss, relative_similarity
from inpaintlib.losses.pixel_weights import confidence_weights, gaussian_kernel_like_reference, spatial_discount
from inpaintlib.data.masks import center_square_mask
from inpaintlib.models.gmcnn import GMCNNGenerator, GMCNNNoMRF, GMCNNRecipe
from inpaintlib.losses.patches import patch_match_loss
from inpaintlib.registry import ABLATIONS, LEARNED_MODELS, RECIPES, checkpoint_path
from inpaintlib.training.engine import train
from training_helpers import missing_checkpoint_message, shipped_generator


def one_hot_patches(n=16):
    """A target of ``n`` distinct 1x1 patches: one-hot feature vectors on a 1 x n map."""
    return torch.eye(n)[None, :, None, :]  # (1, C=n, 1, n)


def test_id_mrf_worked_example_collapsed_fill_is_penalised_unlike_the_nearest_neighbour_loss():
    target = one_hot_patches(16)
    collapsed = target[..., :1].expand(-1, -1, -1, 16).clone()  # every patch = real patch 0
    diverse = target[..., torch.randperm(16, generator=torch.Generator().manual_seed(0))]
    # ID-MRF: only one real patch is anyone's clear nearest neighbour -> -log(1/16)
    assert math.isclose(float(id_mrf_loss(collapsed, target)), math.log(16), rel_tol=1e-4)
    assert float(id_mrf_loss(diverse, target)) == pytest.approx(0.0, abs=1e-4)
    # Chapter 2's nearest-neighbour loss: every generated patch has an exact real match -> 0
    features = torch.cat([target, collapsed], dim=3)[0]  # (C, 1, 32): known half, generated half
    hole = torch.zeros(1, 32, dtype=torch.bool)
    hole[0, 16:] = True
    nn_loss, _ = patch_match_loss(features, hole, size=1)
    assert float(nn_loss) == 0.0


def test_relative_similarity_rows_sum_to_one_and_errors():
    g, t = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    rs = relative_similarity(g, t)
    assert rs.shape == (2, 16, 16)
    assert torch.allclose(rs.sum(2), torch.ones(2, 16), atol=1e-5)
    with pytest.raises(ValueError, match="batch and channels"):
        relative_similarity(torch.randn(2, 8, 4, 4), torch.randn(2, 4, 4, 4))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        id_mrf_loss(torch.randn(8, 4, 4), torch.randn(8, 4, 4))


def test_reference_kernel_is_almost_a_box_and_confidence_grows_towards_the_border():
    k = gaussian_kernel_like_reference(65, 1 / 40)
    assert k.shape == (65, 65) and math.isclose(float(k.sum()), 1.0, rel_tol=1e-5)
    assert float((k / k.mean() - 1).abs().max()) < 1e-3  # within 0.1 % of a 65x65 box
    m = torch.zeros(1, 1, 128, 128)
    m[..., 32:96, 32:96] = 1
    c = confidence_weights(m, size=33)[0, 0]
    assert float(c[m[0, 0] == 0].abs().max()) == 0.0  # 0 outside the hole
    row = c[64, 32:64]  # from the hole's left border to its centre
    assert float(row[0]) > 0.3 and 0 < float(row[-1]) < float(row[0])
    assert bool((row[1:] <= row[:-1] + 1e-6).all())  # never grows towards the centre
    # a thin stroke is almost fully trusted; the discounted weights agree on that
    thin = torch.zeros(1, 1, 64, 64)
    thin[..., 30:32, 10:50] = 1
    assert float(confidence_weights(thin, 17)[thin > 0].min()) > 0.5
    assert float(spatial_discount(thin)[thin > 0].min()) > 0.98
    with pytest.raises(ValueError, match="odd"):
        confidence_weights(m, size=32)
    with pytest.raises(ValueError, match="binary"):
        confidence_weights(torch.full((1, 1, 8, 8), 0.5))


def test_confidence_weights_equal_the_two_dimensional_blur_even_under_autocast():
    """The two 1-D passes compute the docstring's C <- (g * (C + 1 - M)) M with the 2-D kernel g."""
    g = gaussian_kernel_like_reference(17, 1 / 40)[None, None]
    m = (torch.rand(2, 1, 48, 40, generator=torch.Generator().manual_seed(0)) > 0.4).float()
    m[0, :, 10:30, 5:25] = 1
    dense = torch.zeros_like(m)
    for _ in range(3):
        dense = F.conv2d(dense + 1 - m, g, padding=8) * m
    assert torch.allclose(confidence_weights(m, 17, iterations=3), dense, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = confidence_weights(m, 17, iterations=3)
    assert mixed.dtype == torch.float32 and torch.allclose(mixed, dense, atol=1e-6)


def test_generator_columns_shapes_and_size():
    g = GMCNNGenerator()
    x = torch.rand(2, 3, 64, 64)
    m = center_square_mask(2, 64, 64)  # the 32x32 hole at 16:48
    with torch.no_grad():
        cols = g.column_features(x * (1 - m), m)
        out = g(x * (1 - m), m)
    assert [c.shape[1] for c in cols] == [4 * 12, 2 * 12, 12]  # 7x7, 5x5, 3x3 columns
    assert all(c.shape[-2:] == (64, 64) for c in cols)
    assert out.shape == (2, 3, 64, 64) and 0 <= float(out.min()) and float(out.max()) <= 1
    n = sum(p.numel() for p in g.parameters())
    assert 2 * n < 4e6  # float16 checkpoint under 4 MB
    with pytest.raises(ValueError, match="kernels"):
        GMCNNGenerator(kernels=(9, 5, 3))


def test_critic_updates_share_one_generator_pass_per_batch():
    recipe = GMCNNRecipe()
    nets = recipe.build_networks(recipe.settings_for("smoke"))
    calls = []
    nets["generator"].register_forward_hook(lambda *a: calls.append(1))
    x = torch.rand(2, 3, 128, 128)
    m = recipe.sample_masks(2, 128, 128, generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        total, parts = recipe.discriminator_loss(nets, x, m)
        assert math.isfinite(float(total.detach()))
    assert len(calls) == 1
    recipe.discriminator_loss(nets, x.clone(), m)  # a new batch: a new pass
    assert len(calls) == 2


def test_recipes_registered_and_smoke_training_reaches_the_mrf_term():
    assert {"gmcnn", "gmcnn_no_mrf"} <= set(RECIPES)
    result = train(GMCNNRecipe(), profile="smoke", out=False, evaluate=False, progress=False)
    h = result.history
    assert list(dict.fromkeys(h["phase"])) == ["reconstruction", "adversarial"]
    mrf = [v for v, p in zip(h["G/id_mrf"], h["phase"]) if p == "adversarial"]
    assert mrf and all(math.isfinite(v) for v in mrf)
    ablation = train(GMCNNNoMRF(), profile="smoke", out=False, evaluate=False, progress=False)
    assert all(math.isnan(v) for v in ablation.history["G/id_mrf"])  # never computed


def test_registered_and_shipped_with_the_recipe_columns():
    assert "gmcnn" in LEARNED_MODELS and "gmcnn_no_mrf" in ABLATIONS
    for name in ("gmcnn", "gmcnn_no_mrf"):
        g = shipped_generator(name)
        assert g.kernels == (7, 5, 3) and g.cnum == GMCNNRecipe.cnum


def test_shipped_gmcnn_uses_every_column():
    """Each column of the trained network matters: zeroing one changes the fill of the hole."""
    if not checkpoint_path("gmcnn").is_file():
        pytest.fail(missing_checkpoint_message("gmcnn"))
    g = inpaintlib.load_pretrained("gmcnn")
    x, m = load_test_set(n=2), load_test_masks("center", n=2)
    with torch.no_grad():
        cols = g.column_features(mask_image(x, m), m)
        full = g.decoder(torch.cat(cols, 1))
        for i in range(3):
            probe = [torch.zeros_like(c) if j == i else c for j, c in enumerate(cols)]
            change = (g.decoder(torch.cat(probe, 1)) - full).abs()
            assert float((change * m).sum() / (3 * m.sum())) > 0.01  # mean change in the hole, [-1, 1] units
