"""Chapter 10 tests that need the shipped checkpoints: they go into tests/test_deepfill_v2.py when
the checkpoints ship (see drafts/README.md). Imports as in that file, plus ``canny_edges``,
``checkpoint_path``, ``missing_checkpoint_message``, ``shipped_generator``, ``TEST_MASK_KINDS``,
``LEARNED_MODELS`` and ``ABLATIONS``."""

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
