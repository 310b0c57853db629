"""Chapter 2 (MSNPS): patch matching, the content network, the texture optimisation."""
import numpy as np
import pytest
import torch

import inpaintlib
import inpaintlib.data.photos
import inpaintlib.data.masks
from inpaintlib.training.checkpoint import read_checkpoint
from inpaintlib.evaluation.compositing import composite, mask_image
from inpaintlib.losses.terms import total_variation_loss
from inpaintlib.models.context_encoder import ContextEncoder, FullyConnectedBottleneck
from inpaintlib.models.msnps import MSNPSContentRecipe, NeuralPatchSynthesis, TEXTURE_LAYERS
from inpaintlib.losses.patches import extract_patches, feature_mask, has_keys, match_patches, patch_match_loss
from inpaintlib.registry import checkpoint_path
from inpaintlib.losses.vgg import to_vgg16_layer

# A 1-channel 3x7 map, constant down each column: 7 1 2 9 2 1 2. The hole is the unit (1, 3).
# 3x3 patches are centred at (1, 1) ... (1, 5); the query is the one centred on the hole,
# columns 2..4 = (2, 9, 2). Squared distances to the keys (3 rows each):
#   (1,1) cols 0..2 = (7, 1, 2): 3 * (25 + 64 + 0) = 267
#   (1,2) cols 1..3 = (1, 2, 9): 3 * (1 + 49 + 49) = 297
#   (1,4) cols 3..5 = (9, 2, 1): 3 * (49 + 49 + 1) = 297
#   (1,5) cols 4..6 = (2, 1, 2): 3 * (0 + 64 + 0) = 192   <- nearest
COLUMNS = torch.tensor([7.0, 1, 2, 9, 2, 1, 2])


def _tiny():
    feats = COLUMNS.expand(3, 7).clone()[None]
    hole = torch.zeros(3, 7, dtype=torch.bool)
    hole[1, 3] = True
    return feats, hole


def test_patch_matching_on_a_hand_made_example():
    feats, hole = _tiny()
    assert extract_patches(feats).shape == (5, 9)
    matches, queries, keys = match_patches(feats, hole)
    assert matches.query_pos.tolist() == [[1, 3]]
    assert matches.key_pos.tolist() == [[1, 1], [1, 2], [1, 4], [1, 5]]
    assert matches.source.tolist() == [[1, 5]]
    assert matches.distance.tolist() == [192.0]
    loss, _ = patch_match_loss(feats, hole)
    assert loss.item() == pytest.approx(192 / 9)
    # strict keys must not touch the hole (column 3): the patches centred at (1, 2) and (1, 4) go
    strict, _, _ = match_patches(feats, hole, strict_keys=True)
    assert strict.key_pos.tolist() == [[1, 1], [1, 5]] and strict.source.tolist() == [[1, 5]]


def test_patch_loss_gradient_flows_to_the_hole_patch_only():
    feats, hole = _tiny()
    feats.requires_grad_(True)
    loss, _ = patch_match_loss(feats, hole)
    loss.backward()
    # d/dq of mean((q - t)^2) = 2 (q - t) / 9, on the query's 3x3 window (cols 2..4) only
    expected = torch.zeros(3, 7)
    expected[:, 2:5] = 2 * (torch.tensor([2.0, 9, 2]) - torch.tensor([2.0, 1, 2])) / 9
    assert torch.allclose(feats.grad[0], expected)


def test_cosine_matching_prefers_the_scaled_copy():
    # columns 2 1 2 2 9 2 6 27 6, hole at column 4: the query (2, 9, 2) has an exact copy at
    # three times the strength, (6, 27, 6), centred at column 7 (cosine 1, distance
    # 3 * (16 + 324 + 16) = 1068); the Euclidean nearest is (1, 2, 2) at column 2
    # (3 * (1 + 49 + 0) = 150).
    feats = torch.tensor([2.0, 1, 2, 2, 9, 2, 6, 27, 6]).expand(3, 9).clone()[None]
    hole = torch.zeros(3, 9, dtype=torch.bool)
    hole[1, 4] = True
    euclid, _, _ = match_patches(feats, hole)
    cosine, _, _ = match_patches(feats, hole, similarity="cosine")
    assert euclid.source.tolist() == [[1, 2]] and euclid.distance.tolist() == [150.0]
    assert cosine.source.tolist() == [[1, 7]] and cosine.distance.tolist() == [1068.0]
    loss, _ = patch_match_loss(feats, hole, similarity="cosine")
    assert loss.item() == pytest.approx(1068 / 9)
    with pytest.raises(ValueError, match="similarity"):
        match_patches(feats, hole, similarity="l1")


def test_no_key_is_a_clear_error_and_feature_mask_rounds_outward():
    with pytest.raises(ValueError, match="nothing to copy from"):
        match_patches(torch.rand(2, 3, 3), torch.ones(3, 3, dtype=torch.bool))
    assert not has_keys(torch.ones(4, 4, dtype=torch.bool)) and has_keys(_tiny()[1])
    m = torch.zeros(1, 8, 8)
    m[0, 3:5, 3:5] = 1
    assert feature_mask(m, 2, 2).tolist() == [[True, True], [True, True]]  # touches all four
    assert feature_mask(m, 8, 8).sum() == 4


def test_texture_layers_are_vgg16_taps():
    assert [to_vgg16_layer(n) for n in TEXTURE_LAYERS] == ["relu3_1", "relu4_1"]


def test_squared_total_variation():
    x = torch.zeros(1, 1, 2, 3)
    x[..., 0, 0] = 1.0  # two neighbours differ by 1
    assert total_variation_loss(x, power=2).item() == pytest.approx(2 / 6)
    x[..., 0, 0] = 2.0
    assert total_variation_loss(x, power=2).item() == pytest.approx(8 / 6)
    with pytest.raises(ValueError, match="power"):
        total_variation_loss(x, power=3)


def test_content_network_changes_only_what_the_paper_changes():
    recipe = MSNPSContentRecipe()
    net = recipe.build_networks(recipe.settings)["generator"]
    assert isinstance(net, ContextEncoder) and isinstance(net.bottleneck[0], FullyConnectedBottleneck)
    acts = {type(m).__name__ for m in net.modules()} & {"ELU", "ReLU", "LeakyReLU"}
    assert acts == {"ELU"}
    # the book's sizes (Chapter 2 states them from the recipe): half width, a 48-wide code
    assert net.config()["fc_code_size"] == 48 and net.config()["width"] == 0.5
    x, m = torch.rand(2, 3, 128, 128), inpaintlib.data.masks.center_square_mask(2, 128, 128)
    assert net.eval()(x * (1 - m), m).shape == x.shape


def test_texture_optimisation_lowers_its_objective_at_every_scale():
    torch.manual_seed(0)
    content = ContextEncoder(128).eval()  # untrained: a poor start the optimisation must improve
    model = NeuralPatchSynthesis(content, iterations=4)
    x = inpaintlib.data.photos.load_test_set(1)
    m = inpaintlib.data.masks.center_square_mask(1, 128, 128)
    trace: dict = {}
    out = inpaintlib.inpaint(x, m, model, trace=trace)
    assert out.shape == x.shape and torch.equal(out * (1 - m), x * (1 - m))
    scales = np.array(trace["scale"])
    energy = np.array(trace["energy"])
    assert sorted(set(scales)) == [32, 64, 128] and [im.shape[-1] for im in trace["images"]] == [32, 64, 128]
    for s in (32, 64, 128):
        e = energy[scales == s]
        assert e[-1] < e[0], s
    assert len(trace["seconds"]) == 3


def _scale_switch_model():
    torch.manual_seed(0)
    return NeuralPatchSynthesis(ContextEncoder(128).eval(), iterations=2)


def test_at_a_scale_switch_the_content_term_restarts_and_relu4_1_joins():
    """Chapter 2's reading of the energy at a scale switch, on the library's own pieces."""
    model = _scale_switch_model()
    x = inpaintlib.data.photos.load_test_set(1)
    m = inpaintlib.data.masks.center_square_mask(1, 128, 128)
    trace: dict = {}
    inpaintlib.inpaint(x, m, model, trace=trace)
    with torch.no_grad():
        masked = mask_image(x, m)  # what inpaint gives the model (the hole blanked)
        start = composite(model.content(masked, m), masked, m)
    previous = start
    with torch.no_grad():
        for k, size in enumerate(model.scale_sizes(128, 128)):
            known, hole, begin = model.scale_inputs(start, m, previous, size)
            assert begin.shape[-2:] == size and torch.equal(begin * (1 - hole), known * (1 - hole))
            _, at_start = model.energy(begin, begin, hole)
            _, at_end = model.energy(trace["images"][k], begin, hole)
            assert at_start["content"] == 0.0 and at_end["content"] > 0.0
            layers = sorted(k2 for k2 in at_start if k2.startswith("texture/"))
            # relu4_1 of a 32 px image is a 4x4 map whose patch centres all lie in the hole
            assert layers == (["texture/relu3_1"] if size[0] == 32
                              else ["texture/relu3_1", "texture/relu4_1"])
            assert at_start["texture"] == pytest.approx(sum(at_start[k2] for k2 in layers))
            previous = trace["images"][k]


def test_smoothness_only_variant_never_runs_the_vgg(monkeypatch):
    import inpaintlib.losses.vgg

    def no_vgg():
        raise AssertionError("the VGG was called")

    monkeypatch.setattr(inpaintlib.losses.vgg, "pretrained_vgg16", no_vgg)
    content = ContextEncoder(128).eval()
    x = inpaintlib.data.photos.load_test_set(1)
    m = inpaintlib.data.masks.center_square_mask(1, 128, 128)
    smooth = NeuralPatchSynthesis(content, weights={"texture": 0.0})
    total, parts = smooth.energy(x, x * 0.5, m)
    assert parts["texture"] == 0.0 and total.item() == pytest.approx(parts["content"] + parts["tv"])
    with pytest.raises(AssertionError, match="VGG"):
        NeuralPatchSynthesis(content).energy(x, x, m)  # the texture term needs it
    out = inpaintlib.inpaint(x, m, smooth, iterations=2)
    assert out.shape == x.shape and torch.equal(out * (1 - m), x * (1 - m))


def test_shipped_msnps_content_and_pipeline():
    """A missing checkpoint fails; the content network's outputs are pinned by tests/test_fingerprints.py."""
    a = inpaintlib.load_pretrained("msnps_content")
    meta = a.checkpoint_meta
    config = read_checkpoint(checkpoint_path("msnps_content"))["config"]
    assert meta["steps"] > 0
    # the fill colour is a float16 buffer in shipped checkpoints: every other setting is exact
    assert {k: v for k, v in a.config().items() if k != "fill"} == {
        k: v for k, v in {"width": 1.0, **config}.items() if k != "fill"}
    assert config["bottleneck"] == "fully_connected" and config["activation"] == "elu"
    if meta["profile"] == "cpu":  # the equal-budget run trains the library's current recipe
        recipe = MSNPSContentRecipe()
        assert config["width"] == recipe.width and config["fc_code_size"] == recipe.fc_code_size
    x = inpaintlib.data.photos.load_test_set(1)
    m = inpaintlib.data.masks.center_square_mask(1, 128, 128)
    pipeline = inpaintlib.load_pretrained("msnps")
    assert isinstance(pipeline, NeuralPatchSynthesis) and pipeline.iterations > 0
    assert "msnps" in inpaintlib.available_models()
    out = inpaintlib.inpaint(x, m, pipeline, iterations=2)
    assert out.shape == x.shape
