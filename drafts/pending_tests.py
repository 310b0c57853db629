"""Chapter 9 tests that need the shipped checkpoints: they go back into tests/test_edgeconnect.py
when the checkpoints ship (see drafts/README.md). Imports as in that file."""


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
