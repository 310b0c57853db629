"""Tests that need the shipped checkpoints: Chapter 9's go back into tests/test_edgeconnect.py and
Chapter 10's into tests/test_deepfill_v2.py when the checkpoints ship (see drafts/README.md).
Imports as in those files, plus ``canny_edges``, ``checkpoint_path``, ``missing_checkpoint_message``,
``shipped_generator``, ``TEST_MASK_KINDS``, ``LEARNED_MODELS`` and ``ABLATIONS`` for Chapter 10."""


def test_registered_and_shipped():
    assert "edgeconnect" in LEARNED_MODELS and "edgeconnect_no_edges" in ABLATIONS
    assert {"edgeconnect", "edgeconnect_no_edges"} <= set(RECIPES)
    for name, use_edges in (("edgeconnect", True), ("edgeconnect_no_edges", False)):
        g = shipped_generator(name)  # fails (never skips) until shipped; under 4 MB, equal budget
        assert g.use_edges == use_edges and g.width == EdgeConnectRecipe.width


def test_shipped_edgeconnect_fills_every_bucket_with_known_pixels_unchanged():
    if not checkpoint_path("edgeconnect").is_file():
        pytest.fail(missing_checkpoint_message("edgeconnect"))
    model = inpaintlib.load_pretrained("edgeconnect")
    x = load_test_set(n=2)
    for kind in TEST_MASK_KINDS:
        m = load_test_masks(kind, n=2)
        for hole_edges in (None, canny_edges(x)):  # its own edges, and the true ones
            out = inpaintlib.inpaint(x, m, model, hole_edges=hole_edges)
            assert torch.isfinite(out).all() and torch.equal(out * (1 - m), x * (1 - m)), kind


# ---- Chapter 10: tests/test_deepfill_v2.py ----

def test_deepfill_v2_registered_and_shipped():
    assert "deepfill_v2" in LEARNED_MODELS
    assert {"deepfill_v2_partial", "deepfill_v2_residual_gate"} <= set(ABLATIONS)
    for name, kind in (("deepfill_v2", "gated"), ("deepfill_v2_partial", "partial"),
                       ("deepfill_v2_residual_gate", "residual_gate")):
        g = shipped_generator(name)  # fails (never skips) until shipped; under 4 MB, equal budget
        assert g.conv_kind == kind and g.use_sketch and g.use_attention


def test_shipped_deepfill_v2_fills_every_bucket_with_known_pixels_unchanged():
    if not checkpoint_path("deepfill_v2").is_file():
        pytest.fail(missing_checkpoint_message("deepfill_v2"))
    model = inpaintlib.load_pretrained("deepfill_v2")
    x = load_test_set(n=2)
    for kind in TEST_MASK_KINDS:
        m = load_test_masks(kind, n=2)
        for sketch in (None, canny_edges(x) * m):  # no sketch, and the true edges in the hole
            out = inpaintlib.inpaint(x, m, model, sketch=sketch)
            assert torch.isfinite(out).all() and torch.equal(out * (1 - m), x * (1 - m)), kind
        assert not torch.equal(inpaintlib.inpaint(x, m, model),  # the sketch reaches the fill
                               inpaintlib.inpaint(x, m, model, sketch=canny_edges(x) * m)), kind
